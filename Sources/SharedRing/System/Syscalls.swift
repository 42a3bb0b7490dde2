// Every system call SharedRing makes goes through this file, so that errno is read right at the
// failing call (before anything else can overwrite it) and the EINTR policy is in one place:
// open/read/write/flock retry on EINTR; close never does (on Linux the descriptor is gone even
// when close reports EINTR, and retrying could close a descriptor another thread just opened).
@preconcurrency import Glibc
import Synchronization
import CSharedRingShims

/// A system call that failed, with its errno.
public struct SystemCallError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The name of the system call, for example `open` or `mmap`.
    public let call: String
    /// The errno it reported.
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// Whether the call failed because the file does not exist.
    public var isNotFound: Bool { errno == ENOENT }

    /// Whether an open refused a symbolic link (`O_NOFOLLOW`).
    var isSymbolicLink: Bool { errno == ELOOP }

    /// Whether an open met a FIFO without a reader or a socket (`O_NONBLOCK`).
    var isSpecialFile: Bool { errno == ENXIO || errno == ENODEV }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Thin wrappers around the system calls SharedRing uses. Internal: the public API never
/// exposes descriptors or errno.
@usableFromInline
enum Sys {
    typealias Result<T> = Swift.Result<T, SystemCallError>

    @inline(__always)
    private static func failure<T>(_ call: String, _ code: Int32 = Glibc.errno) -> Result<T> {
        .failure(SystemCallError(call: call, errno: code))
    }

    // MARK: Files

