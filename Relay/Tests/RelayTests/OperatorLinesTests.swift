import Foundation
import Testing
@testable import Relay
import SharedRing
import Spawning

/// What the relay tells an operator: the connection's drops and returns, where `in` resumes,
/// status lines only when something changed, a server without JetStream, and `--once` giving up
/// when no server answers.
extension RelayTests {
    /// Waits (at most 30 s) until the relay wrote a line into `log` that satisfies `isWanted`.
    func awaitLine(_ log: String, _ isWanted: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while !lines(log).contains(where: isWanted) {
            if Date() > deadline { return false }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return true
    }

    @Test func theConnectionsDropAndReturnAreSaid() throws {
        try filledBuffer("a", count: 100)
        #expect(try run(["out", "a", "--stream", "C", "--subject", "c.a", "--once"]) == 0)
        let running = try relay(["in", "b", "--stream", "C", "--consumer", "c"], log: "in.log")
        #expect(awaitLine("in.log") { $0.contains("new consumer c") })
        waitUntil { written("b") == 100 }
        server.kill()
        #expect(awaitLine("in.log") { $0.contains("Lost the connection to \(server.url)") }, "\(lines("in.log"))")
        try server.start()
        #expect(awaitLine("in.log") { $0.contains("Connected again to \(server.url) after") }, "\(lines("in.log"))")
        running.kill(SIGTERM)
        #expect(ended(running, within: 10) && running.termination == .exit(0))
        #expect(lines("in.log").filter { $0.contains("Lost the connection") }.count == 1)
    }

    @Test func whereInResumesIsSaid() throws {
        try filledBuffer("a", count: 10)
        #expect(try run(["out", "a", "--stream", "P", "--subject", "p.a", "--once"]) == 0)
        #expect(try run(["in", "b", "--stream", "P", "--consumer", "p", "--once"], log: "first.log") == 0)
        #expect(lines("first.log").first?.contains("new consumer p, delivering p.a from the stream's first message (buffer b made from the first message that can make it)") == true,
                "\(lines("first.log"))")
        #expect(lines("first.log").last?.contains("buffer at item 10, stream handled up to sequence 10") == true, "\(lines("first.log"))")
        #expect(try run(["in", "b", "--stream", "P", "--consumer", "p", "--once"], log: "second.log") == 0)
        #expect(lines("second.log").first?.contains("resuming after stream sequence 10, as journal \(directory.ringPath(of: "b")).in-p says (buffer b at item 10)") == true,
                "\(lines("second.log"))")
        try FileManager.default.removeItem(atPath: directory.ringPath(of: "b") + ".in-p")
        #expect(try run(["in", "b", "--stream", "P", "--consumer", "p", "--once"], log: "third.log") == 0)
        #expect(lines("third.log").first?.contains("no journal says what the buffer holds: delivering from consumer p's acknowledged floor, after stream sequence 10") == true,
                "\(lines("third.log"))")
    }

    /// The journal is not synced, so after a machine crash it may name ring items the crash
    /// lost: a journal written in another boot is ignored, and delivery starts again from the
    /// consumer's acknowledged floor (`CBUFF_TEST_BOOT_ID` stands in for the reboot).
    @Test func aJournalOfAnotherBootIsIgnored() throws {
        try filledBuffer("a", count: 10)
        #expect(try run(["out", "a", "--stream", "R", "--subject", "r.a", "--once"]) == 0)
        #expect(try run(["in", "b", "--stream", "R", "--consumer", "r", "--once"], log: "first.log") == 0)
        let rebooted = try relay(["in", "b", "--stream", "R", "--consumer", "r", "--once"], log: "second.log",
                                 environment: ["CBUFF_TEST_BOOT_ID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"])
        #expect(rebooted.wait() == 0)
        let second = lines("second.log")
        #expect(second.contains { $0.contains("journal") && $0.contains("ignored") }, "\(second)")
        #expect(second.contains { $0.contains("no journal says what the buffer holds: delivering from consumer r's acknowledged floor") }, "\(second)")
        #expect(written("b") == 10)
    }

    /// An idle relay stays quiet: one status line once it caught up, none while nothing moves.
    @Test func statusLinesComeOnlyWhenSomethingChanged() throws {
        try filledBuffer("a", count: 100)
        #expect(try run(["out", "a", "--stream", "Q", "--subject", "q.a", "--once"]) == 0)
        let running = try relay(["in", "b", "--stream", "Q", "--consumer", "q", "--status-interval", "0.05"], log: "in.log")
        func caughtUp(_ line: String) -> Bool { line.contains("buffer at item 100,") && line.contains("lag 0;") }
        #expect(awaitLine("in.log", caughtUp), "\(lines("in.log"))")
        Thread.sleep(forTimeInterval: 0.6)          // a dozen intervals with nothing to say
        running.kill(SIGTERM)
        #expect(ended(running, within: 10) && running.termination == .exit(0))
        #expect(lines("in.log").filter(caughtUp).count == 1, "\(lines("in.log"))")
    }

    @Test func aServerWithoutJetStreamIsSaid() throws {
        let plain = try Server(jetStream: false)
        try filledBuffer("a", count: 10)
        #expect(try run(["out", "a", "--stream", "N", "--subject", "n.a", "--once"], log: "out.log", server: plain.url) == 1)
        #expect(lines("out.log") == ["cbuff-relay: Cannot find or create stream N: the server has JetStream disabled (start nats-server with -js, or give its configuration a jetstream block)."],
                "\(lines("out.log"))")
    }

    /// `--once` gives up with one sentence when no server answers within --connect-timeout: at
    /// start, and when the server goes away under it.
    @Test(arguments: ["in", "out"])
    func onceGivesUpWhenNoServerAnswers(direction: String) throws {
        try filledBuffer("a", count: 200_000)
        try directory.createBuffer("b", itemSize: 8, length: 200_000, policy: .block).close()
        let arguments = direction == "out" ? ["out", "a", "--stream", "U", "--subject", "u.a"] : ["in", "b", "--stream", "U", "--consumer", "u"]
        if direction == "in" { #expect(try run(["out", "a", "--stream", "U", "--subject", "u.a", "--once"]) == 0) }
        let running = try relay(arguments + ["--once", "--connect-timeout", "2"], log: "under.log")
        waitUntil { direction == "out" ? ((try? streamCount("U")) ?? 0) > 1000 : written("b") > 1000 }
        server.kill()
        #expect(ended(running, within: 30), "\(lines("under.log"))")
        #expect(running.termination == .exit(1))
        #expect(lines("under.log").contains { $0.contains("No NATS server answered at \(server.url) for 2 s") && $0.contains("gave up, as --once does") },
                "\(lines("under.log"))")
        let start = Date()
        #expect(try run(arguments + ["--once", "--connect-timeout", "1"], log: "start.log") == 1)
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(lines("start.log").last?.hasPrefix("cbuff-relay: No NATS server answered at \(server.url) within 1 s") == true, "\(lines("start.log"))")
    }
}
