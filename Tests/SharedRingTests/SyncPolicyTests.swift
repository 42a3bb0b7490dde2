import Foundation
import Testing
import TestSupport
import SharedRing
import SharedRingSystem

/// The sync policy chosen at creation (issue 26, decision 4): each policy makes the durable
/// sequence reach what was pushed when it says, close syncs, the header's words are validated,
/// and the policy is what every writer of the buffer follows.
@Suite struct SyncPolicyTests {
    let temporary: TemporaryDirectory
    let directory: DataDirectory

    init() throws {
        temporary = try TemporaryDirectory()
        directory = try DataDirectory(path: temporary.path)
    }

    func status(_ name: String) throws -> RingStatus {
        try #require(try directory.status(of: name).ring)
    }

    /// Waits until the durable word of `name` reaches `sequence`, at most `seconds`; returns how
    /// long it took, or nil. It looks at the word every 0.2 ms: the bound is the deadline, not
    /// the look.
    func waitUntilDurable(_ name: String, reaches sequence: UInt64, seconds: Double) throws -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if try status(name).durable >= sequence { return Date().timeIntervalSince(start) }
            usleep(200)
        }
        return nil
    }

    @Test func everyNSyncsExactlyAtMultiplesAndCloseSyncsTheRest() throws {
        var writer = try directory.createBuffer("n", itemSize: 8, length: 16, policy: .overwrite, tetherTimeout: .zero, sync: .everyN(4))
        #expect(writer.syncPolicy == .everyN(4))
        for value in UInt64(1)...10 {
            try writer.push(value)
            #expect(writer.durableSequence == value / 4 * 4, "after \(value) pushes")
        }
        // A batch that reaches the count syncs once, at its end.
        try writer.push(contentsOf: Array(UInt64(11)...14))                 // 14 published, due at 12
        #expect(writer.durableSequence == 14)
        try writer.push(15)
        #expect(writer.durableSequence == 14)                                // due at 18 now
        writer.close()
        #expect(try status("n").durable == 15)
        #expect(try status("n").syncPolicy == .everyN(4))
    }

    @Test func eachBatchSyncsAfterEveryPushCallOfEveryKind() throws {
        var items = try directory.createBuffer("items", itemSize: 8, length: 16, policy: .overwrite, tetherTimeout: .zero, sync: .eachBatch)
        try items.push(1)
        #expect(items.durableSequence == 1)
        try items.push(contentsOf: Array(UInt64(2)...65))                    // a batch of 64, wrapping: one batch
        #expect(items.durableSequence == 65)
        try items.pushInPlace { $0.storeBytes(of: UInt64(66), as: UInt64.self) }
        #expect(items.durableSequence == 66)
        items.close()

        struct Tick: BitwiseCopyable { var time: UInt64; var price: Double }
        var ticks = try directory.createBuffer("ticks", of: Tick.self, length: 8, policy: .overwrite, tetherTimeout: .zero, sync: .eachBatch)
        #expect(ticks.syncPolicy == .eachBatch)
        try ticks.push(Tick(time: 1, price: 2))
        #expect(ticks.durableSequence == 1)
        ticks.close()

        var messages = try directory.createMessageBuffer("messages", capacity: 4096, maxMessageSize: 100, policy: .overwrite,
                                                         tetherTimeout: .zero, sync: .eachBatch)
        for index in 1...3 {
            try messages.push("message \(index)")
            #expect(messages.durableSequence == UInt64(index))
        }
        messages.close()
        #expect(try status("messages").syncPolicy == .eachBatch)
    }

    /// The syncer thread: what was pushed becomes durable within the interval (plus a sync),
    /// found by waiting on the durable word with a deadline of two seconds; twice, so that the
    /// second push is one that woke a syncer asleep in the futex.
    @Test(arguments: [false, true])
    func intervalMakesWhatWasPublishedDurableWithinTheBound(messages: Bool) throws {
        let name = messages ? "m" : "i"
        if messages {
            var writer = try directory.createMessageBuffer(name, capacity: 4096, maxMessageSize: 64, policy: .overwrite,
                                                           tetherTimeout: .zero, sync: .interval(.milliseconds(10)))
            #expect(writer.syncPolicy == .interval(.milliseconds(10)))
            for round in 1...3 {
                try writer.push("round \(round)")
                let took = try waitUntilDurable(name, reaches: UInt64(round), seconds: 2)
                #expect(took != nil, "round \(round): durable \(writer.durableSequence)")
                Issue.recordIf(took.map { $0 > 1 } ?? false, "round \(round) took \(took ?? 0) s")
            }
            #expect(writer.syncerFailure == nil)
            writer.close()
        } else {
            var writer = try directory.createBuffer(name, itemSize: 8, length: 64, policy: .overwrite, tetherTimeout: .zero,
                                                    sync: .interval(.milliseconds(10)))
            for round in UInt64(1)...3 {
                try writer.push(contentsOf: Array(round * 10 ..< round * 10 + 5))
                let took = try waitUntilDurable(name, reaches: round * 5, seconds: 2)
                #expect(took != nil, "round \(round): durable \(writer.durableSequence)")
            }
            writer.close()
        }
        #expect(try status(name).syncPolicy == .interval(.milliseconds(10)))
    }

    /// The writer's own `sync()` and its syncer (interval 1 ms) at once: the durable word, seen
    /// by another thread throughout and returned by every sync, never goes back and never passes
    /// what was published.
    @Test func theWritersSyncAndItsSyncerTogetherOnlyEverRaiseTheDurableWord() async throws {
        var writer = try directory.createBuffer("both", itemSize: 8, length: 256, policy: .overwrite, tetherTimeout: .zero,
                                                sync: .interval(.milliseconds(1)))
        let path = temporary.path
        let watcher = Task.detached { () -> (looks: Int, backwards: [String]) in
            let observer = try DataDirectory(path: path)
            var last: UInt64 = 0, looks = 0, backwards: [String] = []
            while !Task.isCancelled {
                guard let ring = try observer.status(of: "both").ring else { continue }
                if ring.durable < last || ring.durable > ring.written { backwards.append("\(last) then \(ring.durable) of \(ring.written)") }
                last = ring.durable
                looks += 1
            }
            return (looks, backwards)
        }
        var returned: UInt64 = 0
        for round in UInt64(0)..<40 {
            for value in round * 50 ..< round * 50 + 50 { try writer.push(value) }
            let durable = try writer.sync()
            #expect(durable >= returned && durable == 2000 - (39 - round) * 50, "round \(round): \(durable) after \(returned)")
            returned = durable
        }
        watcher.cancel()
        let seen = try await watcher.value
        #expect(seen.backwards.isEmpty, "\(seen.backwards.prefix(5)) in \(seen.looks) looks")
        #expect(writer.syncerFailure == nil)
        writer.close()
        #expect(try status("both").durable == 2000)
    }

    /// A writer of a long interval: nothing is durable until its close, which stops the syncer
    /// (promptly: it sleeps in the futex) and syncs.
    @Test func closeStopsTheSyncerAndSyncs() throws {
        var writer = try directory.createBuffer("long", itemSize: 8, length: 16, policy: .overwrite, tetherTimeout: .zero, sync: .interval(.seconds(3600)))
        try writer.push(contentsOf: [UInt64(1), 2, 3])
        #expect(writer.durableSequence == 0)
        let start = Date()
        writer.close()
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(try status("long").durable == 3)
        // A writer that takes it over follows the recorded policy.
        let taken = try directory.takeOver("long")
        #expect(taken.syncPolicy == .interval(.seconds(3600)))
        taken.close()
    }

    /// An accidental format change must fail here: bytes 104–119 of each policy, as
    /// RingFileFormat.md gives them (u32 kind, u32 zero, u64 parameter, little-endian).
    @Test func thePolicyWordsHaveTheseExactBytes() throws {
        let cases: [(SyncPolicy, [UInt8])] = [
            (.none, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            (.eachBatch, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            (.everyN(1000), [2, 0, 0, 0, 0, 0, 0, 0, 0xE8, 0x03, 0, 0, 0, 0, 0, 0]),
            (.interval(.milliseconds(10)), [3, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x96, 0x98, 0, 0, 0, 0, 0]),   // 10,000,000 ns
        ]
        for (index, (policy, golden)) in cases.enumerated() {
            let name = "golden\(index)"
            try directory.createBuffer(name, itemSize: 8, length: 16, policy: .overwrite, tetherTimeout: .zero, sync: policy).close()
            let bytes = try #require(FileManager.default.contents(atPath: directory.ringPath(of: name)))
            #expect(Array(bytes[104..<120]) == golden, "\(policy)")
            #expect(bytes[120..<128].allSatisfy { $0 == 0 })
            #expect(try status(name).syncPolicy == policy)
        }
    }

    @Test func noneIsTheDefaultAndItsCloseDoesNotSync() throws {
        var writer = try directory.createBuffer("plain", itemSize: 8, length: 16)
        #expect(writer.syncPolicy == SyncPolicy.none)
        try writer.push(1)
        writer.close()
        #expect(try status("plain").durable == 0)
        #expect(try status("plain").syncPolicy == SyncPolicy.none)
    }

    @Test(arguments: [SyncPolicy.everyN(0), .everyN(-1), .everyN(1 << 41), .interval(.zero), .interval(.microseconds(999)),
                      .interval(.seconds(3601)), .interval(.seconds(-1))])
    func aPolicyOutOfRangeIsRefusedBeforeAnythingIsCreated(policy: SyncPolicy) throws {
        let outcome = Result { try directory.createBuffer("bad", itemSize: 8, length: 16, policy: .overwrite, tetherTimeout: .zero, sync: policy) }
        guard case .failure(let error as CBuffError) = outcome else {
            Issue.record("\(policy) was accepted")
            return
        }
        #expect(error.code == .invalidArgument, "\(error)")
        #expect(throws: CBuffError.self) { _ = try directory.status(of: "bad") }
    }

    /// Each damaged value of the policy's words is `corrupted`, naming the byte; a sound one is
    /// read back. Bytes are written into a real ring file made by a creator.
    @Test(arguments: [
        (104, [UInt8](arrayLiteral: 4, 0, 0, 0), "byte 104"),
        (108, [1, 0, 0, 0], "byte 108"),
        (104, [2, 0, 0, 0], "byte 112"),                                   // every 0
        (112, [1, 0, 0, 0, 0, 0, 0, 0], "byte 112"),                       // a parameter for none
    ])
    func damagedPolicyWordsAreCorrupted(offset: Int, bytes: [UInt8], names: String) throws {
        directory.createBufferClosed("d")
        let path = directory.ringPath(of: "d")
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
        let outcome = Result { try directory.openReader("d") }
        guard case .failure(let error as CBuffError) = outcome else {
            Issue.record("bytes \(bytes) at \(offset) were accepted")
            return
        }
        #expect(error.code == .corrupted && error.message.contains(names), "\(error)")
    }

    /// A policy whose sync fails: the push that triggered it throws the sync's error after its
    /// item is published; the next push's sync rewrites every page and succeeds.
    @Test(.enabled(if: FaultInjection.isAvailable, "fault injection exists in debug builds only"))
    func aFailedPolicySyncThrowsFromThePushAfterPublishing() throws {
        var writer = try directory.createBuffer("f", itemSize: 8, length: 16, policy: .overwrite, tetherTimeout: .zero, sync: .eachBatch)
        try writer.push(1)
        FaultInjection.arm(failingCall: 0, errno: 0)
        try writer.push(2)
        let calls = FaultInjection.calls
        FaultInjection.disarm()
        let fsync = try #require(calls.firstIndex(of: "fsync"), "calls: \(calls)")
        FaultInjection.arm(failingCall: fsync + 1, errno: EIO)
        let outcome = Result { try writer.push(3) }
        FaultInjection.disarm()
        guard case .failure(let error as CBuffError) = outcome else {
            Issue.record("the push did not throw the sync's failure")
            return
        }
        #expect(error.code == .systemFailure, "\(error)")
        #expect(writer.nextSequence == 3)                                    // published all the same
        #expect(writer.durableSequence == 2)
        let pending = writer.syncFailurePending
        #expect(pending)
        try writer.push(4)
        #expect(writer.durableSequence == 4)
        writer.close()
    }
}

extension DataDirectory {
    /// Creates buffer `name` (8-byte items, length 16, policy none) and closes its writer.
    func createBufferClosed(_ name: String) {
        _ = try? createBuffer(name, itemSize: 8, length: 16)
    }
}

extension Issue {
    static func recordIf(_ condition: Bool, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
        if condition { record(comment, sourceLocation: sourceLocation) }
    }
}
