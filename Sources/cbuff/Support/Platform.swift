// The command-line tool's few calls into libc, all here: the stop signals, and reading standard
// input and writing standard output without Foundation's buffering.
@preconcurrency import Glibc
import Synchronization

/// Standard input and output, byte by byte.
enum Platform {
    /// Errno values the commands tell apart.
    static let brokenPipe = EPIPE

    /// Writes what it can of `bytes` to standard output: how many bytes went, or the errno that
    /// stopped it (EIO when nothing went without an error). Retries EINTR.
    static func writeStandardOutput(_ bytes: UnsafeRawBufferPointer) -> Result<Int, Errno> {
        if standardOutputWasClosed.load(ordering: .relaxed) { return .failure(Errno(EBADF)) }
        while true {
            let n = write(1, bytes.baseAddress!, bytes.count)
            if n > 0 { return .success(n) }
            if n < 0 && errno == EINTR { continue }
            return .failure(Errno(n < 0 ? errno : EIO))
        }
    }

    /// Reads what is there from standard input into `buffer`: 0 at end of input, or the errno.
    /// Retries EINTR and EAGAIN (standard input may be non-blocking).
    static func readStandardInput(into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
        while true {
            let n = read(0, buffer.baseAddress!, buffer.count)
            if n >= 0 { return .success(n) }
            if errno == EINTR || errno == EAGAIN { continue }
            return .failure(Errno(errno))
        }
    }

    /// Whether whoever reads standard output has gone (a pipe whose read end closed), found
    /// without writing anything.
    static var standardOutputReaderGone: Bool {
        var descriptor = pollfd(fd: 1, events: 0, revents: 0)
        return poll(&descriptor, 1, 0) == 1 && descriptor.revents & Int16(POLLERR | POLLHUP) != 0
    }

    /// Whether standard output is a terminal (`top` then redraws the screen).
    static var standardOutputIsTerminal: Bool { isatty(1) == 1 }

    /// The first newline in `bytes`, found with `memchr` (vectorised), or nil.
    static func firstNewline(in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        firstIndex(of: 0x0A, in: bytes)
    }

    /// The first `byte` in `bytes`, found with `memchr`, or nil.
    static func firstIndex(of byte: UInt8, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = bytes.baseAddress, let found = memchr(base, Int32(byte), bytes.count) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    /// Whether the process started with standard output closed (see `ensureStandardStreamsOpen`).
    private static let standardOutputWasClosed = Atomic<Bool>(false)

    /// Opens `/dev/null` onto whichever of descriptors 0, 1 and 2 the process was started
    /// without, before anything else is opened. Otherwise the first file the tool opens would
    /// take the number of the closed stream, and what it prints would land in that file
    /// (`cbuff tail NAME >&-` wrote the items over a ring's header). The library also never
    /// keeps a descriptor below 3; this makes the tool's own output, and error messages, go
    /// nowhere harmful. Returns false if a stream could not be opened (the tool then stops).
    ///
    /// A standard output that was closed stays closed for what the tool writes: every write to it
    /// fails (EBADF, exit 74) as it would have, so that `pop --reader ID >&-` commits nothing no
    /// one received (with /dev/null there it committed what went nowhere).
    static func ensureStandardStreamsOpen() -> Bool {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            if fd == 1 { standardOutputWasClosed.store(true, ordering: .relaxed) }
            // open returns the lowest free descriptor: `fd`, since those below it are open.
            let opened = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if opened != fd {
                if opened >= 0 { close(opened) }
                return false
            }
        }
        return true
    }

    /// Writes `bytes` to standard error, as much as it takes; a failure (a stream closed or gone)
    /// is ignored: an error message that cannot be shown must not change the exit status.
    static func writeStandardError(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = write(2, buffer.baseAddress! + done, buffer.count - done)
                if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    /// Turns SIGPIPE into an EPIPE error on every write, for the whole tool, before anything is
    /// written: a reader of stdout or stderr that has gone (`cbuff list | head -0`, a log
    /// collector that died) must cost the lines, never the exit status (SIGPIPE killed the tool
    /// with 141 instead of its code when an error message met a closed stderr pipe). A handler
    /// that does nothing rather than SIG_IGN: a handler is reset on exec, so no process this one
    /// starts inherits a changed SIGPIPE.
    static func ignoreBrokenPipe() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGPIPE, &action, nil)
    }

    /// An errno, as messages show it.
    struct Errno: Error {
        let code: Int32
        init(_ code: Int32) { self.code = code }
        var text: String { String(cString: strerror(code)) }
    }
}

/// SIGINT, SIGTERM and SIGHUP as requests to stop: the handler only records which signal came,
/// and the command finishes what it was doing (publishing what it read, closing its writer
/// cleanly) before it exits with 128 + that signal's number.
///
/// The signals stay blocked while the command works, and are let in only where it waits: in
/// `waitForInput`, atomically with the wait (`ppoll`), so that a signal that arrives just before
/// the wait is not lost in the gap; and in `check`, between slices of a longer wait.
enum StopSignals {
    static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP]
    private static let received = Atomic<Int32>(0)

    /// Installs the handler and blocks the signals (a parent may also have started us with them
    /// blocked or ignored; they must still stop us).
    static func install() {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for number in handled {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in StopSignals.received.store(number, ordering: .relaxed) }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0   // no SA_RESTART: a wait that the signal interrupts returns
            sigaction(number, &action, nil)
            sigaddset(&blocked, number)
        }
        sigprocmask(SIG_BLOCK, &blocked, nil)
    }

    /// The signal that asked to stop, if one came; lets in any that is pending.
    static func check() -> Int32? {
        var unblocked = maskWithoutHandled()
        var previous = sigset_t()
        sigprocmask(SIG_SETMASK, &unblocked, &previous)
        sigprocmask(SIG_SETMASK, &previous, nil)
        let number = received.load(ordering: .relaxed)
        return number == 0 ? nil : number
    }

    /// What ended a wait for standard input.
    enum InputWait {
        /// Input can be read (or is at its end, or reading it will report an error).
        case ready
        /// A stop signal arrived (its number).
        case stopped(Int32)
        /// Nothing came for the whole slice: the caller checks what it must and waits again.
        case idle
    }

    /// Waits until standard input can be read (or is at its end), a stop signal arrives, or
    /// `sliceSeconds` pass with neither (so that a writer idle on its input still notices, say,
    /// that its buffer was removed).
    static func waitForStandardInput(sliceSeconds: Int = 1) -> InputWait {
        var unblocked = maskWithoutHandled()
        var slice = timespec(tv_sec: sliceSeconds, tv_nsec: 0)
        while true {
            if let number = check() { return .stopped(number) }
            var readable = fd_set()
            readable.__fds_bits.0 = 1   // descriptor 0
            let ready = pselect(1, &readable, nil, nil, &slice, &unblocked)
            if ready > 0 { return .ready }
            if ready == 0 { return check().map(InputWait.stopped) ?? .idle }
            if errno != EINTR { return .ready }   // let read() report the error
        }
    }

    private static func maskWithoutHandled() -> sigset_t {
        var mask = sigset_t()
        sigprocmask(SIG_BLOCK, nil, &mask)
        for number in handled { sigdelset(&mask, number) }
        return mask
    }

    /// The name of a stop signal, for messages.
    static func name(_ number: Int32) -> String {
        switch number {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(number)"
        }
    }
}
