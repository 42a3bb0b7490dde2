import Foundation
import Testing
import TestSupport
@testable import SharedRing
import SharedRingProtocol

/// The end of the sequence space, for both kinds of buffer: a ring file counts up to 2^63 − 1
/// (`Limits.maxCount`, RingFileFormat.md, "Counters"). A header whose counters are beyond it is
/// refused on open as corrupted; one just below it works until the next push would pass it, which
/// is refused as corrupted, at once, never waited for. Every push, pop, named reader, take-over
/// and inspect ends in correct data or a typed error: no hang, no trap, no wrap.
@Suite struct SequenceSpaceEndTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// 2^63 − 1, the most a ring file counts.
    static let maxCount = UInt64(Int64.max)

    func cbuff(_ arguments: String...) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, timeout: 20)
    }

    /// Where `claimed` lives under `policy` (RingFileFormat.md, lines 2 and 5).
    static func claimed(_ policy: OverflowPolicy) -> Int {
        policy == .block ? RingLayout.Offset.claimed(.block) : RingLayout.Offset.claimed(.overwrite)
    }

    /// Sets the writer's counters of buffer `name`'s ring file (its writer closed).
    func setCounters(_ name: String, _ words: [(Int, UInt64)]) throws {
        var ring = try RingBytes(path: directory.ringPath(of: name))
        for (offset, value) in words { ring.setHeader(offset, value) }
        try ring.save()
    }

    // MARK: Rings of items

    @Test(arguments: [OverflowPolicy.overwrite, .block])
    func itemsBeyondTheLastCountAreRefusedOnOpen(policy: OverflowPolicy) throws {
        try directory.createBuffer("far", itemSize: 8, length: 16, policy: policy).close()
        let near = UInt64.max - 2     // the next push would wrap to 0
        try setCounters("far", [(RingLayout.Offset.published, near), (Self.claimed(policy), near)])
        expectCorrupted("reader") { _ = try directory.openReader("far") }
        expectCorrupted("named reader") { _ = try directory.openReader("far", named: "late") }
        expectCorrupted("take-over") { _ = try directory.takeOver("far") }
        #expect(try directory.status(of: "far").problem?.code == .corrupted)
        // The command line says so at once; under `block`, a push used to wait for ever, blaming
        // named readers that do not exist.
        let push = try cbuff("push", "far", "1")
        #expect(!push.timedOut && push.status == 65 && push.stderr.contains("damaged") && !push.stderr.contains("waiting"), "\(push)")
        for command in [["pop", "far"], ["tail", "far"], ["inspect", "far"]] {
            let outcome = try run("cbuff", ["--dir", dir] + command, timeout: 20)
            #expect(!outcome.timedOut && outcome.status == 65, "\(command): \(outcome)")
        }
    }

    @Test(arguments: [OverflowPolicy.overwrite, .block], [ItemIntegrity.unchecked, .checked])
    func itemsUpToTheLastCountThenATypedErrorNotAWait(policy: OverflowPolicy, integrity: ItemIntegrity) throws {
        try directory.createBuffer("end", itemSize: 8, length: 16, policy: policy, tetherTimeout: .zero, integrity: integrity).close()
        let start = Self.maxCount - 3
        try setCounters("end", [(RingLayout.Offset.published, start), (Self.claimed(policy), start)])
        var late = try directory.openReader("end", named: "late", start: .latest)
        #expect(late.nextSequence == start)
        var writer = try directory.takeOver("end")
        try writer.push(1)
        try writer.push(contentsOf: [2, 3] as [UInt64])
        #expect(writer.nextSequence == Self.maxCount)
        // The next push would count beyond 2^63 − 1: refused at once, whatever the variant.
        expectCorrupted("push") { try writer.push(4) }
        expectCorrupted("tryPush") { _ = try writer.tryPush(4) }
        expectCorrupted("push with a timeout") { _ = try writer.push(4, timeout: .seconds(5)) }
        expectCorrupted("pushInPlace") { try writer.pushInPlace { $0.storeBytes(of: 4, as: UInt64.self) } }
        writer.close()
        // A batch that would cross it pushes nothing.
        try setCounters("end", [(RingLayout.Offset.published, Self.maxCount - 1), (Self.claimed(policy), Self.maxCount - 1)])
        // (Under check words too: in the boot that wrote the ring, a take-over looks no further
        // than its predecessor's claim, which the edit lowered with `published`.)
        var batch = try directory.takeOver("end")
        expectCorrupted("batch") { try batch.push(contentsOf: [5, 6] as [UInt64]) }
        #expect(batch.nextSequence == Self.maxCount - 1)
        batch.close()
        try setCounters("end", [(RingLayout.Offset.published, Self.maxCount), (Self.claimed(policy), Self.maxCount)])

        // Everything published is read back with its sequence, by a named reader and a new one.
        #expect(try late.popMany(10) == [1, 2, 3])
        #expect(late.nextSequence == Self.maxCount && late.missedCount == 0)
        late.close()
        var reader = try directory.openReader("end", at: start)
        #expect(try reader.popMany(10) == [1, 2, 3])
        let status = try directory.status(of: "end")
        #expect(status.problem == nil && status.ring?.written == Self.maxCount && status.ring?.readers.first?.position == Self.maxCount)
        let push = try cbuff("push", "end", "7")
        #expect(!push.timedOut && push.status == 65 && push.stderr.contains("cannot take another push"), "\(push)")
        let inspect = try cbuff("inspect", "end", "--json")
        let report = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
        #expect(inspect.status == 0 && (report?["written"] as? NSNumber)?.uint64Value == Self.maxCount, "\(inspect)")
    }

    // MARK: Rings of messages

    @Test func messagesBeyondTheLastCountAreRefusedOnOpen() throws {
        try directory.createMessageBuffer("far", capacity: 4096, maxMessageSize: 100).close()
        let near = UInt64.max - 3
        try setCounters("far", [(RingLayout.Offset.published, near), (RingLayout.Offset.claimed(.overwrite), near),
                                (RingLayout.Offset.messageTail, near)])
        expectCorrupted("reader") { _ = try directory.openMessageReader("far") }
        expectCorrupted("named reader") { _ = try directory.openMessageReader("far", named: "late") }
        expectCorrupted("take-over") { _ = try directory.takeOverMessages("far") }
        #expect(try directory.status(of: "far").problem?.code == .corrupted)
        for command in [["push", "far", "x"], ["pop", "far"], ["tail", "far"], ["inspect", "far"]] {
            let outcome = try run("cbuff", ["--dir", dir] + command, timeout: 20)
            #expect(!outcome.timedOut && outcome.status == 65, "\(command): \(outcome)")
        }
    }

    @Test func aMessageCountOrCommittedSequenceNearTheEndIsRefused() throws {
        var writer = try directory.createMessageBuffer("count", capacity: 4096, maxMessageSize: 100)
        try writer.push("one")
        writer.close()
        try directory.openMessageReader("count", named: "kept").close()
        var ring = try RingBytes(path: directory.ringPath(of: "count"))
        let pristine = ring
        // A named reader's committed sequence (stored plus one) at 2^64 − 1.
        ring.setWord(at: 1024 + 8, UInt64.max)
        try ring.save()
        expectCorrupted("named reader") { _ = try directory.openMessageReader("count", named: "kept") }
        // The count of messages near 2^64: its next push would wrap.
        ring = pristine
        ring.setHeader(RingLayout.Offset.publishedMessages, UInt64.max)
        try ring.save()
        expectCorrupted("reader") { _ = try directory.openMessageReader("count") }
        expectCorrupted("take-over") { _ = try directory.takeOverMessages("count") }
        #expect(try directory.status(of: "count").problem?.code == .corrupted)
        // A record's sequence near 2^64.
        ring = pristine
        ring.setRecordWord(0, 1, UInt64.max)
        try ring.save()
        expectCorrupted("reader") { _ = try directory.openMessageReader("count") }
        expectCorrupted("take-over") { _ = try directory.takeOverMessages("count") }
    }

    /// A consistent ring at the end of the sequence space, made by hand: empty at word `X`
    /// (2^63 − 6), its last record (message 999 999, one word of payload) ending there. One
    /// empty message (4 words: a version-4 header) fits; the next would count beyond 2^63 − 1.
    @Test func messagesUpToTheLastCountThenATypedErrorNotAWait() throws {
        try directory.createMessageBuffer("end", capacity: 4096, maxMessageSize: 100, policy: .block).close()
        var ring = try RingBytes(path: directory.ringPath(of: "end"))
        let end = Self.maxCount - 5, last = end - ring.recordWords(8), count: UInt64 = 1_000_000
        for offset in [RingLayout.Offset.published, RingLayout.Offset.claimed(.block), RingLayout.Offset.messageTail] {
            ring.setHeader(offset, end)
        }
        ring.setHeader(RingLayout.Offset.lastRecordStart, last)
        ring.setHeader(RingLayout.Offset.publishedMessages, count)
        ring.setRecordWord(last, 0, 8 | 1 << 32)
        ring.setRecordWord(last, 1, count - 1)
        try ring.save()

        var late = try directory.openMessageReader("end", named: "late", start: .latest)
        #expect(late.nextSequence == count)
        var writer = try directory.takeOverMessages("end")
        #expect(writer.nextSequence == count)
        try writer.push([UInt8]())
        expectCorrupted("push") { try writer.push([UInt8]()) }
        expectCorrupted("tryPush") { _ = try writer.tryPush([UInt8]()) }
        expectCorrupted("push with a timeout") { _ = try writer.push([UInt8](), timeout: .seconds(5)) }
        writer.close()
        let message = try #require(try late.pop())
        #expect(message.sequence == count && message.bytes.isEmpty && late.missedCount == 0)
        late.close()
        var reader = try directory.openMessageReader("end")
        #expect(try reader.pop()?.sequence == count)
        #expect(try reader.pop() == nil)
        let status = try directory.status(of: "end")
        #expect(status.problem == nil && status.ring?.written == count + 1 && status.ring?.oldest == count, "\(status)")
        let push = try cbuff("push", "end", "x")
        #expect(!push.timedOut && push.status == 65 && push.stderr.contains("cannot take another push"), "\(push)")
    }
}
