"""What cbuff needs of Linux, and nothing else: open-file-description locks, the futex,
membarrier, a process's start time, opening only trusted files, and the shared words.

Memory ordering from Python. The protocol (RingFileFormat.md, "Publication") needs acquire loads
and release stores of aligned 8-byte words, and fences between a payload copy and a counter load.
Here every shared word is read and written through a ``memoryview`` cast to unsigned 64-bit (or
32-bit) elements of the ``mmap``: CPython copies such an element with a fixed-size ``memcpy``,
which the C compiler emits as one aligned ``mov``, so each access is single-copy atomic. On
x86-64 (TSO) every load already has acquire and every store release semantics, and loads are
not reordered with loads nor stores with stores, so the protocol's fences (W2, R3) are free; and
each Python-level access is a separate call into the interpreter, which the C compiler cannot
reorder across. The one store-then-load ordering the protocol needs (a sleeper's request for a
wake-up in ``waiters`` before its second look at ``published``; the writer's store of
``published`` before its load of ``waiters``) comes from ``membarrier``, as in the Swift library:
sleepers issue a global expedited barrier, and every process registers for it. The request is an
atomic OR of bit 31 and the waker's answer an atomic AND-NOT of bits 30 and 31 (one bit per
call), through the futex's ``FUTEX_WAKE_OP`` (Python has no atomic read-modify-write). Every sleep is bounded (slices of at
most 50 ms, each re-arming the request and followed by a fresh look), so even a missed wake-up
costs latency, never a hang. The whole argument is in the Swift library's
``Sources/Ring/FutexSleep.swift``.

On any other architecture this module refuses to load: aarch64, for one, needs R1's load to be
an acquire (``ldar``) and W4's store a release (``stlr``), and R3 and W2 to be ``dmb ishld`` and
``dmb ish`` fences; CPython offers no atomic types, and neither ``memoryview`` nor ``ctypes``
emits any of these, so running there would be running wrong.

A ring file that another process truncates under this process's mapping would kill it with
SIGBUS on the next access; the guard below (``guard_mapping``) turns that into a ``Corrupted``
error, as the Swift library's ``SigbusGuard.c`` does: see "The SIGBUS guard" further down.
"""

import ctypes
import errno
import fcntl
import mmap
import os
import platform
import resource
import stat
import struct
import typing
import weakref

from .errors import CBuffError, Corrupted, InvalidArgument, NotFound, PermissionDenied, SystemFailure, TimedOut, Unsupported

if platform.machine() not in ("x86_64", "AMD64"):
    raise Unsupported(f"cbuff's Python package runs only on x86-64, where aligned 8-byte loads and stores are ordered as the protocol needs; this machine is {platform.machine()} (use the Swift library there).")

SYS_FUTEX, SYS_MEMBARRIER = 202, 324
FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_WAKE_OP = 0, 1, 3, 5
FUTEX_OP_SET, FUTEX_OP_ADD, FUTEX_OP_OR, FUTEX_OP_ANDN = 0, 1, 2, 3
FUTEX_OP_OPARG_SHIFT = 8      # the operand is 1 << oparg
MEMBARRIER_CMD_GLOBAL_EXPEDITED, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 2, 4
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
_libc = ctypes.CDLL(None, use_errno=True)
# syscall(2) with the argument types of futex(2) and of membarrier(2) declared once: a call then
# converts plain ints itself, a few microseconds cheaper than building ctypes objects per call
# (a follower makes three of these for every item it sleeps for). syscall(2) is variadic, which
# on x86-64 passes integers and pointers as a prototyped call does.
_prototype = ctypes.CFUNCTYPE
_futex = _prototype(ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32,
                    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, use_errno=True)(("syscall", _libc))
_membarrier_call = _prototype(ctypes.c_long, ctypes.c_long, ctypes.c_int, ctypes.c_uint, ctypes.c_int,
                              use_errno=True)(("syscall", _libc))


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _membarrier(command: int) -> bool:
    return bool(_membarrier_call(SYS_MEMBARRIER, command, 0, 0) == 0)


# Registered once per process: so that sleepers elsewhere can order this process's stores.
HAS_MEMBARRIER = _membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)


