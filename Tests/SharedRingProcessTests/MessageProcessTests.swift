import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// Message buffers across real processes: a writer killed in the middle of a message, lapped
/// readers checking every byte of every message and counting exactly what they missed, and the
/// `block` policy losing nothing to a named reader that is slower than the writer.
@Suite struct MessageProcessTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// "delivered=D missed=M bad=B" as numbers.
    func report(_ line: String?) -> [String: UInt64] {
        Dictionary(uniqueKeysWithValues: (line ?? "").split(separator: " ").compactMap { pair -> (String, UInt64)? in
            let parts = pair.split(separator: "=")
            guard parts.count == 2, let value = UInt64(parts[1]) else { return nil }
            return (String(parts[0]), value)
        })
    }

    @Test func aWriterKilledInTheMiddleOfAMessagePublishesNothingOfIt() throws {
        try directory.createMessageBuffer("dying", capacity: 8192, maxMessageSize: 1000).close()
        let writer = try Agent(["die-in-message", dir, "dying", "40", "1000"])
        #expect(writer.expectLine(startingWith: "pushed") == "pushed 40")
        #expect(writer.expectLine(startingWith: "inside") == "inside")
        writer.kill(SIGKILL)
        #expect(writer.wait() == 128 + SIGKILL)

        let status = try directory.status(of: "dying")
        #expect(status.writerDied)
        #expect(status.ring?.written == 40 && status.ring?.interruptedWrite == 40)
        var reader = try directory.openMessageReader("dying")
        var sequences: [UInt64] = []
        while let message = try reader.pop() {
            #expect(TestMessage.check(message.bytes, sequence: message.sequence, max: 1000), "a torn message was delivered: \(message.sequence)")
            sequences.append(message.sequence)
        }
        let oldest = try #require(sequences.first)
        #expect(sequences.last == 39 && sequences == Array(oldest...39))
        // The claim of the dead writer's message reached older ones; those count as gone.
        #expect(try directory.status(of: "dying").ring?.oldest == sequences.first)

        var resumed = try directory.takeOverMessages("dying")
        #expect(resumed.nextSequence == 40)
        try resumed.push(TestMessage.bytes(40, max: 1000))
        let next = try #require(try reader.pop())
        #expect(next.sequence == 40 && TestMessage.check(next.bytes, sequence: 40, max: 1000) && reader.missedCount == 0)
    }

    @Test func lappedReadersInOtherProcessesCheckEveryByteAndCountExactly() throws {
        let total: UInt64 = 200_000, max = 900
        try directory.createMessageBuffer("lapped", capacity: 16384, maxMessageSize: max).close()
        let slow = try Agent(["read-messages", dir, "lapped", "\(total)", "\(max)", "slow"])
        let fast = try Agent(["read-messages", dir, "lapped", "\(total)", "\(max)"])
        #expect(slow.expectLine(startingWith: "ready") == "ready")
        #expect(fast.expectLine(startingWith: "ready") == "ready")
        let writer = try Agent(["write-messages", dir, "lapped", "\(total)", "\(max)"])
        #expect(writer.expectLine(startingWith: "pushed") == "pushed \(total)")
        #expect(writer.wait() == 0)
        for (reader, label) in [(slow, "slow"), (fast, "fast")] {
            let numbers = report(reader.expectLine(startingWith: "delivered="))
            #expect(numbers["bad"] == 0, "\(label): \(numbers)")
            #expect(numbers["delivered", default: 0] + numbers["missed", default: 0] == total, "\(label): \(numbers)")
            #expect(reader.wait() == 0)
        }
    }

    /// `verify` beside a writer process publishing without pause into a ring it laps many
    /// times: every walk that completes finds no damage (a walk the writer overtook is done
    /// again, or refused as busy, never reported as damage).
    @Test func verifyBesideALiveWriterFindsNoDamageThatIsNotThere() throws {
        try directory.createMessageBuffer("live", capacity: 4096, maxMessageSize: 200).close()
        let writer = try Agent(["write-messages", dir, "live", "100000000", "200"])
        defer { writer.kill(); _ = writer.wait() }
        var walks = 0, busy = 0, damaged: [String] = []
        while walks + busy < 300 {
            switch Result(catching: { () throws(CBuffError) in try directory.verify("live") }) {
            case .success(let found):
                walks += 1
                if !found.isIntact { damaged.append("\(found.damaged) \(found.countProblem ?? "")") }
            case .failure(let error):
                guard error.code == .writerBusy else { throw error }
                busy += 1
            }
        }
        #expect(damaged.isEmpty, "damage reported beside a live writer: \(damaged)")
        #expect(walks > 0, "every walk was overtaken (\(busy))")
        let writerAlive = try directory.status(of: "live").writerAlive
        #expect(writerAlive, "the writer stopped before the walks ended: they proved nothing about a live one")
    }

    @Test func underTheBlockPolicyASlowNamedReaderLosesNothing() throws {
        let total: UInt64 = 50_000, max = 500
        try directory.createMessageBuffer("held", capacity: 8192, maxMessageSize: max, policy: .block).close()
        let reader = try Agent(["read-messages", dir, "held", "\(total)", "\(max)", "slow", "audit"])
        #expect(reader.expectLine(startingWith: "ready") == "ready")
        let writer = try Agent(["write-messages", dir, "held", "\(total)", "\(max)"])
        #expect(writer.expectLine(startingWith: "pushed") == "pushed \(total)")
        let numbers = report(reader.expectLine(startingWith: "delivered="))
        #expect(numbers == ["delivered": total, "missed": 0, "bad": 0], "\(numbers)")
        #expect(writer.wait() == 0 && reader.wait() == 0)
    }

    @Test func aNamedReaderKilledMidStreamResumesWithoutAGap() throws {
        let max = 200
        try directory.createMessageBuffer("resume", capacity: 65536, maxMessageSize: max, policy: .block).close()
        try directory.openMessageReader("resume", named: "r").close()
        let writer = try Agent(["write-messages", dir, "resume", "300", "\(max)"])
        #expect(writer.expectLine(startingWith: "pushed") == "pushed 300")
        #expect(writer.wait() == 0)
        var first = try directory.openMessageReader("resume", named: "r")
        for expected: UInt64 in 0..<120 { #expect(try first.pop()?.sequence == expected) }
        first.close()                                    // commits through 119
        var second = try directory.openMessageReader("resume", named: "r")
        var sequences: [UInt64] = []
        while let message = try second.pop() {
            #expect(TestMessage.check(message.bytes, sequence: message.sequence, max: max))
            sequences.append(message.sequence)
        }
        #expect(sequences == Array(120..<300) && second.missedCount == 0)
    }
}
