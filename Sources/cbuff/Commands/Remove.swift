import ArgumentParser
import SharedRing

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove a buffer (its ring file and registry row), one of its named readers, or every buffer whose writer died.",
        discussion: """
            Refused (exit 75) while a live process writes the buffer (or has the reader open), \
            or when that cannot be told, unless --force. `cbuff rm --dead [--older-than S]` \
            removes the buffers whose writer died without closing, and the rows whose ring \
            file holds no ring (missing, empty or all zeros, as a machine crash can leave it), \
            and prints their names; it keeps, saying why on stderr, any with a live writer and \
            any whose named readers have items left to consume (with --force it removes those \
            too); it also deletes the temporary files of creators that died before naming \
            their buffer.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name (none with --dead).", completion: BufferNames.completion)
    var name: String?

    @Option(parsing: .unconditional, help: "Remove only this named reader of the buffer.")
    var reader: String?

    @Flag(help: "Remove it even while a live process uses it.")
    var force = false

    @OptionGroup var selection: DeadSelection

    func validate() throws {
        if selection.dead && (name != nil || reader != nil) {
            throw ValidationError("--dead takes no buffer name or --reader.")
        }
        if !selection.dead && name == nil { throw ValidationError("Give the name of the buffer to remove, or --dead.") }
    }

    func run() throws {
        try reportingErrors {
            if selection.dead {
                // Each removal re-checks, inside its registry transaction, the writer lock and
                // the named readers' positions: a writer that came back keeps its buffer.
                let sweep = try global.directory.removeDeadBuffers(olderThan: selection.age, includingUnconsumed: force)
                try Output.print(sweep.removed.map { $0 + "\n" }.joined())
                for kept in sweep.kept { complain(kept.reason) }
                for path in sweep.debris {
                    complain("deleted \(path), left by a creator that died before naming it.")
                }
                // Swept what could be read; a damaged row is marked, as list does, and left.
                if !sweep.damagedRows.isEmpty {
                    List.reportDamagedRows(sweep.damagedRows)
                    throw ExitCode(ExitStatus.dataError)
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
