// cbuff-bench: SharedRing's figures, printed in the anchors' line format
//
//   bench=NAME metric=METRIC value=NUMBER unit=UNIT
//
// so that they can be compared line by line with ../shared/anchors/run-anchors.sh (see
// Benchmarks/README.md). Two-process figures pin the writer (or pinger) to CPU 0 and the reader
// (or ponger) to CPU 1 with taskset, as the anchors do; each figure is the median of --runs runs.
// Release builds only: `swift run -c release cbuff-bench`.
import Foundation
import SharedRing
import Spawning

@main
struct Bench {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            if let role = arguments.first, let handler = roles[role] {
                try handler(Array(arguments.dropFirst()))
                return
            }
            try Orchestrator(arguments).run()
        } catch {
            // One sentence and a status, never the trap of an error thrown out of main.
            FileHandle.standardError.write(Data("cbuff-bench: \(error)\n".utf8))
            exit((error as? CBuffError)?.code == .invalidArgument ? 64 : 1)
        }
    }

    /// Child roles, started by the orchestrator.
    static let roles: [String: @Sendable ([String]) throws -> Void] = [
        "writer": Transfer.writer, "reader": Transfer.reader, "ponger": PingPong.ponger,
        "paced-writer": Idle.pacedWriter, "follower": Idle.follower, "idle-sequences": Idle.idleSequences,
    ]
}

/// Runs every benchmark and prints one line per figure.
struct Orchestrator {
    var runs = 3
    var items = 100_000_000
    var roundTrips = 1_000_000
    /// In memory (`/dev/shm`) where there is one, as the C references keep their rings and the
    /// README's figures were taken: there a buffer of items has no check words (on a disk it
    /// has, and `--dir` on one measures them).
    var directory = (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
        + "/cbuff-bench-\(getpid())"
    var only: Set<String>? = nil
    /// Item sizes for the `sizes` figure: one lossless transfer of bytes per size.
    var sizes = [8, 64, 512, 4096]
    /// Slots of the ring for the sized figures (nil: 512 KiB of them, at least 64).
    var length: Int? = nil

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--smoke": runs = 1; items = 200_000; roundTrips = 20_000
            case "--runs": runs = Int(iterator.next() ?? "") ?? runs
            case "--items": items = Int(iterator.next() ?? "") ?? items
            case "--dir": directory = iterator.next() ?? directory
            case "--only": only = Set((iterator.next() ?? "").split(separator: ",").map(String.init))
            case "--sizes": sizes = (iterator.next() ?? "").split(separator: ",").compactMap { Int($0) }.filter { $0 >= 8 }
            case "--length": length = Int(iterator.next() ?? "").map { max(2, $0) }
            default:
                FileHandle.standardError.write(Data("usage: cbuff-bench [--smoke] [--runs N] [--items N] [--dir DIR] [--only transfer,commit64,batch64,overwrite,pingpong,open,sizes,inplace,peek,filled,messages,sync] [--sizes 8,64,512,4096] [--length SLOTS]\n".utf8))
                exit(64)
            }
        }
    }

    func wants(_ name: String) -> Bool { only?.contains(name) ?? true }

    func run() throws {
        try? FileManager.default.removeItem(atPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = DataDirectory(path: directory)
        log("\(ProcessInfo.processInfo.processorCount) cpus, data directory \(directory), \(runs) run(s), \(items) items, pinning \(Child.canPin ? "with taskset" : "unavailable")")

        if wants("transfer") {
            let rates = try (0..<runs).map { _ in try Transfer.run(.single, items: items, in: data) }
            emit("cbuff", "transfer_items_per_s", median(rates.map(\.rate)), "items/s")
        }
        if wants("commit64") {
            let rates = try (0..<runs).map { _ in try Transfer.run(.singleCommit64, items: items, in: data) }
            emit("cbuff_commit64", "transfer_items_per_s", median(rates.map(\.rate)), "items/s")
        }
        if wants("batch64") {
            let rates = try (0..<runs).map { _ in try Transfer.run(.batch64, items: items, in: data) }
            emit("cbuff_batch64", "transfer_items_per_s", median(rates.map(\.rate)), "items/s")
        }
        if wants("overwrite") {
            let results = try (0..<runs).map { _ in try Transfer.run(.overwrite, items: items, in: data) }
            emit("cbuff_overwrite", "transfer_items_per_s", median(results.map(\.rate)), "items/s")
            emit("cbuff_overwrite", "lost_fraction", median(results.map(\.lostFraction)), "fraction")
        }
        if wants("pingpong") {
            let results = try (0..<runs).map { _ in try PingPong.run(roundTrips: roundTrips, in: data) }
            emit("cbuff", "pingpong_rtt_median", median(results.map(\.median)), "ns")
            emit("cbuff", "pingpong_rtt_p99", median(results.map(\.p99)), "ns")
        }
        // Not part of the default run: `sizes` copies each item out (pop(into:)), `inplace`
        // reads every byte where it lies (withNextItem), `peek` only the first 8 bytes, and
        // `filled` also writes every byte where it lies (pushInPlace) instead of copying it in.
        let sizeRuns: [(String, Transfer.Kind, String)] = [("sizes", .bytes, ""), ("inplace", .bytesInPlace, "_inplace"),
                                                           ("peek", .bytesPeek, "_peek"), ("filled", .bytesFilledInPlace, "_filled")]
        for (option, kind, suffix) in sizeRuns where only?.contains(option) == true {
            for size in sizes {
                // 2 GiB of items (at least 100,000), or --items if fewer.
                let count = min(items, max(100_000, (2 << 30) / size))
                let rates = try (0..<runs).map { _ in try Transfer.run(kind, items: count, itemSize: size, length: length, in: data).rate }
                let slots = length.map { "_slots\($0)" } ?? ""
                emit("cbuff_item\(size)B\(suffix)\(slots)", "transfer_items_per_s", median(rates), "items/s")
                emit("cbuff_item\(size)B\(suffix)\(slots)", "transfer_bytes_per_s", median(rates) * Double(size), "B/s")
            }
        }
        // Not part of the default run either: messages of each --sizes size, one per push and
        // per pop, lossless (compare with `sizes` at the same size, and with iceoryx).
        if only?.contains("messages") == true {
            for size in sizes {
                let count = min(items, max(100_000, (2 << 30) / size))
                let rates = try (0..<runs).map { _ in try Transfer.run(.messages, items: count, itemSize: size, in: data).rate }
                emit("cbuff_message\(size)B", "transfer_items_per_s", median(rates), "items/s")
                emit("cbuff_message\(size)B", "transfer_bytes_per_s", median(rates) * Double(size), "B/s")
            }
        }
        // Not part of the default run: what durability costs (see SyncCost.swift; on a disk).
        if only?.contains("sync") == true {
            try SyncCost.run(runs: runs, in: data)
        }
        if wants("open") {
            let results = try (0..<runs).map { _ in try Latency.run(count: items < 1_000_000 ? 50 : 200, in: data) }
            emit("cbuff", "create_median", median(results.map(\.create)), "us")
            emit("cbuff", "open_median", median(results.map(\.open)), "us")
        }
    }
}

