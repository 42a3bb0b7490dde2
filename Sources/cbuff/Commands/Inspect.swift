import ArgumentParser
import Foundation
import SharedRing

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show everything known about one buffer, for crash investigation.",
        discussion: """
            The registry row, the ring file's header, whether the writer is alive or dead (and \
            when it last wrote), the next sequence, the oldest sequence still present, the fill, \
            and whether a write was interrupted by the writer's death. A damaged or unreadable \
            ring file is shown as far as it can be, then reported on stderr with exit 65.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name.", completion: BufferNames.completion)
    var name: String

    @Flag(help: "Print one JSON object (keys documented in docs/cli.md).")
    var json = false

    @Option(parsing: .unconditional, help: ArgumentHelp("With --json, measure rates over this long: writtenPerSecond and each reader's readPerSecond (null without it).", valueName: "seconds"))
    var interval: Double?

    func validate() throws {
        if let interval { try Seconds.validate(interval, "--interval") }
    }

    func run() throws {
        try reportingErrors {
            var earlier: BufferStatus?
            if let interval {
                earlier = try global.directory.status(of: name)
                Thread.sleep(forTimeInterval: interval)
            }
            let status = try global.directory.status(of: name)
            if json {
                try Output.print(BufferReport.json(BufferReport(status, earlier: earlier, seconds: interval ?? 0, showingRefusedRing: true)) + "\n")
            } else {
                try Output.print(describe(status))
            }
            // Everything readable was printed; a damaged or unreadable ring file is still an error.
            if let problem = status.problem {
                throw failure(problem.code.exitStatus, problem.description)
            }
        }
    }

    private func describe(_ status: BufferStatus) -> String {
        let record = status.record
        var rows: [(String, String)] = [
            ("buffer", record.name),
            ("file", status.path),
            ("created", record.createdAt),
            record.messageCapacity.map { ("messages", "up to \(record.maxMessageSize ?? 0) bytes each, in \($0) bytes, policy \(record.policy)") }
                ?? ("items", "\(record.length) slots of \(record.itemSize) bytes, policy \(record.policy)"),
        ]
        if let name = record.itemTypeName { rows.append(("type", name + (record.itemAlignment.map { ", aligned to \($0) bytes" } ?? ""))) }
        if let layout = record.itemLayout {
            rows.append(("fields", layout.fields.map { "\($0.name):\($0.type)@\($0.offset)" }.joined(separator: " ")))
        }
        // A sound ring file that is not the row's is shown (what the file at the buffer's path
        // holds, for the investigator), marked on its first line and in "problem" below.
        guard let ring = status.ring ?? status.refusedRing else {
            rows.append(("writer", writerLine(pid: record.writerPID, startTime: record.writerStartTime, alive: status.writerAlive, state: nil)))
            rows.append(("ring file", "UNREADABLE: \(status.problem?.description ?? "unknown problem")"))
            rows.append(("registry", registryLine(record)))
            return format(rows)
        }
        if status.refusedRing != nil {
            rows.append(("ring file", "NOT THIS BUFFER'S: what follows is what the file at its path holds (see \"problem\")"))
        }
        rows.append(("writer", writerLine(pid: ring.writerPID, startTime: ring.writerStartTime, alive: status.writerAlive, state: ring.writerState)))
        // The writer stamps the time every 1024 items and when it closes: one that died before
        // either wrote at a time nobody recorded.
        rows.append(("last write", ring.lastWriteAt.map { "\(BufferReport.timestamp($0)) (\(ago($0)))" }
            ?? (ring.written == 0 ? "never" : "unknown (its writer died before it stamped the time: every 1024 items, and on close)")))
        let noun = record.holdsMessages ? "message" : "item"
        if let earlier = ring.writtenInAnEarlierBoot {
            let detects = ring.formatVersion >= 4
            let consequence = detects ? " (every \(noun) is checked before it is read; `cbuff verify` reports damage)"
                                      : "; format version \(ring.formatVersion) cannot detect it in \(noun)s"
            if earlier {
                rows.append(("boot", "its last writer attached in an earlier boot: if the machine crashed, pages of the ring file may be stale or zeroed" + consequence))
            } else if ring.earlierBootBelow > ring.oldest {
                rows.append(("boot", "\(noun)s below sequence \(ring.earlierBootBelow) were written before the machine last restarted: if it crashed, they may be stale or zeroed" + consequence))
            } else {
                rows.append(("boot", "everything in it was written in this boot"))
            }
        }
        if ring.inMemory == true {
            rows.append(("durable", "nothing: the ring file is in memory (tmpfs), which a machine crash loses whole, synced or not"))
        } else {
            rows.append(("durable", ring.durable == 0 ? "nothing synced (a writer's sync, or `cbuff push --sync`, makes what it pushed survive a machine crash)"
                                                      : "every \(noun) below sequence \(ring.durable) was synced to stable storage"))
        }
        rows.append(("sync", Self.describe(ring.syncPolicy, noun)))
        if ring.recoveryPending {
            rows.append(("recovery", "pending: its last writer attached in an earlier boot and did not close after a sync, so a machine crash may have damaged it; the next reader or writer checks every record and turns damaged spans into lost ones before anything is delivered (`cbuff verify` shows what it finds now; counts below are as stored)"))
        } else if let recovery = ring.lastRecovery {
            rows.append(("recovery", "\(BufferReport.timestamp(recovery.at)) (\(ago(recovery.at))), after a machine crash: " +
                         (recovery.lostRanges == 0 ? "nothing was lost" : "\(recovery.lostMessages) messages lost in \(recovery.lostRanges) range\(recovery.lostRanges == 1 ? "" : "s") (readers count them as missed)")))
        }
        rows.append(("written", "\(ring.written) \(noun)s (the next \(noun) gets sequence \(ring.written))"))
        rows.append(("oldest", ring.count == 0 ? "none (the ring is empty)" : "sequence \(ring.oldest)"))
        if let used = ring.bytesUsed, let capacity = ring.messageCapacity {
            rows.append(("fill", "\(ring.count) messages in \(used) of \(capacity) bytes (\(percent(ring.occupancy)))"))
            rows.append(("time stamps", ring.preciseMessageTime == true ? "precise (CLOCK_REALTIME)" : "coarse (CLOCK_REALTIME_COARSE: a timer tick)"))
        } else {
            rows.append(("fill", "\(ring.count) of \(ring.length) (\(percent(ring.occupancy)))"))
        }
        if let backlog = ring.backlog {
            rows.append(("backlog", "\(percent(backlog)) not yet consumed by the slowest named reader (at 100% the writer waits)"))
        }
        if ring.policy == .block {
            rows.append(("tether", ring.tetherTimeout.map { "\(Values.duration($0)): the writer stops waiting for a named reader that is not running after it held it back that long" }
                         ?? "none: the writer waits for every named reader, running or not"))
        }
        if let interrupted = ring.interruptedWrite {
            rows.append(("interrupted", "the writer died while writing sequence \(interrupted); that \(noun) will never be delivered, and the next writer writes that sequence again"))
        } else {
            rows.append(("interrupted", "no"))
        }
        rows.append(("readers", "\(ring.sleepingReaders) sleeping now; \(ring.readers.isEmpty ? "no named readers" : "named:")"))
        for reader in ring.readers {
            let process = reader.pid == 0 && !reader.alive ? "no process has opened it yet" : "PID \(reader.pid), \(reader.alive ? "alive" : "not running")"
            let untethered = reader.untethered ? ", UNTETHERED (the writer no longer waits for it; it counts what it missed when it returns)" : ""
            rows.append(("", "\(reader.name): position \(reader.position), lag \(reader.lag), \(process)\(untethered)"))
        }
        let checks = ring.formatVersion < 4 ? "" : record.holdsMessages ? " (a check word in every record)" : " (a check word in every slot)"
        rows.append(("format", "version \(ring.formatVersion)\(checks), \(ring.fileSize) bytes, slot stride \(ring.slotStride), \(ring.writerGeneration) writer(s) attached so far"))
        rows.append(("registry", registryLine(record)))
        if let problem = status.problem { rows.append(("problem", "DAMAGED: \(problem.description)")) }
        return format(rows)
    }

    private func writerLine(pid: Int32?, startTime: UInt64?, alive: Bool, state: WriterState?) -> String {
        guard let pid else { return alive ? "alive" : "none ever attached" }
        let who = "PID \(pid)" + (startTime.map { " (start time \($0))" } ?? "")
        if alive { return "\(who), alive" }
        switch state {
        case .closed: return "\(who), gone: it closed cleanly"
        case .attached: return "\(who), DEAD: it died without closing (crash or kill)"
        default: return "\(who), gone"
        }
    }

    private func registryLine(_ record: BufferRecord) -> String {
        "writer_pid=\(record.writerPID.map(String.init) ?? "NULL") writer_since=\(record.writerSince ?? "NULL") file=\(record.file)"
    }

    private func ago(_ nanoseconds: UInt64) -> String {
        let seconds = Date().timeIntervalSince1970 - Double(nanoseconds) / 1e9
        if seconds < 1 { return "just now" }
        if seconds < 120 { return "\(Int(seconds)) s ago" }
        if seconds < 7200 { return "\(Int(seconds / 60)) min ago" }
        return "\(Int(seconds / 3600)) h ago"
    }

    /// Labels and values, one per line; values with their control characters escaped (as in
    /// `table`: they come from the registry and the ring file).
    private func format(_ rows: [(String, String)]) -> String { LabelledRows.format(rows) }

    /// The sync policy's row: its spelling on the command line, and what it does.
    static func describe(_ policy: SyncPolicy, _ noun: String) -> String {
        let text = policy.commandLineText
        switch policy {
        case .none: return "\(text): only an explicit sync (push --sync, a program's sync) makes \(noun)s durable"
        case .eachBatch: return "\(text): the writer syncs after every push call"
        case .everyN(let count): return "\(text): the writer syncs whenever \(count) \(noun)\(count == 1 ? "" : "s") \(count == 1 ? "was" : "were") pushed since the last sync"
        case .interval: return "\(text): a syncer thread of the writer syncs at most that many milliseconds after something was published"
        }
    }
}
