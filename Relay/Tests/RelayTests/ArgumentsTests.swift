import Foundation
import Testing
@testable import Relay
import SharedRing

/// What the relay is told is checked whole before it connects, creates or consumes anything:
/// a bad argument is one `cbuff-relay:` sentence and exit 64, never a stream message refused
/// or a consumer created for it; every wait ends when the user said; every number said is true.
extension RelayTests {
    /// The consumer `durable` of stream `stream`, if it exists.
    func consumer(_ durable: String, of stream: String) throws -> NatsSession.ConsumerState? {
        try NatsSession(url: server.url, window: 1).consumerState(stream: stream, durable: durable)
    }

    /// A --length the library refuses (or one that even 1-byte items would take more than
    /// --max-ring-bytes for) is refused before the consumer exists: no message is refused or
    /// terminated for it, and a relay started with a sane one delivers them all. A --length
    /// whose items would take more than --max-ring-bytes makes the ring no longer than fits.
    @Test func aBadLengthIsRefusedBeforeAnythingIsConsumed() throws {
        try filledBuffer("a", count: 3)
        #expect(try run(["out", "a", "--stream", "L", "--subject", "l.a", "--once"]) == 0)
        for length in ["99999999999", "1", "0", "-5", "4294967296"] {
            #expect(try run(["in", "b", "--stream", "L", "--consumer", "c", "--once", "--length", length], log: "typo.log") == 64)
            #expect(lines("typo.log").count == 1 && lines("typo.log")[0].hasPrefix("cbuff-relay: --length") == true, "\(length): \(lines("typo.log"))")
            #expect(try consumer("c", of: "L") == nil)
        }
        #expect(try run(["in", "b", "--stream", "L", "--consumer", "c", "--once", "--length", "16777216"], log: "long.log") == 0)
        #expect(lines("long.log").contains { $0.contains("8388608 of them (--length 16777216 would take more than --max-ring-bytes 67108864)") }, "\(lines("long.log"))")
        #expect(try directory.record(of: "b").length == 8_388_608)
        #expect(try directory.status(of: "b").ring?.written == 3)
    }