func emit(_ name: String, _ metric: String, _ value: Double, _ unit: String) {
    print("bench=\(name) metric=\(metric) value=\(String(format: "%.6g", value)) unit=\(unit)")
    fflush(nil)
}

func log(_ text: String) {
    FileHandle.standardError.write(Data("# \(text)\n".utf8))
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process of the machine.
func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// A child process of this executable, optionally pinned to one CPU, its standard output read
/// here; started through ``Spawned`` (posix_spawn, never Foundation's `Process`).
final class Child {
    static let taskset = ["/usr/bin/taskset", "/bin/taskset"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var canPin: Bool { taskset != nil && ProcessInfo.processInfo.processorCount >= 2 }
    static let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path

    let process: Spawned
    private var lines: LineReader

    init(cpu: Int, _ arguments: [String]) throws {
        process = if let taskset = Self.taskset, Self.canPin {
            try Spawned(taskset, ["-c", String(cpu), Self.executable] + arguments, output: .pipe)
        } else {
            try Spawned(Self.executable, arguments, output: .pipe)
        }
        lines = LineReader(process.output)
    }

    /// The child's next line (blocking); empty at the end of its output.
    func line() -> String { lines.next() ?? "" }

    /// Waits for the child to exit (it has said all it had to: at most a minute), and says
    /// whether it failed.
    func finish() throws {
        guard let status = process.wait(timeout: 60) else {
            process.kill(SIGKILL)
            throw CBuffError(.systemFailure, "a benchmark child did not exit within 60 s of its last line")
        }
        guard status == 0 else {
            throw CBuffError(.systemFailure, "a benchmark child failed with status \(status)")
        }
    }
}

/// Pins the calling process to one CPU (best effort), for the in-process side of a benchmark.
func pinSelf(_ cpu: Int) {
    guard let taskset = Child.taskset, Child.canPin else { return }
    _ = try? Spawned(taskset, ["-p", "-c", String(cpu), String(getpid())], output: .null).wait(timeout: 10)
}

func say(_ line: String) {
    print(line)
    fflush(nil)
}
