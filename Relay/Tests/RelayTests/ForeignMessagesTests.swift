import Foundation
import Testing
@testable import Relay
import SharedRing

/// Messages that anyone could publish on a stream's subjects, among the relay's own: every good
/// one arrives once, in order; every bad one is dead-lettered with its reason, counted, and
/// passed; a restart after one makes progress.
extension RelayTests {
    typealias Published = (headers: [(String, String)], data: [UInt8])

    static func item(_ value: UInt64) -> Published {
        ([(RelayHeaders.kind, "items"), (RelayHeaders.itemSize, "8")], withUnsafeBytes(of: value.littleEndian) { Array($0) })
    }

    static func message(_ text: String, largest: String = "1000") -> Published {
        ([(RelayHeaders.kind, "messages"), (RelayHeaders.maxMessage, largest)], Array(text.utf8))
    }

    /// Publishes `messages` on `subject` (on `literal` if `subject` has wildcards) of stream
    /// `stream`, created if missing, in order.
    func publish(_ messages: [Published], stream: String, subject: String, on literal: String? = nil) throws {
        let session = try NatsSession(url: server.url, window: 1024)
        _ = try session.ensureStream(stream, subject: subject)
        for message in messages {
            try message.data.withUnsafeBytes { try session.publish(subject: literal ?? subject, data: $0, headers: message.headers) }
        }
        #expect(session.completePublishing(timeout: 10))
    }

    /// A stream that keeps the dead letters of every relay (subjects `cbuff.dead-letter.>`).
    func keepDeadLetters() throws {
        _ = try NatsSession(url: server.url, window: 1).ensureStream("DEAD", subject: "cbuff.dead-letter.>")
    }

    /// The dead letters kept so far: the stream sequence each stands for, and its reason.
    func deadLetters() throws -> [(sequence: UInt64, reason: String, subject: String)] {
        let session = try NatsSession(url: server.url, window: 1)
        let pull = try session.pullSubscribe(stream: "DEAD", durable: "check-\(UUID().uuidString.prefix(8))", subject: "cbuff.dead-letter.>")
        var letters: [(UInt64, String, String)] = []
        while try pull.fetch(batch: 100, timeout: 0.5, { messages in
            for message in messages {
                letters.append((UInt64(message.values(DeadLetters.sequenceHeader).first ?? "") ?? 0,
                                message.values(DeadLetters.reasonHeader).first ?? "", message.values(DeadLetters.consumerHeader).first ?? ""))
                _ = message.acknowledge()
            }
        }) > 0 {}
        return letters
    }

    @Test func foreignMessagesAreDeadLetteredAndDeliveryGoesOn() throws {
        try keepDeadLetters()
        try directory.createBuffer("b", itemSize: 8, length: 1000, policy: .block).close()
        let bare: Published = ([], Self.item(99).data)                                         // an item's size, no headers
        let lying: Published = ([(RelayHeaders.kind, "items"), (RelayHeaders.itemSize, "8")], [1, 2, 3])
        let wrongKind: Published = Self.message("12345678", largest: "100")
        let oversized: Published = ([(RelayHeaders.kind, "items"), (RelayHeaders.itemSize, "16")], [UInt8](repeating: 7, count: 16))
        let twice: Published = ([(RelayHeaders.kind, "items"), (RelayHeaders.kind, "items"), (RelayHeaders.itemSize, "8")], Self.item(98).data)
        let forged: Published = Self.message("x", largest: "99999999999")
        let signed: Published = ([(RelayHeaders.kind, "items"), (RelayHeaders.itemSize, "+8")], Self.item(97).data)
        // Stream sequences 1 ... 16: the good items 0 ... 8 with a bad one after each of the first seven.
        var published: [Published] = []
        for (value, bad) in zip(0..<7 as Range<UInt64>, [bare, lying, wrongKind, oversized, twice, forged, signed]) {
            published += [Self.item(value), bad]
        }
        published += [Self.item(7), Self.item(8)]
        try publish(published, stream: "X", subject: "x.a")
        #expect(try run(["in", "b", "--stream", "X", "--consumer", "x", "--once"], log: "in.log") == 0)
        try expectEveryItemOnceInOrder("b", total: 9)
        let letters = try deadLetters()
        #expect(letters.map(\.sequence) == [2, 4, 6, 8, 10, 12, 14])
        #expect(letters.allSatisfy { !$0.reason.isEmpty && $0.subject == "x" })
        #expect(letters.first?.reason.contains("no Cbuff-Kind header") == true)
        #expect(letters.dropFirst(3).first?.reason.contains("16-byte item") == true)
        #expect(lines("in.log").contains { $0.contains("message 8 refused, sent to cbuff.dead-letter.X.x") })
        #expect(lines("in.log").last?.contains("7 refused") == true, "\(lines("in.log"))")

        // A bad message last in the stream, then a restart: nothing after it is held back.
        try publish([oversized, Self.item(9)], stream: "X", subject: "x.a")
        #expect(try run(["in", "b", "--stream", "X", "--consumer", "x", "--once"]) == 0)
        try publish([Self.item(10), bare], stream: "X", subject: "x.a")
        #expect(try run(["in", "b", "--stream", "X", "--consumer", "x", "--once"]) == 0)
        try publish([Self.item(11)], stream: "X", subject: "x.a")
        #expect(try run(["in", "b", "--stream", "X", "--consumer", "x", "--once"]) == 0)
        try expectEveryItemOnceInOrder("b", total: 12)
        #expect(try deadLetters().map(\.sequence) == [2, 4, 6, 8, 10, 12, 14, 17, 20])
    }