    /// Every usage error, the parser's and the relay's own checks (numbers, names, subjects,
    /// negative numbers read as numbers), is one sentence and exit 64, and asks nothing of the
    /// server.
    @Test(arguments: [
        (["in", "b", "--stream", "B", "--consumer", "c", "--max-ring-bytes", "-1"], "--max-ring-bytes -1 is out of range"),
        (["in", "b", "--stream", "B", "--consumer", "c", "--batch", "0"], "--batch 0 is out of range: from 1 to 442"),
        (["in", "b", "--stream", "B", "--consumer", "c", "--batch", "100000"], "--batch 100000 is out of range"),
        (["in", "b", "--stream", "B", "--consumer", "c.x"], "--consumer \"c.x\" is not a name"),
        (["in", "b", "--stream", "B", "--consumer", "c", "--wait-for-stream", "-1"], "--wait-for-stream -1 is out of range"),
        (["in", "b", "--stream", "B", "--consumer", "c", "--status-interval", "nan"], "--status-interval nan is out of range"),
        (["in", "b", "--stream", "B", "--consumer", "c", "--connect-timeout", "-2"], "--connect-timeout -2.0 is out of range"),
        (["in", "b", "--stream", "B", "--consumer", "c", "--dead-letter", "a b"], "--dead-letter \"a b\" is not a subject"),
        (["in", ".b", "--stream", "B", "--consumer", "c"], "Buffer name: "),
        (["out", "a", "--stream", "bad.name", "--subject", "x.y"], "--stream \"bad.name\" is not a name JetStream takes"),
        (["out", "a", "--stream", "B", "--subject", ""], "--subject \"\" is not a subject"),
        (["out", "a", "--stream", "B", "--subject", "a b"], "--subject \"a b\" is not a subject"),
        (["out", "a", "--stream", "B", "--subject", "a.*"], "is not a subject to publish on"),
        (["out", "a", "--stream", "B", "--subject", "b.a", "--window", "0"], "--window 0 is out of range"),
        (["out", "a", "--stream", String(repeating: "S", count: 60), "--subject", "b.a"], "The default reader name relay-STREAM (give one with --reader): "),
        (["out", "a", "--stream", "B", "--subject", "b.a", "--bogus"], "Unknown option '--bogus'"),
        (["out", "a", "--subject", "b.a"], "Missing expected argument '--stream <stream>'"),
    ])
    func aUsageErrorIsOneSentenceAndExit64(arguments: [String], expected: String) throws {
        try filledBuffer("a", count: 2)
        // --once: a relay that took a bad argument for a good one ends instead of running on.
        #expect(try run(arguments + ["--once"], log: "usage.log") == 64)
        #expect(lines("usage.log").count == 1, "\(lines("usage.log"))")
        #expect(lines("usage.log").first.map { $0.hasPrefix("cbuff-relay: ") && $0.contains(expected) && $0.hasSuffix("(see 'cbuff-relay --help')") } == true,
                "\(lines("usage.log"))")
        #expect(throws: RelayError.self) { try NatsSession(url: server.url, window: 1).ensureStream("B", subject: nil) }
    }

    /// A JetStream refusal is a sentence with the status it deserves: another stream's subject
    /// is a conflict (73), not "Error (JetStream error 10065)", exit 1.
    @Test func aJetStreamRefusalIsASentenceAndItsStatus() throws {
        try filledBuffer("a", count: 2)
        #expect(try run(["out", "a", "--stream", "X", "--subject", "x.a", "--once"]) == 0)
        #expect(try run(["out", "a", "--stream", "Y", "--subject", "x.a", "--once"], log: "overlap.log") == 73)
        #expect(lines("overlap.log") .last?.hasPrefix("cbuff-relay: Cannot find or create stream Y: another stream already takes its subjects") == true,
                "\(lines("overlap.log"))")
        #expect(try run(["in", "b", "--stream", "NOPE", "--consumer", "c", "--once", "--wait-for-stream", "0"], log: "nope.log") == 66)
    }

    /// --connect-timeout bounds the whole wait for a server: pauses between tries end by it.
    @Test func theConnectTimeoutBoundsTheWait() throws {
        try filledBuffer("a", count: 2)
        let start = ContinuousClock.now
        #expect(try run(["out", "a", "--stream", "X", "--subject", "x.a", "--once", "--connect-timeout", "2"], log: "t.log", server: "nats://127.0.0.1:1") == 1)
        let took = ContinuousClock.now - start
        #expect(took >= .seconds(2) && took < .milliseconds(2600), "took \(took)")
        #expect(lines("t.log").last?.hasPrefix("cbuff-relay: No NATS server answered at nats://127.0.0.1:1 within 2 s") == true, "\(lines("t.log"))")
    }

    /// `out` stopped by a message the server never takes says where its reader stands: the
    /// position `cbuff reader list` shows, not one past what it read and never relayed.
    @Test func outStoppedByAnOversizedMessageSaysTheCommittedPosition() throws {
        var writer = try directory.createMessageBuffer("big", capacity: 8 << 20, maxMessageSize: 2 << 20)
        for message in [Array("small1".utf8), [UInt8](repeating: 97, count: 1_500_000), Array("small2".utf8)] {
            try writer.push(message)
        }
        writer.close()
        for log in ["first.log", "again.log"] {
            #expect(try run(["out", "big", "--stream", "OB", "--subject", "ob.x", "--once"], log: log) == 1)
            let position = try #require(try directory.status(of: "big").ring?.readers.first { $0.name == "relay-OB" }?.position)
            #expect(lines(log).contains { $0.hasPrefix("cbuff-relay: Item 1 of buffer big: A message of 1500000 bytes is more than the server takes") }, "\(lines(log))")
            #expect(lines(log).contains { $0.hasSuffix("reader relay-OB at item \(position)") }, "position \(position): \(lines(log))")
        }
    }
}
