import ArgumentParser
import SharedRing

struct Pop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print up to N items, one per line: from the oldest, or where a named reader stopped.",
        discussion: """
            Reading does not remove items for other readers: every reader has its own cursor. \
            With --reader, the named reader's position is kept in the buffer: the next \
            `pop --reader` with the same name continues after the items printed (the first one \
            starts at the oldest item). Exits 75 if a live process has that reader open.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name.")
    var name: String

    @Option(name: .short, parsing: .unconditional, help: "The most items to print.")
    var n: Int = 1

    @Option(help: "Read as this named reader, and record its new position.")
    var reader: String?

    func validate() throws {
        if n < 0 { throw ValidationError("-n must be 0 or more.") }
    }

    func run() throws {
        try reportingErrors {
            var reader = if let name = self.reader {
                try global.directory.openReader(self.name, named: name)
            } else {
                try global.directory.openReader(name)
            }
            var output = Output()
            var printed = 0
            while printed < n, let bytes = try reader.popBytes() {
                output.line(Values.decimal(bytes))
                printed += 1
            }
            _ = output.flush()
            reader.close()   // a named reader commits what was printed
        }
    }
}
