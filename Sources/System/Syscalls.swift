// The System layer: every system call SharedRing makes goes through this module (this file, and
// ProcFS.swift for /proc), so that errno is read right at the failing call (before anything
// else can overwrite it) and the EINTR policy is in one place, `retryingOnInterrupt`: open,
// pread, pwrite, flock and posix_fallocate retry on EINTR; close never does (on Linux the
// descriptor is gone even when close reports EINTR, and retrying could close a descriptor
// another thread just opened). Nothing here builds a sentence for people: a failure is the
// call's name and its errno (`SystemCallFailure`), which the layers above turn into what they
// were doing (`SharedRingCommon.CBuffFailure.system`).
@preconcurrency internal import Glibc
public import Synchronization
internal import CSharedRingShims

/// A system call that failed, with its errno.
package struct SystemCallFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The name of the system call, for example `open` or `mmap`.
    package let call: String
    /// The errno it reported.
    package let errno: Int32

    package init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// A file that was removed meanwhile (ENOENT), as `call` would have reported it.
    package static func removed(_ call: String) -> SystemCallFailure {
        SystemCallFailure(call: call, errno: ENOENT)
    }

    /// What went wrong, decided by errno alone: the one classification the layers above turn
    /// into an error code and a sentence (`SharedRingCommon.CBuffFailure.system`), so that no
    /// errno is ever reported as some other cause by default.
    package enum Cause: Sendable, Hashable {
        /// ENOENT, ENOTDIR: the file (or a directory on its path) does not exist.
        case notFound
        /// ELOOP: an open refused a symbolic link (`O_NOFOLLOW`).
        case symbolicLink
        /// ENXIO, ENODEV: an open met a FIFO without a reader or a socket (`O_NONBLOCK`).
        case specialFile
        /// EISDIR: a directory is where a file was to be opened, renamed over or unlinked.
        case directory
        /// EACCES, EPERM: the permissions refuse it.
        case permissionDenied
        /// EROFS: the filesystem is mounted read-only.
        case readOnlyFilesystem
        /// ENOSPC, EDQUOT: the disk, or the user's quota, is full.
        case noSpace
        /// EFBIG: beyond the filesystem's or the process's file-size limit.
        case fileTooLarge
        /// EMFILE: this process has as many descriptors open as its limit allows (`ulimit -n`).
        case tooManyOpenFilesInProcess
        /// ENFILE: the whole system has as many files open as it allows.
        case tooManyOpenFilesInSystem
        /// ENAMETOOLONG: a path, or one of its names, is longer than the system accepts.
        case nameTooLong
        /// ENOMEM: the kernel is out of memory (or the process out of address space).
        case outOfMemory
        /// EIO: the device reported an input/output error.
        case inputOutput
        /// EWOULDBLOCK, EAGAIN, EBUSY: a lock or resource is held elsewhere right now.
        case busy
        /// Anything else.
        case other
    }

    /// The cause, from errno.
    package var cause: Cause {
        switch errno {
        case ENOENT, ENOTDIR: .notFound
        case ELOOP: .symbolicLink
        case ENXIO, ENODEV: .specialFile
        case EISDIR: .directory
        case EACCES, EPERM: .permissionDenied
        case EROFS: .readOnlyFilesystem
        case ENOSPC, EDQUOT: .noSpace
        case EFBIG: .fileTooLarge
        case EMFILE: .tooManyOpenFilesInProcess
        case ENFILE: .tooManyOpenFilesInSystem
        case ENAMETOOLONG: .nameTooLong
        case ENOMEM: .outOfMemory
        case EIO: .inputOutput
        case EWOULDBLOCK, EBUSY: .busy
        default: .other
        }
    }

    /// Whether the call failed because the file does not exist.
    package var isNotFound: Bool { cause == .notFound }

    /// Whether an open refused a symbolic link (`O_NOFOLLOW`).
    package var isSymbolicLink: Bool { cause == .symbolicLink }

    /// Whether an open met something other than a regular file that it cannot open as one: a
    /// FIFO without a reader or a socket (`O_NONBLOCK`), a directory.
    package var isSpecialFile: Bool { cause == .specialFile || cause == .directory }

    /// Whether the filesystem is mounted read-only.
    package var isReadOnlyFilesystem: Bool { cause == .readOnlyFilesystem }

    /// "open: No such file or directory (errno 2)".
    package var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Thin wrappers around the system calls SharedRing uses. Internal: the public API never
