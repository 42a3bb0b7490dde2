internal import Glibc

/// The relay's standard streams, which are input like everything else: a process may be started
/// with descriptor 0, 1 or 2 closed, or with stderr a pipe nobody reads any more.
///
/// A closed descriptor 0–2 is the lowest free number, so the first file the process opens takes
/// it (a socket to the server, the registry, a ring file, the journal), and every line written
/// to "stderr" would then go into that file. ``secure()`` makes that impossible before anything
/// is opened: each closed one is opened onto `/dev/null`. A write to stderr that fails (a
/// closed pipe, a full disk) must not end the relay either, let alone kill it: SIGPIPE is
/// ignored (the write then fails with EPIPE) and ``writeError(_:)`` drops what cannot be written.
public enum StandardStreams {
    /// Opens `/dev/null` onto each of descriptors 0, 1 and 2 that is closed, and ignores SIGPIPE.
    /// Call it first thing in `main`, before any file, socket or thread exists. False if
    /// `/dev/null` cannot be opened (then nothing can be said: the caller exits).
    public static func secure() -> Bool {
        signal(SIGPIPE, SIG_IGN)
        for descriptor: Int32 in 0...2 where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            // Every lower descriptor is open, so open(2) returns this one; dup2 if it did not.
            let opened = open("/dev/null", O_RDWR)
            guard opened >= 0 else { return false }
            if opened != descriptor {
                guard dup2(opened, descriptor) == descriptor else { close(opened); return false }
                close(opened)
            }
        }
        return true
    }

    /// Writes `line` and a newline to stderr, control characters escaped (a header value echoed
    /// in a reason cannot drive the terminal or split the line). Retries an interrupted write;
    /// drops whatever cannot be written.
    public static func writeError(_ line: String) {
        let bytes = Array((escapingControlCharacters(line) + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if count > 0 { sent += count } else if count < 0 && errno == EINTR { continue } else { return }
        }
    }

    /// `text` with each control character (C0, DEL, C1) written as `\u{…}`.
    static func escapingControlCharacters(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) { escaped += "\\u{" + String(scalar.value, radix: 16) + "}" } else { escaped.unicodeScalars.append(scalar) }
        }
        return escaped
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// `descriptor` if it is above the standard streams; else a duplicate above them (close-on-
    /// exec), with `descriptor` closed. A library that opens files cannot rely on its caller
    /// having called ``secure()``: a file of its own must never be where a stray write to
    /// stderr lands.
    static func aboveStandardStreams(_ descriptor: Int32) -> Int32 {
        guard descriptor >= 0, descriptor <= 2 else { return descriptor }
        let moved = fcntl(descriptor, F_DUPFD_CLOEXEC, 3)
        let saved = errno
        close(descriptor)
        errno = saved
        return moved
    }
}
