import ArgumentParser
import Foundation
import SharedRing

/// `cbuff top`: a live table of every buffer, refreshed every --interval seconds.
struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every buffer live: items/s, fill, each named reader's lag and rate, a blocked writer and who holds it.",
        discussion: """
            Refreshes every --interval seconds until Ctrl-C (on a terminal it redraws the \
            screen). With --once it prints one frame, measured over one interval, for scripts.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds between frames (rates are measured over it).", valueName: "seconds"))
    var interval: Double = 1

    @Flag(help: "Print one frame and exit.")
    var once = false

    func validate() throws {
        try Seconds.validate(interval, "--interval")
        if interval < 0.05 { throw ValidationError("--interval must be at least 0.05 seconds.") }
    }

    func run() throws {
        try reportingErrors {
            Output.ignoreBrokenPipe()
            StopSignals.install()
            let directory = global.directory
            let terminal = Platform.standardOutputIsTerminal
            var earlier = try directory.survey().buffers
            var started = ContinuousClock.now
            while true {
                // Sleep in slices so that Ctrl-C is noticed at once.
                let deadline = started + Seconds.duration(interval)
                while ContinuousClock.now < deadline {
                    if StopSignals.check() != nil { return }
                    Thread.sleep(forTimeInterval: min(0.05, interval))
                }
                let survey = try directory.survey()
                let now = survey.buffers
                let elapsed = Double((ContinuousClock.now - started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - started).components.seconds)
                started = ContinuousClock.now
                let frame = Self.frame(now, damaged: survey.damagedRows, earlier: earlier, seconds: elapsed, directory: directory.path)
                var output = Output()
                output.line((terminal && !once ? "\u{1B}[H\u{1B}[2J" : "") + frame)
                let flushed = output.flush()
                if flushed.readerGone { return }
                if let error = flushed.error { throw Output.writeFailure(error) }
                if once { return }
                earlier = now
            }
        }
    }

    /// One frame: a row per buffer, then a row per named reader under it.
    /// A registry row that cannot be read gets a row of its own, marked DAMAGED (inspect says why).
    static func frame(_ statuses: [BufferStatus], damaged: [DamagedBufferRow] = [], earlier: [BufferStatus], seconds: Double, directory: String) -> String {
        var rows = [["NAME", "KIND", "POLICY", "WRITER", "WRITTEN", "PER S", "FILL", "BLOCKED BY"]]
        for status in statuses {
            let report = BufferReport(status, earlier: earlier.first { $0.record.name == status.record.name }, seconds: seconds)
            rows.append([
                status.record.name, report.kind, status.record.policy.description,
                report.writerState ?? "damaged",
                report.written.map(String.init) ?? "-",
                report.writtenPerSecond.map(rate) ?? "-",
                report.fill.map(percent) ?? "-",
                (report.writerBlockedBy ?? []).isEmpty ? "" : report.writerBlockedBy!.joined(separator: ","),
            ])
            for reader in report.readers {
                rows.append(["  \(reader.name)", "reader", "lag \(reader.lag)", reader.alive ? "alive" : "not running",
                             String(reader.position), reader.readPerSecond.map(rate) ?? "-", "", ""])
            }
        }
        for row in damaged {
            rows.append([row.name ?? "?", "DAMAGED", "-", "-", "-", "-", "-", ""])
        }
        let clock = BufferReport.timestamp(UInt64(Date().timeIntervalSince1970 * 1e9))
        return "cbuff top: \(statuses.count) buffer\(statuses.count == 1 ? "" : "s") in \(Values.escapingControlCharacters(directory)), \(clock), rates over \(String(format: "%.1f", seconds)) s\n" + table(rows)
    }

    static func rate(_ value: Double) -> String {
        switch value {
        case 1e9...: String(format: "%.1fG", value / 1e9)
        case 1e6...: String(format: "%.1fM", value / 1e6)
        case 1e3...: String(format: "%.1fk", value / 1e3)
        default: String(format: "%.0f", value)
        }
    }
}
