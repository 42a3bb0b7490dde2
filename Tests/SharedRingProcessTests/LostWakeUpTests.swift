import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// No wake-up is lost between processes (the invariant of `FutexSleep`), on every path a sleep
/// can take: the first sleep of a follower (a request and a membarrier), the ones after a
/// wake-up (no barrier, relying on the writer's acknowledgement), a coalescing follower's, and
/// two sleepers beside each other. A writer process and an echo process play ping-pong through
/// two buffers, each side busy for a seeded random while (mostly a few microseconds, sometimes
/// ~300 µs, past its spin) before each push and each wait, so that sleeps begin at every point
/// of a publish; a third process follows the pings. The agents run with 20 s sleep slices
/// (`CBUFF_TEST_SLEEP_SLICE_MS`, debug builds), so that a lost wake-up is a wait that runs out
/// (5 s) instead of a 50 ms delay nobody could tell from a preemption: every agent must finish
/// every round. Nothing here sleeps to wait for another process: the agents say "ready".
@Suite(.serialized) struct LostWakeUpTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// 1,000 rounds by default (seconds), 50,000 with CBUFF_LONG_TESTS=1.
    static let rounds = ProcessInfo.processInfo.environment["CBUFF_LONG_TESTS"] == "1" ? 50_000 : 1_000
    static let seed = ProcessInfo.processInfo.environment["CBUFF_TEST_SEED"].flatMap { UInt64($0) } ?? 0x1D1E_5EED

    @Test(arguments: [0, 2])
    func everyRoundOfAPingPongBetweenSleepingProcessesArrives(followerCoalescingMilliseconds: Int) throws {
        let name = "stress"
        try directory.createBuffer("\(name)-ping", itemSize: 8, length: 4096).close()
        try directory.createBuffer("\(name)-pong", itemSize: 8, length: 4096).close()
        let environment = ["CBUFF_TEST_SLEEP_SLICE_MS": "20000"]
        func agent(_ role: String, _ seed: UInt64, _ extra: [String] = []) throws -> ChildProcess {
            try ChildProcess("cbuff-test-agent", ["wake-stress", dir, name, role, String(Self.rounds), String(seed)] + extra,
                             environment: environment)
        }
        print("LostWakeUpTests: seed \(Self.seed) (CBUFF_TEST_SEED replays it), \(Self.rounds) rounds")
        let follower = try agent("follower", Self.seed &+ 2, [String(followerCoalescingMilliseconds)])
        let echo = try agent("echo", Self.seed &+ 1)
        #expect(follower.expectLine(startingWith: "ready") != nil)
        #expect(echo.expectLine(startingWith: "ready") != nil)
        let writer = try agent("writer", Self.seed)
        var slept: [String: UInt64] = [:]
        for (role, process) in [("writer", writer), ("echo", echo), ("follower", follower)] {
            var line = "no report"
            while let next = process.readLine() {
                if next.hasPrefix("done") || next.hasPrefix("stuck") || next.hasPrefix("error") { line = next; break }
            }
            #expect(line.hasPrefix("done rounds=\(Self.rounds)"), "the \(role) reported \"\(line)\": a wake-up was lost")
            slept[role] = fields(line)["slept"]
            let (status, timedOut) = process.wait(timeout: 120)
            #expect(status == 0 && !timedOut, "the \(role) ended with status \(status)")
        }
        // The stress is worth something only if the sides really slept, many times.
        print("LostWakeUpTests: futex waits: \(slept)")
        #expect((slept["echo"] ?? 0) > UInt64(Self.rounds / 20), "the echo slept \(slept["echo"] ?? 0) times in \(Self.rounds) rounds")
        #expect((slept["writer"] ?? 0) > UInt64(Self.rounds / 20), "the writer slept \(slept["writer"] ?? 0) times in \(Self.rounds) rounds")
    }
}

/// What a follower of a slow stream pays per item: after its first sleep, no barrier.
extension MultiProcessTests {
    /// A follower woken for each of 20 items, each pushed only once the kernel says it sleeps,
    /// issues one membarrier (its first sleep's), not one per sleep: the writer acknowledges
    /// its request (`FutexSleep`, K6) and it sleeps again without one.
    @Test func aFollowerOfASlowStreamSleepsWithoutABarrierAfterItsFirstWakeUp() throws {
        try directory.createBuffer("slow", itemSize: 8, length: 1024).close()
        let follower = try Agent(["follow-cost", dir, "slow", "20"])
        #expect(follower.expectLine(startingWith: "ready") != nil)
        var writer = try directory.takeOver("slow")
        for value in 0..<UInt64(20) {
            #expect(isAsleepOnAFutex(follower.pid), "the follower never went to sleep")
            try writer.push(value)
            #expect(follower.expectLine(startingWith: "got") == "got \(value)")
        }
        writer.close()
        let report = fields(follower.expectLine(startingWith: "barriers=") ?? "")
        // One for the first sleep; a wake-up that ran ahead of the writer's acknowledgement
        // (the follower woke on the other CPU before the writer's K6) costs one more.
        #expect(report["sleeps", default: 0] >= 20, "the follower slept \(report["sleeps"] ?? 0) times for 20 items")
        #expect(report["barriers", default: .max] <= 4, "20 sleeps issued \(report["barriers"].map(String.init) ?? "?") membarriers")
        #expect(follower.wait() == 0)
    }

