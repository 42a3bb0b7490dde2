import ArgumentParser
import SharedRing

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove a buffer (its ring file and registry row), or one of its named readers.",
        discussion: "Refused (exit 75) while a live process writes the buffer (or has the reader open), unless --force."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name.")
    var name: String

    @Option(help: "Remove only this named reader of the buffer.")
    var reader: String?

    @Flag(help: "Remove it even while a live process uses it.")
    var force = false

    func run() throws {
        try reportingErrors {
            if let reader {
                try global.directory.removeReader(reader, of: name, force: force)
            } else {
                try global.directory.removeBuffer(name, force: force)
            }
        }
    }
}
