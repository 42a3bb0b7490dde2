import ArgumentParser
@preconcurrency import Glibc
import SharedRing

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Become the buffer's writer and push integers.",
        discussion: """
            Takes the buffer over if it has no live writer (the sequence continues after the last \
            published item); exits 75 if another process is writing it. Values are unsigned \
            integers, decimal or 0x-hexadecimal, that fit in the buffer's item size. With --stdin, \
            one value per line until end of input; a malformed line stops the push with exit 65 \
            after reporting how many items were pushed.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name.")
    var name: String

    // .allUnrecognized, so that "-1" reaches the value check (exit 65) instead of being taken
    // for an unknown option.
    @Argument(parsing: .allUnrecognized, help: "Values to push, in order.")
    var arguments: [String] = []

    /// The values, without the first "--" (which .allUnrecognized passes on; a user may write
    /// it out of habit before a negative value).
    var values: [String] {
        guard let terminator = arguments.firstIndex(of: "--") else { return arguments }
        return Array(arguments[..<terminator] + arguments[(terminator + 1)...])
    }

    @Flag(help: "Read values from standard input, one per line.")
    var stdin = false

    func validate() throws {
        if stdin && !values.isEmpty { throw ValidationError("Give values as arguments or with --stdin, not both.") }
        if !stdin && values.isEmpty { throw ValidationError("Give at least one value, or --stdin.") }
    }

    func run() throws {
        try reportingErrors {
            var writer = try global.directory.takeOver(name)
            if stdin {
                try pushStandardInput(&writer)
            } else {
                // Every value is checked before any is pushed.
                var parsed: [UInt64] = []
                for text in values {
                    guard let value = Values.parse(text) else {
                        throw failure(ExitStatus.dataError, "\"\(text)\" is not an unsigned integer; nothing was pushed.")
                    }
                    guard value <= writer.maxValue else {
                        throw failure(ExitStatus.dataError, "\(text) does not fit in the \(writer.itemSize)-byte items of buffer \"\(name)\" (at most \(writer.maxValue)); nothing was pushed.")
                    }
                    parsed.append(value)
                }
                try writer.push(contentsOf: parsed)
            }
            writer.close()
        }
    }

    /// Reads standard input in large blocks, parses lines in place and pushes in batches,
    /// announcing each batch once. Parsing is the cost here: plain decimal lines (`seq`'s) are
    /// parsed in the same pass that finds their end, anything else (spaces, \r, hexadecimal,
    /// 20 digits, garbage) by `Values.parse`. The loop stays free of closures and captured
    /// variables, which Swift boxes and checks on every access.
    private func pushStandardInput(_ writer: inout BufferWriter) throws {
        let capacity = 1 << 16   // measured: 1 MiB blocks (and a 1 MiB pipe) were slower
        let block = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        let batch = UnsafeMutablePointer<UInt64>.allocate(capacity: 4096)
        defer {
            block.deallocate()
            batch.deallocate()
        }
        let maxValue = writer.maxValue
        var filled = 0          // bytes in `block`; an incomplete last line stays at its start
        var batched = 0
        var pushed = 0
        var lineNumber = 0
        var endOfInput = false

        while !endOfInput {
            let count = read(0, block + filled, capacity - filled)
            if count < 0 {
                if errno == EINTR { continue }
                try writer.push(contentsOf: UnsafeBufferPointer(start: batch, count: batched))
                throw failure(ExitStatus.failure, "cannot read standard input (errno \(errno)); pushed \(items(pushed + batched)).")
            }
            endOfInput = count == 0
            filled += count
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
                    if let newline = memchr(block + index, 0x0A, filled - index) {
                        end = block.distance(to: newline.assumingMemoryBound(to: UInt8.self))
                    } else if endOfInput {
                        end = filled                // a last line without a newline
                    } else {
                        break                       // an incomplete line: read more first
                    }
                    parsed = Values.parse(UnsafeBufferPointer(start: block + start, count: end - start))
                }
                lineNumber += 1
                guard let parsed, parsed <= maxValue else {
                    try writer.push(contentsOf: UnsafeBufferPointer(start: batch, count: batched))
                    let line = UnsafeBufferPointer(start: block + start, count: end - start)
                    throw malformed(line, number: lineNumber, itemSize: writer.itemSize, pushed: pushed + batched)
                }
                batch[batched] = parsed
                batched += 1
                if batched == 4096 {
                    try writer.push(contentsOf: UnsafeBufferPointer(start: batch, count: batched))
                    pushed += batched
                    batched = 0
                }
                start = end + 1
            }
            if start == 0 && filled == capacity {
                try writer.push(contentsOf: UnsafeBufferPointer(start: batch, count: batched))
                throw failure(ExitStatus.dataError, "line \(lineNumber + 1) is longer than \(capacity) bytes; pushed \(items(pushed + batched)) before it.")
            }
            let kept = max(0, filled - start)
            if kept > 0 { block.update(from: block + start, count: kept) }
            filled = kept
        }
        try writer.push(contentsOf: UnsafeBufferPointer(start: batch, count: batched))
    }

    private func malformed(_ line: UnsafeBufferPointer<UInt8>, number: Int, itemSize: Int, pushed: Int) -> ExitCode {
        let text = String(decoding: line.prefix(40), as: UTF8.self)
        let reason = Values.parse(line) == nil ? "is not an unsigned integer" : "does not fit in \(itemSize)-byte items"
        return failure(ExitStatus.dataError, "line \(number) (\"\(text)\") \(reason); pushed \(items(pushed)) before it.")
    }
}

/// "1 item", "2 items".
func items(_ count: Int) -> String {
    count == 1 ? "1 item" : "\(count) items"
}
