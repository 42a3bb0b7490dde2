import Foundation
import Testing
import TestSupport
import SharedRing
import SharedRingSystem

/// A writer's `sync()` (issue 26): what it returns and records (the durable sequence, seen by
/// `status` and the writer), for every kind of buffer, and the order that makes the record true:
/// the durable sequence is stored only after `fsync` of the ring file succeeded.
@Suite struct SyncTests {
    let temporary: TemporaryDirectory
    let directory: DataDirectory

    init() throws {
        temporary = try TemporaryDirectory()
        directory = try DataDirectory(path: temporary.path)
    }

    func durable(_ name: String) throws -> UInt64? {
        try directory.status(of: name).ring?.durable
    }

    @Test func aSyncRecordsWhatWasPublishedAsDurableForEveryKind() throws {
        var items = try directory.createBuffer("items", itemSize: 8, length: 16)
        #expect(items.durableSequence == 0)
        #expect(try durable("items") == 0)
        try items.push(contentsOf: Array(UInt64(1)...40))                    // lapped: 40 published, 16 held
        #expect(try items.sync() == 40)
        try items.push(41)
        #expect(items.durableSequence == 40)                                  // until the next sync
        #expect(try durable("items") == 40)
        items.close()
        #expect(try durable("items") == 40)                                   // a closed writer's record stays

        struct Tick: BitwiseCopyable { var time: UInt64; var price: Double }
        var ticks = try directory.createBuffer("ticks", of: Tick.self, length: 8)
        try ticks.push(Tick(time: 1, price: 2))
        #expect(try ticks.sync() == 1)
        #expect(ticks.durableSequence == 1)
        ticks.close()

        var messages = try directory.createMessageBuffer("messages", capacity: 4096, maxMessageSize: 100)
        for index in 0..<300 { try messages.push("message \(index)") }        // lapped too: counted in messages
        #expect(try messages.sync() == 300)
        #expect(try durable("messages") == 300)
        messages.close()
    }

    /// With the ring file's `fsync` failing, nothing is recorded and the error says so; with the
    /// header page's `msync` after it failing, the error says so and the value stored before it
    /// is true (everything below it was made durable by the `fsync`).
    @Test(.enabled(if: FaultInjection.isAvailable, "fault injection exists in debug builds only"))
    func aFailedSyncRecordsNothingItHasNotMadeDurable() throws {
        var writer = try directory.createBuffer("a", itemSize: 8, length: 16)
        try writer.push(contentsOf: [UInt64(1), 2, 3])
        FaultInjection.arm(failingCall: 0, errno: 0)
        _ = try writer.sync()
        let calls = FaultInjection.calls
        FaultInjection.disarm()
        let fsync = try #require(calls.firstIndex(of: "fsync"), "calls: \(calls)")
        let msync = try #require(calls.firstIndex(of: "msync"), "calls: \(calls)")
        #expect(fsync < msync, "calls: \(calls)")

        try writer.push(4)
        for (index, expected) in [(fsync, UInt64(3)), (msync, 6)] {
            try writer.push(5)
            FaultInjection.arm(failingCall: index + 1, errno: EIO)
            let outcome = Result { try writer.sync() }
            FaultInjection.disarm()
            #expect(throws: CBuffError.self) { try outcome.get() }
            if case .failure(let error as CBuffError) = outcome {
                #expect(error.code == .systemFailure && error.message.contains("durable"), "\(error)")
            }
            #expect(writer.durableSequence == expected, "call \(calls[index]) failing")
            // A failed fsync is remembered until a sync succeeds (which rewrites every page
            // first: Linux marks the pages it could not write clean); a failed msync after a
            // successful fsync is not (the data pages reached the disk).
            let pending = writer.syncFailurePending
            #expect(pending == (index == fsync), "call \(calls[index]) failing")
        }
        #expect(try writer.sync() == 6)
        let pending = writer.syncFailurePending
        #expect(!pending)
        writer.close()
    }
}