/// exposes descriptors or errno.
@usableFromInline
package enum Sys {
    package typealias Result<T> = Swift.Result<T, SystemCallFailure>

    @inline(__always)
    private static func failure<T>(_ call: String, _ code: Int32 = Glibc.errno) -> Result<T> {
        .failure(SystemCallFailure(call: call, errno: code))
    }

    /// The one EINTR loop: calls `body` again while it fails (returns -1) with EINTR, and
    /// returns its result, or the failure of `call` with the errno it left. (swift-system's
    /// `valueOrErrno(retryOnInterrupt:)` is the model.)
    @inline(__always)
    private static func retryingOnInterrupt<T: FixedWidthInteger>(_ call: StaticString, _ body: () -> T) -> Result<T> {
        while true {
            let value = calling(call, body)
            if value != -1 { return .success(value) }
            if Glibc.errno != EINTR { return failure("\(call)") }
        }
    }

    /// Makes one system call, `body`, which returns -1 and sets errno on failure: the choke point
    /// every call of this layer goes through, so that the fault injection of debug builds can
    /// fail any of them (`FaultInjection`). In a release build it is `body()`.
    @inline(__always)
    private static func calling<T: FixedWidthInteger>(_ call: StaticString, _ body: () -> T) -> T {
        if let code = FaultInjection.injected(call) {
            Glibc.errno = code
            return -1
        }
        return body()
    }

    /// A shim's result (non-negative, or -errno) as a system call's: -1 with errno set.
    @inline(__always)
    private static func settingErrno(_ result: CInt) -> CInt {
        guard result < 0 else { return result }
        Glibc.errno = -result
        return -1
    }

    /// A descriptor at least 3, whatever `fd` is: standard input, output and error are never
    /// anything of ours. A process started with one of them closed gets that number back from
    /// its next `open`; a ring file opened as 1 would then receive whatever the process prints
    /// (issue 24: `cbuff tail a >&-` printed over the ring's header). So such a descriptor is
    /// moved above 2 (`F_DUPFD_CLOEXEC`) and the low one closed again, for every descriptor this
    /// layer hands out.
    private static func aboveStandardStreams(_ fd: CInt) -> Result<CInt> {
        guard fd < 3 else { return .success(fd) }
        let moved = calling("fcntl(F_DUPFD_CLOEXEC)") { fcntl(fd, F_DUPFD_CLOEXEC, 3) }
        let failed: Result<CInt> = moved < 0 ? failure("fcntl(F_DUPFD_CLOEXEC)") : .success(moved)
        close(fd)
        return failed
    }

    // MARK: Files

    /// Opens `path` with close-on-exec always added (a descriptor inherited by a child process
    /// would keep the writer's lock alive after the writer died), never through a symbolic link
    /// as the last component (ELOOP), and without blocking in the open itself (a FIFO planted
    /// where a file should be would otherwise hang it). Callers check what they opened with
    /// ``fileInfo(_:)``: this does not ensure it is a regular file.
    static func open(_ path: String, _ flags: CInt, mode: mode_t = 0o600) -> Result<CInt> {
        retryingOnInterrupt("open") { Glibc.open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode) }
            .flatMap(aboveStandardStreams)
    }

    /// Closes `fd`, which the caller owns and never uses again; never retried (see the top of
    /// this file). A close that finds nothing open (EBADF) means a descriptor was closed twice,
    /// and between the two closes another thread may have been given the same number and lost
    /// it to the second one (issue 24: a test's pipe, closed under it by a failed ring open).
    /// Debug builds, and so every test, stop right there, naming the descriptor; release builds
    /// carry on.
    package static func close(_ fd: CInt) {
        if Glibc.close(fd) != 0 && Glibc.errno == EBADF {
            assertionFailure("descriptor \(fd) was closed twice (or never opened): every descriptor has one owner, who closes it once")
        }
    }

    /// What `fstat`/`lstat` say about a file: enough to decide whether to trust it.
    package struct FileInfo: Sendable, Hashable {
        package enum Kind: Sendable, Hashable { case regular, directory, symbolicLink, fifo, socket, device, other }
        package let kind: Kind
        /// Permission bits, set-user-ID, set-group-ID and sticky bits included.
        package let mode: UInt32
        package let owner: UInt32
        package let group: UInt32
        package let size: Int
        /// Bytes of storage actually allocated (less than `size` for a sparse file).
        package let allocated: Int
        package let links: Int
        package let identity: FileIdentity
        /// When its content last changed (`st_mtim`), in nanoseconds since the Unix epoch (0
        /// for a time before it).
        package let modifiedNanos: UInt64

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
            modifiedNanos = st.st_mtim.tv_sec < 0 ? 0 : UInt64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ UInt64(st.st_mtim.tv_nsec)
        }
    }

    /// What the open file is.
    package static func fileInfo(_ fd: CInt) -> Result<FileInfo> {
        var st = stat()
        guard calling("fstat", { fstat(fd, &st) }) == 0 else { return failure("fstat") }
        return .success(FileInfo(st))
    }

    /// What `path` itself is, not following a final symbolic link; nil if it does not exist.
    package static func linkInfo(_ path: String) -> Result<FileInfo?> {
        var st = stat()
        if calling("lstat", { lstat(path, &st) }) == 0 { return .success(FileInfo(st)) }
        return Glibc.errno == ENOENT || Glibc.errno == ENOTDIR ? .success(nil) : failure("lstat")
    }

    /// What `path` names, following symbolic links; nil if it does not exist.
    package static func pathInfo(_ path: String) -> Result<FileInfo?> {
        var st = stat()
        if calling("stat", { stat(path, &st) }) == 0 { return .success(FileInfo(st)) }
        return Glibc.errno == ENOENT || Glibc.errno == ENOTDIR ? .success(nil) : failure("stat")
    }

    /// The open file's size and its number of names (0 once it has been deleted everywhere).
    /// Whether the open file lives in memory (tmpfs or ramfs, as `/dev/shm` does: `fstatfs`):
    /// there a machine crash loses it whole, and syncing it keeps nothing.
    package static func isInMemory(_ fd: CInt) -> Result<Bool> {
        let answer = calling("fstatfs", { csr_is_in_memory(fd) })
        return answer < 0 ? failure("fstatfs") : .success(answer == 1)
    }

    package static func fileStatus(_ fd: CInt) -> Result<(size: Int, links: Int)> {
        var st = stat()
        guard calling("fstat", { fstat(fd, &st) }) == 0 else { return failure("fstat") }
        return .success((Int(st.st_size), Int(st.st_nlink)))
    }

    /// Reserves `size` bytes of real storage for the file, so that a full disk is reported here
    /// and not as a SIGBUS when a slot of a sparse file is first written through the mapping.
    package static func allocate(_ fd: CInt, size: Int) -> Result<Void> {
        // posix_fallocate returns its error instead of setting errno.
        retryingOnInterrupt("posix_fallocate") { () -> CInt in
            let code = posix_fallocate(fd, 0, off_t(size))
            if code == 0 { return 0 }
            Glibc.errno = code
            return -1
        }.map { _ in }
    }

    /// Reads exactly `buffer.count` bytes at `offset`, or fewer only at end of file.
    package static func read(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Result<Int> {
        var done = 0
        while done < buffer.count {
            switch retryingOnInterrupt("pread", { pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done)) }) {
            case .success(0): return .success(done)
            case .success(let n): done += n
            case .failure(let failure): return .failure(failure)
            }
        }
        return .success(done)
    }

    /// Writes all of `buffer` at `offset`.
    package static func write(_ fd: CInt, _ buffer: UnsafeRawBufferPointer, at offset: Int) -> Result<Void> {
        var done = 0
        while done < buffer.count {
            switch retryingOnInterrupt("pwrite", { pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done)) }) {
            case .success(let n): done += n
            case .failure(let failure): return .failure(failure)
            }
        }
        return .success(())
    }


    /// Makes the open file's data and metadata durable (`fsync`): when it returns, a machine
    /// crash or power loss no longer loses what was written to it, through `write` or through a
    /// shared mapping (on Linux, `fsync` writes back the mapping's dirty pages too: `msync`
    /// with `MS_SYNC` is the same call). Retried on EINTR. A file system that offers no
    /// synchronization (EINVAL: a special file, some FUSE or network mounts) has nothing it can
    /// make durable: that is success here, as it is for `fsync`'s own tmpfs (which returns 0).
    package static func synchronize(_ fd: CInt) -> Result<Void> {
        switch retryingOnInterrupt("fsync", { fsync(fd) }) {
        case .success: return .success(())
        case .failure(let failure) where failure.errno == EINVAL: return .success(())
        case .failure(let failure): return .failure(failure)
        }
    }

    /// Makes `count` bytes of a shared file mapping from `address` (page-aligned) durable
    /// (`msync` with `MS_SYNC`: on Linux, the file's write-back of that range alone). Retried on
    /// EINTR; EINVAL from a file system that cannot synchronise is success, as in
    /// ``synchronize(_:)``.
    package static func synchronizeMapped(_ address: UnsafeMutableRawPointer, count: Int) -> Result<Void> {
        switch retryingOnInterrupt("msync", { msync(address, count, MS_SYNC) }) {
        case .success: return .success(())
        case .failure(let failure) where failure.errno == EINVAL: return .success(())
        case .failure(let failure): return .failure(failure)
        }
    }

    package static func rename(_ from: String, _ to: String) -> Result<Void> {
        calling("rename", { Glibc.rename(from, to) }) == 0 ? .success(()) : failure("rename")
    }

    package static func unlink(_ path: String) -> Result<Void> {
        calling("unlink", { Glibc.unlink(path) }) == 0 ? .success(()) : failure("unlink")
    }

    /// Creates a directory with exactly `mode` (whatever the umask, set-group-ID bit included);
    /// an existing one is not an error and keeps its mode.
    package static func makeDirectory(_ path: String, mode: UInt32) -> Result<Void> {
        if calling("mkdir", { mkdir(path, 0o700) }) == 0 {
            return calling("chmod", { chmod(path, mode_t(mode)) }) == 0 ? .success(()) : failure("chmod")
        }
        return Glibc.errno == EEXIST ? .success(()) : failure("mkdir")
    }

    package struct FileIdentity: Hashable, Sendable {
        package let device: UInt64
        package let inode: UInt64

        package init(device: UInt64, inode: UInt64) {
            self.device = device
            self.inode = inode
        }
    }

    /// Whether `path` names the file open as `fd` (same device and inode).
    package static func isSameFile(_ fd: CInt, _ path: String) -> Bool {
        var open = stat(), named = stat()
        return fstat(fd, &open) == 0 && stat(path, &named) == 0 && open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    package static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in directory `path` (without `.` and `..`).
    package static func directoryEntries(_ path: String) -> Result<[String]> {
        if let code = FaultInjection.injected("opendir") { return failure("opendir", code) }
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
    package static func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || Glibc.errno == EPERM
    }

    /// Tries to take an exclusive `flock` on the whole file; false if another open file
    /// description holds it.
    package static func tryLockExclusive(_ fd: CInt) -> Result<Bool> {
        switch retryingOnInterrupt("flock", { flock(fd, LOCK_EX | LOCK_NB) }) {
        case .success: return .success(true)
        case .failure(let failure) where failure.errno == EWOULDBLOCK: return .success(false)
        case .failure(let failure): return .failure(failure)
        }
    }

    // MARK: Memory mapping

    /// A shared mapping of a file, guarded against SIGBUS: if another process truncates the
    /// file, the access that would have raised SIGBUS meets zero pages instead and the
    /// mapping's ``CutShortFlag`` is raised (see `CSharedRingShims/SigbusGuard.c`). Readers and
    /// writers check the flag after each access and report the damage; nothing else ever sees
    /// those zero pages as data.
    package struct Mapping {
        package let base: UnsafeMutableRawPointer
        package let size: Int
        let guardSlot: CInt
        package let cutShort: CutShortFlag
    }

    /// Maps `size` bytes of zeroed memory private to this process (no file): the Ring layer's
    /// tests run the protocol over such a mapping.
    package static func mapAnonymous(size: Int) -> Result<UnsafeMutableRawPointer> {
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else { return failure("mmap") }
        return .success(p)
    }

    /// Unmaps what ``mapAnonymous(size:)`` mapped.
    package static func unmapAnonymous(_ base: UnsafeMutableRawPointer, size: Int) {
        _ = munmap(base, size)
    }

    /// Maps `size` bytes of the file shared: stores are visible to every process mapping the
    /// same file, and reach the file itself. A read-only mapping must never be stored to.
    package static func mapShared(_ fd: CInt, size: Int, writable: Bool = true) -> Result<Mapping> {
        if let code = FaultInjection.injected("mmap") { return failure("mmap", code) }
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
        return .success(Mapping(base: p, size: size, guardSlot: slot, cutShort: CutShortFlag(word: flag)))
    }

    /// The `call` of the failure of a mapping the SIGBUS guard cannot protect.
    package static let guardFull = "SIGBUS guard"
    /// How many mappings the SIGBUS guard protects at once (CSR_GUARD_SLOTS).
    package static let guardCapacity = 4096

    package static func unmap(_ mapping: Mapping) {
        csr_sigbus_guard_remove(mapping.guardSlot)
        _ = munmap(mapping.base, mapping.size)
    }

    // MARK: Open-file-description locks (liveness)

    /// Tries to take a write lock on bytes `[start, start+length)` of the file. Returns false if
    /// another open file description (in any process, this one included) holds a conflicting lock.
    package static func tryLock(_ fd: CInt, start: Int, length: Int = 1) -> Result<Bool> {
        // F_OFD_SETLK does not wait, yet it can be interrupted before the lock is checked
        // (fcntl(2), EINTR): retried like every call here (fault injection found it unretried).
        switch retryingOnInterrupt("fcntl(F_OFD_SETLK)", { settingErrno(csr_ofd_setlk(fd, Int64(start), Int64(length), 1, 0)) }) {
        case .success: return .success(true)
        case .failure(let failure) where failure.errno == EAGAIN || failure.errno == EACCES: return .success(false)
        case .failure(let failure): return .failure(failure)
        }
    }

    package static func unlock(_ fd: CInt, start: Int, length: Int = 1) {
        _ = csr_ofd_setlk(fd, Int64(start), Int64(length), 0, 1)
    }

    /// Whether some other open file description holds a lock on `[start, start+length)`,
    /// found without taking the lock.
    package static func isLocked(_ fd: CInt, start: Int, length: Int = 1) -> Result<Bool> {
        retryingOnInterrupt("fcntl(F_OFD_GETLK)") { settingErrno(csr_ofd_is_locked(fd, Int64(start), Int64(length))) }.map { $0 == 1 }
    }

    // MARK: Threads

    /// A thread started by ``startThread(_:)``, to be joined once.
    package struct StartedThread: Sendable {
        fileprivate let id: pthread_t

        /// Whether the calling thread is this one.
        package var isCurrent: Bool { pthread_equal(pthread_self(), id) != 0 }
    }

    /// Starts a joinable thread running `body`: the one kind of thread the library starts (a
    /// reader's event sequence waits on one; see `EventWatcher`).
    package static func startThread(_ body: @escaping @Sendable () -> Void) -> Result<StartedThread> {
        final class Body {
            let run: @Sendable () -> Void
            init(_ run: @escaping @Sendable () -> Void) { self.run = run }
        }
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            return failure("pthread_create", result)
        }
        return .success(StartedThread(id: thread))
    }

    /// Waits until `thread` has returned from its body; called on `thread` itself, lets it end
    /// on its own instead (it cannot wait for itself).
    package static func join(_ thread: StartedThread) {
        if thread.isCurrent {
            _ = pthread_detach(thread.id)
        } else {
            _ = pthread_join(thread.id, nil)
        }
    }

    // MARK: Futex and memory barriers

    /// Sleeps while the 32-bit word still holds `expected`, for at most `timeoutNanos`. Why it
    /// returned (a wake-up, a changed value, the timeout, a signal) does not matter to a
    /// caller, who checks its condition again in every case.
    package static func futexWait(_ word: UnsafeMutablePointer<UInt32>, expected: UInt32, timeoutNanos: Int64) {
        futexWaitCalls.add(1, ordering: .relaxed)
        _ = csr_futex_wait(word, expected, timeoutNanos)
    }

    /// How many ``futexWait(_:expected:timeoutNanos:)`` calls this process made: for the tests
    /// that a waiter really slept.
    package static let futexWaitCalls = Atomic<Int>(0)

    /// How many ``globalBarrier()`` calls this process made: for the tests that a follower of
    /// a slow stream sleeps without one.
    package static let globalBarrierCalls = Atomic<Int>(0)

    /// Wakes every sleeper on the word; returns how many the kernel woke (0 if it refused).
    @discardableResult
    package static func futexWakeAll(_ word: UnsafeMutablePointer<UInt32>) -> Int {
        futexWakeCalls.add(1, ordering: .relaxed)
        return Int(max(0, csr_futex_wake(word, Int32.max)))
    }

    /// How many ``futexWakeAll(_:)`` calls this process made: for the tests that a sleeper
    /// that died stops costing its wakers system calls.
    package static let futexWakeCalls = Atomic<Int>(0)

    /// How many threads (of any process) sleep on the futex word right now, as the kernel
    /// counts them; nil if it will not say. Not for hot paths: a system call.
    package static func futexSleepers(_ word: UnsafeMutablePointer<UInt32>) -> Int? {
        let count = csr_futex_count_waiters(word)
        return count >= 0 ? Int(count) : nil
    }

    /// Registers this process for expedited global memory barriers; false if the kernel (or a
    /// seccomp filter) refuses.
    package static func registerForGlobalBarriers() -> Bool {
        FaultInjection.injected("membarrier(REGISTER)") == nil && csr_membarrier_register_global_expedited() == 0
    }

    /// Forces a full memory barrier on every running thread of every registered process.
    /// Returns false if unavailable.
    @discardableResult
    package static func globalBarrier() -> Bool {
        globalBarrierCalls.add(1, ordering: .relaxed)
        return csr_membarrier_global_expedited() == 0
    }

    @inline(__always)
    package static func cpuRelax() {
        csr_cpu_relax()
    }

    // MARK: Clocks and processes

    /// Nanoseconds since the Unix epoch (vDSO: no system call on x86-64 with a TSC clock source).
    /// The kernel's coarse realtime clock (`CLOCK_REALTIME_COARSE`): a few nanoseconds to read
    /// (the vDSO returns the time of the last timer tick), resolution a tick (1–4 ms).
    @usableFromInline
    package static func coarseRealtimeNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// When this boot began, in nanoseconds since the Unix epoch: the real-time clock now less
    /// the time since boot (`CLOCK_BOOTTIME`, suspends included). As exact as the real-time
    /// clock: one set back after boot moves it back too.
    package static func bootRealtimeNanos() -> UInt64 {
        var sinceBoot = timespec()
        clock_gettime(CLOCK_BOOTTIME, &sinceBoot)
        let now = realtimeNanos()
        let up = UInt64(sinceBoot.tv_sec) &* 1_000_000_000 &+ UInt64(sinceBoot.tv_nsec)
        return now > up ? now - up : 0
    }

    @usableFromInline
    package static func realtimeNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Calls `attempt` until it returns true or `timeoutNanos` have passed (at least once),
    /// sleeping between tries from 0.1 ms doubling up to 20 ms. Returns whether it succeeded.
    /// For locks another process may hold: every wait is bounded.
    package static func poll<E: Error>(timeoutNanos: Int64, _ attempt: () throws(E) -> Bool) throws(E) -> Bool {
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
    package static func sleep(nanoseconds: Int64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        _ = nanosleep(&request, nil)
    }

    /// Monotonic nanoseconds, for timeouts.
    @usableFromInline
    package static func monotonicNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
    }

    /// Runs `handler` when the process exits normally (`exit`, or returning from `main`).
    package static func atExit(_ handler: @convention(c) () -> Void) {
        _ = atexit(handler)
    }

    package static func processID() -> Int32 {
        getpid()
    }

    package static func userID() -> UInt32 {
        getuid()
    }

    /// The user whose files this process creates, and whose files it trusts.
    package static func effectiveUserID() -> UInt32 {
        geteuid()
    }

    /// Whether this process is a member of group `gid` (effective or supplementary).
    package static func isMember(ofGroup gid: UInt32) -> Bool {
        if getegid() == gid { return true }
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return filled > 0 && groups.prefix(Int(filled)).contains(gid)
    }

    package static func environment(_ name: String) -> String? {
        if case .text(let text) = environmentValue(name) { text } else { nil }
    }

    /// An environment variable as this process was given it: bytes that are not UTF-8 are
    /// said so (with the text they would be repaired to, for messages), never repaired silently
    /// into another name.
    package enum EnvironmentValue: Sendable, Equatable {
        case absent
        case text(String)
        case notText(repaired: String)
    }

    package static func environmentValue(_ name: String) -> EnvironmentValue {
        guard let raw = getenv(name) else { return .absent }
        return String(validatingCString: raw).map(EnvironmentValue.text) ?? .notText(repaired: String(cString: raw))
    }

    /// Whether process `pid` runs and started at `startTime` (clock ticks after boot, as
    /// `processStartTime` reads it): a reused PID does not count.
    package static func isRunning(_ pid: Int32, startTime: UInt64) -> Bool {
        pid > 0 && processStartTime(pid) == startTime
    }
}

