import Foundation
import GRDB
import Testing
import TestSupport
@testable import SharedRing
import SharedRingProtocol
import SharedRingCommon

/// Buffers of variable-size messages through the public API, in one process: every way in and
/// out, lapping, named readers and the `block` policy, replays, take-over, status, the registry.
@Suite struct MessageBufferTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    @Test func messagesOfEverySizeComeBackInOrderWithTheirSequenceAndTime() throws {
        var writer = try directory.createMessageBuffer("logs", capacity: 1 << 16, maxMessageSize: 4096)
        var reader = try directory.openMessageReader("logs")
        let before = UInt64(Date().timeIntervalSince1970 * 1e9)
        try writer.push("hello")
        try writer.push([UInt8]())                                   // an empty message is a message
        try writer.push([UInt8](repeating: 0xAB, count: 4096))
        try writer.push(Data([1, 2, 3]))
        try writer.push(Array("a\u{0}b".utf8)[...])
        let after = UInt64(Date().timeIntervalSince1970 * 1e9)
        var messages: [Message] = []
        while let message = try reader.pop() { messages.append(message) }
        #expect(messages.map(\.sequence) == [0, 1, 2, 3, 4])
        #expect(messages[0].text == "hello" && messages[1].bytes.isEmpty && messages[2].bytes == [UInt8](repeating: 0xAB, count: 4096))
        #expect(messages[3].bytes == [1, 2, 3] && messages[4].bytes == [0x61, 0, 0x62])
        // The coarse clock (the default) says the last timer tick: at most a few ms early.
        #expect(messages.allSatisfy { $0.time >= before - 20_000_000 && $0.time <= after + 1_000_000 }, "\(messages.map(\.time)), \(before)")
        var precise = try directory.createMessageBuffer("precise", capacity: 4096, maxMessageSize: 8, preciseTime: true)
        var stamped = try directory.openMessageReader("precise")
        let start = UInt64(Date().timeIntervalSince1970 * 1e9)
        try precise.push("x")
        let end = UInt64(Date().timeIntervalSince1970 * 1e9)
        let time = try #require(try stamped.pop()).time
        #expect(time >= start - 1_000 && time <= end + 1_000, "\(start) \(time) \(end)")
        #expect(precise.preciseTime && !writer.preciseTime)
        #expect(writer.nextSequence == 5 && reader.nextSequence == 5 && reader.missedCount == 0)
        expectError(.valueDoesNotFit) { try writer.push([UInt8](repeating: 0, count: 4097)) }
        #expect(try reader.pop() == nil)
    }

    @Test func badGeometryIsRefusedBeforeAnythingIsCreated() throws {
        expectError(.invalidArgument) { _ = try directory.createMessageBuffer("a", capacity: 5000, maxMessageSize: 10) }
        expectError(.invalidArgument) { _ = try directory.createMessageBuffer("a", capacity: 2048, maxMessageSize: 10) }
        expectError(.invalidArgument) { _ = try directory.createMessageBuffer("a", capacity: 4096, maxMessageSize: 2017) }   // half, less a 32-byte header
        expectError(.invalidArgument) { _ = try directory.createMessageBuffer("a/b", capacity: 4096, maxMessageSize: 10) }
        #expect(try directory.buffers().isEmpty)
        _ = try directory.createMessageBuffer("a", capacity: 4096, maxMessageSize: 2016)
    }

    @Test func aLappedReaderResumesAtTheOldestIntactMessageAndCountsWhatItMissed() throws {
        var writer = try directory.createMessageBuffer("small", capacity: 4096, maxMessageSize: 1000)
        var reader = try directory.openMessageReader("small")
        for i in 0..<100 { try writer.push([UInt8](repeating: UInt8(i), count: 100)) }   // 136 bytes each: 30 fit
        var got: [UInt64] = []
        while let message = try reader.pop() {
            #expect(message.bytes == [UInt8](repeating: UInt8(message.sequence), count: 100))
            got.append(message.sequence)
        }
        #expect(got == Array(70..<100), "\(got)")                     // the 30 most recent: the oldest intact first
        #expect(reader.missedCount == 70)
        let status = try #require(try directory.status(of: "small").ring)
        #expect(status.written == 100 && status.oldest == 70 && status.count == 30 && status.fill == 1)
    }

    @Test func zeroCopyWritesAndReads() throws {
        var writer = try directory.createMessageBuffer("loan", capacity: 1 << 16, maxMessageSize: 1000)
        var reader = try directory.openMessageReader("loan")
        try writer.pushInPlace(length: 3) { bytes in bytes.copyBytes(from: [7, 8, 9]) }
        try writer.pushInPlace(upTo: 1000) { bytes in
            let text = Array("{\"id\":1}".utf8)
            bytes.copyBytes(from: text)
            return text.count
        }
        expectError(.valueDoesNotFit) { try writer.pushInPlace(upTo: 10) { _ in 11 } }   // said it used more: nothing published
        expectError(.invalidArgument) { try writer.pushInPlace(length: 2) { (_) throws(CBuffError) in throw CBuffError(.invalidArgument, "no") } }
        let sum = try reader.withNextMessage { bytes in bytes.reduce(0) { $0 + Int($1) } }
        #expect(sum?.value == 24 && sum?.sequence == 0)
        var small = [UInt8](repeating: 0, count: 4)
        let tooSmall = small.withUnsafeMutableBytes { buffer in Result { () throws(CBuffError) in try reader.pop(into: buffer) } }
        #expect(throws: CBuffError.self) { try tooSmall.get() }
        #expect(try reader.pop()?.text == "{\"id\":1}")               // left unread by the pop that did not fit
        #expect(try reader.pop() == nil && writer.nextSequence == 2)
    }

    @Test func namedReadersResumeAndHoldABlockingWriter() throws {
        var writer = try directory.createMessageBuffer("held", capacity: 4096, maxMessageSize: 1000, policy: .block)
        var reader = try directory.openMessageReader("held", named: "billing")
        var pushed = 0
        while try writer.tryPush([UInt8](repeating: 1, count: 100)) { pushed += 1 }
        #expect(pushed == 30)                                         // records of 136 bytes: 30 fill 4 KiB
        #expect(try !writer.push([UInt8](repeating: 1, count: 8), timeout: .milliseconds(20)))
        #expect(try reader.pop()?.sequence == 0)
        #expect(try reader.pop()?.sequence == 1)                      // acknowledges message 0
        reader.close()                                                // acknowledges message 1
        #expect(try writer.tryPush(Array("two more fit".utf8)))
        var again = try directory.openMessageReader("held", named: "billing")
        let registeredAgain = again.isNewlyRegistered
        #expect(!registeredAgain)
        #expect(try again.pop()?.sequence == 2)                       // resumes where it stopped
        let status = try #require(try directory.status(of: "held").ring)
        #expect(status.readers.first?.position == 2 && status.readers.first?.lag == 29, "\(status.readers)")
    }

    @Test func replaysStartAtASequenceOrATime() throws {
        var writer = try directory.createMessageBuffer("replay", capacity: 4096, maxMessageSize: 1000)
        for i in 0..<50 {
            try writer.push("message \(i)" + String(repeating: " ", count: 60))   // 96-byte records: about 42 fit
            // Past the coarse clock's next tick (4 ms here), so that message 40 is the first of its time.
            if i == 39 { Thread.sleep(forTimeInterval: 0.012) }
        }
        var at45 = try directory.openMessageReader("replay", at: 45)
        #expect(try at45.pop()?.text?.hasPrefix("message 45 ") == true && at45.missedCount == 0)
        var gone = try directory.openMessageReader("replay", at: 0)   // overwritten: starts at the oldest, counts the gap
        let first = try #require(try gone.pop())
        #expect(first.sequence > 0 && gone.missedCount == first.sequence)
        var end = try directory.openMessageReader("replay", at: 50)
        #expect(try end.pop() == nil)
        expectError(.invalidArgument) { _ = try directory.openMessageReader("replay", at: 51) }
        var at39 = try directory.openMessageReader("replay", at: 39)
        let time39 = try #require(try at39.pop()).time, time40 = try #require(try at39.pop()).time
        #expect(time40 > time39)
        var since = try directory.openMessageReader("replay", since: time40)
        #expect(try since.pop()?.sequence == 40)
        var sinceJustAfter = try directory.openMessageReader("replay", since: time39 + 1)
        #expect(try sinceJustAfter.pop()?.sequence == 40)
        var future = try directory.openMessageReader("replay", since: UInt64.max)
        #expect(try future.pop() == nil)
        try writer.push("later")
        #expect(try future.pop()?.text == "later")
    }

    @Test func aNewWriterContinuesTheSequenceAndTheKindsAreKeptApart() throws {
        var writer = try directory.createMessageBuffer("kinds", capacity: 4096, maxMessageSize: 100)
        try writer.push("a")
        try writer.push("b")
        writer.close()
        var next = try directory.takeOverMessages("kinds")
        #expect(next.nextSequence == 2)
        try next.push("c")
        var reader = try directory.openMessageReader("kinds")
        #expect(try [reader.pop(), reader.pop(), reader.pop()].map { $0?.text } == ["a", "b", "c"])
        expectError(.typeMismatch) { _ = try directory.openReader("kinds") }
        expectError(.typeMismatch) { _ = try directory.takeOver("kinds") }
        expectError(.typeMismatch) { _ = try directory.openReader("kinds", named: "x") }
        expectError(.typeMismatch) { _ = try directory.openReader("kinds", of: UInt64.self) }
        try directory.createBuffer("items", itemSize: 8, length: 4).close()
        expectError(.typeMismatch) { _ = try directory.openMessageReader("items") }
        expectError(.typeMismatch) { _ = try directory.takeOverMessages("items") }
        let record = try directory.record(of: "kinds")
        #expect(record.holdsMessages && record.messageCapacity == 4096 && record.maxMessageSize == 100)
        #expect(record.itemSize == 8 && record.length == 512 && record.formatVersion == 4)
        next.close()
        try directory.removeBuffer("kinds")
        #expect(try directory.buffers().map(\.name) == ["items"])
    }

    /// A version-3 ring of messages (made before version 4) stays version 3 for as long as it
    /// lives: a writer taking it over writes version-3 records (one file never mixes layouts),
    /// and readers read them without a check word.
    @Test func aVersion3RingTakenOverKeepsWritingVersion3Records() throws {
        var writer = try directory.createMessageBuffer("old", capacity: 4096, maxMessageSize: 100, records: .unchecked)
        for i in 0..<100 { try writer.push("first \(i)") }
        writer.close()
        var next = try directory.takeOverMessages("old")
        for i in 0..<100 { try next.push("second \(i)") }
        var reader = try directory.openMessageReader("old")
        var messages: [Message] = []
        while let message = try reader.pop() { messages.append(message) }
        let first = try #require(messages.first).sequence
        #expect(first > 0 && messages.map(\.sequence) == Array(first..<200))      // it wrapped, and continued the sequence
        #expect(messages.map(\.text) == (first..<200).map { $0 < 100 ? "first \($0)" : "second \($0 - 100)" })
        #expect(try directory.record(of: "old").formatVersion == 3)
        #expect(try #require(try directory.status(of: "old").ring).formatVersion == 3)
        // Records of 3 header words and 2 of text ("second 99": 9 bytes): the last ends at published.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: directory.ringPath(of: "old")))
        let word = { (offset: Int) in (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) } }
        let last = word(RingLayout.Offset.lastRecordStart)
        #expect(word(RingLayout.Offset.published) == last + 5 && word(4096 + Int(last % 512) * 8) == 9 | 1 << 32)
        next.close()
    }

    @Test func eventsDeliverTheGapThenTheMessages() async throws {
        var writer = try directory.createMessageBuffer("events", capacity: 4096, maxMessageSize: 1000)
        let reader = try directory.openMessageReader("events")
        for i in 0..<40 { try writer.push([UInt8](repeating: UInt8(i), count: 100)) }
        var iterator = reader.events().makeAsyncIterator()
        guard case .missed(let count)? = try await iterator.next() else { Issue.record("no gap first"); return }
        #expect(count == 10)                                          // 136 bytes each: the 30 newest are left
        guard case .message(let message)? = try await iterator.next() else { Issue.record("no message"); return }
        #expect(message.sequence == 10 && message.bytes.first == 10)
    }

    @Test(arguments: [
        ("capacity", "8192, length = 1024", "disagree"),
        ("capacity", "5000", "damaged"),
        ("max_message", "NULL", "damaged"),
        ("kind", "'items'", "damaged"),
        ("length", "16", "damaged"),
    ])
    func aDoctoredMessageRowIsADamagedBuffer(column: String, value: String, mention: String) throws {
        try directory.createMessageBuffer("doctored", capacity: 4096, maxMessageSize: 100).close()
        let queue = try DatabaseQueue(path: directory.path + "/registry.sqlite")
        try queue.write { db in try db.execute(sql: "UPDATE buffers SET \(column) = \(value) WHERE name = 'doctored'") }
        do {
            _ = try directory.openMessageReader("doctored")
            Issue.record("a doctored row was accepted")
        } catch {
            #expect(error.code == .corrupted, "\(error)")
            #expect(error.message.contains(mention), "\(error.message)")
        }
    }
}
