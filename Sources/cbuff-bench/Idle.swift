import Foundation
import SharedRing

/// The processes of `Benchmarks/idle-cpu.sh`, which measures what following a slow stream
/// costs: a writer pushing at a fixed rate, and followers that wait for each item. The script
/// reads each one's CPU time from /proc; these roles only pace and count.
enum Idle {
    /// Set by SIGTERM or SIGINT: the roles stop at their next look (at most 200 ms later).
    nonisolated(unsafe) static var stopRequested: sig_atomic_t = 0

    static func stopOnSignals() {
        signal(SIGTERM) { _ in Idle.stopRequested = 1 }
        signal(SIGINT) { _ in Idle.stopRequested = 1 }
    }

    static var stopping: Bool { stopRequested != 0 }

    /// `paced-writer DIR NAME RATE`: takes NAME over (a buffer of items or of messages) and
    /// pushes RATE items a second, each at its own deadline (absolute, so that the rate does
    /// not drift), until SIGTERM; prints "started", then "pushed N" at the end.
    static func pacedWriter(_ arguments: [String]) throws {
        guard arguments.count == 3, let rate = Int(arguments[2]), rate > 0 else {
            throw CBuffError(.invalidArgument, "usage: paced-writer DIR NAME RATE")
        }
        stopOnSignals()
        let directory = DataDirectory(path: arguments[0]), name = arguments[1]
        let interval = 1_000_000_000 / UInt64(rate)
        var pushed: UInt64 = 0
        if try directory.record(of: name).holdsMessages {
            var writer = try directory.takeOverMessages(name)
            try pace(interval) { () throws(CBuffError) in
                var value = pushed
                try withUnsafeBytes(of: &value) { (bytes) throws(CBuffError) in try writer.push(bytes) }
                pushed += 1
            }
            writer.close()
        } else {
            var writer = try directory.takeOver(name)
            try pace(interval) { () throws(CBuffError) in
                try writer.push(pushed)
                pushed += 1
            }
            writer.close()
        }
        say("pushed \(pushed)")
    }

    /// Says "started", then calls `push` every `interval` nanoseconds until a stop signal.
    private static func pace(_ interval: UInt64, _ push: () throws(CBuffError) -> Void) throws(CBuffError) {
        say("started")
        var deadline = now()
        while !stopping {
            deadline += interval
            var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &time, nil) == EINTR && !stopping {}
            if stopping { break }
            try push()
        }
    }

    /// `follower DIR NAME MODE[@MS]`: follows NAME from its latest item until SIGTERM, then prints
    /// "received N". MODE: `pop` (BufferReader.pop(timeout:)), `events` (BufferReader.events()),
    /// `events-here` (the same, iterated on the sequence's own executor),
    /// `messages` (MessageReader.pop(timeout:)); `@MS`: with a `wakeUpCoalescing` of MS milliseconds.
    static func follower(_ arguments: [String]) throws {
        guard arguments.count == 3 else { throw CBuffError(.invalidArgument, "usage: follower DIR NAME pop|events|events-here|messages[@MS]") }
        stopOnSignals()
        let directory = DataDirectory(path: arguments[0]), name = arguments[1]
        let parts = arguments[2].split(separator: "@", maxSplits: 1).map(String.init)
        guard let mode = parts.first, let milliseconds = parts.count == 2 ? Int(parts[1]) : 0, milliseconds >= 0 else {
            throw CBuffError(.invalidArgument, "usage: follower DIR NAME pop|events|events-here|messages[@MS]")
        }
        let coalescing = Duration.milliseconds(milliseconds)
        var received: UInt64 = 0
        switch mode {
        case "pop":
            var reader = try directory.openReader(name, start: .latest)
            reader.wakeUpCoalescing = coalescing
            say("ready")
            while !stopping {
                if try reader.pop(timeout: .milliseconds(200)) != nil { received += 1 }
            }
        case "events", "events-here":
            var eventReader = try directory.openReader(name, start: .latest)
            eventReader.wakeUpCoalescing = coalescing
            let events = eventReader.events()
            // `events-here`: the task runs on the sequence's own thread (its executor).
            let executor: (any TaskExecutor)? = mode == "events-here" ? events.executor : nil
            say("ready")
            let count = Count()
            let finished = DispatchSemaphore(value: 0)
            let following = Task(executorPreference: executor) {
                do {
                    for try await event in events {
                        if case .item = event { count.value += 1 }
                    }
                } catch {}      // CancellationError, once a stop signal came
                finished.signal()
            }
            while !stopping { usleep(200_000) }
            following.cancel()
            finished.wait()
            received = count.value
        case "messages":
            var reader = try directory.openMessageReader(name, start: .latest)
            reader.wakeUpCoalescing = coalescing
            say("ready")
            while !stopping {
                if try reader.pop(timeout: .milliseconds(200)) != nil { received += 1 }
            }
        default:
            throw CBuffError(.invalidArgument, "unknown follower mode \(mode)")
        }
        say("received \(received)")
    }
}

extension Idle {
    /// `idle-sequences DIR NAME COUNT [events|events-here]`: COUNT `events()` sequences of NAME,
    /// each iterated by a task of its own (on the global executor, or on the sequence's own
    /// executor), waiting for items nobody pushes, until SIGTERM: what waiting sequences cost
    /// while nothing happens (`perf stat -p PID`). Prints "ready" once every sequence's thread
    /// sleeps on the ring (the kernel's count of sleepers on its futex word), then "received N".
    static func idleSequences(_ arguments: [String]) throws {
        guard arguments.count >= 3, let count = Int(arguments[2]), count > 0,
              arguments.count == 3 || ["events", "events-here"].contains(arguments[3]) else {
            throw CBuffError(.invalidArgument, "usage: idle-sequences DIR NAME COUNT [events|events-here]")
        }
        stopOnSignals()
        let directory = DataDirectory(path: arguments[0]), name = arguments[1]
        let here = arguments.count == 4 && arguments[3] == "events-here"
        let received = Count()
        let lock = NSLock()
        var tasks: [Task<Void, Never>] = []
        for _ in 0..<count {
            let events = try directory.openReader(name, start: .latest).events()
            let box = EventsBox(events)
            tasks.append(Task(executorPreference: here ? events.executor : nil) {
                do {
                    for try await event in box.take() {
                        if case .item = event { lock.withLock { received.value += 1 } }
                    }
                } catch {}
            })
        }
        // Ready once every watcher sleeps on the ring (at most 30 s).
        for _ in 0..<3_000 {
            if try directory.status(of: name).ring?.sleepingReaders ?? 0 >= count { break }
            usleep(10_000)
        }
        say("ready")
        while !stopping { usleep(200_000) }
        for task in tasks { task.cancel() }
        say("received \(lock.withLock { received.value })")
    }
}

/// Hands a (non-`Sendable`) event sequence to the one task that iterates it.
private final class EventsBox: @unchecked Sendable {
    private var events: BufferEvents?
    init(_ events: BufferEvents) { self.events = events }
    func take() -> BufferEvents { defer { events = nil }; return events! }
}

/// The events follower's count, written by its task and read once the task has signalled.
private final class Count: @unchecked Sendable {
    var value: UInt64 = 0
}