/// The flag the SIGBUS handler raises for one mapping (a word of the C shim's table, in this
/// process's own memory: no other process ever sees it). The handler stores 1 with release
/// ordering from the faulting thread itself, so the acquiring load here, on the same thread
/// after the access, sees it (and on other threads, sees it no later than the next access that
/// faults). One load of a line nobody writes while all is well.
@frozen @usableFromInline
package struct CutShortFlag {
    @usableFromInline let word: UnsafeMutablePointer<Atomic<Int32>>

    init(word: UnsafeMutablePointer<Atomic<Int32>>) {
        self.word = word
    }

    /// Whether the mapping was cut short.
    @inlinable @inline(__always)
    package var isRaised: Bool { word.pointee.load(ordering: .acquiring) != 0 }
}

// MARK: Files relative to an open directory (openat and friends)

// A data directory is opened once, checked through its descriptor (`fstat`), and every file in
// it is then reached relative to that descriptor: what was checked is what is used, however
// the path to it changes meanwhile, and each name is resolved once, not once per component
// per call.
extension Sys {
    /// Opens directory `path`, following symbolic links on the way (the user named it), to
    /// serve as the base of the calls below. `O_PATH`: it needs only the right to reach the
    /// directory, as `stat` does, not to list it.
    package static func openDirectory(_ path: String) -> Result<CInt> {
        retryingOnInterrupt("open") { Glibc.open(path, openPathOnly | O_DIRECTORY | O_CLOEXEC) }
            .flatMap(aboveStandardStreams)
    }

