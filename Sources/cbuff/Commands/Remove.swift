import ArgumentParser
import SharedRing

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove a buffer: its ring file and its registry row.",
        discussion: "Refused (exit 75) while a live process writes the buffer, unless --force."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name.")
    var name: String

    @Flag(help: "Remove it even while a live writer holds it.")
    var force = false

    func run() throws {
        try reportingErrors {
            try global.directory.removeBuffer(name, force: force)
        }
    }
}
