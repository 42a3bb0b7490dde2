import ArgumentParser
import SharedRing

/// `cbuff reader add|list|rm|seek`: a buffer's named readers, for an operator.
struct Readers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reader",
        abstract: "Manage a buffer's named readers: register, list, remove, move.",
        subcommands: [Add.self, ListReaders.self, Remove.self, Seek.self]
    )

    struct ListReaders: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List a buffer's named readers: position, lag, last process and whether it runs."
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The buffer's name.", completion: BufferNames.completion)
        var name: String

        @Flag(help: "Print one JSON array of {name, position, lag, pid, alive, untethered}.")
        var json = false

        func run() throws {
            try reportingErrors {
                let status = try global.directory.status(of: name)
                guard let ring = status.ring else {
                    throw failure(ExitStatus.dataError, status.problem?.description ?? "the ring file of buffer \(Values.quoted(name)) cannot be read.")
                }
                if json {
                    let readers = ring.readers.map { BufferReport.ReaderReport(name: $0.name, position: $0.position, lag: $0.lag, pid: $0.pid, alive: $0.alive, untethered: $0.untethered, readPerSecond: nil) }
                    try Output.print(BufferReport.json(readers) + "\n")
                    return
                }
                let rows = [["READER", "POSITION", "LAG", "PID", "STATE"]] + ring.readers.map {
                    [$0.name, String($0.position), String($0.lag), $0.pid == 0 ? "-" : String($0.pid), $0.alive ? "running" : $0.untethered ? "not running, untethered" : "not running"]
                }
                try Output.print(table(rows))
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm",
            abstract: "Remove a named reader, so that it no longer holds a place (nor, under --policy block, the writer).",
            discussion: "Refused (exit 75) while a live process has it open, unless --force."
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NamedReader

        @Flag(help: "Remove it even while a live process has it open.")
        var force = false

        func run() throws {
            try reportingErrors {
                try global.directory.removeReader(target.reader, of: target.name, force: force)
                try Output.print("removed reader \(Values.quoted(target.reader)) of \(Values.quoted(target.name))\n")
            }
        }
    }

    struct Seek: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a named reader: to the oldest item present, to the latest (skipping everything there now), or to a sequence.",
            discussion: """
                For a reader that fell behind, or one that a block writer waits for and that will \
                not come back. Refused (exit 75) while a live process has it open. Buffers of \
                messages move to oldest or latest. The move is one change of the reader's record \
                under the reader table's lock: a process opening the reader meanwhile resumes it \
                before the move (which is then refused) or after it. A block writer the reader \
                held back goes on at once; one moved back makes the writer wait for it again.
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var target: NamedReader

        @Option(parsing: .unconditional, help: ArgumentHelp("oldest, latest, or a sequence number.", valueName: "position"))
        var to: String

        func run() throws {
            try reportingErrors {
                let position: ReaderPosition
                switch to {
                case "oldest": position = .oldest
                case "latest": position = .latest
                default:
                    guard let sequence = UInt64(to) else {
                        throw failure(ExitStatus.usage, "--to \(Values.quoted(to)) is not oldest, latest or a sequence number.")
                    }
                    position = .sequence(sequence)
                }
                let at = try global.directory.seekReader(target.reader, of: target.name, to: position)
                try Output.print("reader \(Values.quoted(target.reader)) of \(Values.quoted(target.name)) is now at \(at)\n")
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a named reader without reading, so that it misses nothing published from now on.",
            discussion: """
                Under the block policy the writer then waits for it. Registering a reader that \
                exists already changes nothing (and says so). Exits 75 if a live process has it \
                open. `cbuff rm NAME --reader ID` removes one.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The buffer's name.", completion: BufferNames.completion)
        var name: String

        @Argument(help: "The reader's name: letters, digits and . _ - : @ + (at most 44 bytes).")
        var reader: String

        @Option(parsing: .unconditional, help: "Where it starts: the oldest item still present (oldest) or the next one pushed (latest).")
        var from: StartPoint = .oldest

        enum StartPoint: String, ExpressibleByArgument, CaseIterable {
            case oldest, latest
        }

        func run() throws {
            try reportingErrors {
                let isNew = try global.directory.registerReader(reader, of: name, start: from == .oldest ? .oldest : .latest)
                try Output.print(isNew ? "registered reader \(Values.quoted(reader)) of \(Values.quoted(name))\n"
                                       : "reader \(Values.quoted(reader)) of \(Values.quoted(name)) was registered already\n")
            }
        }
    }
}

/// The buffer and the named reader a `reader` command acts on.
struct NamedReader: ParsableArguments {
    @Argument(help: "The buffer's name.", completion: BufferNames.completion)
    var name: String

    @Argument(help: "The reader's name.")
    var reader: String
}

/// `cbuff dir`: the data directory in use.
struct Dir: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the data directory in use (--dir, else $CBUFF_DIR, else the per-user default).",
        discussion: "For the registry's sqlite3 one-liners: sqlite3 \"$(cbuff dir)/registry.sqlite\" 'SELECT name FROM buffers;'"
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try reportingErrors {
            try Output.print(global.directory.path + "\n")
        }
    }
}
