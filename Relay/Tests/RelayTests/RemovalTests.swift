import Foundation
import Testing
@testable import Relay
import SharedRing
import Spawning

/// A buffer removed (`cbuff rm`), or removed and created again, under a running relay: both
/// directions notice, stop, and say so in one sentence with status 66, instead of writing into
/// a file nobody can open, or reading a dead one, for ever.
extension RelayTests {
    /// Waits up to `seconds` for `process` to end; kills it if it has not.
    func ended(_ process: Spawned, within seconds: Double) -> Bool {
        if process.wait(timeout: seconds) != nil { return true }
        process.kill(SIGKILL)
        process.wait()
        return false
    }

    func waitUntil(_ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(60)
        while !condition(), Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }

    func written(_ buffer: String) -> UInt64 { (try? directory.status(of: buffer).ring?.written) ?? 0 }

    @Test(arguments: [false, true])
    func anInRelayStopsWhenItsBufferIsRemoved(andCreatedAgain: Bool) throws {
        try filledBuffer("a", count: 100)
        #expect(try run(["out", "a", "--stream", "D", "--subject", "d.a", "--once"]) == 0)
        try directory.createBuffer("b", itemSize: 8, length: 1000, policy: .block).close()
        let running = try relay(["in", "b", "--stream", "D", "--consumer", "d"], log: "in.log")
        waitUntil { written("b") == 100 }                 // caught up: it now waits on the stream
        try directory.removeBuffer("b", force: true)      // the relay is b's live writer
        if andCreatedAgain { try directory.createBuffer("b", itemSize: 8, length: 1000, policy: .block).close() }
        #expect(ended(running, within: 10), "the in relay went on after its buffer was removed")
        #expect(running.termination == .exit(66))
        #expect(lines("in.log").contains { $0.contains("Buffer b was removed, or removed and created again") }, "\(lines("in.log"))")
        if andCreatedAgain { #expect(written("b") == 0) }
    }

    /// The ring full of what a named reader has not consumed: the push waits for room, which a
    /// removed buffer never gets.
    @Test func anInRelayWaitingForRoomStopsWhenItsBufferIsRemoved() throws {
        try filledBuffer("a", count: 500)
        #expect(try run(["out", "a", "--stream", "E", "--subject", "e.a", "--once"]) == 0)
        try directory.createBuffer("b", itemSize: 8, length: 100, policy: .block).close()
        let slow = try directory.openReader("b", named: "slow")
        let running = try relay(["in", "b", "--stream", "E", "--consumer", "e"], log: "in.log")
        waitUntil { written("b") == 100 }
        try directory.removeBuffer("b", force: true)
        #expect(ended(running, within: 10), "the in relay went on waiting for room in a removed buffer")
        #expect(running.termination == .exit(66))
        slow.close()
    }

    @Test(arguments: [false, true])
    func anOutRelayStopsWhenItsBufferIsRemoved(andCreatedAgain: Bool) throws {
        try filledBuffer("a", count: 100)
        let running = try relay(["out", "a", "--stream", "O", "--subject", "o.a"], log: "out.log")
        waitUntil { (try? directory.status(of: "a").ring?.readers.first?.position) == 100 }
        try directory.removeBuffer("a")                   // no live writer: a plain cbuff rm
        if andCreatedAgain { try filledBuffer("a", count: 50) }
        #expect(ended(running, within: 10), "the out relay went on after its buffer was removed")
        #expect(running.termination == .exit(66))
        #expect(lines("out.log").contains { $0.contains("Buffer a was removed, or removed and created again") })
        #expect(try streamCount("O") == 100)              // nothing of the new buffer under the old one's name
    }
}
