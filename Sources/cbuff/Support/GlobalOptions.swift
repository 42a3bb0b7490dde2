import ArgumentParser
import SharedRing

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Data directory (default: $CBUFF_DIR, else ~/.local/share/cbuff).", valueName: "dir"))
    var dir: String?

    var directory: DataDirectory { DataDirectory.resolve(dir) }
}