    /// `O_PATH` (Linux, every architecture but alpha, parisc and sparc), which Glibc declares
    /// only under `_GNU_SOURCE`, so Swift does not see it.
    private static let openPathOnly: CInt = 0o10_000_000

    /// Opens `name` in `directory` as ``open(_:_:mode:)`` opens a path: close-on-exec, never
    /// through a symbolic link (ELOOP), without blocking on a FIFO.
    static func open(at directory: CInt, _ name: String, _ flags: CInt, mode: mode_t = 0o600) -> Result<CInt> {
        retryingOnInterrupt("openat") { openat(directory, name, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode) }
            .flatMap(aboveStandardStreams)
    }

    package static func openReadWrite(at directory: CInt, _ name: String) -> Result<CInt> {
        open(at: directory, name, O_RDWR)
    }

    package static func openReadOnly(at directory: CInt, _ name: String) -> Result<CInt> {
        open(at: directory, name, O_RDONLY)
    }

    /// Creates `name` in `directory` with exactly `mode`, whatever the umask; fails if it exists,
    /// and then leaves nothing behind (a file it created and could not give its mode is removed:
    /// it is this call's, since `O_EXCL` made it).
    package static func createExclusive(at directory: CInt, _ name: String, mode: UInt32) -> Result<CInt> {
        open(at: directory, name, O_RDWR | O_CREAT | O_EXCL, mode: mode_t(mode)).flatMap { fd in
            if calling("fchmod", { fchmod(fd, mode_t(mode)) }) == 0 { return .success(fd) }
            let failed: Result<CInt> = failure("fchmod")
            close(fd)
            _ = unlinkat(directory, name, 0)
            return failed
        }
    }

