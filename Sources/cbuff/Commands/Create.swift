import ArgumentParser
import SharedRing

/// `--policy`: its own enum, with string raw values, because swift-argument-parser shows the
/// default of a `CaseIterable & RawRepresentable` type as its raw value (`OverflowPolicy`'s is
/// a number: "default: 0").
enum PolicyArgument: String, ExpressibleByArgument, CaseIterable {
    case overwrite, block

    var policy: OverflowPolicy { self == .overwrite ? .overwrite : .block }
}

/// `--integrity checked|unchecked`: whether each slot of a buffer of items carries a check word.
extension ItemIntegrity: ExpressibleByArgument {}

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a buffer.",
        discussion: """
            Creating is not writing: the buffer reads as never written (STATE never, no writer \
            PID) until a writer takes it over (cbuff push, or a program's takeOver), and each \
            --reader is registered at the start, before anything can be pushed, with no process \
            (it gets one when a pop, tail or program opens it).
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name: letters, digits and . _ - : @ + (at most 200 bytes).")
    var name: String

    // .unconditional: "--length -5" is a length to refuse with its range, not a missing value.
    @Option(parsing: .unconditional, help: "Bytes per item (1 to 16777216); with --fields, the fields' size (which it may repeat).")
    var itemSize: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "The items' fields in C layout, as name:type pairs separated by commas (time:u64,price:f64,sym:char8).",
        discussion: "Types: u8, u16, u32, u64, i8, i16, i32, i64, f32, f64, charN (N bytes of UTF-8 text), bytesN (N opaque bytes). Each field sits at a multiple of its size, the item is padded to the largest; push, pop and tail then read and print JSON lines.",
        valueName: "fields"))
    var fields: String?

    @Option(parsing: .unconditional, help: "Number of items the ring holds (at least 2).")
    var length: Int?

    @Flag(help: "Make a buffer of variable-size messages (with --capacity and --max-message) instead of items.")
    var messages = false

    @Option(parsing: .unconditional, help: "Messages: bytes of the ring (a power of two from 4K to 32G; K, M, G are powers of 1024).")
    var capacity: String?

    @Option(parsing: .unconditional, help: "Messages: the largest message, in bytes (K, M, G accepted), at most half the capacity less 32.")
    var maxMessage: String?

    @Flag(help: "Messages: stamp each with the precise clock (nanoseconds) instead of the coarse one (a timer tick, 4 ms here), at about 25 ns a message.")
    var preciseTime = false

    @Option(name: .customLong("policy"), parsing: .unconditional, help: "What a push does when the ring is full: overwrite the oldest item, or block.")
    var policyArgument: PolicyArgument = .overwrite

    var policy: OverflowPolicy { policyArgument.policy }

    @Option(name: .customLong("tether-timeout"), parsing: .unconditional, help: ArgumentHelp(
        "With --policy block: how long a named reader that is not running may hold the writer back before the writer goes on without it (30s, 500ms, 2m; 0, the default, waits without limit).",
        discussion: "An untethered reader counts what it missed when it is opened again, and then holds the writer back again. A running reader is never untethered, however slow.",
        valueName: "duration"))
    var tetherTimeout: String?

    /// The tether timeout, checked (a usage error otherwise).
    private func tether() throws -> Duration {
        guard let tetherTimeout else { return .zero }
        guard let nanos = Values.duration(tetherTimeout, maxNanos: 30 * 86_400 * 1_000_000_000) else {
            throw failure(ExitStatus.usage, "--tether-timeout \(Values.quoted(tetherTimeout)) is not a duration from 1ns to 30 days: give a number and a unit (ns, us, ms, s, m, h), such as 30s or 500ms, or 0 for none.")
        }
        if nanos > 0 && policy != .block {
            throw failure(ExitStatus.usage, "--tether-timeout is for buffers created with --policy block: under overwrite the writer never waits for a reader.")
        }
        return .nanoseconds(Int64(nanos))
    }

    @Option(name: .customLong("sync"), parsing: .unconditional, help: ArgumentHelp(
        "When its writers make what they push durable on their own: none (the default: only push --sync or a program's sync), each-batch (after every push call), every:N (whenever N items or messages were pushed since the last sync), interval:MS (a syncer thread of the writer, at most MS milliseconds, 1 to 3600000, after something was published).",
        discussion: "Recorded in the ring file: every writer that takes the buffer over follows it, and a writer's close syncs under every policy but none. inspect shows it.",
        valueName: "policy"))
    var syncText: String?

    /// The sync policy, checked (a usage error otherwise).
    private func syncPolicy() throws -> SyncPolicy {
        guard let syncText else { return .none }
        switch SyncPolicy.parsing(syncText) {
        case .success(let policy): return policy
        case .failure(let problem): throw failure(ExitStatus.usage, "--sync \(Values.quoted(syncText)) is not a sync policy: \(problem.sentence).")
        }
    }

    private var syncNote: String {
        guard let syncText, case .success(let policy) = SyncPolicy.parsing(syncText), policy != .none else { return "" }
        return ", sync \(policy.commandLineText)"
    }

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Items: 'checked' gives each slot a check word (format version 4): after a machine crash or power loss, a reader delivers an item only if it is exactly what was written under its sequence, and counts the rest as lost; 8 bytes more a slot, at most 2^30 items. 'unchecked' leaves it out (format version 2, or 3 with --fields). 'auto', the default: checked on a disk, unchecked in memory (tmpfs, /dev/shm), where a machine crash loses the file whole.",
        valueName: "auto|checked|unchecked"))
    var integrity: ItemIntegrity?

    @Option(name: .customLong("reader"), parsing: .unconditionalSingleValue, help: ArgumentHelp("Register this named reader at creation, before anything is pushed (repeat for several): under --policy block the writer then never overwrites what it has not read.", valueName: "id"))
    var readers: [String] = []

    func validate() throws {
        if messages {
            guard capacity != nil, maxMessage != nil else { throw ValidationError("A message buffer needs --capacity and --max-message.") }
            guard itemSize == nil, fields == nil, length == nil else {
                throw ValidationError("A message buffer has a --capacity and a --max-message, not an item size, fields or length.")
            }
            guard integrity == nil || integrity == .automatic else {
                throw ValidationError("--integrity checked or unchecked is for buffers of items: every record of a message buffer carries a check word.")
            }
            return
        }
        if capacity != nil || maxMessage != nil || preciseTime { throw ValidationError("--capacity, --max-message and --precise-time are for --messages buffers.") }
        if integrity == .checked && length.map({ $0 > 1 << 30 }) == true {
            throw ValidationError("A buffer of --integrity checked holds at most 1073741824 items (2^30); give --integrity unchecked for a longer one.")
        }
        if itemSize == nil && fields == nil { throw ValidationError("Give --item-size, or --fields.") }
        if length == nil { throw ValidationError("Give --length, the number of items the ring holds.") }
    }

    /// Prints the confirmation of a creation, removing the buffer again if it cannot: `create`
    /// exits 0 if and only if the buffer exists as asked, so a script that retries a failed
    /// create never meets "already exists" (with standard output closed, the confirmation is a
    /// write error, 74, and nothing is left; found by driving every system call of `create` to
    /// fail). The buffer has had its name for a moment, without a writer: another process may
    /// have taken it over meanwhile, so the removal is not forced: a buffer a live writer
    /// holds is someone's now, and stays (the second sentence says so).
    private func confirming(_ line: String) throws {
        do {
            // One line, whatever the data directory's path holds: control characters escaped,
            // as `complain` and `inspect` show them (the path is the user's or the environment's).
            try Output.print(Values.escapingControlCharacters(String(line.dropLast())) + "\n")
        } catch {
            do {
                try global.directory.removeBuffer(name)
            } catch let removal {
                // Both said, the cause first.
                let status = (error as? CBuffError).map { cause in complain(cause.description); return cause.code.exitStatus }
                complain("Buffer \(Values.quoted(name)) was created, and could not be removed again after that: \(removal)")
                if let status { throw ExitCode(status) }
            }
            throw error
        }
    }

    private var tetherNote: String {
        guard let text = tetherTimeout, let nanos = Values.duration(text, maxNanos: .max), nanos > 0 else { return "" }
        return ", tether timeout \(Values.duration(.nanoseconds(Int64(nanos))))"
    }

    private var readersNote: String {
        readers.isEmpty ? "" : ", named reader\(readers.count == 1 ? "" : "s") " + readers.map(Values.quoted).joined(separator: ", ")
    }

    /// A size option's value, or a usage error naming it.
    private func size(_ text: String, _ option: String) throws -> Int {
        guard let value = Values.size(text) else {
            throw failure(ExitStatus.usage, "--\(option) \(Values.quoted(text)) is not a size: give bytes, optionally with K, M or G (powers of 1024).")
        }
        return value
    }

    func run() throws {
        try reportingErrors {
            // The buffer and its named readers appear together, and no writer attaches: this
            // process is neither recorded as the buffer's writer nor as its readers' process.
            let directory = global.directory
            if messages, let capacity, let maxMessage {
                let bytes = try size(capacity, "capacity"), largest = try size(maxMessage, "max-message")
                try directory.createMessageBufferWithoutWriter(name, capacity: bytes, maxMessageSize: largest, policy: policy,
                                                               preciseTime: preciseTime, tetherTimeout: try tether(), readers: readers,
                                                               sync: try syncPolicy())
                try confirming("created \(Values.quoted(name)): messages of up to \(largest) bytes in \(bytes) bytes, \(policy)\(tetherNote)\(syncNote), \(directory.ringPath(of: name))\(readersNote)\n")
                return
            }
            let length = length ?? 0
            let tether = try tether()
            let sync = try syncPolicy()
            let layout = try fields.map { try ItemLayout($0) }
            if let layout, let itemSize, itemSize != layout.size {
                throw failure(ExitStatus.usage, "--item-size \(itemSize) disagrees with the fields \(layout), which make items of \(layout.size) bytes.")
            }
            let size = layout?.size ?? itemSize ?? 0
            let version = try directory.createBufferWithoutWriter(name, itemSize: size, length: length, policy: policy, layout: layout,
                                                                  tetherTimeout: tether, readers: readers, sync: sync, integrity: integrity ?? .automatic)
            let fieldsNote = layout.map { " (fields \($0))" } ?? ""
            let checkNote = version >= 4 ? ", a check word in every slot" : ", no check words (format version \(version))"
            try confirming("created \(Values.quoted(name)): \(length) items of \(size) bytes\(fieldsNote)\(checkNote), \(policy)\(tetherNote)\(syncNote), \(directory.ringPath(of: name))\(readersNote)\n")
        }
    }
}