    /// Opens `path` with close-on-exec always added (a descriptor inherited by a child process
    /// would keep the writer's lock alive after the writer died), never through a symbolic link
    /// as the last component (ELOOP), and without blocking in the open itself (a FIFO planted
    /// where a file should be would otherwise hang it). Callers check what they opened with
    /// ``fileInfo(_:)``: this does not ensure it is a regular file.
    static func open(_ path: String, _ flags: CInt, mode: mode_t = 0o600) -> Result<CInt> {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode)
            if fd >= 0 { return .success(fd) }
            if Glibc.errno != EINTR { return failure("open") }
        }
    }

    static func openReadWrite(_ path: String) -> Result<CInt> {
        open(path, O_RDWR)
    }

    static func openReadOnly(_ path: String) -> Result<CInt> {
        open(path, O_RDONLY)
    }

    /// Opens `path` read-write, creating it with exactly `mode` if it does not exist (an
    /// existing file keeps its mode).
    static func openOrCreate(_ path: String, mode: UInt32) -> Result<CInt> {
        while true {
            switch createExclusive(path, mode: mode) {
            case .success(let fd): return .success(fd)
            case .failure(let error) where error.errno == EEXIST:
                let opened = open(path, O_RDWR)
                if case .failure(let error) = opened, error.errno == ENOENT { continue }   // removed meanwhile
                return opened
            case .failure(let error): return .failure(error)
            }
        }
    }

    /// Creates a file that must not exist yet.
    /// Creates `path` with exactly `mode`, whatever the umask; fails if it exists.
    static func createExclusive(_ path: String, mode: UInt32) -> Result<CInt> {
        open(path, O_RDWR | O_CREAT | O_EXCL, mode: mode_t(mode)).flatMap { fd in
            if fchmod(fd, mode_t(mode)) == 0 { return .success(fd) }
            let failed: Result<CInt> = failure("fchmod")
            Glibc.close(fd)
            return failed
        }
    }

    static func close(_ fd: CInt) {
        _ = Glibc.close(fd)
    }

    /// What `fstat`/`lstat` say about a file: enough to decide whether to trust it.
    struct FileInfo: Sendable, Hashable {
        enum Kind: Sendable, Hashable { case regular, directory, symbolicLink, fifo, socket, device, other }
        let kind: Kind
        /// Permission bits, set-user-ID, set-group-ID and sticky bits included.
        let mode: UInt32
        let owner: UInt32
        let group: UInt32
        let size: Int
        /// Bytes of storage actually allocated (less than `size` for a sparse file).
        let allocated: Int
        let links: Int
        let identity: FileIdentity

        init(_ st: stat) {
            switch st.st_mode & S_IFMT {
            case S_IFREG: kind = .regular
            case S_IFDIR: kind = .directory
            case S_IFLNK: kind = .symbolicLink
            case S_IFIFO: kind = .fifo
            case S_IFSOCK: kind = .socket
            case S_IFCHR, S_IFBLK: kind = .device
            default: kind = .other
            }
            mode = UInt32(st.st_mode & 0o7777)
            owner = st.st_uid
            group = st.st_gid
            size = Int(st.st_size)
            allocated = Int(st.st_blocks) &* 512
            links = Int(st.st_nlink)
            identity = FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        }
    }

    /// What the open file is.
    static func fileInfo(_ fd: CInt) -> Result<FileInfo> {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return failure("fstat") }
        return .success(FileInfo(st))
    }

    /// What `path` itself is, not following a final symbolic link; nil if it does not exist.
    static func linkInfo(_ path: String) -> Result<FileInfo?> {
        var st = stat()
        if lstat(path, &st) == 0 { return .success(FileInfo(st)) }
        return Glibc.errno == ENOENT || Glibc.errno == ENOTDIR ? .success(nil) : failure("lstat")
    }

    /// What `path` names, following symbolic links; nil if it does not exist.
    static func pathInfo(_ path: String) -> Result<FileInfo?> {
        var st = stat()
        if stat(path, &st) == 0 { return .success(FileInfo(st)) }
        return Glibc.errno == ENOENT || Glibc.errno == ENOTDIR ? .success(nil) : failure("stat")
    }

    /// The size in bytes of the open file.
    static func fileSize(_ fd: CInt) -> Result<Int> {
        fileStatus(fd).map(\.size)
    }

    /// The open file's size and its number of names (0 once it has been deleted everywhere).
    static func fileStatus(_ fd: CInt) -> Result<(size: Int, links: Int)> {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return failure("fstat") }
        return .success((Int(st.st_size), Int(st.st_nlink)))
    }

    /// Reserves `size` bytes of real storage for the file, so that a full disk is reported here
    /// and not as a SIGBUS when a slot of a sparse file is first written through the mapping.
    static func allocate(_ fd: CInt, size: Int) -> Result<Void> {
        while true {
            let code = posix_fallocate(fd, 0, off_t(size))
            if code == 0 { return .success(()) }
            if code != EINTR { return failure("posix_fallocate", code) }
        }
    }

    /// Reads exactly `buffer.count` bytes at `offset`, or fewer only at end of file.
    static func read(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Result<Int> {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n > 0 { done += n; continue }
            if n == 0 { break }
            if Glibc.errno != EINTR { return failure("pread") }
        }
        return .success(done)
    }

    /// Writes all of `buffer` at `offset`.
    static func write(_ fd: CInt, _ buffer: UnsafeRawBufferPointer, at offset: Int) -> Result<Void> {
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n >= 0 { done += n; continue }
            if Glibc.errno != EINTR { return failure("pwrite") }
        }
        return .success(())
    }

    static func fsync(_ fd: CInt) -> Result<Void> {
        Glibc.fsync(fd) == 0 ? .success(()) : failure("fsync")
    }

    static func rename(_ from: String, _ to: String) -> Result<Void> {
        Glibc.rename(from, to) == 0 ? .success(()) : failure("rename")
    }

    static func unlink(_ path: String) -> Result<Void> {
        Glibc.unlink(path) == 0 ? .success(()) : failure("unlink")
    }

    /// Creates a directory with exactly `mode` (whatever the umask, set-group-ID bit included);
    /// an existing one is not an error and keeps its mode.
    static func makeDirectory(_ path: String, mode: UInt32) -> Result<Void> {
        if mkdir(path, 0o700) == 0 {
            return chmod(path, mode_t(mode)) == 0 ? .success(()) : failure("chmod")
        }
        return Glibc.errno == EEXIST ? .success(()) : failure("mkdir")
    }

    /// The permission bits of `path` (set-group-ID included), or nil if it cannot be examined.
    static func mode(of path: String) -> UInt32? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt32(st.st_mode & 0o7777)
    }

    /// The device and inode of the file at `path`, or nil if there is none.
    static func fileIdentity(_ path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    struct FileIdentity: Hashable, Sendable {
        let device: UInt64
        let inode: UInt64
    }

    /// Whether `path` names the file open as `fd` (same device and inode).
    static func isSameFile(_ fd: CInt, _ path: String) -> Bool {
        var open = stat(), named = stat()
        return fstat(fd, &open) == 0 && stat(path, &named) == 0 && open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in directory `path` (without `.` and `..`).
    static func directoryEntries(_ path: String) -> Result<[String]> {
        guard let stream = opendir(path) else { return failure("opendir") }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }

    /// Whether process `pid` exists (it may belong to another user).
    static func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || Glibc.errno == EPERM
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Whether `path` exists: false only when it (or a directory above it) does not; an error
    /// when this process may not look (EACCES), so that a private directory is not mistaken
    /// for an empty one.
    static func checkExists(_ path: String) -> Result<Bool> {
        if access(path, F_OK) == 0 { return .success(true) }
        return Glibc.errno == ENOENT || Glibc.errno == ENOTDIR ? .success(false) : failure("access")
    }

    /// Tries to take an exclusive `flock` on the whole file; false if another open file
    /// description holds it.
    static func tryLockExclusive(_ fd: CInt) -> Result<Bool> {
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return .success(true) }
            if Glibc.errno == EWOULDBLOCK { return .success(false) }
            if Glibc.errno != EINTR { return failure("flock") }
        }
    }

    // MARK: Memory mapping

    /// A shared mapping of a file, guarded against SIGBUS: if another process truncates the
    /// file, the access that would have raised SIGBUS meets zero pages instead and `cutShort`
    /// becomes 1 (see `CSharedRingShims/SigbusGuard.c`). Readers and writers check the flag after
    /// each access and report the damage; nothing else ever sees those zero pages as data.
    struct Mapping {
        let base: UnsafeMutableRawPointer
        let size: Int
        let guardSlot: CInt
        let cutShort: UnsafeMutablePointer<Atomic<Int32>>
    }

    /// Maps `size` bytes of the file shared: stores are visible to every process mapping the
    /// same file, and reach the file itself. A read-only mapping must never be stored to.
    static func mapShared(_ fd: CInt, size: Int, writable: Bool = true) -> Result<Mapping> {
        let p = mmap(nil, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0)
        // MAP_FAILED is not imported into Swift.
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else { return failure("mmap") }
        // Without the handler (or a free slot) a truncation would kill the process with SIGBUS:
        // such a mapping is refused rather than made.
        let slot = csr_sigbus_guard_install() == 0 ? csr_sigbus_guard_add(p, size) : -1
        guard slot >= 0 else {
            _ = munmap(p, size)
            return failure(guardFull, ENFILE)
        }
        let flag = UnsafeMutableRawPointer(csr_sigbus_guard_flag(slot)).assumingMemoryBound(to: Atomic<Int32>.self)
        return .success(Mapping(base: p, size: size, guardSlot: slot, cutShort: flag))
    }

    /// Whether the mapping whose flag this is was cut short (one load of a line nobody writes).
    @inlinable @inline(__always)
    static func isCutShort(_ flag: UnsafeMutablePointer<Atomic<Int32>>) -> Bool {
        flag.pointee.load(ordering: .acquiring) != 0
    }

    /// The `call` of the failure of a mapping the SIGBUS guard cannot protect.
    static let guardFull = "SIGBUS guard"
    /// How many mappings the SIGBUS guard protects at once (CSR_GUARD_SLOTS).
    static let guardCapacity = 4096

    static func unmap(_ mapping: Mapping) {
        csr_sigbus_guard_remove(mapping.guardSlot)
        _ = munmap(mapping.base, mapping.size)
    }

    // MARK: Open-file-description locks (liveness)

    /// Tries to take a write lock on bytes `[start, start+length)` of the file. Returns false if
    /// another open file description (in any process, this one included) holds a conflicting lock.
    static func tryLock(_ fd: CInt, start: Int, length: Int = 1) -> Result<Bool> {
        let r = csr_ofd_setlk(fd, Int64(start), Int64(length), 1, 0)
        if r == 0 { return .success(true) }
        if r == -EAGAIN || r == -EACCES { return .success(false) }
        return failure("fcntl(F_OFD_SETLK)", -r)
    }

    static func unlock(_ fd: CInt, start: Int, length: Int = 1) {
        _ = csr_ofd_setlk(fd, Int64(start), Int64(length), 0, 1)
    }

    /// Whether some other open file description holds a lock on `[start, start+length)`,
    /// found without taking the lock.
    static func isLocked(_ fd: CInt, start: Int, length: Int = 1) -> Result<Bool> {
        let r = csr_ofd_is_locked(fd, Int64(start), Int64(length))
        return r >= 0 ? .success(r == 1) : failure("fcntl(F_OFD_GETLK)", -r)
    }

    // MARK: Futex and memory barriers

    enum WaitResult { case woken, valueChanged, timedOut, interrupted }

    /// Sleeps while the 32-bit word still holds `expected`, for at most `timeoutNanos`.
    static func futexWait(_ word: UnsafeMutablePointer<UInt32>, expected: UInt32, timeoutNanos: Int64) -> WaitResult {
        switch csr_futex_wait(word, expected, timeoutNanos) {
        case 0: return .woken
        case -EAGAIN: return .valueChanged
        case -ETIMEDOUT: return .timedOut
        default: return .interrupted
        }
    }

    static func futexWakeAll(_ word: UnsafeMutablePointer<UInt32>) {
        _ = csr_futex_wake(word, Int32.max)
    }

    /// Registers this process for expedited global memory barriers; false if the kernel (or a
    /// seccomp filter) refuses.
    static func registerForGlobalBarriers() -> Bool {
        csr_membarrier_register_global_expedited() == 0
    }

    /// Forces a full memory barrier on every running thread of every registered process.
    /// Returns false if unavailable.
    @discardableResult
    static func globalBarrier() -> Bool {
        csr_membarrier_global_expedited() == 0
    }

    @inline(__always)
    static func cpuRelax() {
        csr_cpu_relax()
    }

    // MARK: Clocks and processes

    /// Nanoseconds since the Unix epoch (vDSO: no system call on x86-64 with a TSC clock source).
    static func realtimeNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Calls `attempt` until it returns true or `timeoutNanos` have passed (at least once),
    /// sleeping between tries from 0.1 ms doubling up to 20 ms. Returns whether it succeeded.
    /// For locks another process may hold: every wait is bounded.
    static func poll<E: Error>(timeoutNanos: Int64, _ attempt: () throws(E) -> Bool) throws(E) -> Bool {
        if try attempt() { return true }
        let deadline = monotonicNanos() &+ max(0, timeoutNanos)
        var pause: Int64 = 100_000
        while monotonicNanos() < deadline {
            sleep(nanoseconds: min(pause, max(0, deadline &- monotonicNanos())))
            if try attempt() { return true }
            pause = min(pause * 2, 20_000_000)
        }
        return false
    }

    /// Sleeps for `nanoseconds` (an interrupted sleep simply ends early).
    static func sleep(nanoseconds: Int64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        _ = nanosleep(&request, nil)
    }

    /// Monotonic nanoseconds, for timeouts.
    @usableFromInline
    static func monotonicNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }

    /// Runs `handler` when the process exits normally (`exit`, or returning from `main`).
    static func atExit(_ handler: @convention(c) () -> Void) {
        _ = atexit(handler)
    }

    static func processID() -> Int32 {
        getpid()
    }

    static func userID() -> UInt32 {
        getuid()
    }

    /// The user whose files this process creates, and whose files it trusts.
    static func effectiveUserID() -> UInt32 {
        geteuid()
    }

    /// Whether this process is a member of group `gid` (effective or supplementary).
    static func isMember(ofGroup gid: UInt32) -> Bool {
        if getegid() == gid { return true }
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return filled > 0 && groups.prefix(Int(filled)).contains(gid)
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// Whether process `pid` runs and started at `startTime` (clock ticks after boot, as
    /// `processStartTime` reads it): a reused PID does not count.
    static func isRunning(_ pid: Int32, startTime: UInt64) -> Bool {
        pid > 0 && processStartTime(pid) == startTime
    }
}

extension Result where Failure == SystemCallError {
    /// Unwraps a system call's result, turning its failure into the ``CBuffError`` that `error` builds.
    @inline(__always)
    func orThrow(_ error: (SystemCallError) -> CBuffError) throws(CBuffError) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let failure): throw error(failure)
        }
    }
}

extension CBuffError {
    /// The error for a failed system call: permission problems and a full disk get their own sentence.
    static func system(_ failure: SystemCallError, _ what: String) -> CBuffError {
        switch failure.errno {
        case EACCES, EPERM, EROFS:
            CBuffError(.permissionDenied, "Permission denied: cannot \(what).", cause: failure)
        case ENOSPC, EDQUOT:
            CBuffError(.systemFailure, "No space left on the device: cannot \(what).", cause: failure)
        case EFBIG:
            CBuffError(.systemFailure, "File too large for the filesystem or this process's file-size limit: cannot \(what).", cause: failure)
        default:
            CBuffError(.systemFailure, "Cannot \(what).", cause: failure)
        }
    }
}
