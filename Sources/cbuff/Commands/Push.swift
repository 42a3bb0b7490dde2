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
    var values: [String] = []

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

    /// Reads standard input in large blocks and pushes in batches, announcing each batch once:
    /// parsing, not the ring, is the cost here.
    private func pushStandardInput(_ writer: inout BufferWriter) throws {
        var batch: [UInt64] = []
        batch.reserveCapacity(4096)
        var pushed = 0
        var lineNumber = 0
        var partial: [UInt8] = []
        var block = [UInt8](repeating: 0, count: 1 << 16)

        func flushBatch() throws {
            try writer.push(contentsOf: batch)
            pushed += batch.count
            batch.removeAll(keepingCapacity: true)
        }
        func take(_ line: ArraySlice<UInt8>) throws {
            lineNumber += 1
            guard let value = Values.parse(line), value <= writer.maxValue else {
                try flushBatch()
                let text = String(decoding: line.prefix(40), as: UTF8.self)
                let reason = Values.parse(line) == nil ? "is not an unsigned integer" : "does not fit in \(writer.itemSize)-byte items"
                throw failure(ExitStatus.dataError, "line \(lineNumber) (\"\(text)\") \(reason); pushed \(items(pushed)) before it.")
            }
            batch.append(value)
            if batch.count == batch.capacity { try flushBatch() }
        }

        while true {
            let count = block.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                try flushBatch()
                throw failure(ExitStatus.failure, "cannot read standard input (errno \(errno)); pushed \(items(pushed)).")
            }
            if count == 0 { break }
            var start = 0
            let bytes = block[0..<count]
            while let newline = bytes[start...].firstIndex(of: 0x0A) {
                if partial.isEmpty {
                    try take(bytes[start..<newline])
                } else {
                    partial += bytes[start..<newline]
                    try take(partial[...])
                    partial.removeAll(keepingCapacity: true)
                }
                start = newline + 1
            }
            partial += bytes[start...]
        }
        if !partial.isEmpty { try take(partial[...]) }
        try flushBatch()
    }
}

/// "1 item", "2 items".
func items(_ count: Int) -> String {
    count == 1 ? "1 item" : "\(count) items"
}
