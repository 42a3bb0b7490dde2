import ArgumentParser
import Foundation
import SharedRing

struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a buffer's items; with --follow, keep printing new ones until interrupted.",
        discussion: """
            Waiting for new items sleeps on the buffer (no spinning); --follow prints the items \
            of a busy stream a few at a time, each at most --coalesce milliseconds late (5 unless \
            told otherwise; 0: each at once, at one wake-up per item). Ends cleanly on Ctrl-C, or \
            when the program reading the output exits (cbuff tail x --follow | head -3); exits 66 \
            once the buffer has been removed and no writer can push into it any more. Items \
            the writer overwrote before tail could print them are counted on stderr. A damaged \
            ring file ends it with exit 65, after everything read before the damage was printed.
            """
    )

    /// `oldest`, `latest`, or a sequence number to replay from.
    enum Start: ExpressibleByArgument, Equatable {
        case oldest, latest
        case sequence(UInt64)

        init?(argument: String) {
            switch argument {
            case "oldest": self = .oldest
            case "latest": self = .latest
            default:
                guard let sequence = UInt64(argument) else { return nil }
                self = .sequence(sequence)
            }
        }

        static var allValueStrings: [String] { ["oldest", "latest", "SEQUENCE"] }
        var defaultValueDescription: String { "oldest" }
    }

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name.", completion: BufferNames.completion)
    var name: String

    @Flag(help: "Wait for new items until interrupted.")
    var follow = false

    @Option(parsing: .unconditional, help: "Start at the oldest item still present (oldest), only print items pushed from now on (latest), or replay from a sequence number (one already overwritten starts at the oldest present and counts the gap).")
    var from: Start = .oldest

    @Option(parsing: .unconditional, help: ItemFormat.help)
    var format: ItemFormat?

    @Option(parsing: .unconditional, help: "Read as this named reader: start where it stopped and commit what was printed (at least once: lines not yet written out are printed again next time). With --format jsonl the sequence de-duplicates.")
    var reader: String?

    @Flag(help: "Wait for the buffer to be created if it does not exist yet (with --timeout, at most that long; exit 66 then).")
    var wait = false

    @Option(parsing: .unconditional, help: ArgumentHelp("With --follow, the longest an item may wait before it is printed, so that the items of a busy stream are printed a few at a time: one wake-up per batch instead of one per item (5 ms: a follower of 1,000 items a second sleeps 200 times a second, not 1,000). 0 prints each item as soon as it is published. From 0 to 1000.", valueName: "milliseconds"))
    var coalesce: Int = 5

    @Option(parsing: .unconditional, help: ArgumentHelp("With --wait, the longest wait for the buffer to appear.", valueName: "seconds"))
    var timeout: Double?

    func validate() throws {
        if let timeout { try Seconds.validate(timeout, "--timeout") }
        if timeout != nil && !wait { throw ValidationError("--timeout goes with --wait.") }
        guard (0...1000).contains(coalesce) else { throw ValidationError("--coalesce must be a number of milliseconds from 0 to 1000.") }
    }

    @Option(parsing: .unconditional, help: "Messages: start at the first message published at or after TIME (Unix seconds, such as 1764637200.5, or ISO 8601, such as 2026-12-02T01:00:00Z).")
    var since: String?

    func run() throws {
        try reportingErrors {
            Output.ignoreBrokenPipe()
            if follow { StopSignals.install() }   // Ctrl-C, SIGTERM, SIGHUP end it cleanly, between waits
            let directory = global.directory
            if wait { try waitForBuffer(directory) }
            // Every argument is checked before a reader is opened: a refused tail registers no
            // named reader (a `block` writer would wait for it).
            let record = try directory.record(of: name)
            if record.holdsMessages {
                let printer = try MessagePrinter(format)
                var messages = try openMessages(directory)
                messages.wakeUpCoalescing = .milliseconds(coalesce)
                var followed = FollowedMessages(reader: messages, printer: printer)
                try follow(&followed, noun: "messages")
            } else {
                if since != nil { throw failure(ExitStatus.usage, "--since is for buffers of messages; items carry no time (use --from SEQUENCE).") }
                _ = try ItemPrinter(format, layout: record.itemLayout)
                var reader = if let readerName = self.reader {
                    switch from {
                    case .oldest: try directory.openReader(name, named: readerName, start: .oldest)
                    case .latest: try directory.openReader(name, named: readerName, start: .latest)
                    case .sequence(let sequence): try directory.openReader(name, named: readerName, at: sequence)
                    }
                } else {
                    switch from {
                    case .oldest: try directory.openReader(name, start: .oldest)
                    case .latest: try directory.openReader(name, start: .latest)
                    case .sequence(let sequence): try directory.openReader(name, at: sequence)
                    }
                }
                reader.commitsOnRead = false
                reader.wakeUpCoalescing = .milliseconds(coalesce)
                let printer = try ItemPrinter(format, layout: reader.itemLayout)
                var followed = FollowedItems(reader: reader, printer: printer)
                try follow(&followed, noun: "items")
            }
        }
    }

    /// Waits, polling the registry 5 times a second, until buffer `name` exists.
    private func waitForBuffer(_ directory: DataDirectory) throws {
        let deadline = timeout.map { ContinuousClock.now + Seconds.duration($0) }
        var said = false
        StopSignals.install()
        while true {
            // A Result, not `do { …; return } catch where …` in this loop: Swift 6.3.1 crashes on
            // that shape (README, troubleshooting).
            switch Result(catching: { () throws(CBuffError) in try directory.record(of: name) }) {
            case .success: return
            case .failure(let error) where error.code != .notFound: throw error
            case .failure:
                if !said {
                    complain("waiting for buffer \(Values.quoted(name)) to be created in \(directory.path)\(timeout.map { " (at most \($0) s)" } ?? "; Ctrl-C to stop").")
                    said = true
                }
            }
            if let deadline, ContinuousClock.now >= deadline {
                throw failure(ExitStatus.noInput, "no buffer \(Values.quoted(name)) appeared in \(directory.path) within \(timeout ?? 0) s.")
            }
            if let signal = StopSignals.check() { throw ExitCode(128 + signal) }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    private func openMessages(_ directory: DataDirectory) throws -> MessageReader {
        if let readerName = reader {
            guard since == nil else { throw failure(ExitStatus.usage, "--since replays with an anonymous reader; a named reader resumes where it stopped.") }
            var named = switch from {
            case .latest: try directory.openMessageReader(name, named: readerName, start: .latest)
            default: try directory.openMessageReader(name, named: readerName, start: .oldest)
            }
            named.commitsOnRead = false
            return named
        }
        if let since {
            guard from == .oldest else { throw failure(ExitStatus.usage, "Give --from or --since, not both.") }
            guard let time = Values.time(since) else {
                throw failure(ExitStatus.usage, "--since \(Values.quoted(since)) is not exactly a time from 1970 to 2554 (what 64 bits of nanoseconds hold): give Unix seconds (1764637200.5) or an ISO 8601 time that exists (2026-12-02T01:00:00Z, 2026-12-02T02:00:00+01:00).")
            }
            return try directory.openMessageReader(name, since: time)
        }
        return switch from {
        case .oldest: try directory.openMessageReader(name, start: .oldest)
        case .latest: try directory.openMessageReader(name, start: .latest)
        case .sequence(let sequence): try directory.openMessageReader(name, at: sequence)
        }
    }

    /// Prints what `followed` has, then, with `--follow`, waits for more until interrupted. A
    /// read that fails (a damaged ring file) ends it, but only after everything read before it
    /// was printed, flushed and committed, as `pop` does: what was delivered is not lost with
    /// the error, which is said last.
    private func follow(_ followed: inout some FollowedReader & ~Copyable, noun: String) throws {
        var output = Output()
        var reportedMissed: UInt64 = 0, reportedLost: UInt64 = 0
        var nextStopCheck = ContinuousClock.now
        while true {
            var outputGone = false
            let reading = Result { () throws in
                while try followed.printNext(to: &output) {
                    if output.pending > 60_000 {
                        guard try flush(&output) else { outputGone = true; return }
                        followed.commit()
                    }
                }
            }
            if outputGone { return }
            guard try flush(&output) else { return }
            followed.commit()           // a named reader: everything printed reached the output
            if followed.missedCount > reportedMissed {
                let lost = followed.lostInCrashCount - reportedLost, overwritten = followed.missedCount - reportedMissed - lost
                let why = lost == 0 && followed.skipsDamage ? "overwritten before they were printed, or found damaged (not what their check words vouch for: `cbuff verify` lists those)"
                    : lost == 0 ? "overwritten before they were printed"
                    : overwritten == 0 ? "lost in a machine crash (see `cbuff inspect`)"
                    : "\(overwritten) overwritten before they were printed, \(lost) lost in a machine crash (see `cbuff inspect`)"
                complain("skipped \(followed.missedCount - reportedMissed) \(noun) \(why).")
                (reportedMissed, reportedLost) = (followed.missedCount, followed.lostInCrashCount)
            }
            try reading.get()
            guard follow else { return }
            // Sleep in slices so that Ctrl-C and a vanished reader of our output are noticed.
            while !followed.wait(timeout: .milliseconds(200)) {
                if StopSignals.check() != nil || Output.readerGone { return }
                guard try followed.canReceiveMore() else {
                    throw failure(ExitStatus.noInput, "Buffer \"\(name)\" was removed while being followed; nothing more can arrive.")
                }
            }
            // A stream that never lets a wait time out is checked for stop signals at most every
            // 50 ms: a check is three system calls, which a follower of a thousand items a
            // second must not pay for every item.
            let now = ContinuousClock.now
            if now >= nextStopCheck {
                if StopSignals.check() != nil { return }
                nextStopCheck = now + .milliseconds(50)
            }
        }
    }

    /// Writes what is buffered: false once the reader of our output has gone (the end, quietly);
    /// any other write error is exit 74.
    private func flush(_ output: inout Output) throws -> Bool {
        let flushed = output.flush()
        guard let error = flushed.error else { return true }
        if flushed.readerGone { return false }
        throw Output.writeFailure(error)
    }
}
