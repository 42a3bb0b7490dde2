@preconcurrency import Glibc

/// Buffered standard output that reports a closed pipe instead of dying of SIGPIPE, so that a
/// streaming command can end cleanly when its reader (`head`, say) goes away.
struct Output {
    private var buffer: [UInt8] = []

    init() {
        buffer.reserveCapacity(1 << 16)
    }

    mutating func line(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0A)
    }

    var pending: Int { buffer.count }

    /// Writes what is buffered. Returns false if standard output is closed (EPIPE).
    mutating func flush() -> Bool {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { write(1, $0.baseAddress! + done, $0.count - done) }
            if n > 0 { done += n; continue }
            if n < 0 && errno == EINTR { continue }
            buffer.removeAll(keepingCapacity: true)
            return false
        }
        buffer.removeAll(keepingCapacity: true)
        return true
    }

    /// Turns SIGPIPE into an EPIPE error on write, for commands that stream.
    static func ignoreBrokenPipe() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Whether whoever reads standard output has gone (a pipe whose read end closed), found
    /// without writing anything.
    static var readerGone: Bool {
        var descriptor = pollfd(fd: 1, events: 0, revents: 0)
        return poll(&descriptor, 1, 0) == 1 && descriptor.revents & Int16(POLLERR | POLLHUP) != 0
    }
}
