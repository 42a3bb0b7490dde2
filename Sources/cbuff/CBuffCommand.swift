import ArgumentParser
import CommandLineSupport
import Foundation
import Logging

@main
struct CBuffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cbuff",
        abstract: "Create, feed, read, list and inspect named shared ring buffers.",
        discussion: """
            A buffer is a ring in a memory-mapped file, listed by name in the registry of a data \
            directory (cbuff dir): --dir, else $CBUFF_DIR, else $XDG_DATA_HOME/cbuff or \
            ~/.local/share/cbuff. One process at a time writes a buffer; any number read it, each \
            with its own cursor, anonymous or named (then it resumes where it stopped).

            A buffer holds fixed-size items: unsigned integers (decimal, or hexadecimal with 0x, \
            stored little-endian), or, with create --fields, C structs read and written as JSON \
            lines; or, with create --messages, variable-size messages (lines of text, or any bytes).

            Exit status: 0 success, 1 other error, 64 usage error, 65 corrupted or invalid data, \
            66 buffer not found, 73 buffer already exists, 74 output could not be written (or made durable: push --sync), 75 busy (a live writer holds the \
            buffer, or a live process has the named reader open), 77 permission denied.
            """,
        version: CBuffVersion.string,
        subcommands: [Create.self, Push.self, Pop.self, Tail.self, List.self, Inspect.self, Verify.self, Remove.self, Readers.self, Top.self, Dir.self,
                      Demo.self, DemoWriter.self, DemoReader.self]
    )

    // Declared here too so that `cbuff --dir DIR COMMAND` parses; each command reads its own copy.
    @OptionGroup var global: GlobalOptions

    /// Parses and runs, with usage errors as one `cbuff: ` sentence (exit 64) instead of the
    /// parser's three lines; help and version go to stdout as usual.
    static func main() {
        // Before anything is opened (the logging bootstrap, the registry, a ring).
        guard Platform.ensureStandardStreamsOpen() else { exit(withError: ExitCode(ExitStatus.failure)) }
        // Before anything is written: a closed pipe on stdout or stderr is an EPIPE from then on.
        Platform.ignoreBrokenPipe()
        let arguments = PushValues.extract(from: Array(CommandLine.arguments.dropFirst()))
        // Before any logger exists: the library's diagnostics to stderr, its warnings always (a
        // `block` writer that stopped waiting for a dead named reader), everything at debug
        // level with --verbose. (swift-log's own default would print to stdout.)
        let verbose = arguments.contains("--verbose")
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .debug : .warning
            return handler
        }
        // Usage errors worded as cbuff-relay words them (Sources/CommandLineSupport).
        runReportingUsageErrors(arguments, tool: "cbuff", complain: complain)
    }
}

/// The version, as the repository's tags name it (`v2.0.0`): SemVer, whose major number changes
/// when what this version writes may be unreadable to the previous one (format version 3 is, to
/// cbuff 1), whose minor number when it adds to the API, the CLI or the JSON keys.
enum CBuffVersion {
    static let string = "2.0.0"
}