    /// Opens `name` in `directory` read-write, creating it with exactly `mode` if it does not
    /// exist (an existing file keeps its mode).
    package static func openOrCreate(at directory: CInt, _ name: String, mode: UInt32) -> Result<CInt> {
        while true {
            switch createExclusive(at: directory, name, mode: mode) {
            case .success(let fd): return .success(fd)
            case .failure(let error) where error.errno == EEXIST:
                let opened = openReadWrite(at: directory, name)
                if case .failure(let error) = opened, error.errno == ENOENT { continue }   // removed meanwhile
                return opened
            case .failure(let error): return .failure(error)
            }
        }
    }

    /// What `name` in `directory` itself is, not following a symbolic link; nil if it does
    /// not exist.
    package static func linkInfo(at directory: CInt, _ name: String) -> Result<FileInfo?> {
        var st = stat()
        if calling("fstatat", { fstatat(directory, name, &st, AT_SYMLINK_NOFOLLOW) }) == 0 { return .success(FileInfo(st)) }
        return Glibc.errno == ENOENT ? .success(nil) : failure("fstatat")
    }

    /// Renames `from` to `to`, both in `directory` (atomically replacing whatever `to` was).
    package static func rename(at directory: CInt, _ from: String, _ to: String) -> Result<Void> {
        calling("renameat", { renameat(directory, from, directory, to) }) == 0 ? .success(()) : failure("renameat")
    }

