// cbuff-relay: moves a cbuff buffer's items into a NATS JetStream stream (out), and a stream's
// messages into a buffer (in). A thin command line over the Relay target.
import ArgumentParser
import CommandLineSupport
import Dispatch
import Foundation
import Relay
import SharedRing
import Synchronization

/// SIGINT and SIGTERM end a relay cleanly: after the window in flight is acknowledged (out) or the
/// batch pushed (in), with the cursor committed.
///
/// `@unchecked Sendable`: `sources` is written once, by `install()`, before any handler runs.
final class StopFlag: @unchecked Sendable {
    private let raised = Atomic<Bool>(false)
    private var sources: [DispatchSourceSignal] = []

    func install() {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in raised.store(true, ordering: .releasing) }
            source.resume()
            sources.append(source)
        }
    }

    var isRaised: Bool { raised.load(ordering: .acquiring) }
}

/// One line on stderr (see `StandardStreams.writeError`: nothing written can fail the relay).
@Sendable func complain(_ line: String) {
    StandardStreams.writeError("cbuff-relay: \(line)")
}

/// Runs a relay until SIGINT or SIGTERM (or its own end), its status lines and its failure (one
/// sentence, exit 1) on stderr.
func runUntilStopped(_ relay: (_ shouldStop: () -> Bool, _ report: @escaping @Sendable (String) -> Void) throws -> Void) throws {
    let stop = StopFlag()
    stop.install()
    do {
        try relay({ stop.isRaised }, complain)
    } catch let error as RelayError {
        complain("\(error)")
        throw ExitCode(error.status)
    } catch let error as CBuffError {
        complain("\(error)")
        throw ExitCode(error.code.exitStatus)
    } catch {
        complain("\(error)")
        throw ExitCode(1)
    }
}

extension CBuffError.Code {
    /// The sysexits status of a library failure, as `cbuff` gives it.
    var exitStatus: Int32 {
        switch self {
        case .notFound: 66
        case .bufferAlreadyCreated: 73
        case .writerBusy, .readerBusy, .timedOut: 75
        case .corrupted, .valueDoesNotFit, .typeMismatch: 65
        case .invalidArgument: 64
        case .permissionDenied: 77
        default: 1
        }
    }
}

@main
struct CBuffRelay: ParsableCommand {
    /// Descriptors 0-2 are made safe before anything is opened (see `StandardStreams`).
    /// Usage errors are one `cbuff-relay: ` sentence and exit 64, as cbuff's (the root
    /// package's CommandLineSupport); a negative number after an option is read as a number,
    /// and refused in words by the option's check.
    static func main() {
        guard StandardStreams.secure() else { Foundation.exit(1) }
        runReportingUsageErrors(CommandLineUsage.joiningNegativeValues(Array(CommandLine.arguments.dropFirst())),
                                tool: "cbuff-relay", complain: complain)
    }

    static let configuration = CommandConfiguration(
        commandName: "cbuff-relay",
        abstract: "Relay a cbuff buffer into a NATS JetStream stream, or a stream into a buffer.",
        version: "2.0.0",
        subcommands: [Out.self, In.self]
    )

    struct Common: ParsableArguments {
        @Option(help: "The NATS server (nats://HOST:PORT).")
        var server: String = "nats://127.0.0.1:4222"
        @Option(help: "The JetStream stream.")
        var stream: String
        @Option(help: "Data directory (default: $CBUFF_DIR, else the per-user default).")
        var dir: String?
        @Flag(help: "Exit once caught up (out: nothing left to read; in: a fetch that found nothing), and give up when no server answers for --connect-timeout.")
        var once = false
        @Option(help: ArgumentHelp("How long to try to reach a server at start (and, with --once, after losing it) before giving up, 0 to 86400 (each try takes 0.1 s at least).", valueName: "seconds"))
        var connectTimeout: Double = 30
        @Option(help: ArgumentHelp("Seconds between status lines at most, each only when something changed, 0 to 86400; 0: none.", valueName: "seconds"))
        var statusInterval: Double = 2

