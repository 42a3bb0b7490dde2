import ArgumentParser
import SharedRing

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Data directory (default: $CBUFF_DIR, else ~/.local/share/cbuff).", valueName: "dir"))
    var dir: String?

    @Flag(help: "Create the data directory (if it does not exist yet) shared with its group: mode 2770, files 0660. By default it is private: 0700, files 0600.")
    var groupAccess = false

    var directory: DataDirectory { DataDirectory.resolve(dir, access: groupAccess ? .group : .owner) }
}

/// Selects the buffers whose writer died (crashed or was killed without closing), for
/// `list --dead` and `rm --dead`.
struct DeadSelection: ParsableArguments {
    @Flag(help: "Only buffers whose writer died without closing (never one with a live writer, nor one closed cleanly).")
    var dead = false

    @Option(help: ArgumentHelp("With --dead: only those whose last write is at least this many seconds old.", valueName: "seconds"))
    var olderThan: Double = 0

    func validate() throws {
        if olderThan < 0 { throw ValidationError("--older-than must be 0 or more seconds.") }
        if olderThan > 0 && !dead { throw ValidationError("--older-than goes with --dead.") }
    }

    var age: Duration { .milliseconds(Int64(olderThan * 1000)) }
}
