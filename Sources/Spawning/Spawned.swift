@preconcurrency internal import Glibc
internal import CSharedRingShims

/// A program this repository started: the one way it starts one (the `cbuff demo` and
/// `cbuff-bench` children, every test's child, the relay's tests), with `posix_spawn`, never
/// through Foundation's `Process`.
///
/// Why not `Process`: on Linux, swift-corelibs-foundation's `Process.run()` (Swift 6.3.1) lists
/// `/proc/self/fd` to close every descriptor in the child and copies each entry's whole 256-byte
/// `d_name`, reading past the end of glibc's directory buffer (swiftlang/swift-corelibs-foundation#5472,
/// fixed after 6.3.1). When that buffer ends the heap's mapped memory, the copy faults: CI
/// crashed twice in `memmove` under `Process.run` (2026-12-07), one run in a few of a suite that
/// starts thousands of processes. Here the child closes every descriptor from 3 up with
/// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34), which lists nothing.
///
/// What the child gets, whoever spawns it: its three standard streams as asked (see ``Stream``)
/// and no other descriptor of this process, its own process group (as `Process` gives: a Ctrl-C
/// to this process's group does not reach it twice), every signal at its default action and none
/// blocked (the threads that spawn, Dispatch's or Swift Testing's, block signals, which a child
/// would otherwise inherit: SIGTERM sent to it then did nothing), and exactly `environment`, or
/// this process's environment when it is nil.
///
/// A thread of its own waits for the child, so that ``wait(timeout:)`` is bounded without
/// polling and nothing reaps it twice. That thread sees the exit without reaping it first
/// (`waitid` with `WNOWAIT`) and reaps it under the lock that ``kill(_:)`` holds: until the
/// status is known the PID is still the child's (a zombie at worst), so a signal never reaches
/// another process that was given the PID later. Released while its process runs, a `Spawned`
/// kills it (SIGKILL) and waits for it: a test or a demo that ends early leaves nothing running.
public final class Spawned: @unchecked Sendable {   // `input` changes only in closeInput
    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable {
        /// This process's own.
        case inherited
        /// `/dev/null`.
        case null
        /// A new pipe; this side is ``input``, ``output`` or ``error``.
        case pipe
        /// A file opened for writing (created if missing, not truncated).
        case file(String)
        /// A descriptor of this process (a pipe whose reader is gone, say), which this process
        /// keeps and closes.
        case descriptor(Int32)
    }

    /// How the child ended.
    public enum Termination: Equatable, Sendable {
        /// It exited with this status (-1 when its status could not be read: this process
        /// ignores SIGCHLD, say).
        case exit(Int32)
        /// A signal ended it.
        case signal(Int32)

        /// As a shell says it: the exit status, or 128 + the signal.
        public var status: Int32 {
            switch self {
            case .exit(let status): status
            case .signal(let signal): 128 + signal
            }
        }
    }

    public let pid: Int32
    /// This side of the pipes asked for (closed by ``closeInput()`` and at `deinit`), or -1.
    public private(set) var input: Int32 = -1
    public let output: Int32
    public let error: Int32
    private let reaped: Reaped

