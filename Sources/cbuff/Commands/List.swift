import ArgumentParser
import Foundation
import SharedRing

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every buffer: item size, length, writer and whether it is alive, items written, fill."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print one JSON array of objects (keys documented in docs/cli.md).")
    var json = false

    /// How to print the list.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json, prometheus
    }

    @Option(parsing: .unconditional, help: "table (default), json (as --json), or prometheus: the text exposition format, for node_exporter's textfile collector (cbuff list --format prometheus > /var/lib/node_exporter/cbuff.prom).")
    var format: Format?

    @OptionGroup var selection: DeadSelection

    @Option(parsing: .unconditional, help: ArgumentHelp("Measure rates over this long (two looks at every buffer): writtenPerSecond and each reader's readPerSecond in the JSON, null without it.", valueName: "seconds"))
    var interval: Double?

    func validate() throws {
        if let interval { try Seconds.validate(interval, "--interval") }
    }

    func run() throws {
        try reportingErrors {
            // Every buffer whose registry row can be read is reported, whatever the others hold;
            // the damaged rows are marked, and the command ends with exit 65 after printing.
            func look() throws -> (statuses: [BufferStatus], damaged: [DamagedBufferRow]) {
                let survey = try global.directory.survey()
                return (selection.dead ? survey.deadBuffers(olderThan: selection.age) : survey.buffers, survey.damagedRows)
            }
            var earlier: [BufferStatus] = []
            if let interval {
                earlier = try look().statuses
                Thread.sleep(forTimeInterval: interval)
            }
            let (statuses, damaged) = try look()
            // A buffer whose ring file is damaged, unreadable or not its row's is reported as far
            // as it can be and marked; like a damaged row, it makes the command end with an error.
            let troubled = statuses.filter { $0.problem != nil }
            defer {
                if !damaged.isEmpty { Self.reportDamagedRows(damaged) }
                for status in troubled { complain(status.problem!.description) }
            }
            let failed = Self.exitStatus(damaged: damaged, troubled: troubled)
            if json || format == .json {
                let reports = statuses.map { status in
                    BufferReport(status, earlier: earlier.first { $0.record.name == status.record.name }, seconds: interval ?? 0)
                } + damaged.map(BufferReport.init)
                try Output.print(BufferReport.json(reports) + "\n")
                if let failed { throw ExitCode(failed) }
                return
            }
            if format == .prometheus {
                try Output.print(Prometheus.exposition(statuses, damaged: damaged))
                if let failed { throw ExitCode(failed) }
                return
            }
            // STATE tells a crash from a clean close (both were "no" under ALIVE): alive, died
            // (attached and never closed), closed, never attached; "unknown" when the ring
            // file cannot be read.
            // FILL is what the ring holds; BACKLOG, under block with named readers, what the
            // slowest has not consumed (at 100% the writer waits): two numbers, each named.
            var rows = [["NAME", "ITEM", "LENGTH", "POLICY", "WRITER", "STATE", "WRITTEN", "FILL", "BACKLOG"]]
            for status in statuses {
                let ring = status.ring
                let record = status.record
                rows.append([
                    record.name,
                    record.maxMessageSize.map { "≤\($0)" } ?? String(record.itemSize),           // messages: the largest
                    record.messageCapacity.map { "\($0)B" } ?? String(record.length),            // messages: bytes
                    status.record.policy.description,
                    (ring?.writerPID ?? status.record.writerPID).map(String.init) ?? "-",
                    (BufferReport(status).writerState ?? (status.writerAlive ? "alive" : "unknown")).replacingOccurrences(of: "never attached", with: "never"),
                    status.problem == nil ? ring.map { String($0.written) } ?? "damaged" : "damaged",
                    ring.map { percent($0.occupancy) } ?? "-",
                    ring?.backlog.map(percent) ?? "-",
                ])
            }
            for row in damaged {
                rows.append([row.name ?? "?", "-", "-", "-", "-", "-", "DAMAGED", "-", "-"])
            }
            try Output.print(table(rows))
            if !selection.dead, case let strays = try global.directory.unregisteredRingFiles(), !strays.isEmpty {
                complain("note: \(strays.count) ring file\(strays.count == 1 ? "" : "s") in \(global.directory.path) \(strays.count == 1 ? "has" : "have") no registry row and cannot be opened by name: \(strays.joined(separator: ", ")).")
            }
            if let failed { throw ExitCode(failed) }
        }
    }
}

extension List {
    /// One sentence per damaged registry row, after the report of every other buffer.
    static func reportDamagedRows(_ damaged: [DamagedBufferRow]) {
        for row in damaged { complain(row.problem.description) }
    }

    /// The status `list` ends with after reporting everything: nil when every row and ring
    /// file was sound; 65 when a row or a ring file is damaged (or not its row's); otherwise
    /// the status of the first ring file that could not be read (77 for permission, say).
    static func exitStatus(damaged: [DamagedBufferRow], troubled: [BufferStatus]) -> Int32? {
        let problems = troubled.compactMap(\.problem)
        if !damaged.isEmpty || problems.contains(where: { $0.code.exitStatus == ExitStatus.dataError }) { return ExitStatus.dataError }
        return problems.first?.code.exitStatus
    }
}

/// Left-aligned text columns, two spaces apart; numbers right-aligned. Every cell is shown with
/// its control characters escaped: names and paths come from the registry and ring files (input,
/// another user's in a shared directory), and an escape sequence or newline in a reader's name
/// must neither drive the terminal nor forge a row.
func table(_ cells: [[String]]) -> String {
    let rows = cells.map { $0.map(Values.escapingControlCharacters) }
    guard let width = rows.first?.count else { return "" }
    let widths = (0..<width).map { column in rows.map { $0[column].count }.max() ?? 0 }
    var text = ""
    for row in rows {
        let cells = row.enumerated().map { column, cell in
            let pad = String(repeating: " ", count: widths[column] - cell.count)
            let numeric = row != rows[0] && !cell.isEmpty && cell.allSatisfy { $0.isNumber || $0 == "." || $0 == "%" }
            return numeric ? pad + cell : cell + pad
        }
        text += cells.joined(separator: "  ").trimmingTrailingSpaces() + "\n"
    }
    return text
}

func percent(_ fraction: Double) -> String {
    let tenths = Int((fraction * 1000).rounded())
    return "\(tenths / 10).\(tenths % 10)%"
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}
