import ArgumentParser
import SharedRing

/// `cbuff reader add NAME ID`: named readers without reading.
struct Readers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reader",
        abstract: "Manage a buffer's named readers.",
        subcommands: [Add.self]
    )

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