    /// Starts `executable` (a path) with `arguments` (not including argv[0], which is
    /// `executable`) and `environment` (nil: this process's).
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                input standardInput: Stream = .null, output standardOutput: Stream = .inherited,
                error standardError: Stream = .inherited) throws(SpawnError) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var ours: [Int32] = [-1, -1, -1]   // this side of each pipe
        var theirs: [Int32] = []           // the child's side, closed here once it runs
        defer { for fd in theirs { close(fd) } }
        func cleanUp() { for fd in ours where fd >= 0 { close(fd) } }
        for (target, stream) in [standardInput, standardOutput, standardError].enumerated() {
            let fd = Int32(target)
            switch stream {
            case .inherited:
                break
            case .null:
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT, 0o600)
            case .descriptor(let descriptor):
                posix_spawn_file_actions_adddup2(&actions, descriptor, fd)   // dup2 clears close-on-exec
            case .pipe:
                var ends: [Int32] = [-1, -1]
                let failed = csr_pipe_cloexec(&ends)
                guard failed == 0 else { cleanUp(); throw SpawnError("pipe2", failed) }
                let (child, parent) = fd == 0 ? (ends[0], ends[1]) : (ends[1], ends[0])
                ours[target] = parent
                theirs.append(child)
                posix_spawn_file_actions_adddup2(&actions, child, fd)   // dup2 clears close-on-exec
            }
        }
        // Nothing else of this process reaches the child: every other descriptor is closed.
        let closing = csr_spawn_add_closefrom(&actions, 3)
        guard closing == 0 else { cleanUp(); throw SpawnError("posix_spawn_file_actions_addclosefrom_np", closing) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for pointer in argv + (envp ?? []) { free(pointer) } }
        var pid: pid_t = 0
        let result = if let envp { posix_spawn(&pid, executable, &actions, &attributes, argv, envp) }
                     else { posix_spawn(&pid, executable, &actions, &attributes, argv, environ) }
        guard result == 0 else { cleanUp(); throw SpawnError("posix_spawn \(executable)", result) }
        self.pid = pid
        input = ours[0]
        output = ours[1]
        error = ours[2]
        reaped = Reaped(pid)
        let started = reaped.startReaping()
        guard started == 0 else {
            // No thread to wait for it: it must not run unwatched.
            Glibc.kill(pid, SIGKILL)
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            cleanUp()
            throw SpawnError("pthread_create", started)
        }
    }

    /// Whether it has not exited yet.
    public var isRunning: Bool { reaped.termination == nil }

    /// How it ended; nil while it runs.
    public var termination: Termination? { reaped.termination }

    /// Waits for it to exit; returns its exit status, or 128 + the signal that ended it
    /// (``termination`` tells them apart).
    @discardableResult
    public func wait() -> Int32 {
        reaped.wait(seconds: nil)!.status
    }

    /// Waits at most `seconds`; nil if it is still running then.
    public func wait(timeout seconds: Double) -> Int32? {
        reaped.wait(seconds: seconds)?.status
    }

    /// Sends it `signal` (SIGKILL, SIGTERM, …), unless it has already ended (its PID may then be
    /// another process's).
    public func kill(_ signal: Int32) {
        reaped.signal(signal)
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
            kill(SIGKILL)
            wait()
        }
        for fd in [input, output, error] where fd >= 0 { close(fd) }
    }
}

/// A system call of ``Spawned`` that failed, and its errno.
public struct SpawnError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32

    init(_ call: String, _ code: Int32) {
        self.call = call
        self.code = code
    }

    public var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
}

/// The child's exit, shared by ``Spawned`` and its reaper thread. An object of its own, so that
/// the thread does not keep the `Spawned` (and so the process, which its `deinit` kills) alive.
///
/// `termination` is read and written only under `mutex`, and the condition waits on
/// CLOCK_MONOTONIC, so that a change of the wall clock neither shortens nor stretches a bounded
/// wait. pthread objects rather than Foundation's: this module needs nothing beyond Glibc.
private final class Reaped: @unchecked Sendable {   // guarded by `mutex`
    private let pid: pid_t
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var ended: Spawned.Termination?

    init(_ pid: pid_t) {
        self.pid = pid
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deinitialize(count: 1)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    var termination: Spawned.Termination? { locked { ended } }

    /// Starts the (detached) thread that waits for the child; 0 or the errno of pthread_create.
    func startReaping() -> Int32 {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<Reaped>.fromOpaque(context!).takeRetainedValue().reap()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Reaped>.fromOpaque(context).release()
            return result
        }
        pthread_detach(thread)
        return 0
    }

    /// On the reaper thread: waits until the child has ended, then reaps it and records how.
    private func reap() {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        locked {
            var raw: Int32 = 0
            var reaped: Int32
            repeat { reaped = waitpid(pid, &raw, 0) } while reaped < 0 && errno == EINTR
            // WIFSIGNALED / WTERMSIG / WEXITSTATUS, which Swift does not import.
            let signal = raw & 0x7F
            ended = reaped < 0 ? .exit(-1) : signal != 0 ? .signal(signal) : .exit((raw >> 8) & 0xFF)
            pthread_cond_broadcast(condition)
        }
    }

    /// Waits until the child has ended, at most `seconds` if given; how it ended, or nil.
    func wait(seconds: Double?) -> Spawned.Termination? {
        var deadline = timespec()
        if let seconds {
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let nanoseconds = Int(deadline.tv_nsec) + Int((max(0, min(seconds, 1e9)) * 1e9).rounded())
            deadline.tv_sec += nanoseconds / 1_000_000_000
            deadline.tv_nsec = nanoseconds % 1_000_000_000
        }
        return locked {
            while ended == nil {
                if seconds == nil {
                    pthread_cond_wait(condition, mutex)
                } else if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT {
                    break
                }
            }
            return ended
        }
    }

    /// Sends `signal` to the child unless it was reaped: under the lock that reaping holds.
    func signal(_ signal: Int32) {
        locked {
            if ended == nil { _ = Glibc.kill(pid, signal) }
        }
    }
}
