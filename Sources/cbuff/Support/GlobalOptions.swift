import ArgumentParser
import SharedRing

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Data directory (default: $CBUFF_DIR, else ~/.local/share/cbuff).", valueName: "dir"))
    var dir: String?

    @Flag(help: "Share the data directory with its group: create it (if it does not exist yet) with mode 2770 and files 0660, and accept a directory another member of that group owns. By default it is private: 0700, files 0600, and only a directory this user owns is used.")
    var groupAccess = false

    @Flag(help: "Show the library's diagnostics on stderr: take-overs, retries of busy locks, registry migrations, lapped readers.")
    var verbose = false

    @Option(parsing: .unconditional, help: ArgumentHelp("How long to wait for a lock another process holds (the registry's, a buffer's reader table) before failing with exit 75 (default 5).", valueName: "seconds"))
    var lockTimeout: Double = 5

    func validate() throws {
        try Seconds.validate(lockTimeout, "--lock-timeout")
    }

    var directory: DataDirectory {
        DataDirectory.resolve(dir, access: groupAccess ? .group : .owner, lockTimeout: Seconds.duration(lockTimeout))
    }
}

/// Options given in seconds: finite, not negative, at most a year (so that no conversion can
/// overflow or trap).
enum Seconds {
    static let limit: Double = 366 * 86_400

    static func validate(_ value: Double, _ option: String) throws {
        guard value.isFinite, value >= 0, value <= limit else {
            throw ValidationError("\(option) must be a number of seconds from 0 to \(Int(limit)).")
        }
    }

    static func duration(_ value: Double) -> Duration {
        .nanoseconds(Int64(min(max(value, 0), limit) * 1e9))
    }
}

/// Selects the buffers whose writer died (crashed or was killed without closing), for
/// `list --dead` and `rm --dead`.
struct DeadSelection: ParsableArguments {
    @Flag(help: "Only buffers whose writer died without closing (never one with a live writer, nor one closed cleanly).")
    var dead = false

    @Option(parsing: .unconditional, help: ArgumentHelp("With --dead: only those whose last write is at least this many seconds old.", valueName: "seconds"))
    var olderThan: Double = 0

    func validate() throws {
        try Seconds.validate(olderThan, "--older-than")
        if olderThan > 0 && !dead { throw ValidationError("--older-than goes with --dead.") }
    }

    var age: Duration { Seconds.duration(olderThan) }
}
