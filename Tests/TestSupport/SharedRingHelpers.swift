// Helpers for the tests of SharedRing, in-process and multi-process alike.
import Foundation
import Testing
import SharedRing
import Spawning

extension TemporaryDirectory {
    public var directory: DataDirectory { DataDirectory(path: path) }
}

/// Starts a cbuff-test-agent.
public func Agent(_ arguments: [String]) throws -> ChildProcess {
    try ChildProcess("cbuff-test-agent", arguments)
}

/// Expects `body` to throw a ``CBuffError`` with `code`.
public func expectError<R>(_ code: CBuffError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R) {
    do {
        _ = try body()
        Issue.record("expected an error \(code), got none", sourceLocation: sourceLocation)
    } catch let error as CBuffError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an error \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Runs `command` with /bin/sh, its output discarded; returns its exit status (-1 if it could not start).
public func shell(_ command: String) -> Int32 {
    guard let process = try? Spawned("/bin/sh", ["-c", command], environment: ProcessInfo.processInfo.environment, output: .null, error: .null) else { return -1 }
    return process.wait()
}

/// A task executor with a thread of its own (a serial Dispatch queue), for the tests that time
/// how promptly an async sequence reacts: Swift's cooperative pool has one thread per core, and
/// on a 2-core machine the synchronous tests running beside them (each waiting for a child
/// process) can hold both for seconds, which would measure the pool, not cbuff.
public final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {   // the queue serialises
    private let queue = DispatchQueue(label: "cbuff.tests.dedicated-executor")

    public init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Whether `condition` holds within `seconds`, looking every millisecond: for a lock released in
/// this process, which a child another test is spawning at that moment may still share until it
/// execs (fork duplicates open file descriptions; see Sources/SharedRing/SharedRing.docc/RingFileFormat.md, "Locks").
public func eventually(within seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date(timeIntervalSinceNow: seconds)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        usleep(1000)
    }
}
