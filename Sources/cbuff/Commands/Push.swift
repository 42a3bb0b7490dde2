import ArgumentParser
import SharedRing

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Become the buffer's writer and push integers, items as JSON objects, or messages.",
        discussion: """
            Takes the buffer over if it has no live writer (the sequence continues after the last \
            published item); exits 75 if another process is writing it. Values are unsigned \
            integers, decimal or 0x-hexadecimal, that fit in the buffer's item size. With --stdin, \
            one value per line until end of input, each line published as soon as it is read; a \
            malformed line stops the push with exit 65 after reporting how many items were \
            pushed. SIGINT, SIGTERM and SIGHUP stop it cleanly: every complete line read is \
            published, the writer is closed (not left looking crashed), and it exits 130, 143 or \
            129. For a buffer created with --fields, each value (or line) is one JSON object \
            with every field: {"time":1,"price":2.5,"qty":3} (a "sequence" key is ignored, so \
            that tail's output can be pushed); a missing, unknown or out-of-range field is exit \
            65 naming the line. For a buffer created with --messages, each value (or line, \
            without its newline; with --null, each NUL-terminated string) is one message, its \
            bytes as given; one longer than the buffer's largest is exit 65 saying the limit.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name.", completion: BufferNames.completion)
    var name: String

    // .allUnrecognized, so that "-1" reaches the value check (exit 65) instead of being taken
    // for an unknown option.
    // Declared for the help text and for values given before the name's options; `main` takes
    // the values out of the command line before parsing (see `PushValues`).
    @Argument(parsing: .allUnrecognized, help: "Values to push, in order.")
    var arguments: [String] = []

    /// The values: those `PushValues` took out of the command line, then any the parser saw.
    var values: [String] { PushValues.taken + arguments.filter { $0 != "--" } }

    @Flag(help: "Read values from standard input, one per line.")
    var stdin = false

    /// What a value is.
    enum InputFormat: String, ExpressibleByArgument, CaseIterable {
        case int, jsonl
    }

    @Option(parsing: .unconditional, help: "int: unsigned integers; jsonl: JSON objects of the item's fields (the default for a buffer created with --fields).")
    var format: InputFormat?

    @Flag(help: "Messages: standard input holds NUL-separated messages (find -print0) instead of lines.")
    var null = false

    @Flag(help: "Make what was pushed durable before exiting: one sync of the ring file (fsync) after the last value, also after an error or a stop signal; without it (and under the sync policy none, see create --sync) a machine crash may lose what the kernel had not written back yet. The buffer's own sync policy applies either way.")
    var sync = false

    func validate() throws {
        if stdin && !values.isEmpty { throw ValidationError("Give values as arguments or with --stdin, not both.") }
        if !stdin && values.isEmpty { throw ValidationError("Give at least one value, or --stdin.") }
        // An option that would change nothing is a mistake said, not ignored.
        if null && !stdin { throw ValidationError("--null says how standard input is split into messages; it goes with --stdin.") }
    }

    func run() throws {
        StopSignals.install()
        try reportingErrors {
            // Everything the arguments say is checked against the buffer's record before the
            // buffer is taken over: a refused push changes nothing (taking over, then closing,
            // would turn a crashed writer's buffer into a cleanly closed one and erase the
            // evidence `list --dead` and `inspect` show).
            let record = try global.directory.record(of: name)
            if record.holdsMessages {
                try pushMessages(limit: record.maxMessageSize ?? 0)
                return
            }
            if null { throw failure(ExitStatus.usage, "--null is for buffers of messages; buffer \(Values.quoted(name)) holds items.") }
            let format = format ?? (record.itemLayout == nil ? .int : .jsonl)
            if format == .jsonl && record.itemLayout == nil {
                throw failure(ExitStatus.usage, "buffer \(Values.quoted(name)) has no fields, so its items are integers, not JSON objects; create it with --fields to push JSON lines.")
            }
            let arguments: PreparedValues? = stdin ? nil : try prepare(for: record, format: format)
            // With --stdin, the first value is read and checked before the buffer is taken over:
            // the tool becomes the writer only once it holds something valid to push.
            var first = Prefetched()
            if stdin {
                if format == .jsonl, let layout = record.itemLayout {
                    var item = [UInt8](repeating: 0, count: layout.size)
                    guard let read = try prefetchFirstValue(separator: 0x0A, capacity: 1 << 16, skippingBlank: true, { line in
                        let encoded = item.withUnsafeMutableBytes { bytes in Result { () throws(CBuffError) in try layout.encode(json: line, into: bytes) } }
                        if case .failure(let error) = encoded { return error.message }
                        return nil
                    }) else { return }
                    first = read
                } else {
                    let maxValue: UInt64 = record.itemSize >= 8 ? .max : (1 << (8 * UInt64(record.itemSize))) - 1
                    guard let read = try prefetchFirstValue(separator: 0x0A, capacity: 1 << 16, skippingBlank: false, { line in
                        guard let value = Values.parse(line: line) else { return Values.refusal(Values.withoutLineEnd(line)) }
                        return value <= maxValue ? nil : "does not fit in \(record.itemSize)-byte items"
                    }) else { return }
                    first = read
                }
            }
            var writer = try global.directory.takeOver(name)
            if let problem = writer.registryProblem { complain("warning: \(problem.message) The registry's writer columns are stale; pushing goes on.") }
            var outcome: Result<Void, any Error> = .success(())
            switch (arguments, format, writer.itemLayout) {
            case (.integers(let values)?, _, _):
                outcome = Result { try values.withUnsafeBufferPointer { try push($0, into: &writer) } }
            case (.items(let items)?, _, _):
                outcome = Result { try pushItems(items, into: &writer) }
            case (nil, .jsonl, let layout?):
                outcome = Result { try pushJSON(layout, into: &writer, first: first) }
            default:
                outcome = Result { try pushStandardInput(&writer, first: first) }
            }
            outcome = synced(outcome) { () throws(CBuffError) in try writer.sync() }
            writer.close()   // closed cleanly, whatever happened: the buffer never reads as crashed
            try outcome.get()
        }
    }

    /// Values given as arguments, checked and converted, before anything is taken over.
    enum PreparedValues {
        case integers([UInt64])
        /// Items of a buffer with fields, encoded from JSON objects.
        case items([[UInt8]])
    }

    /// Checks and converts every argument for buffer `record`; the first bad one is exit 65
    /// with nothing pushed and nothing taken over.
    private func prepare(for record: BufferRecord, format: InputFormat) throws -> PreparedValues {
        if format == .jsonl, let layout = record.itemLayout {
            var items: [[UInt8]] = []
            for (index, text) in values.enumerated() {
                do {
                    items.append(try layout.encode(json: text))
                } catch {
                    throw failure(ExitStatus.dataError, "value \(index + 1) (\(Values.quoted(String(text.prefix(60))))): \(error.message); nothing was pushed.")
                }
            }
            return .items(items)
        }
        let maxValue: UInt64 = record.itemSize >= 8 ? .max : (1 << (8 * UInt64(record.itemSize))) - 1
        var parsed: [UInt64] = []
        parsed.reserveCapacity(values.count)
        for text in values {
            guard let value = Values.parse(text) else {
                throw failure(ExitStatus.dataError, "\(Values.quoted(text)) \(Values.refusal(text)); nothing was pushed.")
            }
            guard value <= maxValue else {
                throw failure(ExitStatus.dataError, "\(Values.quoted(text)) does not fit in the \(record.itemSize)-byte items of buffer \(Values.quoted(name)) (at most \(maxValue)); nothing was pushed.")
            }
            parsed.append(value)
        }
        return .integers(parsed)
    }

    /// Pushes `values`, waiting for room (under the `block` policy) in slices so that a stop
    /// signal is noticed; on one, throws the exit status 128 + signal after saying what was pushed.
    private func push(_ values: UnsafeBufferPointer<UInt64>, into writer: inout BufferWriter, before: Int = 0) throws {
        var done = 0
        var waitedSlices = 0
        while done < values.count {
            let pushed = try writer.push(contentsOf: UnsafeBufferPointer(rebasing: values[done...]), timeout: .milliseconds(200))
            done += pushed
            guard done < values.count else { break }
            if let signal = StopSignals.check() {
                throw stopped(by: signal, pushed: before + done, note: "; \(items(values.count - done)) read but not pushed: the ring stayed full of items a named reader has not consumed")
            }
            waitedSlices = pushed > 0 ? 0 : waitedSlices + 1
            if waitedSlices == 10 { complain(waitingNote(length: writer.length)) }   // 2 s without room: say why, once
        }
    }

    // MARK: Messages

    /// Pushes each value, or each line (NUL-terminated string with `--null`) of standard input,
    /// as one message. Values given as arguments are all checked before any is pushed.
    private func pushMessages(limit: Int) throws {
        if format != nil { throw failure(ExitStatus.usage, "buffer \(Values.quoted(name)) holds messages, pushed as they are: --format is for items.") }
        let messages = values.map { Array($0.utf8) }
        if let (index, long) = messages.enumerated().first(where: { $0.element.count > limit }) {
            throw failure(ExitStatus.dataError, "value \(index + 1) is \(long.count) bytes; messages of buffer \(Values.quoted(name)) are at most \(limit) bytes; nothing was pushed.")
        }
        // Standard input's first message is read and checked before the take-over (see `run`).
        var first = Prefetched()
        if stdin {
            guard let read = try prefetchFirstValue(separator: null ? 0 : 0x0A, capacity: max(1 << 16, limit + 1), skippingBlank: false, { line in
                line.count <= limit ? nil : "is \(line.count) bytes; messages of buffer \(Values.quoted(name)) are at most \(limit) bytes"
            }) else { return }
            first = read
        }
        var writer = try global.directory.takeOverMessages(name)
        if let problem = writer.registryProblem { complain("warning: \(problem.message) The registry's writer columns are stale; pushing goes on.") }
        let limit = writer.maxMessageSize
        let outcome = Result { () throws in
            guard stdin else {
                for (pushed, message) in messages.enumerated() {
                    try message.withUnsafeBytes { bytes in try pushWaiting(pushed: pushed, length: 0, noun: "message") { () throws(CBuffError) in try writer.push(bytes, timeout: .milliseconds(200)) } }
                }
                return
            }
            var pushed = 0
            try forEachLine(separator: null ? 0 : 0x0A, capacity: max(1 << 16, limit + 1), first: first) { line, number in
                guard let line else {
                    if try writer.isRemoved() { throw removedUnder(pushed: pushed, noun: "message") }
                    return
                }
                guard line.count <= limit else {
                    throw failure(ExitStatus.dataError, "\(null ? "message" : "line") \(number) is \(line.count) bytes; messages of buffer \(Values.quoted(name)) are at most \(limit) bytes; pushed \(counted(pushed, "message")) before it.")
                }
                try pushWaiting(pushed: pushed, length: 0, noun: "message") { () throws(CBuffError) in try writer.push(UnsafeRawBufferPointer(line), timeout: .milliseconds(200)) }
                pushed += 1
            } stopped: { signal, partial in
                stopped(by: signal, pushed: pushed, noun: "message", note: partial)
            }
        }
        let synced = synced(outcome) { () throws(CBuffError) in try writer.sync() }
        writer.close()
        try synced.get()
    }

    /// `outcome`, after the sync `--sync` asks for (whatever the outcome: what was pushed before
    /// an error or a signal is worth keeping too); a failed sync is the outcome when the push
    /// itself succeeded, and is said beside the push's own error otherwise.
    private func synced(_ outcome: Result<Void, any Error>, _ sync: () throws(CBuffError) -> UInt64) -> Result<Void, any Error> {
        guard self.sync else { return outcome }
        do {
            _ = try sync()
            return outcome
        } catch {
            let sentence = "what was pushed is not known to be durable: \(error.message)"
            guard case .failure = outcome else { return .failure(failure(ExitStatus.ioError, sentence)) }
            complain(sentence)
            return outcome
        }
    }

    // MARK: JSON objects

    /// Pushes items encoded from the arguments (checked before the take-over).
    private func pushItems(_ items: [[UInt8]], into writer: inout BufferWriter) throws {
        for (pushed, item) in items.enumerated() {
            try item.withUnsafeBytes { bytes in
                try pushWaiting(pushed: pushed, length: writer.length) { () throws(CBuffError) in
                    try writer.pushInPlace(timeout: .milliseconds(200)) { slot in slot.copyMemory(from: bytes) }
                }
            }
        }
    }

    /// Pushes each line of standard input as a JSON object of `layout`'s fields, as it is read.
    private func pushJSON(_ layout: ItemLayout, into writer: inout BufferWriter, first: Prefetched) throws {
        var item = [UInt8](repeating: 0, count: layout.size)
        var pushed = 0
        try forEachLine(separator: 0x0A, capacity: 1 << 16, first: first) { line, number in
            guard let line else {
                if try writer.isRemoved() { throw removedUnder(pushed: pushed) }
                return
            }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }   // blank lines are skipped
            // A Result, not a typed-throws closure: Swift 6.3.1 crashes compiling one passed to
            // withUnsafeMutableBytes (README, troubleshooting).
            let encoded = item.withUnsafeMutableBytes { bytes in Result { () throws(CBuffError) in try layout.encode(json: line, into: bytes) } }
            if case .failure(let error) = encoded {
                throw failure(ExitStatus.dataError, "line \(number) (\(Values.quoted(String(decoding: line.prefix(60), as: UTF8.self)))): \(error.message); pushed \(items(pushed)) before it.")
            }
            try item.withUnsafeBytes { bytes in
                try pushWaiting(pushed: pushed, length: writer.length) { () throws(CBuffError) in
                    try writer.pushInPlace(timeout: .milliseconds(200)) { slot in slot.copyMemory(from: bytes) }
                }
            }
            pushed += 1
        } stopped: { signal, partial in
            stopped(by: signal, pushed: pushed, note: partial)
        }
    }

    /// Makes `attempt` (one push that waits up to 200 ms for room under the `block` policy)
    /// until it pushes, so that a stop signal is noticed between attempts, and says after 2 s
    /// what it waits for (`length`: the ring's, to name the readers that hold it full).
    private func pushWaiting(pushed: Int, length: Int, noun: String = "item", _ attempt: () throws(CBuffError) -> Bool) throws {
        var waitedSlices = 0
        while try !attempt() {
            if let signal = StopSignals.check() {
                throw stopped(by: signal, pushed: pushed, noun: noun, note: "; 1 more read but not pushed: the ring stayed full of what a named reader has not consumed")
            }
            waitedSlices += 1
            if waitedSlices == 10 { complain(waitingNote(length: length)) }
        }
    }

    /// Calls `body` with each line of standard input (without its `separator`, a newline or a
    /// NUL) and its 1-based number, until end of input; a stop signal while waiting for input
    /// throws what `stopped` makes of it (given a note on an incomplete line). Lines longer than
    /// `capacity` bytes are exit 65.
    ///
    /// Before each read, and every second while no input comes, `body` is called with no line
    /// (nil, 0): the moment to check that the buffer is still there.
    ///
    /// `first`: what ``prefetchFirstValue(separator:capacity:skippingBlank:_:)`` read before the
    /// take-over, handled before anything more is read.
    private func forEachLine(separator: UInt8, capacity: Int, first: Prefetched, _ body: (UnsafeBufferPointer<UInt8>?, Int) throws -> Void,
                             stopped: (Int32, String) -> ExitCode) throws {
        let block = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { block.deallocate() }
        precondition(first.bytes.count <= capacity)
        first.bytes.withUnsafeBufferPointer { _ = UnsafeMutableBufferPointer(start: block, count: capacity).initialize(fromContentsOf: $0) }
        var filled = first.bytes.count
        var number = first.linesBefore
        var endOfInput = first.endOfInput
        var prefetched = first.isRead
        while prefetched || !endOfInput {
            if prefetched {
                prefetched = false
                try body(nil, 0)
            } else {
                switch StopSignals.waitForStandardInput() {
                case .stopped(let signal): throw stopped(signal, filled > 0 ? "; an incomplete last line was not pushed" : "")
                case .idle:
                    try body(nil, 0)
                    continue
                case .ready:
                    try body(nil, 0)
                }
                switch Platform.readStandardInput(into: UnsafeMutableRawBufferPointer(start: block + filled, count: capacity - filled)) {
                case .success(let n):
                    endOfInput = n == 0
                    filled += n
                case .failure(let error):
                    throw failure(ExitStatus.failure, "cannot read standard input (\(error.text)).")
                }
            }
            var start = 0
            while start < filled {
                let rest = UnsafeBufferPointer(start: block + start, count: filled - start)
                guard let newline = Platform.firstIndex(of: separator, in: rest) ?? (endOfInput ? rest.count : nil) else { break }
                number += 1
                try body(UnsafeBufferPointer(rebasing: rest[..<newline]), number)
                start += newline + 1
            }
            if start == 0 && filled == capacity {
                throw failure(ExitStatus.dataError, "line \(number + 1) is longer than \(capacity) bytes.")
            }
            let kept = max(0, filled - start)
            if kept > 0 { block.update(from: block + start, count: kept) }
            filled = kept
        }
    }

    /// What standard input held from its first value on, read before the take-over.
    struct Prefetched {
        /// The bytes read from the first value's line on (at most the reading loop's capacity).
        var bytes: [UInt8] = []
        /// Whether standard input ended within them.
        var endOfInput = false
        /// Lines before the first value (blank lines a JSON push skips), for line numbers.
        var linesBefore = 0
        /// Whether anything was read (else the loop starts by reading).
        var isRead: Bool { !bytes.isEmpty || endOfInput }
    }

    /// Reads standard input until it holds the first line that is a value (with
    /// `skippingBlank`, the first that is not blank), and checks that line with `check` (nil:
    /// valid, else why not), before anything is taken over: a push whose first line is refused
    /// (exit 65), that is stopped by a signal before one arrives, or whose input has no value
    /// at all (exit 0) changes nothing; in particular it never turns a crashed writer's buffer
    /// into a cleanly closed one, which would erase the evidence `list --dead` and `inspect` show.
    /// Returns nil for input without a value.
    private func prefetchFirstValue(separator: UInt8, capacity: Int, skippingBlank: Bool,
                                    _ check: (UnsafeBufferPointer<UInt8>) -> String?) throws -> Prefetched? {
        var bytes: [UInt8] = []
        var start = 0           // where the line being looked at begins
        var number = 0
        var ended = false
        func blank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }
        while true {
            while start < bytes.count {
                guard let end = bytes[start...].firstIndex(of: separator) ?? (ended ? bytes.count : nil) else { break }
                number += 1
                if skippingBlank && bytes[start..<end].allSatisfy(blank) {
                    start = end + 1
                    continue
                }
                if let reason = bytes[start..<end].withUnsafeBufferPointer(check) {
                    let text = Values.quoted(String(decoding: bytes[start..<end].prefix(40), as: UTF8.self))
                    throw failure(ExitStatus.dataError, "line \(number) (\(text)) \(reason); nothing was pushed, and buffer \(Values.quoted(name)) was not taken over.")
                }
                return Prefetched(bytes: Array(bytes[start...]), endOfInput: ended, linesBefore: number - 1)
            }
            if ended { return nil }
            if bytes.count - start >= capacity {
                throw failure(ExitStatus.dataError, "line \(number + 1) is longer than \(capacity) bytes; nothing was pushed, and buffer \(Values.quoted(name)) was not taken over.")
            }
            switch StopSignals.waitForStandardInput() {
            case .stopped(let signal):
                throw failure(128 + signal, "stopped by \(StopSignals.name(signal)) before a value was read: nothing was pushed, and buffer \(Values.quoted(name)) was not taken over.")
            case .idle: continue
            case .ready: break
            }
            if start > 0 {
                bytes.removeFirst(start)   // skipped blank lines
                start = 0
            }
            let room = capacity - bytes.count
            var chunk = [UInt8](repeating: 0, count: room)
            switch chunk.withUnsafeMutableBytes({ Platform.readStandardInput(into: $0) }) {
            case .success(let n):
                ended = n == 0
                bytes.append(contentsOf: chunk[..<n])
            case .failure(let error):
                throw failure(ExitStatus.failure, "cannot read standard input (\(error.text)); nothing was pushed.")
            }
        }
    }

    /// What a push held back by the `block` policy waits for, in one sentence.
    private func waitingNote(length: Int) -> String {
        let holders = ((try? global.directory.status(of: name))?.ring?.readers ?? []).filter { $0.lag >= UInt64(length) }
        let who = holders.isEmpty ? "its named readers" : holders.map { "\(Values.quoted($0.name)) (\($0.alive ? "running" : "not running"), at \($0.position))" }.joined(separator: ", ")
        return "waiting for room: buffer \(Values.quoted(name)) is full of items \(who) \(holders.count == 1 ? "has" : "have") not consumed; remove a reader that is gone with `cbuff rm \(name) --reader ID`, or stop with Ctrl-C."
    }

    /// The buffer was removed (or removed and created again) while this push wrote to it: what
    /// it pushes from now on no reader could ever open, so it stops (exit 66) and says so.
    private func removedUnder(pushed: Int, noun: String = "item") -> ExitCode {
        failure(ExitStatus.noInput, "buffer \(Values.quoted(name)) was removed while this push was writing to it (cbuff rm); pushed \(counted(pushed, noun)) before that was noticed, and stopped.")
    }

    private func stopped(by signal: Int32, pushed: Int, noun: String = "item", note: String = "") -> ExitCode {
        failure(128 + signal, "stopped by \(StopSignals.name(signal)): pushed \(counted(pushed, noun))\(note); the writer was closed cleanly.")
    }

    /// Reads standard input and parses lines in place, publishing what each read brought at
    /// once (in one announcement per run of up to 4,096 lines): a slow producer's lines are
    /// visible as soon as they arrive. Parsing is the cost here: plain decimal lines (`seq`'s)
    /// are parsed in the same pass that finds their end, anything else (hexadecimal, 20 digits,
    /// garbage, which it refuses) by `Values.parse`. The loop stays free of closures and
    /// captured variables, which Swift boxes and checks on every access.
    private func pushStandardInput(_ writer: inout BufferWriter, first: Prefetched) throws {
        let capacity = 1 << 16   // measured: 1 MiB blocks (and a 1 MiB pipe) were slower
        let batchCapacity = 4096
        let block = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        let batch = UnsafeMutablePointer<UInt64>.allocate(capacity: batchCapacity)
        defer {
            block.deallocate()
            batch.deallocate()
        }
        precondition(first.bytes.count <= capacity)
        first.bytes.withUnsafeBufferPointer { _ = UnsafeMutableBufferPointer(start: block, count: capacity).initialize(fromContentsOf: $0) }
        let maxValue = writer.maxValue
        var filled = first.bytes.count   // bytes in `block`; an incomplete last line stays at its start
        var batched = 0
        var pushed = 0
        var lineNumber = first.linesBefore
        var endOfInput = first.endOfInput
        var prefetched = first.isRead    // what was read before the take-over is handled first

        func publish() throws {
            try push(UnsafeBufferPointer(start: batch, count: batched), into: &writer, before: pushed)
            pushed += batched
            batched = 0
        }

        while prefetched || !endOfInput {
            if prefetched {
                prefetched = false
            } else {
                switch StopSignals.waitForStandardInput() {
                case .stopped(let signal):
                    let partial = filled > 0 ? "; an incomplete last line (\(Values.quoted(String(decoding: UnsafeBufferPointer(start: block, count: min(filled, 40)), as: UTF8.self)))) was not pushed" : ""
                    throw stopped(by: signal, pushed: pushed, note: partial)
                case .idle:
                    if try writer.isRemoved() { throw removedUnder(pushed: pushed) }
                    continue
                case .ready:
                    if try writer.isRemoved() { throw removedUnder(pushed: pushed) }
                }
                let count: Int
                switch Platform.readStandardInput(into: UnsafeMutableRawBufferPointer(start: block + filled, count: capacity - filled)) {
                case .success(let n): count = n
                case .failure(let error):
                    throw failure(ExitStatus.failure, "cannot read standard input (\(error.text)); pushed \(items(pushed)).")
                }
                endOfInput = count == 0
                filled += count
            }
            var start = 0
            while start < filled {
                var index = start
                var value: UInt64 = 0
                while index < filled {
                    let digit = block[index] &- UInt8(ascii: "0")
                    if digit >= 10 { break }
                    value = value &* 10 &+ UInt64(digit)
                    index += 1
                }
                let end: Int
                let parsed: UInt64?
                if index < filled && block[index] == 0x0A && index > start && index - start < 20 {
                    end = index
                    parsed = value                  // 1 to 19 digits: cannot have overflowed
                } else {
                    if let newline = Platform.firstNewline(in: UnsafeBufferPointer(start: block + index, count: filled - index)) {
                        end = index + newline
                    } else if endOfInput {
                        end = filled                // a last line without a newline
                    } else {
                        break                       // an incomplete line: read more first
                    }
                    parsed = Values.parse(line: UnsafeBufferPointer(start: block + start, count: end - start))
                }
                lineNumber += 1
                guard let parsed, parsed <= maxValue else {
                    try publish()
                    let line = UnsafeBufferPointer(start: block + start, count: end - start)
                    throw malformed(line, number: lineNumber, itemSize: writer.itemSize, pushed: pushed)
                }
                batch[batched] = parsed
                batched += 1
                if batched == batchCapacity { try publish() }
                start = end + 1
            }
            try publish()   // what this read brought, at once
            if start == 0 && filled == capacity {
                throw failure(ExitStatus.dataError, "line \(lineNumber + 1) is longer than \(capacity) bytes; pushed \(items(pushed)) before it.")
            }
            let kept = max(0, filled - start)
            if kept > 0 { block.update(from: block + start, count: kept) }
            filled = kept
        }
    }

    private func malformed(_ line: UnsafeBufferPointer<UInt8>, number: Int, itemSize: Int, pushed: Int) -> ExitCode {
        let text = Values.quoted(String(decoding: line.prefix(40), as: UTF8.self))
        let reason = Values.parse(line: line) == nil ? Values.refusal(Values.withoutLineEnd(line)) : "does not fit in \(itemSize)-byte items"
        return failure(ExitStatus.dataError, "line \(number) (\(text)) \(reason); pushed \(items(pushed)) before it.")
    }
}

/// "1 item", "2 items".
func items(_ count: Int) -> String { counted(count, "item") }

/// "1 item", "2 messages".
func counted(_ count: Int, _ noun: String) -> String {
    count == 1 ? "1 \(noun)" : "\(count) \(noun)s"
}

/// The values of `cbuff push NAME VALUE...`, taken out of the command line before
/// swift-argument-parser sees it: its parsing takes time quadratic in the number of arguments
/// (120,000 values took minutes), ours is one pass. Options `push` knows stay where they are,
/// with their values; the first `--` ends them (and is dropped), as a parser would.
enum PushValues {
    nonisolated(unsafe) static var taken: [String] = []

    private static let flags: Set<String> = ["--stdin", "--null", "--sync", "--group-access", "--verbose", "-h", "--help", "--version"]
    private static let optionsWithValue: Set<String> = ["--dir", "--lock-timeout", "--format"]

    /// Returns `arguments` without the values of a `push` command, keeping those in `taken`.
    static func extract(from arguments: [String]) -> [String] {
        var kept: [String] = []
        var index = 0
        func skipOption() -> Bool {
            let word = arguments[index]
            if optionsWithValue.contains(word) { kept.append(word); index += 1; if index < arguments.count { kept.append(arguments[index]); index += 1 }; return true }
            if flags.contains(word) || ["--dir=", "--lock-timeout=", "--format="].contains(where: word.hasPrefix) { kept.append(word); index += 1; return true }
            return false
        }
        // The subcommand: the first word that is not a global option.
        while index < arguments.count, skipOption() {}
        guard index < arguments.count, arguments[index] == "push" else { return arguments }
        kept.append(arguments[index]); index += 1
        // The buffer's name: the next word that is not an option.
        while index < arguments.count, skipOption() {}
        guard index < arguments.count else { return kept }
        kept.append(arguments[index]); index += 1
        var values: [String] = []
        values.reserveCapacity(arguments.count - index)
        while index < arguments.count {
            if arguments[index] == "--" {
                values.append(contentsOf: arguments[(index + 1)...])
                break
            }
            if !skipOption() { values.append(arguments[index]); index += 1 }
        }
        taken = values
        return kept
    }
}
