import ArgumentParser
import SharedRing

struct Pop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print up to N items, one per line: from the oldest, or where a named reader stopped.",
        discussion: """
            Reading does not remove items for other readers: every reader has its own cursor. \
            With --reader, the named reader's position is kept in the buffer: the next \
            `pop --reader` with the same name continues after the items printed (the first one \
            starts at the oldest item). Only items whose lines reached standard output are \
            committed: if writing fails (a full disk), the rest are printed again next time and \
            the command exits 74; a first `pop --reader` that printed nothing then registers no \
            reader. Exits 75 if a live process has that reader open.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name.", completion: BufferNames.completion)
    var name: String

    @Option(name: .short, parsing: .unconditional, help: "The most items to print.")
    var n: Int = 1

    @Option(parsing: .unconditional, help: "Read as this named reader, and record its new position.")
    var reader: String?

    @Option(parsing: .unconditional, help: ItemFormat.help)
    var format: ItemFormat?

    func validate() throws {
        if n < 0 { throw ValidationError("-n must be 0 or more.") }
    }

    func run() throws {
        try reportingErrors {
            Output.ignoreBrokenPipe()
            let record = try global.directory.record(of: name)
            if record.holdsMessages {
                try popMessages()
                return
            }
            _ = try ItemPrinter(format, layout: record.itemLayout)   // a bad --format opens no reader
            var reader = if let name = self.reader {
                try global.directory.openReader(self.name, named: name)
            } else {
                try global.directory.openReader(name)
            }
            if let problem = reader.registryProblem { complain("warning: \(problem.message) The reader is registered in its ring file all the same.") }
            reader.commitsOnRead = false
            let registeredNow = reader.isNewlyRegistered
            var printed = 0
            let outcome = Result { try printItems(&reader, printed: &printed) }
            reader.close()   // commits nothing more: only what reached the output was committed
            if case .failure = outcome, registeredNow, printed == 0, let readerName = self.reader {
                // All or nothing: a first attempt that delivered nothing registers nobody
                // (a `block` writer would otherwise wait for a reader no one runs).
                try? global.directory.removeReader(readerName, of: name, force: true)
            }
            try outcome.get()
        }
    }

    /// Prints up to `n` messages; a named reader commits each one once its line was written.
    private func popMessages() throws {
        let printer = try MessagePrinter(format)
        var reader = if let readerName = self.reader {
            try global.directory.openMessageReader(name, named: readerName)
        } else {
            try global.directory.openMessageReader(name)
        }
        if let problem = reader.registryProblem { complain("warning: \(problem.message) The reader is registered in its ring file all the same.") }
        reader.commitsOnRead = false
        let registeredNow = reader.isNewlyRegistered
        var printed = 0
        let outcome = Result { () throws in
            var output = Output()
            while printed < n, let message = try reader.pop() {
                printer.append(message, to: &output)
                let flushed = output.flush()
                if let error = flushed.error {
                    if flushed.readerGone { return }
                    throw Output.writeFailure(error, "; \(items(printed)) printed" + (self.reader.map { ", reader \(Values.quoted($0)) committed up to them" } ?? ""))
                }
                reader.commit()
                printed += 1
            }
        }
        reader.close()
        if case .failure = outcome, registeredNow, printed == 0, let readerName = self.reader {
            try? global.directory.removeReader(readerName, of: name, force: true)
        }
        try outcome.get()
    }

    /// Prints up to `n` items, committing (for a named reader) each batch of lines once it was
    /// written; `printed` counts the items whose lines reached standard output.
    private func printItems(_ reader: inout BufferReader, printed: inout Int) throws {
        let printer = try ItemPrinter(format, layout: reader.itemLayout)
        var output = Output()
        // Where each buffered line ends, and the sequence after its item: what to commit once
        // those bytes were written.
        var lineEnds: [(end: Int, next: UInt64)] = []
        var done = false
        while !done {
            while printed + lineEnds.count < n, output.pending <= 60_000, let bytes = try reader.popBytes() {
                output.line(printer.line(bytes, sequence: reader.nextSequence - 1))
                lineEnds.append((output.pending, reader.nextSequence))
            }
            done = output.pending <= 60_000   // the loop ended for want of items, not of room
            let flushed = output.flush()
            let reached = lineEnds.prefix { $0.end <= flushed.written }
            if let last = reached.last { try reader.commit(upTo: last.next) }
            printed += reached.count
            lineEnds.removeAll(keepingCapacity: true)
            guard let error = flushed.error else { continue }
            if flushed.readerGone { return }
            throw Output.writeFailure(error, "; \(items(printed)) printed" + (self.reader.map { ", reader \(Values.quoted($0)) committed up to them" } ?? ""))
        }
    }
}
