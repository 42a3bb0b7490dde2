import Foundation

/// A process a test started, with `posix_spawn`: every helper here that starts a program
/// (``run(_:_:environment:input:user:timeout:stdoutPath:removing:)``, ``ChildProcess``,
/// ``shell(_:)``) goes through this, never through Foundation's `Process`.
///
/// Why not `Process`: on Linux, swift-corelibs-foundation's `Process.run()` (Swift 6.3.1) lists
/// `/proc/self/fd` to close every descriptor in the child and copies each entry's whole 256-byte
/// `d_name`, reading past the end of glibc's directory buffer (swiftlang/swift-corelibs-foundation#5472,
/// fixed after 6.3.1). When that buffer ends the heap's mapped memory, the copy faults: CI
/// crashed twice in `memmove` under `Process.run` (2026-12-07), one run in a few of a suite that
/// starts thousands of processes. Here the child closes every descriptor from 3 up with
/// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34), which lists nothing.
///
/// A thread waits for the child (`waitpid`), so that ``wait(timeout:)`` is bounded without
/// polling and ``isRunning`` never reaps a process twice. Released while its process runs, it
/// kills it (SIGKILL) and waits for it: a test that ends early leaves nothing running.
public final class Spawned: @unchecked Sendable {   // `input` changes only in closeInput
    /// Where one of the child's standard streams goes.
    public enum Stream {
        /// This process's own.
        case inherited
        /// `/dev/null`.
        case null
        /// A new pipe; this side is ``input``, ``output`` or ``error``.
        case pipe
        /// A file opened for writing (created if missing, not truncated).
        case file(String)
    }

    public let pid: pid_t
    /// This side of the pipes asked for (closed by ``closeInput()`` and at `deinit`), or -1.
    public private(set) var input: CInt = -1
    public let output: CInt
    public let error: CInt

    /// The exit status, once the reaper thread has it. A box of its own, so that the thread does
    /// not keep this object (and so the process, which `deinit` kills) alive.
    private final class Exit: @unchecked Sendable {   // `status` is guarded by `condition`
        let condition = NSCondition()
        var status: Int32?
    }
    private let exit = Exit()

    /// Starts `executable` (a path) with `arguments` (not including argv[0]) and exactly
    /// `environment`.
    public init(_ executable: String, _ arguments: [String], environment: [String: String],
                input standardInput: Stream = .null, output standardOutput: Stream = .inherited, error standardError: Stream = .inherited) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var ours: [CInt] = [-1, -1, -1]   // this side of each pipe
        var theirs: [CInt] = []           // the child's side, closed here once it runs
        defer { for fd in theirs { close(fd) } }
        func cleanUp() { for fd in ours where fd >= 0 { close(fd) } }
        for (target, stream) in [standardInput, standardOutput, standardError].enumerated() {
            let fd = CInt(target)
            switch stream {
            case .inherited:
                break
            case .null:
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT, 0o600)
            case .pipe:
                var ends: [CInt] = [-1, -1]
                guard spawnedPipe2(&ends, O_CLOEXEC) == 0 else { cleanUp(); throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                let (child, parent) = fd == 0 ? (ends[0], ends[1]) : (ends[1], ends[0])
                ours[target] = parent
                theirs.append(child)
                posix_spawn_file_actions_adddup2(&actions, child, fd)   // dup2 clears close-on-exec
            }
        }
        // Nothing else of this process reaches the child: every other descriptor is closed.
        _ = spawnedAddCloseFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, as Foundation's Process does: a signal to the test's group
        // (Ctrl-C) does not reach it twice. And every signal unblocked and at its default: the
        // threads that spawn (Dispatch's, Swift Testing's) block signals, which a child would
        // otherwise inherit (SIGTERM sent to it then did nothing).
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { cleanUp(); throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO) }
        self.pid = pid
        input = ours[0]
        output = ours[1]
        error = ours[2]
        let child = pid, exit = exit
        let reaper = Thread {
            var raw: Int32 = 0
            while waitpid(child, &raw, 0) < 0 && errno == EINTR {}
            // WIFSIGNALED / WTERMSIG / WEXITSTATUS, which Swift does not import.
            let signal = raw & 0x7F
            exit.condition.lock()
            exit.status = signal != 0 ? 128 + signal : (raw >> 8) & 0xFF
            exit.condition.broadcast()
            exit.condition.unlock()
        }
        reaper.start()
    }

    /// Whether it has not exited yet.
    public var isRunning: Bool {
        exit.condition.lock()
        defer { exit.condition.unlock() }
        return exit.status == nil
    }

    /// Waits for it to exit; returns its exit status, or 128 + the signal that ended it.
    @discardableResult
    public func wait() -> Int32 {
        exit.condition.lock()
        defer { exit.condition.unlock() }
        while exit.status == nil { exit.condition.wait() }
        return exit.status!
    }

    /// Waits at most `seconds`; nil if it is still running then.
    public func wait(timeout seconds: Double) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: seconds)
        exit.condition.lock()
        defer { exit.condition.unlock() }
        while exit.status == nil, exit.condition.wait(until: deadline) {}
        return exit.status
    }

    public func kill(_ signal: Int32 = SIGKILL) {
        if isRunning { Glibc.kill(pid, signal) }
    }

    /// Writes all of `bytes` to its standard input (a pipe); false if it stopped reading.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(input, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Closes this side of its standard input: it reads end of file.
    public func closeInput() {
        if input >= 0 { close(input) }
        input = -1
    }

    deinit {
        if isRunning {
            Glibc.kill(pid, SIGKILL)
            wait()
        }
        for fd in [input, output, error] where fd >= 0 { close(fd) }
    }
}

/// Reads `fd` to its end (retrying EINTR).
public func readToEnd(_ fd: CInt) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return bytes }
        bytes += chunk[0..<n]
    }
}

// glibc functions that Swift's Glibc module does not import (GNU extensions).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnedAddCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: CInt) -> CInt
@_silgen_name("pipe2")
private func spawnedPipe2(_ ends: UnsafeMutablePointer<CInt>, _ flags: CInt) -> CInt