        var directory: DataDirectory { DataDirectory.resolve(dir) }
    }

    /// A relay's own check of its arguments (see `InRelay.validate()`), as the parser's: one
    /// sentence, exit 64, before anything is connected, created or consumed.
    static func validating(_ check: () throws(RelayError) -> Void) throws {
        do { try check() } catch { throw ValidationError(error.description) }
    }

    struct Out: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow buffer NAME as a named reader and publish each item into the stream (created if missing, file storage).",
            discussion: "Each message has the header Nats-Msg-Id = NAME@CREATED:SEQUENCE, so that a relay restarted after a crash never stores an item twice within the stream's duplicate window; the reader's cursor moves only past what JetStream acknowledged."
        )
        @Argument(help: "The buffer's name.") var name: String
        @OptionGroup var common: Common
        @Option(help: "The subject to publish on (dot-separated tokens of printable ASCII, no wildcards).") var subject: String
        @Option(help: "The named reader (default: relay-STREAM).") var reader: String?
        @Option(help: "Publishes in flight at most, 1 to 65536.") var window: Int = 256

        var relay: OutRelay {
            var relay = OutRelay(buffer: name, server: common.server, stream: common.stream, subject: subject, directory: common.directory)
            relay.readerName = reader
            relay.once = common.once
            relay.window = window
            relay.connectTimeout = common.connectTimeout
            relay.statusInterval = common.statusInterval == 0 ? nil : common.statusInterval
            return relay
        }

        func validate() throws { try validating(relay.validate) }

        func run() throws { try runUntilStopped(relay.run) }
    }

    struct In: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Consume the stream as durable pull consumer DURABLE and push each message into buffer NAME, acknowledging it once pushed.",
            discussion: "NAME is taken over, or created from the first message's headers (policy block). Delivery into the ring is exactly once while the relay is its only writer: a journal beside the ring file (NAME.ring.in-DURABLE), written before each batch, says after a crash which stream message was the last pushed; the consumer then delivers from the next one and redeliveries are dropped. A message whose headers do not say what it is (Cbuff-Kind, Cbuff-Item-Size or Cbuff-Max-Message, once each), contradict its size or the buffer, or ask for a buffer larger than --max-ring-bytes is never pushed: it is published with its reason on the dead-letter subject, terminated in JetStream, logged and counted, and delivery goes on."
        )
        @Argument(help: "The buffer's name.") var name: String
        @OptionGroup var common: Common
        @Option(help: "The durable consumer's name: 1 to 64 letters, digits, '_' or '-'.") var consumer: String
        @Option(help: "For a buffer of items created here: its length, at most (fewer if its items would take more than --max-ring-bytes), 2 at least.") var length: Int = 1 << 16
        @Option(help: "Messages fetched at a time, 1 to 442.") var batch: Int = 256
        @Option(name: .customLong("wait-for-stream"), help: "Seconds to wait for the stream to exist, 0 to 86400.") var streamPatience: Int = 60
        @Option(help: "The most bytes a buffer created from a message's headers may take (its items, or its messages' data area), 4096 to 1099511627776 (1 TiB); a message asking for more is refused.")
        var maxRingBytes: Int = 1 << 26
        @Option(help: ArgumentHelp("Where refused messages go, with their reason (default: cbuff.dead-letter.STREAM.CONSUMER); '' terminates them only.", valueName: "subject"))
        var deadLetter: String?

        var relay: InRelay {
            var relay = InRelay(buffer: name, server: common.server, stream: common.stream, consumer: consumer, directory: common.directory)
            relay.once = common.once
            relay.length = length
            relay.batch = batch
            relay.streamPatience = streamPatience
            relay.maxRingBytes = maxRingBytes
            relay.connectTimeout = common.connectTimeout
            relay.statusInterval = common.statusInterval == 0 ? nil : common.statusInterval
            relay.deadLetterSubject = deadLetter
            return relay
        }

        func validate() throws { try validating(relay.validate) }

        func run() throws {
            try runUntilStopped(relay.run)
        }
    }
}
