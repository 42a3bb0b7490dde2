import ArgumentParser

/// Buffered standard output that reports a closed pipe instead of dying of SIGPIPE, so that a
/// streaming command can end cleanly when its reader (`head`, say) goes away, and that reports
/// any other write error (a full disk, `/dev/full`) so that the command can say so and exit 74
/// instead of pretending it printed.
struct Output {
    private var buffer: [UInt8] = []

    init() {
        buffer.reserveCapacity(1 << 16)
    }

    mutating func line(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0A)
    }

    /// Raw bytes, then a newline (a message printed as it is).
    mutating func line(bytes: some Collection<UInt8>) {
        buffer.append(contentsOf: bytes)
        buffer.append(0x0A)
    }

    /// Bytes buffered and not yet written.
    var pending: Int { buffer.count }

    /// What a flush did.
    struct Flushed {
        /// Bytes of what was pending that reached standard output, in order.
        let written: Int
        /// The errno that stopped it (EPIPE: whoever read our output has gone), or nil.
        let error: Int32?

        var readerGone: Bool { error == Platform.brokenPipe }
    }

    /// Writes what is buffered, and empties the buffer whatever happened.
    @discardableResult
    mutating func flush() -> Flushed {
        var done = 0
        defer { buffer.removeAll(keepingCapacity: true) }
        while done < buffer.count {
            switch buffer.withUnsafeBytes({ Platform.writeStandardOutput(UnsafeRawBufferPointer(rebasing: $0[done...])) }) {
            case .success(let n): done += n
            case .failure(let error): return Flushed(written: done, error: error.code)
            }
        }
        return Flushed(written: done, error: nil)
    }

    /// Writes `text` at once: for the one-shot output of a command (`list`, `inspect`).
    /// Throws exit 74 with one sentence if standard output cannot take it (a closed pipe is
    /// simply the end).
    static func print(_ text: String) throws {
        var output = Output()
        output.buffer.append(contentsOf: text.utf8)
        let flushed = output.flush()
        if let error = flushed.error, !flushed.readerGone { throw writeFailure(error) }
    }

    /// The failure of a write to standard output: one sentence, exit 74 (EX_IOERR).
    static func writeFailure(_ error: Int32, _ detail: String = "") -> ExitCode {
        failure(ExitStatus.ioError, "cannot write to standard output (\(Platform.Errno(error).text))\(detail).")
    }

    /// Turns SIGPIPE into an EPIPE error on write (`main` does it for every command; a
    /// streaming command says it relies on it).
    static func ignoreBrokenPipe() {
        Platform.ignoreBrokenPipe()
    }

    /// Whether whoever reads standard output has gone (a pipe whose read end closed), found
    /// without writing anything.
    static var readerGone: Bool { Platform.standardOutputReaderGone }
}