    /// Removes the name `name` from `directory` (a symbolic link itself, never its target).
    package static func unlink(at directory: CInt, _ name: String) -> Result<Void> {
        calling("unlinkat", { unlinkat(directory, name, 0) }) == 0 ? .success(()) : failure("unlinkat")
    }

    /// Makes the directory's entries durable (`fsync` of the directory itself): the names a
    /// `renameat` or `unlinkat` gave or took survive a machine crash once this returns. The
    /// data directory's own descriptor is `O_PATH`, which `fsync` refuses (EBADF), so the
    /// directory is opened again, read-only, for the call, and closed. EINVAL as
    /// ``synchronize(_:)`` has it.
    package static func synchronizeDirectory(at directory: CInt) -> Result<Void> {
        let fd: CInt
        switch open(at: directory, ".", O_RDONLY | O_DIRECTORY) {
        case .success(let opened): fd = opened
        case .failure(let failure): return .failure(failure)
        }
        defer { close(fd) }
        return synchronize(fd)
    }

    /// Whether `name` in `directory` names the file open as `fd` (same device and inode).
    package static func isSameFile(_ fd: CInt, at directory: CInt, _ name: String) -> Bool {
        var open = stat(), named = stat()
        return fstat(fd, &open) == 0 && fstatat(directory, name, &named, AT_SYMLINK_NOFOLLOW) == 0
            && open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    /// The names in the open directory (without `.` and `..`).
    package static func directoryEntries(of directory: CInt) -> Result<[String]> {
        let fd: CInt
        switch retryingOnInterrupt("openat", { openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }).flatMap(aboveStandardStreams) {
        case .success(let opened): fd = opened
        case .failure(let failure): return .failure(failure)
        }
        guard let stream = fdopendir(fd) else {
            let failed: Result<[String]> = failure("fdopendir")
            close(fd)
            return failed
        }
        defer { closedir(stream) }   // closes fd too
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }

    /// This process's limit on open descriptors (`ulimit -n`), for the sentence that reports
    /// reaching it; nil if unknown.
    package static var openFileLimit: UInt64? {
        var limit = rlimit()
        return getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? UInt64(limit.rlim_cur) : nil
    }

    /// Whether this process can open `count` more descriptors now, as far as the lowest free
    /// number says: descriptors are handed out lowest first, so when the lowest free one is `k`,
    /// at most `limit - k` are free (fewer only if some above `k` are in use, as a process that
    /// closed a low one has). One duplicate of `fd`, closed at once.
    package static func hasFreeDescriptors(_ count: Int, duplicating fd: CInt) -> Bool {
        guard let limit = openFileLimit else { return true }
        let lowest = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard lowest >= 0 else { return false }
        close(lowest)
        return UInt64(lowest) + UInt64(count) <= limit
    }

    /// The path the kernel gives the open file (symbolic links resolved), or nil.
    package static func resolvedPath(_ fd: CInt) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether the filesystem holding the open file is mounted read-only.
    package static func isOnReadOnlyFilesystem(_ fd: CInt) -> Bool {
        var info = statvfs()
        return fstatvfs(fd, &info) == 0 && info.f_flag & UInt(ST_RDONLY) != 0
    }
}