    /// A first message that asks for a huge ring (or one whose size overflows) creates none: it
    /// is dead-lettered, and the first honest one creates the buffer.
    @Test func forgedSizesCreateNoRing() throws {
        try keepDeadLetters()
        let forged: [Published] = [
            Self.message("a", largest: "9223372036854775807"),           // Int.max: (largest + 24) * 2 overflows
            Self.message("b", largest: "1099511627776"),                 // 1 TiB
            Self.message("c", largest: "100000000"),                     // a 256 MiB ring, beyond --max-ring-bytes
            ([(RelayHeaders.kind, "items"), (RelayHeaders.itemSize, "16777216")], [0]),
            // (4096-byte items, 256 MiB at --length 65536, are no longer refused: --length is the
            // relay's configuration, never a message's fault; the ring is cut to what
            // --max-ring-bytes holds, see aBadLengthIsRefusedBeforeAnythingIsConsumed.)
        ]
        try publish(forged + [Self.message("hello"), Self.message("world")], stream: "Y", subject: "y.a")
        #expect(try run(["in", "logs", "--stream", "Y", "--consumer", "y", "--once"]) == 0)
        let record = try directory.record(of: "logs")
        #expect(record.maxMessageSize == 1000 && (record.messageCapacity ?? .max) <= 1 << 26)
        var reader = try directory.openMessageReader("logs")
        var texts: [String] = []
        while let message = try reader.pop() { texts.append(message.text ?? "") }
        #expect(texts == ["hello", "world"])
        #expect(try deadLetters().map(\.sequence) == [1, 2, 3, 4])
    }

    /// Dead letters that the consumer itself would receive would come back without end: refused
    /// at start. With '' they are only terminated, and still counted.
    @Test func theDeadLetterSubjectIsCheckedAndCanBeNone() throws {
        try publish([Self.item(0), ([], [1]), Self.item(1)], stream: "W", subject: "w.>", on: "w.a")
        try directory.createBuffer("b", itemSize: 8, length: 100, policy: .block).close()
        #expect(try run(["in", "b", "--stream", "W", "--consumer", "w", "--once", "--dead-letter", "w.dead"]) == 64)
        #expect(try run(["in", "b", "--stream", "W", "--consumer", "w", "--once", "--dead-letter", "a.*"]) == 64)
        #expect(try run(["in", "b", "--stream", "W", "--consumer", "w", "--once", "--dead-letter", ""], log: "none.log") == 0)
        try expectEveryItemOnceInOrder("b", total: 2)
        #expect(lines("none.log").contains { $0.contains("message 2 refused, terminated") })
    }
}
