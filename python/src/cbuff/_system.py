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
atomic OR of bit 31 and the waker's answer an atomic AND-NOT of it, through the futex's
``FUTEX_WAKE_OP`` (Python has no atomic read-modify-write). Every sleep is bounded (slices of at
most 50 ms, each re-arming the request and followed by a fresh look), so even a missed wake-up
costs latency, never a hang. The whole argument is in the Swift library's
``Sources/Ring/FutexSleep.swift``.

On any other architecture this module refuses to load: aarch64, for one, needs R1's load to be
an acquire (``ldar``) and W4's store a release (``stlr``), and R3 and W2 to be ``dmb ishld`` and
``dmb ish`` fences; CPython offers no atomic types, and neither ``memoryview`` nor ``ctypes``
emits any of these, so running there would be running wrong.

What this package does not have that the Swift library does: a SIGBUS guard (a ring file that
another process truncates under a Python process's mapping kills it with SIGBUS on the next
access, where Swift reports ``corrupted``), group-shared data directories (refused here), and the
registry's WAL check.
"""

import ctypes
import errno
import fcntl
import mmap
import os
import platform
import stat
import struct

from .errors import Corrupted, PermissionDenied, SystemFailure, Unsupported

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


def _membarrier(command):
    return _membarrier_call(SYS_MEMBARRIER, command, 0, 0) == 0


# Registered once per process: so that sleepers elsewhere can order this process's stores.
HAS_MEMBARRIER = _membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)


def global_barrier():
    """A full fence on every CPU running a registered process (a no-op if unavailable)."""
    if HAS_MEMBARRIER:
        _membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)


_last_timeout = [None, None, 0]     # the last timeout's ns, its timespec, and the timespec's address


def futex_wait(address, expected, timeout_ns):
    """Sleeps while the u32 at ``address`` holds ``expected``, at most ``timeout_ns``."""
    last = _last_timeout
    if last[0] != timeout_ns:       # a follower sleeps whole slices: the same timespec each time
        ts = _Timespec(timeout_ns // 1_000_000_000, timeout_ns % 1_000_000_000)
        last[:] = [timeout_ns, ts, ctypes.addressof(ts)]
    _futex(SYS_FUTEX, address, FUTEX_WAIT, expected, last[2], None, 0)


# How many FUTEX_WAKE calls this process made: for the tests that a dead sleeper stops costing.
wake_calls = 0


def futex_wake(address):
    global wake_calls
    wake_calls += 1
    _futex(SYS_FUTEX, address, FUTEX_WAKE, 0x7FFFFFFF, None, None, 0)


def _atomic_op(address, operation):
    """Applies a FUTEX_WAKE_OP operation to the u32 at ``address`` atomically: the operation on
    its second word is an atomic read-modify-write (and the system call a full barrier); it wakes
    nobody here (no waiter on the first word is asked for, and the second wake's count is zero)."""
    result = _futex(SYS_FUTEX, address, FUTEX_WAKE_OP, 0, None, address, operation)
    if result < 0:
        raise SystemFailure(f"futex(FUTEX_WAKE_OP) failed: {os.strerror(ctypes.get_errno())}")


def atomic_add_u32(address, amount):
    """Adds ``amount`` (-2048 to 2047) to the u32 at ``address`` atomically."""
    _atomic_op(address, (FUTEX_OP_ADD << 28) | ((amount & 0xFFF) << 12))


def atomic_set_bit_u32(address, bit):
    """Sets bit ``bit`` (0-31) of the u32 at ``address`` atomically (an atomic OR)."""
    _atomic_op(address, ((FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT) << 28) | (bit << 12))


def atomic_clear_bit_u32(address, bit):
    """Clears bit ``bit`` (0-31) of the u32 at ``address`` atomically (an atomic AND-NOT)."""
    _atomic_op(address, ((FUTEX_OP_ANDN | FUTEX_OP_OPARG_SHIFT) << 28) | (bit << 12))


def atomic_clear_u32(address):
    """Stores 0 in the u32 at ``address`` with an atomic exchange."""
    _atomic_op(address, FUTEX_OP_SET << 28)


def address_of(buffer, offset):
    """The address of byte ``offset`` of a writable buffer (the mapping)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer, offset))


# --- Locks ------------------------------------------------------------------------------------

def _flock(kind, start):
    return struct.pack("hhqqi4x", kind, os.SEEK_SET, start, 1, 0)


def try_lock(fd, byte):
    """Takes an OFD write lock on ``byte``; False if another open file description holds it."""
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_WRLCK, byte))
        return True
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise SystemFailure(f"Cannot lock byte {byte}: {error.strerror}.") from None


def unlock(fd, byte):
    fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_UNLCK, byte))


def is_locked(fd, byte):
    """Whether another open file description holds a lock on ``byte`` (F_OFD_GETLK)."""
    result = fcntl.fcntl(fd, F_OFD_GETLK, _flock(fcntl.F_WRLCK, byte))
    return struct.unpack("hhqqi4x", result)[0] != fcntl.F_UNLCK


# --- Processes ------------------------------------------------------------------------------

def start_time(pid):
    """Field 22 of /proc/PID/stat (clock ticks after boot), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 1:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def is_running(pid, start):
    return pid > 0 and start_time(pid) == start


# --- Files ------------------------------------------------------------------------------------

def check_directory(path):
    """Refuses a data directory another user owns or every user can write (no group sharing here)."""
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise Corrupted(f"The data directory {path} is not a directory.")
    if info.st_mode & 0o002:
        raise PermissionDenied(f"The data directory {path} can be written by every user (mode {oct(info.st_mode & 0o7777)}), so anyone could replace its files; cbuff does not use it.")
    if info.st_uid != os.geteuid():
        raise PermissionDenied(f"The data directory {path} belongs to user {info.st_uid}, not to this user ({os.geteuid()}); cbuff does not use it.")


def open_trusted(path, writable=True, what="ring file"):
    """Opens a regular file this user owns, never through a symbolic link, never blocking on a FIFO."""
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise Corrupted(f"The {what} {path} is a symbolic link; cbuff does not follow it.") from None
        if error.errno in (errno.EACCES, errno.EPERM):
            raise PermissionDenied(f"Permission denied: cannot open the {what} {path}.") from None
        raise SystemFailure(f"Cannot open the {what} {path}: {error.strerror}.") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Corrupted(f"The {what} {path} is not a regular file; cbuff does not use it.")
    if info.st_uid != os.geteuid():
        os.close(fd)
        raise PermissionDenied(f"Permission denied: the {what} {path} belongs to user {info.st_uid}, not to this user.")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd, info


def map_shared(fd, size, writable=True):
    """A MAP_SHARED mapping of the file's first ``size`` bytes."""
    return mmap.mmap(fd, size, access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)