def global_barrier() -> None:
    """A full fence on every CPU running a registered process (a no-op if unavailable)."""
    if HAS_MEMBARRIER:
        _membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)


# A waker in a process the kernel would not register must order its store of progress
# (``published``, a named reader's cursor) before its load of the request word itself, as the
# Swift side's writer does with a full fence (RingFileFormat.md, "Waiting"): a sleeper's barrier
# does not reach an unregistered process, and a sleeper whose barrier ran sleeps in long slices
# (10 s in Swift), counting on every waker to keep this rule. Python has no fence; a locked
# read-modify-write in the kernel is one: an atomic OR of nothing into a word of this process's
# own, through FUTEX_WAKE_OP. One system call per publish or commit, and only on such a host.
WAKER_FENCE = not HAS_MEMBARRIER
_fence_word = ctypes.c_uint32(0)
# How many fences this process made: for the test that an unregistered waker makes them.
fence_calls = 0


def fence() -> None:
    """A full memory fence (see ``WAKER_FENCE``)."""
    global fence_calls
    fence_calls += 1
    _atomic_op(ctypes.addressof(_fence_word), FUTEX_OP_OR << 28)      # OR 0: changes nothing


_last_timeout: "list[typing.Any]" = [None, None, 0]     # the last timeout's ns, its timespec, and the timespec's address


