import ArgumentParser
import SharedRing

struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a buffer's items; with --follow, keep printing new ones until interrupted.",
        discussion: """
            Waiting for new items sleeps on the buffer (no spinning). Ends cleanly on Ctrl-C, or \
            when the program reading the output exits (cbuff tail x --follow | head -3); exits 66 \
            once the buffer has been removed and no writer can push into it any more. Items \
            the writer overwrote before tail could print them are counted on stderr.
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

    @Argument(help: "The buffer's name.")
    var name: String

    @Flag(help: "Wait for new items until interrupted.")
    var follow = false

    @Option(help: "Start at the oldest item still present (oldest), only print items pushed from now on (latest), or replay from a sequence number (one already overwritten starts at the oldest present and counts the gap).")
    var from: Start = .oldest

    @Option(help: ItemFormat.help)
    var format: ItemFormat?

    func run() throws {
        try reportingErrors {
            Output.ignoreBrokenPipe()
            if follow { StopSignals.install() }   // Ctrl-C, SIGTERM, SIGHUP end it cleanly, between waits
            var reader = switch from {
            case .oldest: try global.directory.openReader(name, start: .oldest)
            case .latest: try global.directory.openReader(name, start: .latest)
            case .sequence(let sequence): try global.directory.openReader(name, at: sequence)
            }
            let printer = ItemPrinter(format, layout: reader.itemLayout)
            var output = Output()
            var reportedMissed: UInt64 = 0
            while true {
                while let bytes = try reader.popBytes() {
                    output.line(printer.line(bytes, sequence: reader.nextSequence - 1))
                    if output.pending > 60_000, try !flush(&output) { return }
                }
                if try !flush(&output) { return }
                if reader.missedCount > reportedMissed {
                    complain("skipped \(reader.missedCount - reportedMissed) items overwritten before they were printed.")
                    reportedMissed = reader.missedCount
                }
                guard follow else { return }
                // Sleep in slices so that Ctrl-C and a vanished reader of our output are noticed.
                while !reader.wait(timeout: .milliseconds(200)) {
                    if StopSignals.check() != nil || Output.readerGone { return }
                    guard try reader.canReceiveMore() else {
                        throw failure(ExitStatus.noInput, "Buffer \"\(name)\" was removed while being followed; nothing more can arrive.")
                    }
                }
                if StopSignals.check() != nil { return }
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
