import Foundation
import Testing
@testable import Relay
import SharedRing
import Spawning

/// The relays under fault injection: the debug relay binary with `CBUFF_FAULT=N:ERRNO`, which
/// makes the Nth system call that cbuff's System layer makes in that process fail (and says so
/// on stderr), for every N up to the last call of a run. Each faulted run must end by itself, in
/// bounded time, with an exit status (never a signal); and whatever it did, a clean run after it
/// must leave exactly-once delivery intact: the stream holds every item of the buffer once and
/// in order (`out`), or the buffer every message of the stream once and in order (`in`).
///
/// Covered: the relay's calls through the SharedRing library (data directory, registry, ring
/// file, named reader, pushes and pops, liveness locks). Not covered: the NATS client's own
/// socket calls, and the in relay's journal, which uses Glibc directly (its five calls are
/// checked as input by `theInRelaysJournalIsCheckedAsInput`).
extension RelayTests {
    /// One line per injected fault (see CSharedRingShims/FaultInjection.c).
    static let injectedLine = "cbuff fault injection: system call "

    /// Runs the relay with `arguments` and the Nth cbuff system call failing with `errno`, for
    /// N = 1, 2, … until a run makes fewer than N calls; after each faulted run, `recover` runs
    /// (a clean relay run and the checks of exactly-once delivery). Returns how many N were
    /// injected; records a run that died of a signal or outlived its bound.
    func injectingEveryCall(_ arguments: [String], errno: Int32, before prepare: (Int) throws -> Void,
                            recover: (Int) throws -> Void) throws -> Int {
        for nth in 1...2_000 {
            try prepare(nth)
            let log = "fault-\(errno)-\(nth).log"
            let process = try relay(arguments, log: log, environment: ["CBUFF_FAULT": "\(nth):\(errno)"])
            let ended = ended(process, within: 30)
            let lines = lines(log)
            #expect(ended, "cbuff-relay \(arguments) with call \(nth) failing (errno \(errno)) did not end within 30 s: \(lines)")
            let status = process.wait()
            #expect(process.termination == .exit(status), "cbuff-relay \(arguments) with call \(nth) failing (errno \(errno)) died: \(String(describing: process.termination)): \(lines)")
            let injected = lines.contains { $0.hasPrefix(Self.injectedLine) }
            // The relay's own sentence, not only the injection's line, when the run failed.
            if status != 0 {
                #expect(lines.contains { $0.hasPrefix("cbuff-relay: ") }, "call \(nth), errno \(errno): exit \(status) without a sentence: \(lines)")
            }
            try? FileManager.default.removeItem(atPath: logPath(log))
            try recover(nth)
            if !injected { return nth - 1 }
        }
        Issue.record("cbuff-relay \(arguments) kept making system calls past 2,000")
        return 2_000
    }

    @Test(arguments: [EIO, EINTR])
    func anOutRelayFailingAnySystemCallLosesAndDuplicatesNothing(errno: Int32) throws {
        let batch: UInt64 = 20
        try directory.createBuffer("a", itemSize: 8, length: 1 << 16).close()
        var pushed: UInt64 = 0
        let arguments = ["out", "a", "--stream", "F", "--subject", "f.a", "--once"]
        let calls = try injectingEveryCall(arguments, errno: errno, before: { _ in
            // New items every round, so that every run has items to publish and a cursor to move.
            var writer = try directory.takeOver("a")
            try writer.push(contentsOf: pushed..<(pushed + batch))
            writer.close()
            pushed += batch
        }, recover: { nth in
            let status = try run(arguments), count = try streamCount("F")
            #expect(status == 0, "the clean run after call \(nth) failed")
            #expect(count == pushed, "after call \(nth) failed (errno \(errno)): \(pushed) items pushed, the stream holds \(count)")
        })
        #expect(calls > 20, "only \(calls) calls were injected")
        // Every item once and in order: the stream, brought back into a ring.
        try directory.createBuffer("back", itemSize: 8, length: Int(pushed), policy: .block).close()
        #expect(try run(["in", "back", "--stream", "F", "--consumer", "check", "--once"]) == 0)
        try expectEveryItemOnceInOrder("back", total: pushed)
        print("out relay, errno \(errno): \(calls) system calls injected, \(pushed) items each once")
    }

    @Test(arguments: [EIO, ENOSPC])
    func anInRelayFailingAnySystemCallLosesAndDuplicatesNothing(errno: Int32) throws {
        let batch: UInt64 = 20
        try directory.createBuffer("a", itemSize: 8, length: 1 << 16).close()
        try directory.createBuffer("b", itemSize: 8, length: 1 << 16, policy: .block).close()
        var pushed: UInt64 = 0
        let calls = try injectingEveryCall(["in", "b", "--stream", "H", "--consumer", "h", "--once"], errno: errno, before: { _ in
            // New messages in the stream every round, published by a clean out relay.
            var writer = try directory.takeOver("a")
            try writer.push(contentsOf: pushed..<(pushed + batch))
            writer.close()
            pushed += batch
            let status = try run(["out", "a", "--stream", "H", "--subject", "h.a", "--once"])
            #expect(status == 0)
        }, recover: { nth in
            let status = try run(["in", "b", "--stream", "H", "--consumer", "h", "--once"])
            #expect(status == 0, "the clean run after call \(nth) failed")
            #expect(written("b") == pushed, "after call \(nth) failed (errno \(errno)): \(pushed) messages in the stream, \(written("b")) in the ring")
        })
        #expect(calls > 20, "only \(calls) calls were injected")
        try expectEveryItemOnceInOrder("b", total: pushed)
        print("in relay, errno \(errno): \(calls) system calls injected, \(pushed) items each once")
    }
}
