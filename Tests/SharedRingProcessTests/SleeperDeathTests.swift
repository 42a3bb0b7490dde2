import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// Waits (at most 10 s) until the kernel reports process `pid` asleep in a futex wait: so that a
/// test exercises a sleeper, not a spin that happened to see the item.
func isAsleepOnAFutex(_ pid: Int32) -> Bool {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        let wchan = (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? ""
        if wchan.contains("futex") { return true }
        usleep(1000)
    }
    return false
}

/// Reads "wakes=W" (and "popped=P") from an agent's line.
private func wakes(_ agent: ChildProcess) -> UInt64? {
    agent.expectLine(startingWith: "wakes=").flatMap { fields($0)["wakes"] }
}

/// Sleepers that die in their sleep (SIGKILL) stop costing their wakers: the writer makes at
/// most one wake call for them, `status` (and `cbuff inspect`) stops counting them, and a live
/// sleeper beside them is still woken by a wake call of its own.
extension MultiProcessTests {
    @Test func readersKilledInTheirSleepCostTheWriterOneWakeCallAtMost() throws {
        try directory.createBuffer("dead", itemSize: 8, length: 1024).close()
        let sleepers = try (0..<3).map { _ in try Agent(["wait-pop", dir, "dead", "600000"]) }
        for sleeper in sleepers {
            #expect(sleeper.expectLine(startingWith: "ready") != nil)
            #expect(isAsleepOnAFutex(sleeper.pid), "a reader never went to sleep")
        }
        #expect(try directory.status(of: "dead").ring?.sleepingReaders == 3)
        for sleeper in sleepers {
            sleeper.kill(SIGKILL)
            _ = sleeper.wait()
        }
        #expect(try directory.status(of: "dead").ring?.sleepingReaders == 0)

        let writer = try Agent(["wake-count", dir, "dead"])
        writer.send("push 100000")
        let calls = wakes(writer)
        #expect(calls != nil && calls! <= 1, "100,000 pushes after three sleepers died made \(calls.map(String.init) ?? "?") wake calls")
        writer.closeInput()
        #expect(writer.wait() == 0)
    }

    @Test func aLiveSleeperIsWokenByAWakeCallAfterItsPeersDied() throws {
        try directory.createBuffer("survivor", itemSize: 8, length: 1024).close()
        let doomed = try (0..<3).map { _ in try Agent(["wait-pop", dir, "survivor", "600000"]) }
        let survivor = try Agent(["wait-pop", dir, "survivor", "600000", "2"])
        for sleeper in doomed + [survivor] {
            #expect(sleeper.expectLine(startingWith: "ready") != nil)
            #expect(isAsleepOnAFutex(sleeper.pid), "a reader never went to sleep")
        }
        for sleeper in doomed {
            sleeper.kill(SIGKILL)
            _ = sleeper.wait()
        }
        // Each push below finds the survivor asleep (the kernel says so) and must wake it with a
        // wake call of its own: the first clears the requests the dead left, which must not
        // leave the survivor's own request unanswered the second time.
        let writer = try Agent(["wake-count", dir, "survivor"])
        var before: UInt64 = 0
        for round in 0..<2 {
            if round == 1 { #expect(isAsleepOnAFutex(survivor.pid), "the survivor did not sleep again") }
            let pushed = ContinuousClock.now
            writer.send("push 1")
            let after = wakes(writer) ?? 0
            #expect(survivor.expectLine(startingWith: "got") == "got 0")
            #expect(ContinuousClock.now - pushed < .seconds(5))
            #expect(after == before + 1, "round \(round): \(after - before) wake calls for one push to one sleeper")
            before = after
        }
        writer.closeInput()
        #expect(writer.wait() == 0)
        #expect(survivor.wait() == 0)
    }
}

/// The same for the `block` policy's writer, asleep for room when it is killed.
extension BlockPolicyProcessTests {
    @Test func aWriterKilledInItsSleepForRoomCostsTheReadersOneWakeCallAtMost() throws {
        try directory.createBuffer("full", itemSize: 8, length: 1024, policy: .block).close()
        try directory.openReader("full", named: "late").close()
        let writer = try Agent(["write", dir, "full", "2000"])
        // Bounded: the writer fills the ring, then sleeps for room.
        var blocked = false
        let deadline = ContinuousClock.now + .seconds(10)
        while !blocked && ContinuousClock.now < deadline {
            blocked = try directory.status(of: "full").ring?.writerBlockedBy == ["late"]
            if !blocked { usleep(1000) }
        }
        #expect(blocked, "the writer never slept for room")
        writer.kill(SIGKILL)
        _ = writer.wait()
        #expect(try directory.status(of: "full").ring?.writerBlockedBy == [])

        let reader = try Agent(["commit-count", dir, "full", "late"])
        let report = fields(reader.expectLine(startingWith: "popped=") ?? "")
        #expect(report["popped"] == 1024)
        #expect(report["wakes", default: .max] <= 1, "1,024 commits after the writer died made \(report["wakes"].map(String.init) ?? "?") wake calls")
        #expect(reader.wait() == 0)
    }
}
