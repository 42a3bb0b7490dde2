import ArgumentParser
import SharedRing

struct Pop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print up to N items, one per line, from the oldest still in the buffer.",
        discussion: "Reading does not remove items for other readers: every reader has its own cursor."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name.")
    var name: String

    @Option(name: .short, help: "The most items to print.")
    var n: Int = 1

    func validate() throws {
        if n < 0 { throw ValidationError("-n must be 0 or more.") }
    }

    func run() throws {
        try reportingErrors {
            var reader = try global.directory.openReader(name)
            var output = Output()
            var printed = 0
            while printed < n, let bytes = reader.popBytes() {
                output.line(Values.decimal(bytes))
                printed += 1
            }
            _ = output.flush()
        }
    }
}