    /// A follower through `events()` waits on a thread of its own that runs ahead of the task:
    /// each item costs that thread one sleep on the ring, and the task, parking again after it,
    /// wakes nobody (a watcher that waited only when asked would be woken at every park: one
    /// wake call and one more sleep per item).
    @Test(arguments: ["events", "events-here"])
    func anEventsFollowerSleepsOncePerItemAndWakesNobody(mode: String) throws {
        try directory.createBuffer("slow-events", itemSize: 8, length: 1024).close()
        let follower = try Agent(["follow-cost", dir, "slow-events", "20", mode])
        #expect(follower.expectLine(startingWith: "ready") != nil)
        var writer = try directory.takeOver("slow-events")
        for value in 0..<UInt64(20) {
            // Its watcher on the ring, and every thread asleep: the task has parked again (on a
            // loaded host a task resumed late would otherwise meet the next item still awake).
            #expect(try sleepsOnTheRing("slow-events"), "the follower never went to sleep on the ring")
            #expect(isEntirelyAsleep(follower.pid), "the follower never went entirely to sleep")
            try writer.push(value)
            #expect(follower.expectLine(startingWith: "got") == "got \(value)")
        }
        writer.close()
        let switches = fields(follower.expectLine(startingWith: "switches=") ?? "")["switches", default: .max]
        // On its own thread the task costs one thread switch per item, as a `pop(timeout:)`
        // does (22–23 voluntary switches for 20 items, with the start and the end); else the
        // watcher's and the pool thread's (45–49 measured).
        let most: UInt64 = mode == "events-here" ? 34 : 100
        #expect(switches <= most, "20 items cost \(switches) context switches")
        let report = fields(follower.expectLine(startingWith: "barriers=") ?? "")
        // A push that comes before the task has parked again costs the watcher a sleep until
        // it does (and the task one wake call): a few, not one per item.
        #expect(report["sleeps", default: .max] <= 26, "20 items cost \(report["sleeps"].map(String.init) ?? "?") futex waits")
        #expect(report["wakes", default: .max] <= 6, "20 items cost \(report["wakes"].map(String.init) ?? "?") futex wake calls")
        #expect(report["barriers", default: .max] <= 4, "20 items issued \(report["barriers"].map(String.init) ?? "?") membarriers")
        #expect(follower.wait() == 0)
    }

    /// A coalescing follower through `events()` takes a burst in batches: the task that parks
    /// between them does not wake the watcher out of its coalescing sleep (which is what
    /// batches them), in either shape.
    @Test(arguments: ["events@5", "events-here@5"])
    func aCoalescingEventsFollowerTakesABurstInABatch(mode: String) throws {
        try directory.createBuffer("burst", itemSize: 8, length: 1024).close()
        let follower = try Agent(["follow-cost", dir, "burst", "20", mode])
        #expect(follower.expectLine(startingWith: "ready") != nil)
        var writer = try directory.takeOver("burst")
        for value in 0..<UInt64(20) {
            try writer.push(value)
            usleep(2_000)                                   // 40 ms: eight coalescing delays
        }
        for value in 0..<UInt64(20) { #expect(follower.expectLine(startingWith: "got") == "got \(value)") }
        writer.close()
        _ = follower.expectLine(startingWith: "switches=")
        let report = fields(follower.expectLine(startingWith: "barriers=") ?? "")
        // A watcher woken at each park would make a wake call per item.
        // Measured: 0–2 wake calls and 8–10 sleeps; a watcher woken at each park, 8–14 and 21–28.
        #expect(report["wakes", default: .max] <= 4, "20 items in a burst cost \(report["wakes"].map(String.init) ?? "?") futex wake calls")
        #expect(report["sleeps", default: .max] <= 16, "20 items in a burst cost \(report["sleeps"].map(String.init) ?? "?") futex waits")
        #expect(follower.wait() == 0)
    }

    /// Waits (at most 10 s) until no thread of process `pid` is running or runnable.
    private func isEntirelyAsleep(_ pid: Int32) -> Bool {
        eventually(within: 10) {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            return !tasks.isEmpty && tasks.allSatisfy { task in
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8)) ?? ""
                // The state follows the name, which is in parentheses and may hold spaces.
                guard let close = stat.lastIndex(of: ")") else { return false }
                return stat[stat.index(close, offsetBy: 2)...].first.map { $0 == "S" || $0 == "D" } ?? false
            }
        }
    }

    /// Waits (at most 10 s) until some thread sleeps on the ring's futex word, as the kernel says.
    private func sleepsOnTheRing(_ name: String) throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try directory.status(of: name).ring?.sleepingReaders == 1 { return true }
            usleep(500)
        }
        return false
    }
}
