import ArgumentParser
import Foundation
import SharedRing
import Spawning

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch one writer process and two reader processes share a buffer for a few seconds, then a lossless pipeline survive a reader's restart.",
        discussion: """
            First the lossy mode: a buffer named demo-PID (policy overwrite) in the data \
            directory, a writer and two readers (separate processes of this program), items per \
            second and each reader's lag and missed items. Then the lossless mode: a buffer \
            demo-PID-lossless (policy block) with a named reader registered before the writer \
            starts; the reader is stopped halfway and restarted, the writer waits for it, and \
            nothing is lost. Each buffer is removed at the end.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(parsing: .unconditional, help: "How long the writer writes, in seconds.")
    var seconds: Double = 4

    @Option(parsing: .unconditional, help: "Number of slots of the demo buffer.")
    var length: Int = 1 << 20

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be between 0 and 600.") }
    }

    func run() throws {
        try reportingErrors {
            let directory = global.directory
            let name = "demo-\(ProcessInfo.processInfo.processIdentifier)"
            try directory.createBuffer(name, itemSize: 8, length: length).close()
            defer { try? directory.removeBuffer(name, force: true) }
            print(Values.escapingControlCharacters("buffer \"\(name)\" in \(directory.path): \(length) slots of 8 bytes"))

            let board = Scoreboard()
            let readers = try (1...2).map { index in
                try board.start(["demo-reader", directory.path, name], role: "reader \(index)")
            }
            for (index, reader) in readers.enumerated() { board.waitUntilReady(reader, role: "reader \(index + 1)") }
            let writer = try board.start(["demo-writer", directory.path, name, String(seconds)], role: "writer")

            let started = Date()
            var previous = (time: started, written: UInt64(0))
            while writer.isRunning || readers.contains(where: \.isRunning) {
                Thread.sleep(forTimeInterval: 0.5)   // the display's refresh period, not a synchronisation
                let now = Date()
                let snapshot = board.snapshot()
                let written = snapshot["writer"]?.position ?? 0
                let rate = Double(written - previous.written) / now.timeIntervalSince(previous.time)
                previous = (now, written)
                var line = String(format: "%5.1fs  written %@  %@ items/s", now.timeIntervalSince(started), short(Double(written)), short(rate))
                for index in 1...2 {
                    let reader = snapshot["reader \(index)"] ?? Scoreboard.Progress()
                    line += "  reader \(index): lag \(short(Double(written &- min(written, reader.position)))), missed \(reader.missed)"
                }
                print(line)
                fflush(nil)
            }
            board.waitForLastLines()
            let final = board.snapshot()
            let written = final["writer"]?.position ?? 0
            print("")
            print("writer: \(written) items in \(String(format: "%.1f", seconds)) s (\(short(Double(written) / seconds)) items/s)")
            var healthy = writer.wait() == 0
            for index in 1...2 {
                let reader = final["reader \(index)"] ?? Scoreboard.Progress()
                let delivered = reader.position - reader.missed
                print("reader \(index): read \(delivered), missed \(reader.missed) (overwritten before it got to them), \(reader.bad) damaged")
                healthy = healthy && reader.bad == 0 && readers[index - 1].wait() == 0 && reader.position == written
            }
            if final.values.contains(where: { $0.missed > 0 }) {
                print("(policy overwrite: a reader that falls more than \(length) items behind skips to the oldest item still there and counts what it missed.)")
            }
            print(healthy ? "every item read was intact and in order; the buffer is removed." : "SOMETHING WENT WRONG: see above.")
            if !healthy { throw ExitCode(ExitStatus.failure) }
            print("")
            guard try runLossless(directory, name: name + "-lossless") else { throw ExitCode(ExitStatus.failure) }
            print("""

                try next:
                  cbuff create jobs --item-size 8 --length 1024 --policy block --reader me
                  seq 1 100000 | cbuff push jobs --stdin &
                  cbuff tail jobs --reader me --follow      # stop it with Ctrl-C, start it again: nothing is lost
                """)
        }
    }

    /// The lossless mode: `block`, a named reader registered before the writer starts, stopped
    /// after a third of the run and restarted a moment later; returns whether nothing was lost.
    private func runLossless(_ directory: DataDirectory, name: String) throws -> Bool {
        let smallLength = min(length, 1 << 16)
        let writer = try directory.createBuffer(name, itemSize: 8, length: smallLength, policy: .block)
        try directory.registerReader("resumable", of: name)
        writer.close()
        defer { try? directory.removeBuffer(name, force: true) }
        print("lossless: buffer \"\(name)\", \(smallLength) slots, policy block, named reader \"resumable\" registered before anything is pushed")
        let board = Scoreboard()
        var reader = try board.start(["demo-reader", directory.path, name, "--named", "resumable", "--stop-after", String(seconds / 3)], role: "reader")
        board.waitUntilReady(reader, role: "reader")
        let writing = try board.start(["demo-writer", directory.path, name, String(seconds)], role: "writer")
        let started = Date()
        var restarted = false
        var stoppedAt: UInt64 = 0
        while writing.isRunning || reader.isRunning {
            Thread.sleep(forTimeInterval: 0.5)   // the display's refresh period, not a synchronisation
            let snapshot = board.snapshot()
            let written = snapshot["writer"]?.position ?? 0
            let at = snapshot["reader"]?.position ?? 0
            var state = reader.isRunning ? "reading" : restarted ? "done" : "stopped (the writer waits for it)"
            if !reader.isRunning && !restarted {
                stoppedAt = at
                print(String(format: "%5.1fs  written %@  reader \"resumable\" stopped at %llu; restarting it", Date().timeIntervalSince(started), short(Double(written)), at))
                reader = try board.start(["demo-reader", directory.path, name, "--named", "resumable"], role: "reader")
                restarted = true
                state = "restarted"
            }
            print(String(format: "%5.1fs  written %@  reader at %@, %@", Date().timeIntervalSince(started), short(Double(written)), short(Double(at)), state))
            fflush(nil)
        }
        board.waitForLastLines()
        let final = board.snapshot()
        let written = final["writer"]?.position ?? 0
        let progress = final["reader"] ?? Scoreboard.Progress()
        let lossless = writing.wait() == 0 && reader.wait() == 0 && progress.position == written
            && progress.missed == 0 && progress.bad == 0 && restarted
        print("lossless: writer \(written) items; reader \"resumable\" stopped at \(stoppedAt), resumed there, ended at \(progress.position): missed \(progress.missed), damaged \(progress.bad)")
        print(lossless ? "nothing was lost: the writer waited while the reader was away." : "SOMETHING WENT WRONG: see above.")
        return lossless
    }

    private func short(_ value: Double) -> String {
        switch value {
        case 1e9...: String(format: "%.2fG", value / 1e9)
        case 1e6...: String(format: "%.1fM", value / 1e6)
        case 1e3...: String(format: "%.1fK", value / 1e3)
        default: String(format: "%.0f", value)
        }
    }
}

/// What the demo's child processes report, one line at a time: "ready", or
/// "at POSITION missed M bad B". Each child, started through ``Spawned`` (posix_spawn, never
/// Foundation's `Process`), has its standard output read to its end by a thread of its own.
final class Scoreboard: @unchecked Sendable {   // `table` and `reading` are guarded by `condition`
    struct Progress { var position: UInt64 = 0; var missed: UInt64 = 0; var bad: UInt64 = 0; var ready = false }
    private let condition = NSCondition()
    private var table: [String: Progress] = [:]
    /// The children whose output has not ended yet, by PID.
    private var reading: Set<Int32> = []
    private static let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path

    /// Starts this program with `arguments`, playing `role`.
    func start(_ arguments: [String], role: String) throws -> Spawned {
        let process = try Spawned(Self.executable, arguments, output: .pipe)
        _ = locked { reading.insert(process.pid) }
        // The thread keeps `process` (and so its pipe) until the output ends, which is when
        // the child exits.
        Thread { [self] in
            var lines = LineReader(process.output)
            while let line = lines.next() { record(line, for: role) }
            _ = locked { reading.remove(process.pid) }
        }.start()
        return process
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return body()
    }

    private func record(_ line: String, for role: String) {
        let words = line.split(separator: " ")
        locked {
            var progress = table[role] ?? Progress()
            if words.first == "ready" { progress.ready = true }
            if words.first == "at", words.count >= 6 {
                progress.position = UInt64(words[1]) ?? progress.position
                progress.missed = UInt64(words[3]) ?? progress.missed
                progress.bad = UInt64(words[5]) ?? progress.bad
            }
            table[role] = progress
        }
    }

    func snapshot() -> [String: Progress] { locked { table } }

    /// Waits until the process playing `role` has opened the buffer (it says "ready"), or has
    /// exited (its output ended); at most `seconds`.
    func waitUntilReady(_ process: Spawned, role: String, seconds: Double = 60) {
        waitUntil(seconds: seconds) { table[role]?.ready == true || !reading.contains(process.pid) }
    }

    /// Waits until every child's output has ended (they all exited), so that their last lines
    /// are counted; at most `seconds`.
    func waitForLastLines(seconds: Double = 10) {
        waitUntil(seconds: seconds) { reading.isEmpty }
    }

    private func waitUntil(seconds: Double, _ done: () -> Bool) {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while !done(), condition.wait(until: deadline) {}
    }
}

/// `cbuff demo`'s writer process: pushes 0, 1, 2, … in batches for a number of seconds.
struct DemoWriter: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo-writer", shouldDisplay: false)

    @Argument var dir: String
    @Argument var name: String
    @Argument var seconds: Double

    func run() throws {
        try reportingErrors {
            var writer = try DataDirectory(path: dir).takeOver(name)
            let clock = ContinuousClock()
            let end = clock.now + .milliseconds(Int(seconds * 1000))
            var nextReport = clock.now
            var batch = [UInt64](repeating: 0, count: 64)
            var sequence = writer.nextSequence
            while true {
                for i in 0..<64 { batch[i] = sequence + UInt64(i) }
                try writer.push(contentsOf: batch)
                sequence += 64
                if sequence & 0x3FFF == 0 {
                    let now = clock.now
                    if now >= nextReport {
                        print("at \(sequence) missed 0 bad 0")
                        fflush(nil)
                        nextReport = now + .milliseconds(100)
                    }
                    if now >= end { break }
                }
            }
            print("at \(writer.nextSequence) missed 0 bad 0")
            writer.close()
        }
    }
}

/// `cbuff demo`'s reader processes: read until the writer is gone, checking every value.
struct DemoReader: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo-reader", shouldDisplay: false)

    @Argument var dir: String
    @Argument var name: String
    @Option var named: String?
    @Option var stopAfter: Double?

    func run() throws {
        try reportingErrors {
            var reader = if let named { try DataDirectory(path: dir).openReader(name, named: named) } else { try DataDirectory(path: dir).openReader(name) }
            let stopAt = stopAfter.map { ContinuousClock.now + .milliseconds(Int($0 * 1000)) }
            print("ready")
            fflush(nil)
            let clock = ContinuousClock()
            var nextReport = clock.now
            var bad: UInt64 = 0
            func report() {
                print("at \(reader.nextSequence) missed \(reader.missedCount) bad \(bad)")
                fflush(nil)
            }
            var count: UInt64 = 0
            var writerSeen = false
            while true {
                if let value = try reader.popItem() {
                    if value != reader.nextSequence - 1 { bad += 1 }
                    count += 1
                    if count & 0xFFFF == 0, clock.now >= nextReport {
                        report()
                        nextReport = clock.now + .milliseconds(100)
                        if let stopAt, clock.now >= stopAt { break }   // stops mid-run; closing commits
                    }
                    continue
                }
                report()
                // Done once the writer came and went and nothing is left to read. (Readers start
                // before the writer: a writer slow to start, on a loaded machine, is not gone.)
                let waited = reader.wait(timeout: .milliseconds(100))
                let writerAlive = reader.writerIsAlive
                writerSeen = writerSeen || writerAlive || count > 0 || reader.nextSequence > 0
                if !waited && writerSeen && !writerAlive && reader.usage == 0 {
                    break
                }
            }
            report()
        }
    }
}
