import ArgumentParser
import SharedRing

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove a buffer (its ring file and registry row), one of its named readers, or every buffer whose writer died.",
        discussion: """
            Refused (exit 75) while a live process writes the buffer (or has the reader open), \
            unless --force. `cbuff rm --dead [--older-than S]` removes the buffers whose writer \
            died without closing, never one with a live writer, and prints their names; it also \
            deletes the temporary files of creators that died before naming their buffer.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name (none with --dead).")
    var name: String?

    @Option(help: "Remove only this named reader of the buffer.")
    var reader: String?

    @Flag(help: "Remove it even while a live process uses it.")
    var force = false

    @OptionGroup var selection: DeadSelection

    func validate() throws {
        if selection.dead && (name != nil || reader != nil || force) {
            throw ValidationError("--dead takes no buffer name, --reader or --force.")
        }
        if !selection.dead && name == nil { throw ValidationError("Give the name of the buffer to remove, or --dead.") }
    }

    func run() throws {
        try reportingErrors {
            if selection.dead {
                for status in try global.directory.deadBuffers(olderThan: selection.age) {
                    // removeBuffer re-checks the writer lock inside its transaction: a writer
                    // that came back meanwhile keeps its buffer.
                    do {
                        try global.directory.removeBuffer(status.record.name)
                        print(status.record.name)
                    } catch CBuffError.Code.writerBusy {
                        complain("kept \"\(status.record.name)\": a writer attached to it meanwhile.")
                    }
                }
                for path in try global.directory.removeDebris() {
                    complain("deleted \(path), left by a creator that died before naming it.")
                }
                return
            }
            let name = name!
            if let reader {
                try global.directory.removeReader(reader, of: name, force: force)
            } else {
                try global.directory.removeBuffer(name, force: force)
            }
        }
    }
}
