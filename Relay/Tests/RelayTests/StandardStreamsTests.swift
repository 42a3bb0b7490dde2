import Foundation
import Testing
@testable import Relay
import SharedRing
import Spawning

/// A relay started with its standard descriptors closed, or with stderr a pipe nobody reads.
extension RelayTests {
    /// Runs the relay through `sh`, which closes descriptors `closed` (of 0, 1, 2) before it
    /// execs it; stderr is otherwise `stderr`.
    func runWithClosed(_ closed: [Int], _ arguments: [String], stderr: Spawned.Stream = .null) throws -> Spawned {
        let closing = closed.map { "\($0)>&-" }.joined(separator: " ")
        let process = try Spawned("/bin/sh", ["-c", "exec \"$0\" \"$@\" \(closing)", Self.relayBinary] + arguments + ["--server", server.url, "--dir", data],
                                  output: .null, error: stderr)
        process.wait()
        return process
    }

    /// With descriptors 0-2 closed, the first files the relay opens would take their numbers,
    /// and its lines to "stderr" would go into one of them (a socket, the registry, the ring, the
    /// journal): every item must arrive once, and every file stay intact, in both directions and
    /// after a restart.
    @Test func aRelayStartedWithItsStandardDescriptorsClosedWritesOnlyWhereItMeans() throws {
        let total: UInt64 = 3_000
        try filledBuffer("a", count: total)
        let out = try runWithClosed([0, 1, 2], ["out", "a", "--stream", "Z", "--subject", "z.a", "--once"])
        #expect(out.termination == .exit(0))
        #expect(try streamCount("Z") == total)
        for _ in 0..<2 {
            let into = try runWithClosed([0, 1, 2], ["in", "b", "--stream", "Z", "--consumer", "z", "--once"])
            #expect(into.termination == .exit(0))
        }
        try expectEveryItemOnceInOrder("b", total: total)
        let journal = try InJournal(path: directory.ringPath(of: "b") + ".in-z")
        #expect(try journal.read()?.sequences.last == total)
        #expect(try directory.record(of: "b").itemSize == 8)
        #expect(try directory.status(of: "a").ring?.readers.first?.position == total)
    }

    /// Its failures still end with their status, not a signal: stderr closed, or a pipe whose
    /// reader is gone (SIGPIPE).
    @Test func aRelayWhoseStderrIsClosedOrBrokenStillExitsWithItsStatus() throws {
        let badName = ["in", "b", "--stream", "Z", "--consumer", "no spaces"]
        let closed = try runWithClosed([2], badName)
        #expect(closed.termination == .exit(64))
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        close(ends[0])
        defer { close(ends[1]) }
        let broken = try runWithClosed([], badName, stderr: .descriptor(ends[1]))
        #expect(broken.termination == .exit(64))
    }
}