def futex_wait(address: int, expected: int, timeout_ns: int) -> None:
    """Sleeps while the u32 at ``address`` holds ``expected``, at most ``timeout_ns``."""
    last = _last_timeout
    if last[0] != timeout_ns:       # a follower sleeps whole slices: the same timespec each time
        ts = _Timespec(timeout_ns // 1_000_000_000, timeout_ns % 1_000_000_000)
        last[:] = [timeout_ns, ts, ctypes.addressof(ts)]
    _futex(SYS_FUTEX, address, FUTEX_WAIT, expected, last[2], None, 0)


# How many FUTEX_WAKE calls this process made: for the tests that a dead sleeper stops costing.
wake_calls = 0


def futex_wake(address: int) -> None:
    global wake_calls
    wake_calls += 1
    _futex(SYS_FUTEX, address, FUTEX_WAKE, 0x7FFFFFFF, None, None, 0)


def futex_add_and_wake(address: int, amount: int = 1) -> int:
    """Adds ``amount`` (-2048 to 2047) to the u32 at ``address`` atomically, then wakes every
    waiter on it: one FUTEX_WAKE_OP system call whose operation word and woken word are the same
    (the kernel applies the operation before it wakes), where an atomic add and a FUTEX_WAKE were
    two. The second wake it could make is asked for no one. Returns how many it woke."""
    global wake_calls
    wake_calls += 1
    result = _futex(SYS_FUTEX, address, FUTEX_WAKE_OP, 0x7FFFFFFF, None, address, (FUTEX_OP_ADD << 28) | ((amount & 0xFFF) << 12))
    if result < 0:
        raise SystemFailure(f"futex(FUTEX_WAKE_OP) failed: {os.strerror(ctypes.get_errno())}")
    return int(result)


def _atomic_op(address: int, operation: int) -> None:
    """Applies a FUTEX_WAKE_OP operation to the u32 at ``address`` atomically: the operation on
    its second word is an atomic read-modify-write (and the system call a full barrier); it wakes
    nobody here (no waiter on the first word is asked for, and the second wake's count is zero)."""
    result = _futex(SYS_FUTEX, address, FUTEX_WAKE_OP, 0, None, address, operation)
    if result < 0:
        raise SystemFailure(f"futex(FUTEX_WAKE_OP) failed: {os.strerror(ctypes.get_errno())}")


def atomic_add_u32(address: int, amount: int) -> None:
    """Adds ``amount`` (-2048 to 2047) to the u32 at ``address`` atomically."""
    _atomic_op(address, (FUTEX_OP_ADD << 28) | ((amount & 0xFFF) << 12))


def atomic_set_bit_u32(address: int, bit: int) -> None:
    """Sets bit ``bit`` (0-31) of the u32 at ``address`` atomically (an atomic OR)."""
    _atomic_op(address, ((FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT) << 28) | (bit << 12))


def atomic_clear_bit_u32(address: int, bit: int) -> None:
    """Clears bit ``bit`` (0-31) of the u32 at ``address`` atomically (an atomic AND-NOT)."""
    _atomic_op(address, ((FUTEX_OP_ANDN | FUTEX_OP_OPARG_SHIFT) << 28) | (bit << 12))


def atomic_clear_u32(address: int) -> None:
    """Stores 0 in the u32 at ``address`` with an atomic exchange."""
    _atomic_op(address, FUTEX_OP_SET << 28)


def address_of(buffer: mmap.mmap, offset: int) -> int:
    """The address of byte ``offset`` of a writable buffer (the mapping)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer, offset))


# --- Locks ------------------------------------------------------------------------------------

def _flock(kind: int, start: int) -> bytes:
    return struct.pack("hhqqi4x", kind, os.SEEK_SET, start, 1, 0)


def try_lock(fd: int, byte: int) -> bool:
    """Takes an OFD write lock on ``byte``; False if another open file description holds it."""
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_WRLCK, byte))
        return True
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise SystemFailure(f"Cannot lock byte {byte}: {error.strerror}.") from None


def unlock(fd: int, byte: int) -> None:
    fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_UNLCK, byte))


def is_locked(fd: int, byte: int) -> bool:
    """Whether another open file description holds a lock on ``byte`` (F_OFD_GETLK)."""
    result = fcntl.fcntl(fd, F_OFD_GETLK, _flock(fcntl.F_WRLCK, byte))
    return bool(struct.unpack("hhqqi4x", result)[0] != fcntl.F_UNLCK)


# --- Processes ------------------------------------------------------------------------------

_BOOT_ID: "list[bytes | None]" = []


def boot_id() -> "bytes | None":
    """This boot's identity: /proc/sys/kernel/random/boot_id's UUID as 16 bytes in the order
    its text gives them (the Swift side's ``Sys.bootID``), read once; None if unreadable or all
    zero."""
    if not _BOOT_ID:
        try:
            with open("/proc/sys/kernel/random/boot_id", "rb") as f:
                text = f.read().split(b"\n")[0]
            value: bytes | None = bytes.fromhex(text.decode("ascii").replace("-", "")) if len(text) == 36 else None
        except (OSError, ValueError, UnicodeDecodeError):
            value = None
        _BOOT_ID.append(value if value and len(value) == 16 and any(value) else None)
    return _BOOT_ID[0]


def start_time(pid: int) -> "int | None":
    """Field 22 of /proc/PID/stat (clock ticks after boot), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 1:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def is_running(pid: int, start: "int | None") -> bool:
    return pid > 0 and start_time(pid) == start


def process_name(pid: int) -> "str | None":
    """The command name of process ``pid`` (/proc/PID/comm), or None."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            name = f.read(4096).split(b"\n", 1)[0].decode("utf-8", "replace")
    except OSError:
        return None
    return name or None


def lock_holders(inode: int, byte: int) -> "list[int]":
    """The processes (other than this one) holding a lock that covers byte ``byte`` of the file
    whose inode is ``inode``, found in /proc/*/fdinfo: the only place the kernel names the owner
    of an open-file-description lock (its ``lock:`` lines, ``lock:\t1: OFDLCK ADVISORY WRITE -1
    fe:00:1234 64 64``, or ``... 0 EOF``; flock and POSIX locks are listed the same way). A scan
    of every process's descriptors, as the Swift side's ``Sys.lockHolders`` makes: for the end of
    a wait that timed out, never for a hot path. Processes this one may not examine are left out."""
    me, wanted, holders = os.getpid(), str(inode), []
    try:
        processes = os.listdir("/proc")
    except OSError:
        return []
    for entry in processes:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            descriptors = os.listdir(f"/proc/{entry}/fdinfo")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                with open(f"/proc/{entry}/fdinfo/{descriptor}", "rb") as f:
                    text = f.read(4096).decode("ascii", "replace")
            except OSError:
                continue
            if any(_lock_line_covers(line, wanted, byte) for line in text.splitlines()):
                holders.append(int(entry))
                break
    return holders


def _lock_line_covers(line: str, inode: str, byte: int) -> bool:
    if not line.startswith("lock:"):
        return False
    words = line.split()
    if len(words) < 8 or words[6].split(":")[-1] != inode or not words[7].isdigit():
        return False
    end = words[8] if len(words) > 8 else "EOF"
    last = byte if end == "EOF" else int(end) if end.isdigit() else -1
    return int(words[7]) <= byte <= last


def seconds(value: float) -> str:
    """A duration as the Swift side says it: "5 s", "0.25 s"."""
    return f"{int(value)} s" if value == int(value) else f"{value} s"


def lock_wait_timed_out(path: str, inode: int, byte: int, timeout: float, doing: str) -> TimedOut:
    """The end of a bounded wait for a lock another process holds (the Swift side's
    ``LockWait.timedOut``): one sentence naming the file, the holding processes when the kernel
    says which, and how long this one waited."""
    holders = lock_holders(inode, byte)
    who = ", ".join(f"PID {pid}" + (f" ({name})" if (name := process_name(pid)) else "") for pid in holders) if holders else "another process"
    return TimedOut(f"Cannot {doing}: {path} stayed locked by {who} for {seconds(timeout)}; if that process is stopped (Ctrl-Z) resume or end it, or allow a longer lock timeout.")


# --- Files ------------------------------------------------------------------------------------
#
# Standard streams are input too (SPEC §3): a process started with fd 0, 1 or 2 closed must never
# let a ring, lock or registry descriptor take their place, where a later print() or a child's
# output would write into it. Every descriptor this package opens is moved above 2 (``_high``),
# and the calls that open descriptors of their own (mmap, which keeps a duplicate; SQLite) run
# with the closed standard slots held by /dev/null for their duration (``standard_slots_held``).

def _high(fd: int) -> int:
    """``fd``, moved above 2 if it took a standard stream's place."""
    if fd > 2:
        return fd
    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    finally:
        os.close(fd)


class standard_slots_held:
    """Holds every closed standard descriptor (0-2) with /dev/null while the block runs."""

    def __enter__(self) -> "standard_slots_held":
        self.held: list[int] = []
        for slot in (0, 1, 2):
            try:
                os.fstat(slot)
            except OSError:
                fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
                if fd > 2:
                    os.close(fd)
                    break
                self.held.append(fd)
        return self

    def __exit__(self, *exception: object) -> None:
        for fd in self.held:
            os.close(fd)


def open_fd(path: str, flags: int, mode: int = 0o600) -> int:
    """``os.open``, the descriptor moved above the standard streams."""
    return _high(os.open(path, flags, mode))


class DirectoryTrust:
    """What a data directory's files may be (the Swift side's ``FileTrust``): the directory is
    used when this user owns it and nobody else can write it, or when it is shared with its
    group (every group permission, as ``chmod 2770`` makes it); its files are trusted when they
    are regular files owned by this user or, in a shared directory, by its group."""

    __slots__ = ("file_mode", "path", "shared_group", "user")

    def __init__(self, path: str, shared_group: "int | None", user: int) -> None:
        self.path, self.shared_group, self.user = path, shared_group, user
        self.file_mode = 0o660 if shared_group is not None else 0o600

    def check(self, info: os.stat_result, path: str, what: str) -> None:
        """Refuses anything but a regular file, with one link, owned as expected."""
        if not stat.S_ISREG(info.st_mode):
            raise Corrupted(f"The {what} {path} is {_describe(info.st_mode)}, not a regular file; cbuff does not open it. Remove it if it is not yours to keep.")
        if info.st_uid != self.user and (self.shared_group is None or info.st_gid != self.shared_group):
            raise PermissionDenied(f"Permission denied: the {what} {path} belongs to user {info.st_uid}, not to this user ({self.user}) nor to the directory's group; cbuff does not trust it.")

    def check_if_present(self, name: str, what: str) -> "os.stat_result | None":
        """``lstat`` of a file of the directory that may be absent (SQLite's files, which SQLite
        opens by path): None if absent; a symbolic link or anything not trusted is refused."""
        path = os.path.join(self.path, name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise system_error(error, f"examine the {what} {path}") from None
        if stat.S_ISLNK(info.st_mode):
            raise Corrupted(f"The {what} {path} is a symbolic link; cbuff opens only regular files. Remove the link.")
        self.check(info, path, what)
        return info


def _describe(mode: int) -> str:
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                        (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return words
    return "a special file"


def system_error(error: OSError, doing: str) -> CBuffError:
    """An ``OSError`` met while trying to ``doing`` as cbuff's error: the Swift side's one table
    from a system call's errno to a code and a sentence (``SystemCallFailure.cause`` and
    ``CBuffFailure.words(for:_:)``), word for word. Every errno is mapped by what it means, never
    by a default that names another cause. The system's own words follow in parentheses, as
    the ``cbuff`` tool prints a failure's cause."""
    code = error.errno or 0
    failure = words(code, doing)
    failure.message += f" ({error.strerror or os.strerror(code)} (errno {code}))"
    failure.args = (failure.message,)
    return failure


def words(code: int, doing: str) -> CBuffError:
    """The code and sentence for the cause ``code`` (an errno) while doing ``doing``: shared by
    failed system calls and SQLite's errors, so that both say the same."""
    if code in (errno.ENOENT, errno.ENOTDIR):
        return NotFound(f"Not found: cannot {doing}.")
    if code == errno.ELOOP:
        return Corrupted(f"Cannot {doing}: a symbolic link is where a file should be; cbuff opens only regular files. Remove the link.")
    if code in (errno.ENXIO, errno.ENODEV):
        return Corrupted(f"Cannot {doing}: a FIFO, socket or device is where a file should be; cbuff opens only regular files.")
    if code == errno.EISDIR:
        return Corrupted(f"Cannot {doing}: a directory is where a file should be; cbuff never makes directories there and never removes one. Move it away.")
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"Permission denied: cannot {doing}.")
    if code == errno.EROFS:
        return PermissionDenied(f"Read-only: cannot {doing}, the data directory is on a read-only mount, where only reading (list, inspect, pop and tail without --reader) works.")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return SystemFailure(f"No space left on the device: cannot {doing}.")
    if code == errno.EFBIG:
        return SystemFailure(f"File too large for the filesystem or this process's file-size limit: cannot {doing}.")
    if code == errno.EMFILE:
        try:
            limit = str(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        except (OSError, ValueError):
            limit = "?"
        return SystemFailure(f"Too many open files: this process has as many open as its limit allows (ulimit -n {limit}); cannot {doing}. Raise the limit or close files.")
    if code == errno.ENFILE:
        return SystemFailure(f"Too many open files in the system (its limit is reached): cannot {doing}.")
    if code == errno.ENAMETOOLONG:
        return InvalidArgument(f"File name too long: cannot {doing}. Choose a shorter data directory path.")
    if code == errno.ENOMEM:
        return SystemFailure(f"Out of memory: cannot {doing}.")
    if code == errno.EIO:
        return SystemFailure(f"Input/output error (a failing disk or a lost network filesystem): cannot {doing}.")
    if code in (errno.EWOULDBLOCK, errno.EBUSY):
        return SystemFailure(f"Busy (held elsewhere): cannot {doing}.")
    return SystemFailure(f"Cannot {doing}.")


def is_member(group: int) -> bool:
    """Whether this process belongs to ``group`` (its effective or a supplementary group)."""
    return os.getegid() == group or group in os.getgroups()


def check_directory(path: str, accepting_group: bool = False) -> DirectoryTrust:
    """Checks the data directory as the Swift side's ``FileTrust.verify`` does, sentence for
    sentence: refused if every user can write it, or if its group can write it without it being
    shared with the group (every group permission, as ``chmod 2770`` or ``access="group"`` make
    it). A directory another user owns is used only when ``accepting_group`` (the API's
    ``access="group"``, the tool's ``--group-access``) and it is shared with a group this user
    belongs to; its files are then trusted when this user or that group owns them."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"The data directory {path} does not exist.") from None
    except OSError as error:
        raise system_error(error, f"examine the data directory {path}") from None
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidArgument(f"The data directory {path} exists but is not a directory.")
    if mode & 0o002:
        raise PermissionDenied(f"The data directory {path} can be written by every user (mode {mode:o}), so anyone could replace its files; cbuff does not use it. Choose a private one with --dir or CBUFF_DIR.")
    # Writable by its group but not shared with it: group members could rename or delete this
    # user's files while cbuff trusted the directory as private. Shared or private, not in between.
    shared = mode & 0o070 == 0o070
    if mode & 0o020 and not shared:
        raise PermissionDenied(f"The data directory {path} can be written by its group (mode {mode:o}) but is not shared with it; cbuff does not use it. Make it private (chmod 700) or shared with the group (chmod 2770).")
    user = os.geteuid()
    if info.st_uid != user and not (accepting_group and shared and is_member(info.st_gid)):
        hint = (f"it is not shared with a group this user belongs to (mode {mode:o}, group {info.st_gid})" if accepting_group
                else 'pass access="group" (the tool\'s --group-access) to use a directory shared with your group')
        raise PermissionDenied(f"Permission denied: the data directory {path} belongs to user {info.st_uid}, not to this user ({user}); {hint}.")
    return DirectoryTrust(path, info.st_gid if shared else None, user)


def is_read_only(trust: DirectoryTrust) -> bool:
    """Whether the data directory is on a filesystem mounted read-only."""
    try:
        return bool(os.statvfs(trust.path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def make_directories(path: str, mode: int) -> None:
    """``mkdir -p``, giving every directory it creates exactly ``mode`` (whatever the umask,
    set-group-ID bit included), as the Swift side's ``DataDirectory.makeDirectories`` does; an
    existing one keeps its mode."""
    if os.path.isdir(path):
        return
    prefix = "" if path.startswith("/") else "."
    for component in path.split("/"):
        if not component:
            continue
        prefix += "/" + component
        if os.path.isdir(prefix):
            continue
        try:
            os.mkdir(prefix, 0o700)
            os.chmod(prefix, mode)
        except FileExistsError:
            pass
        except OSError as error:
            raise system_error(error, f"create the data directory {prefix}") from None
    if not os.path.isdir(path):
        raise InvalidArgument(f"The data directory {path} exists but is not a directory.")


_fstatfs = _prototype(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, use_errno=True)(("fstatfs", _libc))
_IN_MEMORY_FILE_SYSTEMS = (0x01021994, 0x858458F6)    # TMPFS_MAGIC, RAMFS_MAGIC (linux/magic.h)


def in_memory(directory: str) -> bool:
    """Whether ``directory`` lives in memory (tmpfs or ramfs, as ``/dev/shm`` does), where a
    machine crash loses every file whole (the Swift side's ``Sys.isInMemory``); False when it
    cannot tell. ``struct statfs`` begins with ``f_type``, a long, on every Linux ABI."""
    try:
        # Following a symbolic link to the directory, as the data directory's own path may be one
        # (the Swift side opens it so too).
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        buffer = ctypes.create_string_buffer(256)
        if _fstatfs(fd, buffer) != 0:
            return False
        return ctypes.c_long.from_buffer(buffer).value in _IN_MEMORY_FILE_SYSTEMS
    finally:
        os.close(fd)


def synchronize(fd: int, doing: str) -> None:
    """Makes the open file's data durable (fsync; on Linux it writes back the pages of a
    shared mapping too), as the Swift side's ``Sys.synchronize``: EINVAL (a file system
    without synchronization) has nothing to make durable and is success; any other failure is
    the error of ``doing``."""
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise system_error(error, doing) from None


def synchronize_mapped(mapping: mmap.mmap, size: int, doing: str) -> None:
    """Makes the first ``size`` bytes of a shared file mapping durable (``msync`` with
    ``MS_SYNC``: ``mmap.flush``), as ``Sys.synchronizeMapped``; EINVAL is success, as in
    ``synchronize``."""
    try:
        mapping.flush(0, size)
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise system_error(error, doing) from None


def synchronize_directory(trust: DirectoryTrust, after: str) -> None:
    """Makes the directory's entries durable (fsync of the directory): the names renames and
    unlinks gave or took survive a machine crash (the Swift side's ``FileTrust.synchronize``)."""
    doing = f"make the data directory {trust.path} durable after {after}"
    try:
        fd = open_fd(trust.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise system_error(error, doing) from None
    try:
        synchronize(fd, doing)
    finally:
        os.close(fd)


def open_trusted(trust: DirectoryTrust, name: str, writable: bool = True, what: str = "ring file") -> "tuple[int, os.stat_result]":
    """Opens a file of the directory that must be a regular file owned as expected, never
    through a symbolic link, never blocking on a FIFO; checked through the descriptor opened.
    Raises ``FileNotFoundError`` when it does not exist (the caller says what that means)."""
    path = os.path.join(trust.path, name)
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = open_fd(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise Corrupted(f"The {what} {path} is a symbolic link; cbuff opens only regular files. Remove the link.") from None
        if error.errno in (errno.EISDIR, errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP):
            raise Corrupted(f"The {what} {path} is not a regular file; cbuff does not open it.") from None
        raise system_error(error, f"open the {what} {path}") from None
    try:
        info = os.fstat(fd)
        trust.check(info, path, what)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def create_exclusive(trust: DirectoryTrust, name: str, what: str) -> int:
    """Creates file ``name`` of the directory, which must not exist, with exactly the
    directory's file mode (whatever the umask: 0660 in a directory shared with its group, where
    the umask's 0640 would lock the group out), never through a symbolic link. Raises
    ``FileExistsError`` when something has that name."""
    path = os.path.join(trust.path, name)
    try:
        fd = open_fd(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, trust.file_mode)
    except FileExistsError:
        raise
    except OSError as error:
        raise system_error(error, f"create the {what} {path}") from None
    try:
        os.fchmod(fd, trust.file_mode)
    except OSError as error:
        os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass
        raise system_error(error, f"create the {what} {path}") from None
    return fd


def open_or_create_trusted(trust: DirectoryTrust, name: str, what: str) -> "tuple[int, os.stat_result]":
    """Opens file ``name`` of the directory read-write, creating it (``create_exclusive``) if it
    does not exist; an existing one is checked as ``open_trusted`` checks it."""
    while True:
        try:
            fd = create_exclusive(trust, name, what)
        except FileExistsError:
            try:
                return open_trusted(trust, name, True, what)
            except FileNotFoundError:
                continue        # removed meanwhile
        try:
            info = os.fstat(fd)
        except OSError as error:
            os.close(fd)
            raise system_error(error, f"examine the {what} {os.path.join(trust.path, name)}") from None
        return fd, info


def map_shared(fd: int, size: int, writable: bool = True) -> mmap.mmap:
    """A MAP_SHARED mapping of the file's first ``size`` bytes."""
    try:
        with standard_slots_held():      # mmap keeps a duplicate of the descriptor
            return mmap.mmap(fd, size, access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)
    except OSError as error:
        raise system_error(error, "map a ring file") from None


# --- The SIGBUS guard -------------------------------------------------------------------------
#
# Another process may truncate a ring file while this one has it mapped; the next access to a
# page beyond the new end of the file then raises SIGBUS, whose default action kills the
# process. Python cannot catch it (the ``signal`` module runs handlers later, between bytecodes,
# while a fault must be handled before the faulting instruction runs again), so a handler is
# installed with sigaction(2) through ctypes, as the Swift library's ``SigbusGuard.c`` installs
# its own: when the faulting address lies in a guarded mapping, it maps private zero pages over
# the whole mapping (MAP_FIXED, so the access that faulted, and every later one, touches memory
# that exists), raises that mapping's flag (``RingFile.faulted``) and returns; the access
# completes, reading zeros, and the operation it was part of ends by checking the flag and
# raising ``Corrupted``. A fault anywhere else is passed to the handler installed before
# (faulthandler's, say), or kills the process as it would have.
#
# The handler is a ctypes callback: Python code run on the faulting thread, inside the signal
# handler. That is sound here because SIGBUS from a mapping is synchronous: it interrupts a
# ``memcpy`` or a load that the interpreter (or numpy) runs on a mapped buffer, never code
# inside the allocator or the interpreter's own bookkeeping, so the thread may call back into
# Python as a C extension calling a callback does (the GIL is taken again if the copy had
# released it). Nothing is paid on the hot path but the flag check, one attribute load per
# operation (measured in the README).

SIGBUS = 7
SA_SIGINFO = 4
_SIG_DFL, _SIG_IGN = 0, 1
PROT_READ, PROT_WRITE = 1, 2
MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x02, 0x10, 0x20


class _Sigaction(ctypes.Structure):
    # glibc's struct sigaction on x86-64: the handler, a 1024-bit mask, the flags, the restorer.
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16), ("flags", ctypes.c_int),
                ("restorer", ctypes.c_void_p)]


_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_PLAIN_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_int)
_sigaction = _libc.sigaction
_sigaction.argtypes = [ctypes.c_int, ctypes.POINTER(_Sigaction), ctypes.POINTER(_Sigaction)]
_sigaction.restype = ctypes.c_int
_mmap = _libc.mmap
_mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_mmap.restype = ctypes.c_void_p

# start address -> (length, weak reference to the owner whose ``faulted`` the handler raises)
_guarded: "dict[int, tuple[int, weakref.ref[typing.Any]]]" = {}
_previous = _Sigaction()
faults = 0      # how many faults the guard has turned into flags, in this process (for the tests)


def _on_sigbus(signal_number: int, info: int, context: int) -> None:
    global faults
    address = ctypes.c_void_p.from_address(info + 16).value or 0       # siginfo_t.si_addr
    for start, (length, owner) in list(_guarded.items()):
        if start <= address < start + length:
            target = owner()
            if target is None:
                break       # its ring file is gone (and unmapped): the fault is someone else's
            if _mmap(start, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0) == ctypes.c_void_p(-1).value:
                break
            target.faulted = True
            faults += 1
            return
    previous = _previous.handler or 0
    if _previous.flags & SA_SIGINFO and previous:
        _HANDLER(previous)(signal_number, info, context)
    elif previous not in (_SIG_DFL, _SIG_IGN):
        _PLAIN_HANDLER(previous)(signal_number)
    else:
        # Returning runs the access again, which now kills the process as it would have anyway.
        default = _Sigaction()
        _sigaction(SIGBUS, ctypes.byref(default), None)


_handler = _HANDLER(_on_sigbus)     # kept for the life of the process: the kernel calls it
_handler_address = ctypes.cast(_handler, ctypes.c_void_p).value


def _install_guard() -> None:
    """Installs the handler unless it is the one installed (someone may have replaced it since:
    faulthandler.enable(), say, whose handler then becomes the one faults elsewhere go to)."""
    current = _Sigaction()
    if _sigaction(SIGBUS, None, ctypes.byref(current)) != 0:
        raise SystemFailure(f"sigaction(SIGBUS) failed: {os.strerror(ctypes.get_errno())}")
    if current.handler == _handler_address:
        return
    action = _Sigaction()
    action.handler = _handler_address
    action.flags = SA_SIGINFO
    if _sigaction(SIGBUS, ctypes.byref(action), ctypes.byref(_previous)) != 0:
        raise SystemFailure(f"sigaction(SIGBUS) failed: {os.strerror(ctypes.get_errno())}")


class _PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]


def buffer_address(mapping: mmap.mmap) -> int:
    """The address of a mapping's first byte (read-only mappings included)."""
    view = _PyBuffer()
    _get_buffer(mapping, ctypes.byref(view), 0)
    try:
        return view.buf or 0
    finally:
        _release_buffer(ctypes.byref(view))


def guard_mapping(owner: typing.Any, mapping: mmap.mmap, length: int) -> int:
    """Guards ``mapping`` (``length`` bytes): a SIGBUS in it sets ``owner.faulted``. Returns the
    mapping's address, to pass to ``unguard`` before it is unmapped."""
    _install_guard()
    start = buffer_address(mapping)

    def forget(reference: "weakref.ref[typing.Any]") -> None:
        # The owner was collected without ``unguard`` (before its mapping is unmapped: weak
        # references are cleared first), so that a later mapping at the same address is not taken
        # for this one.
        if _guarded.get(start, (0, None))[1] is reference:
            del _guarded[start]
    _guarded[start] = (length, weakref.ref(owner, forget))
    return start


def unguard(start: int) -> None:
    _guarded.pop(start, None)
