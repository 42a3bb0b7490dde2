import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// Waiting costs nothing while nothing happens (issue 24, class 9: a follower's cost is its
/// thread hand-overs and its periodic wake-ups): readers that wait for an item of a quiet
/// buffer, in `events()` or in `pop(timeout:)`, sleep until something happens instead of
/// looking every 50 ms (with a barrier each time), and an event sequence still ends as soon
/// as its buffer is removed, because the removal wakes it. The waiters run in an agent
/// process, which counts the voluntary context switches of all its threads over a second once
/// the kernel counts every waiter asleep on the ring (50 ms slices and a check every 0.5 s
/// were 22 a second per sequence: 300 idle sequences cost 11 % of a core).
@Suite(.serialized) struct IdleEventsTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// 20 idle sequences wake nobody; removed (by a plain removal once the writer closed, or
    /// by force under a live writer that then closes), they all end at once, well within the
    /// 10 s after which a watcher looks at its file by itself.
    @Test(arguments: ["removed", "forced-then-closed"])
    func idleEventsSequencesWakeNobodyAndEndWhenTheirBufferGoes(removal: String) throws {
        let count = 20
        var writer: BufferWriter? = try directory.createBuffer("idle", itemSize: 8, length: 64)
        if removal == "removed" { _ = writer.take() }       // closed
        let agent = try Agent(["idle-waiters", dir, "idle", String(count), "1000", "events"])
        let switches = fields(agent.expectLine(startingWith: "switches=") ?? "")["switches", default: .max]
        // Measured: 0–2 (the agent's own sleep); 440–460 with 50 ms slices and 0.5 s checks.
        #expect(switches <= 40, "\(count) idle sequences made \(switches) context switches in a second")
        agent.send("removed")                               // the agent's clock starts here
        try directory.removeBuffer("idle", force: removal != "removed")
        _ = writer.take()                                   // a writer alive in the removed file kept them going
        let ended = agent.expectLine(startingWith: "ended") ?? agent.expectLine(startingWith: "not ended") ?? "no report"
        let milliseconds = fields(ended)["ms", default: .max]
        print("IdleEventsTests: \(removal): \(switches) switches in a second, then \(ended)")
        #expect(ended.hasPrefix("ended \(count)") && milliseconds < 3_000, "\(removal): \(ended)")
        #expect(agent.wait(timeout: 30) == (0, false))
    }

    /// The same for readers waiting in `pop(timeout:)`, on threads of their own.
    @Test func idleReadersInPopWakeNobody() throws {
        try directory.createBuffer("idle-pop", itemSize: 8, length: 64).close()
        let agent = try Agent(["idle-waiters", dir, "idle-pop", "8", "1000", "pop"])
        let switches = fields(agent.expectLine(startingWith: "switches=") ?? "")["switches", default: .max]
        // Measured: 0–2; 160–170 with 50 ms slices.
        print("IdleEventsTests: pop: \(switches) switches in a second")
        #expect(switches <= 20, "8 idle readers in pop(timeout:) made \(switches) context switches in a second")
        agent.closeInput()
        #expect(agent.wait(timeout: 30) == (0, false))
    }
}
