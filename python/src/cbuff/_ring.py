"""The ring file and the publication protocol (RingFileFormat.md, "Publication", "Message rings"):
a mapped file, its header words, the reader table, and the writer's and readers' steps for both
kinds of ring. Every access to the mapping is in this module, through ``Words``; ``_system``
says why each plain access has the ordering the protocol needs on x86-64."""

import errno
import logging
import mmap
import os
import stat
import struct
import sys
import time
from typing import Any, Callable, Iterator, NamedTuple, Optional, Tuple, TypeVar, Union

from . import _format as F
from . import _system as S
from ._format import (  # the hot paths' constants, as globals (one lookup, not two)
    H_READERS_VERSION,
    H_WAITERS,
    H_WRITER_WAITING,
    HEADER_SIZE,
    LAST_WRITE_STAMP_SHIFT,
    W_DATA,
    W_LAST_WRITE_AT,
    W_PUBLISHED,
)
from .errors import CBuffError, Closed, Corrupted, InvalidArgument, NotFound, ReaderBusy

T = TypeVar("T")
# The tether's notices go to the "cbuff" logger: a reader left behind is an event of the running
# system that the calling code cannot avoid (the logging HOWTO's rule for logging.warning over
# warnings.warn), and one per untethering must reach the operator, which the warnings filter's
# default "once per call site" would swallow after the first.
_log = logging.getLogger("cbuff")
Counters = Tuple[int, int, int, int, int, int]      # tail, published, claimed, last record start, count, allowance (B of I4)
Record = Optional[Tuple[str, int, int]]        # ("message", length, words), ("padding", 0, words) or None
SLICE_NS = 50_000_000      # the longest futex sleep before a fresh look
WAKE_REQUESTED_BIT = 31    # of `waiters` and `writer waiting`: a sleeper asked to be woken
WAKE_ACKNOWLEDGED_BIT = 30  # of `waiters`: the writer read the request and woke someone for it
WAKE_ACKNOWLEDGED = 1 << WAKE_ACKNOWLEDGED_BIT
WAKE_BOTH = 1 << WAKE_REQUESTED_BIT | WAKE_ACKNOWLEDGED
LONGEST_COALESCING = 1.0   # seconds: a longer coalescing delay is cut to it (as in Swift)
FOLLOW_BATCH = 1024        # the most items a follower reads at one look (``SlotCursor.follow``)
CLOCK_REALTIME_COARSE = getattr(time, "CLOCK_REALTIME_COARSE", 5)   # Linux: the last timer tick


class NamedReaderEntry(NamedTuple):
    """A registered named reader's record as ``RingFile.readers`` reads it."""

    slot: int                     # the record's index in the table
    name: str
    cursor: int
    sequence: Optional[int]       # a message ring's sequence at the cursor (None: not known)
    pid: int                      # the last process that opened it
    alive: bool                   # whether a live process holds its liveness lock
    untethered: bool              # whether a `block` writer stopped waiting for it


LONGEST_TIMEOUT = 1e9       # seconds (31.7 years): a deadline in nanoseconds stays within 63 bits


def checked_timeout(value: Any, what: str = "timeout") -> Optional[float]:
    """Every timeout argument's one check: None (no limit), or a real number (not a bool) from
    0 to ``LONGEST_TIMEOUT`` seconds, whose deadline in monotonic nanoseconds fits the signed
    64 bits the Swift side's clocks use (a longer wait is no wait anyone means); anything else
    is ``InvalidArgument``."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= LONGEST_TIMEOUT:
        return float(value)
    raise InvalidArgument(f"{what} {value!r} is not None or a number of seconds from 0 to {LONGEST_TIMEOUT:.0f}.")


class RingFile:
    """One open, validated, mapped ring file. ``close()`` unmaps and closes (releasing locks).

    ``faulted`` is raised by the SIGBUS guard (``_system``) when an access to the mapping found
    the file truncated under it: from then on the mapping reads zeros, and every operation
    checks the flag (``check``) before it returns anything, so what it read is never believed."""

    # Slots: the hot paths read ``q``, ``d``, ``claimed_index`` and ``faulted`` on every call.
    __slots__ = (
        "__weakref__",
        "_base",
        "_found",
        "_guard",
        "_sync_failed",
        "claimed_index",
        "closed",
        "d",
        "data_offset",
        "faulted",
        "fd",
        "layout",
        "mapping",
        "path",
        "q",
        "settle_reach",
        "unnamed",
    )

    def __init__(self, path: str, fd: int, mapping: mmap.mmap, layout: F.Layout) -> None:
        self.path, self.fd, self.layout = path, fd, layout
        self.mapping = mapping
        self.closed = False
        self.faulted = False
        self.unnamed = False                   # the file had no name at the last ``check_size``
        self.settle_reach = layout.length      # what an attaching writer's settle looks at (``attach_writer``)
        self._guard = S.guard_mapping(self, mapping, layout.file_size)
        self.q = memoryview(mapping).cast("Q")     # u64 words: index = offset // 8
        self.d = memoryview(mapping).cast("I")     # u32 words: index = offset // 4
        self.claimed_index = layout.claimed_offset // 8
        self.data_offset = F.HEADER_SIZE
        self._base: Optional[int] = None       # the mapping's address, for the futex calls (see ``address``)
        self._found: Optional[Tuple[int, int, int, int]] = None   # the dead writer a take-over found
        self._sync_failed = False              # a sync failed since one last succeeded (see ``synchronize``)

    @classmethod
    def create(cls, trust: S.DirectoryTrust, name: str, layout: F.Layout) -> "RingFile":
        """Creates ring file ``name`` (which must not exist) in the directory ``trust`` vouches
        for, with its file mode, reserves its storage, writes its header and maps it; on any
        failure nothing is left under that name."""
        path = os.path.join(trust.path, name)
        try:
            fd = S.open_fd(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, trust.file_mode)
        except OSError as error:
            raise S.system_error(error, f"create the ring file {path}") from None
        try:
            try:
                os.fchmod(fd, trust.file_mode)
                os.posix_fallocate(fd, 0, layout.file_size)
                os.pwrite(fd, layout.encode(time.time_ns()), 0)
            except OSError as error:
                raise S.system_error(error, f"reserve {layout.file_size} bytes for the ring file {path}") from None
            return cls(path, fd, S.map_shared(fd, layout.file_size), layout)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise

    @classmethod
    def open(cls, trust: S.DirectoryTrust, name: str, writable: bool = True) -> "RingFile":
        """Opens and maps an existing ring file after validating its header against its real
        size and its counters against each other; only a regular file with one link, owned as
        ``trust`` expects, is opened. Raises ``FileNotFoundError`` if there is none."""
        fd, info = open_ring_descriptor(trust, name, writable)
        path = os.path.join(trust.path, name)
        try:
            try:
                header = os.pread(fd, F.DESCRIBED_BYTES, 0)
            except OSError as error:
                raise S.system_error(error, f"read the header of ring file {path}") from None
            layout = F.Layout.validate(header, info.st_size, path)
            if writable and info.st_blocks * 512 < info.st_size:
                # A sparse file (a copy made with holes, say): a write into a hole on a full disk
                # would be a SIGBUS. Reserve its storage now, or say why not.
                try:
                    os.posix_fallocate(fd, 0, layout.file_size)
                except OSError as error:
                    raise S.system_error(error, f"reserve the storage of ring file {path}, which is sparse ({info.st_blocks * 512} of its {info.st_size} bytes allocated); nothing was written to it") from None
            file = cls(path, fd, S.map_shared(fd, layout.file_size, writable), layout)
        except BaseException:
            os.close(fd)
            raise
        try:
            file.check_counters()
            file.check()
        except BaseException:
            file.close()
            raise
        return file

    def close(self) -> None:
        """Marks the file closed and closes its descriptor (releasing its locks), then wakes
        this process's sleepers on it. The mapping is not unmapped here: another thread may be
        inside a wait on it (``follow``, ``pop(timeout)``, a `block` push) holding this object,
        and it looks at the mapping until it sees ``closed`` (``sleep`` looks after every wake)
        and raises ``Closed``. The mapping, its views and its SIGBUS guard go with the last
        reference to this object (the handle drops its own at close), so no released view is
        ever reachable from a waiter."""
        if self.closed:
            return
        self.closed = True
        os.close(self.fd)
        if self._base is not None:      # someone slept on it: wake them to see ``closed``
            S.futex_wake(self._base + F.OFF_NOTIFY)
            S.futex_wake(self._base + F.OFF_SPACE)

    def check(self) -> None:
        """Raises ``Corrupted`` if the file was truncated under this mapping (see the class)."""
        if self.faulted:
            raise self.truncated()

    def check_size(self) -> None:
        """Where a waiter waits (``sleep``: once per wait and per slice, never per item): one
        ``fstat`` of the file, as the Swift side's ``RingFile.isStillNamed``. A file shorter
        than its mapping was truncated by another process (a caught-up reader touches no page
        past the header, so no access faults to say so): ``Corrupted``. ``Closed`` if another
        thread closed this file meanwhile (looked at after the ``fstat``, so a descriptor number
        reused by another open is never believed)."""
        failure: Optional[OSError] = None
        size = 0
        try:
            info = os.fstat(self.fd)
            size, self.unnamed = info.st_size, info.st_nlink == 0
        except OSError as error:
            failure = error
        if self.closed:
            raise self.closed_error()
        if failure is not None:
            raise S.system_error(failure, f"look at the size of ring file {self.path}") from None
        if size < self.layout.file_size:
            self.faulted = True
        self.check()

    def cannot_receive_more(self) -> bool:
        """Whether no item can arrive in this file any more: it has no name (its buffer was
        removed, as of the last ``check_size``) and no writer holds it (a live writer in a
        removed file still publishes to the readers it has). The Swift side's
        ``BufferReader.canReceiveMore``: a reader's wait ends then, as at a timeout."""
        return self.unnamed and not self.writer_alive()

    def closed_error(self) -> Closed:
        return Closed(f"Ring file {self.path} was closed by another thread of this process while this one waited on it.")

    def truncated(self) -> Corrupted:
        return Corrupted(f"Ring file {self.path} was truncated by another process while this one had it mapped; nothing read from it since is delivered. Remove the buffer (or restore the file).")

    def created_at(self) -> int:
        return self.q[F.OFF_CREATED_AT // 8]

    def address(self, offset: int) -> int:
        """The address of byte ``offset`` of the mapping (writable), for the futex system calls:
        found once, as ``address_of`` costs microseconds; valid while the file stays mapped."""
        if self._base is None:
            self._base = S.address_of(self.mapping, 0)
        return self._base + offset

    # Header words
    def published(self) -> int:
        return self.q[F.OFF_PUBLISHED // 8]

    def claimed(self) -> int:
        return self.q[self.claimed_index]

    def check_counters(self) -> None:
        """Refuses counters that contradict each other or the geometry (every counter at most
        2^63 - 1, ``published <= claimed <= published + length``), named-reader records that
        are damaged (a state other than 0 or 1, a cursor beyond ``published``, a name that
        registration would not accept), and, for a ring of messages, what ``MessageArea.observe``
        refuses (I1-I6 of the format's message rules). A record another process is changing
        counts as damaged only if it reads so twice."""
        published, claimed = self.published(), self.claimed()
        again = self.published()
        if max(again, claimed) > F.MAX_COUNT:
            raise Corrupted(f"Ring file {self.path} is damaged: its counters (published {again}, claimed {claimed}) are beyond the {F.MAX_COUNT} a ring file can count.")
        if claimed < published or (claimed - again > self.layout.length and claimed >= again):
            raise Corrupted(f"Ring file {self.path} is damaged: its counters contradict each other (published {published}, claimed {claimed}, length {self.layout.length}).")
        if self.reader_table_problem() is not None:
            self.check_reader_table()
        if self.layout.messages:
            verdict = MessageArea(self).observe()
            if isinstance(verdict, MessageDamage):
                raise self.damaged(verdict)

    def damaged(self, damage: str) -> Corrupted:
        return Corrupted(f"Ring file {self.path} is damaged: {damage}; nothing in it is read or written past that.")

    def reader_table_problem(self) -> Optional[str]:
        """The format's "The table is read whole" (the Swift ``ReaderTable.problem``): a state
        other than 0 (free) or 1 (registered), a registered record whose name registration
        would not accept, a cursor beyond ``published`` (or a committed message sequence beyond
        2^63 - 1), or two registered records with one name. None if every record is free or
        sound. Looked at without the table lock, a record being changed can look torn for an
        instant: callers look twice (``check_reader_table`` once under the lock)."""
        advice = "cbuff cannot tell which items a reader that may be running still needs, so it reads and writes nothing on its strength; only removing the buffer (cbuff rm --force) clears it."
        published = self.published()
        seen: dict[str, int] = {}
        for index in range(F.READER_CAPACITY):
            record = self._record(index)
            state = self.d[(record + F.REC_STATE) // 4]
            if state == 0:
                continue
            if state != 1:
                return f"named reader record {index} (byte {record}) has state {state}, neither free (0) nor registered (1); {advice}"
            name = self.reader_name(index)
            if name is None:
                return f"named reader record {index} (byte {record}) is registered with a damaged name, so it can be neither listed nor removed by name; {advice}"
            cursor = self.q[(record + F.REC_CURSOR) // 8]
            if cursor > published:
                return f"named reader record {index} (\"{name}\") has its cursor at {cursor}, beyond the {published} positions published; {advice}"
            sequence = self.q[(record + F.REC_SEQUENCE) // 8]
            if self.layout.messages and sequence > F.MAX_COUNT:
                return f"named reader record {index} (\"{name}\") committed sequence {sequence - 1}, beyond the {F.MAX_COUNT} a ring file can count; {advice}"
            if name in seen:
                earlier = seen[name]
                return f"named reader records {earlier} and {index} (bytes {self._record(earlier)} and {record}) are both registered as reader \"{name}\", which names one record; {advice}"
            seen[name] = index
        return None

    def check_reader_table(self) -> None:
        """Raises ``Corrupted`` for what ``reader_table_problem`` finds (one look: under the
        table lock, or a second look after a first found something)."""
        problem = self.reader_table_problem()
        if problem is not None:
            raise Corrupted(f"Ring file {self.path} is damaged: {problem}")

    # The writer's liveness
    def try_lock_writer(self) -> bool:
        if S.try_lock(self.fd, F.WRITER_LOCK_BYTE):
            return True
        # A child forked by the last owner may hold it for a moment (see the format's "Locks").
        if not self.recorded_writer_running():
            deadline = time.monotonic() + 0.1
            while time.monotonic() < deadline:
                time.sleep(0.005)
                if S.try_lock(self.fd, F.WRITER_LOCK_BYTE):
                    return True
        return False

    def writer_alive(self) -> bool:
        return S.is_locked(self.fd, F.WRITER_LOCK_BYTE)

    def recorded_writer_running(self) -> bool:
        return (self.d[F.OFF_WRITER_STATE // 4] == F.STATE_ATTACHED
                and S.is_running(self.d[F.OFF_WRITER_PID // 4], self.q[F.OFF_WRITER_START_TIME // 8]))

    def recorded_writer_pid(self) -> int:
        return self.d[F.OFF_WRITER_PID // 4]

    def recorded_writer_state(self) -> int:
        """The header's writer state; ``Corrupted`` for a value no writer writes (checked at
        open too, and here again: the word is a writer's, written after the open)."""
        return F.check_writer_state(self.d[F.OFF_WRITER_STATE // 4], self.path)

    def attach_writer(self) -> "tuple[int, int]":
        pid = os.getpid()
        start = S.start_time(pid) or 0
        # A writer that died (attached, its lock free, which the caller holds now): its evidence
        # and the counters then, so that a close that wrote nothing can leave it as found.
        self._found = None
        if self.d[F.OFF_WRITER_STATE // 4] == F.STATE_ATTACHED:
            self._found = (self.d[F.OFF_WRITER_PID // 4], self.q[F.OFF_WRITER_START_TIME // 8],
                           self.q[F.W_PUBLISHED], self.q[F.OFF_MESSAGE_TAIL // 8])
        self.d[F.OFF_WRITER_PID // 4] = pid
        self.q[F.OFF_WRITER_START_TIME // 8] = start
        self.q[F.OFF_WRITER_GENERATION // 8] = (self.q[F.OFF_WRITER_GENERATION // 8] + 1) & 0xFFFF_FFFF_FFFF_FFFF  # wraps, as every bumped word
        self.settle_reach = self._settle_reach()
        self._record_boot()
        # A durable word beyond what was published vouches for nothing and a sync only raises it:
        # forgotten (the Swift side's ``forgetImpossibleDurable``).
        following = self.q[F.OFF_PUBLISHED_MESSAGES // 8] if self.layout.messages else self.q[F.W_PUBLISHED]
        if self.q[F.OFF_DURABLE // 8] > following:
            self.q[F.OFF_DURABLE // 8] = 0
        # Only a dead or closed writer can have left a request for room: nobody sleeps there now.
        S.atomic_clear_u32(self.address(F.OFF_WRITER_WAITING))
        self.d[F.OFF_WRITER_STATE // 4] = F.STATE_ATTACHED      # last: whoever sees it sees the rest
        return pid, start

    def _settle_reach(self) -> int:
        """How many slots from ``published`` an attaching writer of a ring with check words looks
        at for words a predecessor left ahead of it (``SlotPublisher._settle``), before this boot
        is recorded (the Swift side's ``RingFile.settleReach``): none if no writer ever attached;
        the predecessor's claim if it wrote in this boot (it wrote nothing beyond its claim, and
        the page cache holds what it wrote); else the whole lap (a machine crash may have left
        any page newer than the header)."""
        length = self.layout.length
        if self.d[F.OFF_WRITER_STATE // 4] == F.STATE_NEVER:
            return 0
        at = F.OFF_WRITER_BOOT
        now = S.boot_id()
        if now is None or bytes(self.mapping[at:at + 16]) != now:
            return length
        return min(max(self.claimed() - self.published(), 0), length)

    def _record_boot(self) -> None:
        """Records this boot as the writer's (the Swift side's ``RingFile.recordBoot``, whose
        comment is the argument): a writer that finds another boot recorded marks what the ring
        holds now as written then, unless a version-4 message ring's take-over just proved
        every record."""
        now = S.boot_id() or bytes(16)
        at = F.OFF_WRITER_BOOT
        recorded = bytes(self.mapping[at:at + 16])
        if recorded == now:
            return
        if any(recorded):
            layout = self.layout
            proven = layout.version >= 4     # checked records and slots: every read proves them
            following = self.q[F.OFF_PUBLISHED_MESSAGES // 8] if layout.messages else self.q[F.W_PUBLISHED]
            self.q[F.OFF_EARLIER_BOOT_BELOW // 8] = 0 if proven else following
        self.mapping[at:at + 16] = now

    def recovery_pending(self) -> bool:
        """Whether this version-4 message ring waits for a recovery after a machine crash (the
        Swift side's ``RingFile.recoveryIsPending``): its last writer attached in another boot and
        did not close after a sync. This package does not recover (the Swift side does, on the
        first open of a reader or writer); its readers read what every check word vouches for."""
        layout = self.layout
        if not layout.messages or layout.version < 4:
            return False
        at = F.OFF_WRITER_BOOT
        recorded, now = bytes(self.mapping[at:at + 16]), S.boot_id()
        if not any(recorded) or now is None or recorded == now:
            return False
        closed = self.d[F.OFF_WRITER_STATE // 4] == F.STATE_CLOSED
        return not (closed and self.q[F.OFF_DURABLE // 8] >= self.q[F.OFF_PUBLISHED_MESSAGES // 8])

    def earlier_boot(self, oldest: int) -> "bool | None":
        """Whether the ring holds items or messages written in an earlier boot that nothing
        proved since (None: no writer recorded its boot)."""
        at = F.OFF_WRITER_BOOT
        recorded = bytes(self.mapping[at:at + 16])
        now = S.boot_id()
        if not any(recorded) or now is None:
            return None
        return recorded != now or int(self.q[F.OFF_EARLIER_BOOT_BELOW // 8]) > oldest

    def warn_if_crash_damage_is_undetectable(self, name: str) -> None:
        """Logs once, at warning level, that a reader opened on this ring may be handed what a
        machine crash did to it without anyone noticing (the Swift side's
        ``RingFile.warnIfCrashDamageIsUndetectable``): the ring carries no check words (items of
        versions 2 and 3, messages of version 3) and holds what was written before the machine
        last restarted that nothing proved since."""
        layout = self.layout
        if layout.version >= 4:
            return
        oldest = 0 if layout.messages else min(self.published(), max(0, self.claimed() - layout.length))
        if self.earlier_boot(oldest):
            noun = "messages" if layout.messages else "items"
            _log.warning('buffer "%s" holds %s written before the machine last restarted, and its format (version %d) carries no check words: '
                         "if the machine crashed, some may be stale, zeroed or torn, and no reader can tell (`cbuff inspect %s`; a buffer "
                         "created now on a disk carries check words)", name, noun, layout.version, name)

    def synchronize(self) -> int:
        """Makes everything published so far durable, then records it (the Swift side's
        ``RingFile.synchronize``, whose comment is the argument): ``fsync`` of the file, then
        the durable sequence stored, then ``msync`` of the header page. Never stored before
        the ``fsync`` returned. Returns the durable sequence."""
        q = self.q
        through = q[F.OFF_PUBLISHED_MESSAGES // 8] if self.layout.messages else q[F.W_PUBLISHED]
        if self._sync_failed:
            # A failed fsync left pages Linux marked clean unwritten: every page is made dirty
            # again (each word stored back as it is: the data area's are the writer's alone).
            q[F.OFF_DURABLE // 8] = q[F.OFF_DURABLE // 8]
            for offset in range(F.HEADER_SIZE, self.layout.file_size, 4096):
                q[offset // 8] = q[offset // 8]
        self._sync_failed = True
        S.synchronize(self.fd, f"make the ring file {self.path} durable")
        self._sync_failed = False
        q[F.OFF_DURABLE // 8] = through
        S.synchronize_mapped(self.mapping, F.HEADER_SIZE, f"make the header of ring file {self.path} durable")
        return int(through)

    def durable(self) -> int:
        """The durable sequence the header records (0 if no writer synced)."""
        return int(self.q[F.OFF_DURABLE // 8])

    def detach_writer(self) -> None:
        """The writer's close (the Swift side's ``markClosed(leaving:)``): ``closed``, unless it
        took over from a writer that died and wrote nothing (it only waited, say): then the
        dead writer's PID, start time and ``attached`` go back, and the buffer still reads as
        died, as before this writer came."""
        found = self._found
        if found is not None and self.q[F.W_PUBLISHED] == found[2] and self.q[F.OFF_MESSAGE_TAIL // 8] == found[3]:
            self.d[F.OFF_WRITER_PID // 4] = found[0]
            self.q[F.OFF_WRITER_START_TIME // 8] = found[1]
            self.d[F.OFF_WRITER_STATE // 4] = F.STATE_ATTACHED      # last, as attach_writer's
        else:
            self.q[F.OFF_LAST_WRITE_AT // 8] = time.time_ns()
            self.d[F.OFF_WRITER_STATE // 4] = F.STATE_CLOSED
        self._wake(F.OFF_NOTIFY, F.OFF_WAITERS)

    # Waking (the format's "Waiting"; the argument is the Swift library's FutexSleep.swift, whose
    # step names K2-K6 and S1-S5 are used here): clear the request, change the futex word, wake
    # everyone; the writer then acknowledges the request of the readers it woke.
    def wake_readers(self) -> None:
        """The writer's answer after a publish (K3-K6), when it found ``waiters`` non-zero (K2):
        clears bits 30 and 31, bumps ``notify`` and wakes every sleeper; if the wake woke
        someone, sets both bits again (K6: "acknowledged"), so that the readers it woke sleep
        next time without the barrier (``sleep``). When the bits it clears held its own earlier
        acknowledgement, the woken readers are most likely asleep again: it acknowledges before
        the wake (a reader the kernel runs at once then finds the bits), and withdraws it with
        a second clear, bump and wake if that wake woke nobody (dead or gone sleepers cost one
        or two wake calls, then none). Only this process's writer sets bit 30 (one writer at a
        time), so the plain load says whether the bits held it. Bit 30 is cleared before bit
        31 (one atomic operation each): no partial clear ever leaves both bits set."""
        request, word = self.address(F.OFF_WAITERS), self.address(F.OFF_NOTIFY)
        again = self.d[F.OFF_WAITERS // 4] & WAKE_ACKNOWLEDGED
        if again:
            S.atomic_clear_bit_u32(request, WAKE_ACKNOWLEDGED_BIT)                  # K3
        S.atomic_clear_bit_u32(request, WAKE_REQUESTED_BIT)
        if again:
            self._acknowledge(request)                                              # K6, early
        if S.futex_add_and_wake(word):                                              # K4, K5
            if not again:
                self._acknowledge(request)                                          # K6
        elif again:
            self._wake(F.OFF_NOTIFY, F.OFF_WAITERS)     # nobody slept after all: withdraw it

    @staticmethod
    def _acknowledge(request: int) -> None:
        S.atomic_set_bit_u32(request, WAKE_REQUESTED_BIT)
        S.atomic_set_bit_u32(request, WAKE_ACKNOWLEDGED_BIT)

    def wake_writer(self) -> None:
        self._wake(F.OFF_SPACE, F.OFF_WRITER_WAITING)

    def _wake(self, word_offset: int, request_offset: int) -> None:
        """K3-K5 without acknowledging: how a closing writer wakes its readers and how named
        readers wake the writer (``wake``)."""
        wake(self.d, self.address(0), word_offset, request_offset)

    # The reader table
    @staticmethod
    def _record(index: int) -> int:
        return F.READER_TABLE + index * F.READER_RECORD_SIZE

    def reader_name(self, index: int) -> Optional[str]:
        record = self._record(index)
        if self.d[(record + F.REC_STATE) // 4] != 1:
            return None
        length = self.d[(record + F.REC_NAME_LENGTH) // 4]
        if not 1 <= length <= F.READER_NAME_MAX:
            return None
        # The file is input: a name is what registration would have accepted, or it is damaged
        # (an escape sequence written into the table never reaches an operator's terminal).
        name = bytes(self.mapping[record + F.REC_NAME:record + F.REC_NAME + length]).decode("ascii", "replace")
        return name if F.READER_NAME_RULE.match(name) else None

    def readers(self) -> "list[NamedReaderEntry]":
        """Every named reader's record, in table order; ``Corrupted`` if the table contradicts
        itself (read whole: never one of two contradicting records as if it were sound)."""
        if self.reader_table_problem() is not None:
            self.check_reader_table()
        out = []
        for index in range(F.READER_CAPACITY):
            name = self.reader_name(index)
            if name is None:
                continue
            record = self._record(index)
            sequence = self.q[(record + F.REC_SEQUENCE) // 8]
            out.append(NamedReaderEntry(index, name, self.q[(record + F.REC_CURSOR) // 8], sequence - 1 if sequence else None,
                                        self.d[(record + F.REC_PID) // 4], S.is_locked(self.fd, 1 + index),
                                        self.d[(record + F.REC_UNTETHERED) // 4] != 0))
        return out

    def untethered(self, index: int) -> bool:
        """Whether a `block` writer stopped waiting for named reader ``index`` (any non-zero
        flag counts: the file is input, and a damaged flag only makes a writer wait less)."""
        return bool(self.d[(self._record(index) + F.REC_UNTETHERED) // 4] != 0)

    def bump_readers_version(self) -> None:
        """Tells the writer's gate (and gated readers) that a named reader's record changed: an
        atomic increment (a full barrier), so whatever was stored before it is visible to whoever
        sees the new version. Wraps (versions are compared for equality only)."""
        S.atomic_add_u32(self.address(F.OFF_READERS_VERSION), 1)

    def with_table_locked(self, timeout: float, body: "Callable[[], T]") -> T:
        deadline = time.monotonic() + timeout
        while not S.try_lock(self.fd, F.TABLE_LOCK_BYTE):
            if time.monotonic() > deadline:
                raise S.lock_wait_timed_out(self.path, os.fstat(self.fd).st_ino, F.TABLE_LOCK_BYTE, timeout,
                                            f"lock the named-reader table (byte {F.TABLE_LOCK_BYTE})")
            time.sleep(0.001)
        try:
            return body()
        finally:
            S.unlock(self.fd, F.TABLE_LOCK_BYTE)

    def claim_reader(self, name: str, buffer: str, timeout: float,
                     start: "Callable[[], tuple[int, Optional[int]]]") -> "tuple[int, bool]":
        """Registers (or resumes) named reader ``name``: returns (index, is_new)."""
        if not isinstance(name, str) or not F.READER_NAME_RULE.match(name):
            raise InvalidArgument(f"Reader name {name!r} must be 1 to {F.READER_NAME_MAX} bytes of letters, digits and . _ - : @ +, not starting with a dot.")
        encoded = name.encode()

        def body() -> "tuple[int, bool]":
            self.check_reader_table()
            existing = [index for index in range(F.READER_CAPACITY) if self.reader_name(index) == name]
            if existing:
                index = existing[0]
            else:
                free = [index for index in range(F.READER_CAPACITY) if self.d[(self._record(index) + F.REC_STATE) // 4] == 0]
                if not free:
                    raise InvalidArgument(f'Buffer "{buffer}" already has {F.READER_CAPACITY} named readers, its maximum.')
                # A free record whose liveness lock is held belongs to a reader removed by force
                # while its process runs, which may still store its cursor there until it
                # notices: it is not handed to another reader until that lock is released.
                unheld = [index for index in free if not S.is_locked(self.fd, 1 + index)]
                if not unheld:
                    raise ReaderBusy(f'Buffer "{buffer}" has no named-reader record free: the {len(free)} left were freed by a forced removal while the removed readers\' processes still have them open; they are free once those processes stop (at their next read, or when they exit).')
                index = unheld[0]
            record = self._record(index)
            if not S.try_lock(self.fd, 1 + index):
                raise ReaderBusy(f'Named reader "{name}" of buffer "{buffer}" is in use by a live process (PID {self.d[(record + F.REC_PID) // 4]}).')
            pid = os.getpid()
            if not existing:
                # A free record may keep words an earlier version left (it freed records from
                # byte 64 on, so a stale untethered flag at 16): registering zeroes all of it.
                self.mapping[record:record + F.READER_RECORD_SIZE] = bytes(F.READER_RECORD_SIZE)
                cursor, sequence = start()
                self.q[(record + F.REC_CURSOR) // 8] = cursor
                self.q[(record + F.REC_SEQUENCE) // 8] = 0 if sequence is None else sequence + 1
                self.d[(record + F.REC_NAME_LENGTH) // 4] = len(encoded)
                self.mapping[record + F.REC_NAME:record + F.REC_NAME + F.READER_NAME_MAX] = encoded.ljust(F.READER_NAME_MAX, b"\0")
            self.d[(record + F.REC_PID) // 4] = pid
            self.q[(record + F.REC_START_TIME) // 8] = S.start_time(pid) or 0
            if not existing:
                self.d[(record + F.REC_STATE) // 4] = 1          # last
                self.bump_readers_version()
            elif self.untethered(index):
                # A `block` writer stopped waiting for this reader while it was gone (the
                # format's "The tether timeout", step 4): tie it again, under the table lock
                # and with its liveness lock taken, so the writer's gate, which rescans when the
                # version changes, counts its cursor again. It resumes at its cursor, which the
                # writer has lapped: its first read fails the `claimed` check (R4) and counts
                # what it missed, as any lapped reader does.
                self.d[(record + F.REC_UNTETHERED) // 4] = 0
                self.bump_readers_version()
                _log.info('named reader "%s" of %s is back: the writer waits for it again', name, self.path)
            return index, not existing
        return self.with_table_locked(timeout, body)

    def seek_reader(self, name: str, buffer: str, timeout: float,
                    target: "Callable[[], tuple[int, Optional[int]]]") -> int:
        """Moves named reader ``name`` to the point ``target()`` computes (position, and for a
        ring of messages the sequence there), in one change of its record (the format's atomic
        seek): under the table lock, with the reader's liveness lock taken as an opener would
        (refused with ``ReaderBusy`` while a live process has it open). An opener waits for the
        table lock, so it resumes either before the move (which is then refused) or after it.
        Stores the message sequence, then the cursor, bumps the readers version (so the writer's
        gate rescans and sees the new cursor, wherever it moved) and wakes a writer waiting for
        room. Returns the position stored."""
        def body() -> int:
            self.check_reader_table()
            found = [index for index in range(F.READER_CAPACITY) if self.reader_name(index) == name]
            if not found:
                raise NotFound(f'Buffer "{buffer}" has no named reader "{name}".')
            index = found[0]
            if not S.try_lock(self.fd, 1 + index):
                raise ReaderBusy(f'Named reader "{name}" of buffer "{buffer}" is in use by a live process (PID {self.d[(self._record(index) + F.REC_PID) // 4]}); stop it first, then move it. It was not moved.')
            try:
                position, sequence = target()
                record = self._record(index)
                if self.layout.messages:
                    self.q[(record + F.REC_SEQUENCE) // 8] = 0 if sequence is None else sequence + 1
                self.q[(record + F.REC_CURSOR) // 8] = position
                self.bump_readers_version()
                self.wake_writer()
                return position
            finally:
                S.unlock(self.fd, 1 + index)
        return self.with_table_locked(timeout, body)

    def is_registered(self, index: int) -> bool:
        """Whether named-reader record ``index`` is still registered: a reader that has it open
        finds it freed once a forced removal (``cbuff reader rm --force``) took it away. No
        other reader registers there while it holds the record's liveness lock
        (``claim_reader``), so state 1 in its own record is its own registration."""
        return bool(self.d[(self._record(index) + F.REC_STATE) // 4] == 1)

    def commit(self, index: int, cursor: int, sequence: Optional[int] = None) -> None:
        """A named reader's commit: (the message sequence, then) the cursor, then a look at the writer."""
        record = self._record(index)
        if self.layout.messages:
            self.q[(record + F.REC_SEQUENCE) // 8] = 0 if sequence is None else sequence + 1
        self.q[(record + F.REC_CURSOR) // 8] = cursor
        # The writer's sleep pairs its request in WRITER_WAITING with a membarrier when the
        # kernel has one; without it a missed wake costs at most one 50 ms sleep slice, never an
        # item. Waking clears the request (a writer that died asleep costs one wake at most).
        if S.WAKER_FENCE:
            S.fence()
        if self.d[F.OFF_WRITER_WAITING // 4]:
            self.wake_writer()

    def committed(self, index: int) -> "tuple[int, Optional[int]]":
        record = self._record(index)
        sequence = self.q[(record + F.REC_SEQUENCE) // 8]
        return self.q[(record + F.REC_CURSOR) // 8], (sequence - 1 if sequence else None)

    # Waiting (the format's "Waiting"): readers on `notify`, the writer on `space`.
    def sleep(self, word_offset: int, request_offset: int, ready: Callable[[], bool], timeout: Optional[float],
              acknowledged: bool = False, coalesce: float = 0.0, look_at: Optional[Callable[[], Optional[int]]] = None) -> bool:
        """Sleeps in slices until ``ready()`` or ``timeout`` seconds (None: no limit): the
        sleeper's steps of the Swift library's ``FutexSleep.wait`` (C1, S1-S5).

        - ``coalesce`` (seconds; a longer one than 1 s is cut to 1 s): first sleep up to that long *without* asking to be
          woken (C1, a plain timed sleep): the writer makes no wake call for this sleeper, and
          what it publishes meanwhile is all there at the next look. Only if nothing came does
          the sleeper ask to be woken (a follower of 1,000 items a second is woken every 5 ms,
          not every item).
        - Each slice then reads the futex word (S1) and the request word (S2a); unless
          ``acknowledged`` (a reader, whom the writer acknowledges) finds bits 30 and 31 both
          set, it asks to be woken (S2, an atomic OR of bit 31) and orders that before its next
          look with the global barrier (S3). Both bits set means the writer has read the request
          since the last clear, and every clear is followed by a bump of the futex word and a
          wake: the sleeper may skip S2 and S3 (the argument is in FutexSleep.swift).
        - ``look_at()``: a monotonic time (ns) at which ``ready()`` must be asked again although
          nobody wakes the sleeper (the `block` writer's tether deadline), or None: a slice that
          would pass it ends there.

        A sleeper that dies costs the waker one wake-up at most (two if it was acknowledged)."""
        timeout = checked_timeout(timeout)
        coalesce = checked_timeout(coalesce, "coalesce") or 0.0
        deadline = None if timeout is None else time.monotonic_ns() + int(timeout * 1e9)
        self.check_size()
        if self.q.readonly:
            return self._poll(ready, deadline)
        if coalesce > 0 and not ready():                                        # C1
            pause = min(coalesce, LONGEST_COALESCING)
            if deadline is not None:
                pause = min(pause, (deadline - time.monotonic_ns()) / 1e9)
            if pause > 0:
                time.sleep(pause)
            if self.closed:
                raise self.closed_error()
            if ready():
                return True     # the usual end of a coalescing follower's wait: one system call
        word, request = self.address(word_offset), self.address(request_offset)
        while True:
            if self.closed:
                raise self.closed_error()
            if ready():
                return True
            self.check_size()
            if word_offset == F.OFF_NOTIFY and self.cannot_receive_more():
                return False
            now = time.monotonic_ns()
            remaining = SLICE_NS if deadline is None else min(SLICE_NS, deadline - now)
            if remaining <= 0:
                return ready()
            observed = self.d[word_offset // 4]                                 # S1
            if not acknowledged or self.d[request_offset // 4] & WAKE_BOTH != WAKE_BOTH:   # S2a
                S.atomic_set_bit_u32(request, WAKE_REQUESTED_BIT)               # S2
                S.global_barrier()                                              # S3
            if ready():                                                         # S4
                return True
            if look_at is not None:
                look = look_at()
                if look is not None and look > now:
                    remaining = min(remaining, look - now)
            S.futex_wait(word, observed, remaining)                             # S5
            if self.closed:
                raise self.closed_error()


    def _poll(self, ready: Callable[[], bool], deadline: Optional[int]) -> bool:
        """``sleep`` for a ring of a read-only data directory, mapped read-only: this process
        cannot ask to be woken (a store), so it looks again after each short sleep instead
        (0.1 ms doubling up to 20 ms, as the Swift side's readers do there: a new item is seen
        at most that late)."""
        pause = 0.0001
        while not ready():
            self.check_size()
            if self.cannot_receive_more():
                return False
            left = None if deadline is None else (deadline - time.monotonic_ns()) / 1e9
            if left is not None and left <= 0:
                return ready()
            time.sleep(pause if left is None else min(pause, left))
            pause = min(pause * 2, 0.02)
        return True


def wake(d: memoryview, base: int, word_offset: int, request_offset: int) -> None:
    """K3-K5 of the sleepers on the futex word at ``word_offset`` of a mapping (``d``, its u32
    words; ``base``, its address), without acknowledging: clears bits 30 and 31 of the request
    (bit 30 only ever set in ``waiters``), then changes the futex word and wakes everyone."""
    request = base + request_offset
    if d[request_offset // 4] & WAKE_ACKNOWLEDGED:
        S.atomic_clear_bit_u32(request, WAKE_ACKNOWLEDGED_BIT)
    S.atomic_clear_bit_u32(request, WAKE_REQUESTED_BIT)
    S.futex_add_and_wake(base + word_offset)      # change the futex word, wake everyone


class RingAnnouncement:
    """A ring file held open so that its sleeping readers can be told of its removal (the Swift
    side's ``RingAnnouncement``): opened before the unlink (the name is gone after it), it wakes
    them after it (``wake_readers``), and each then looks at the file and finds it gone at once,
    where otherwise a Swift event sequence would find out at the end of its longest wait (10 s).
    The file is only opened as every ring file is (trusted, one name), not validated, and only
    its header page is mapped (guarded against a truncation); the wake is what any waker does.
    A file that cannot be opened (missing, untrusted, shorter than a header) wakes nobody."""

    __slots__ = ("__weakref__", "faulted", "fd")

    def __init__(self, trust: S.DirectoryTrust, name: str) -> None:
        self.faulted = False
        self.fd: Optional[int] = None
        try:
            fd, info = open_ring_descriptor(trust, name, True)
        except (OSError, CBuffError):
            return
        if info.st_size < HEADER_SIZE:
            os.close(fd)
            return
        self.fd = fd

    def wake_readers(self) -> None:
        """Wakes every reader sleeping on the ring."""
        if self.fd is None:
            return
        try:
            mapping = S.map_shared(self.fd, HEADER_SIZE)
        except CBuffError:
            return
        start = S.guard_mapping(self, mapping, HEADER_SIZE)
        try:
            with memoryview(mapping).cast("I") as d:
                wake(d, S.address_of(mapping, 0), F.OFF_NOTIFY, F.OFF_WAITERS)
        finally:
            S.unguard(start)
            mapping.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def open_ring_descriptor(trust: S.DirectoryTrust, name: str, writable: bool) -> "tuple[int, os.stat_result]":
    """Opens ring file ``name`` as ``S.open_trusted`` does, and only if it has exactly one name
    (the Swift side's ``RingFile.openDescriptor``): a hard link elsewhere could be another
    buffer's ring file, which cbuff must not read, write or judge a writer's liveness by.
    Raises ``FileNotFoundError`` when it does not exist (or no longer has a name)."""
    fd, info = S.open_trusted(trust, name, writable)
    if info.st_nlink == 1:
        return fd, info
    os.close(fd)
    path = os.path.join(trust.path, name)
    if info.st_nlink == 0:
        raise FileNotFoundError(errno.ENOENT, "removed", path)
    raise Corrupted(f"Ring file {path} has {info.st_nlink} names (a hard link: `find {trust.path} -samefile {path}` lists them), so it may be another buffer's ring file too; cbuff does not open it. Remove the name that is not this buffer's (cbuff rm --force removes this one's).")


def live_writer_pid(trust: S.DirectoryTrust, name: str) -> Optional[int]:
    """The PID recorded by the live writer of ring file ``name`` (0 if it cannot be read), or
    None if no live process holds its writer lock (or there is no such ring file)."""
    try:
        fd, _ = open_ring_descriptor(trust, name, False)
    except (FileNotFoundError, CBuffError):
        return None
    try:
        if not S.is_locked(fd, F.WRITER_LOCK_BYTE):
            return None
        try:
            return int.from_bytes(os.pread(fd, 4, F.OFF_WRITER_PID), "little")
        except OSError:
            return 0
    finally:
        os.close(fd)


def never_had_a_writer(trust: S.DirectoryTrust, name: str) -> bool:
    """Whether ring file ``name`` records that no writer ever attached to it (read without
    validating it: for a message, never for a decision); False when that cannot be read."""
    try:
        fd, _ = open_ring_descriptor(trust, name, False)
    except (FileNotFoundError, CBuffError):
        return False
    try:
        state = os.pread(fd, 4, F.OFF_WRITER_STATE)
        return len(state) == 4 and int.from_bytes(state, "little") == F.STATE_NEVER
    except OSError:
        return False
    finally:
        os.close(fd)


def writer_alive_for_removal(trust: S.DirectoryTrust, name: str) -> bool:
    """Whether a live writer holds ring file ``name``, decided as a take-over decides it: a busy
    lock whose recorded writer closed or died is looked at again for up to 100 ms (a child forked
    by the writer holds the lock until it execs). False when there is no such file, or no regular
    file (a writer opens its ring without following links and checks it is one, so a link, FIFO,
    socket, device or directory there is held by no writer); raises when it cannot be decided (a
    file owned by someone the directory's trust does not accept): a caller about to delete data
    must then keep it, never read the failure as "no writer"."""
    try:
        if not stat.S_ISREG(os.lstat(os.path.join(trust.path, name)).st_mode):
            return False
    except FileNotFoundError:
        return False
    except OSError:
        pass        # the open below says why
    try:
        fd, _ = open_ring_descriptor(trust, name, False)
    except FileNotFoundError:
        return False
    try:
        if not S.is_locked(fd, F.WRITER_LOCK_BYTE):
            return False
        header = os.pread(fd, F.OFF_WRITER_START_TIME + 8, 0)
        state = int.from_bytes(header[F.OFF_WRITER_STATE:F.OFF_WRITER_STATE + 4], "little")
        pid = int.from_bytes(header[F.OFF_WRITER_PID:F.OFF_WRITER_PID + 4], "little")
        start = int.from_bytes(header[F.OFF_WRITER_START_TIME:F.OFF_WRITER_START_TIME + 8], "little")
        if state == F.STATE_ATTACHED and S.is_running(pid, start):
            return True
        deadline = time.monotonic() + 0.1
        while time.monotonic() < deadline:
            time.sleep(0.005)
            if not S.is_locked(fd, F.WRITER_LOCK_BYTE):
                return False
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class SpaceGate:
    """The `block` policy for the writer: never claim a position a named reader has not
    committed; and, when the buffer records a tether timeout, stop waiting for a named reader
    whose process is gone (the format's "The tether timeout"; the Swift library's ``SpaceGate``
    in ``Sources/Ring/Backpressure.swift``, whose argument this follows step by step).

    Positions below ``limit`` may be claimed without a look at the readers while the readers
    version is ``version`` (the push's fast path reads both). Everything about the tether is on
    the slow path: the clock is read only once the ring is full, the locks are examined only
    once the timeout has passed since the writer was first held back (then at most every
    10 ms), and the writer's sleeps for room end at that deadline.

    Why untethering is safe: under the table lock (taken without waiting; a busy lock is tried
    again at the next look) the gate finds the record's liveness lock free, and no process can
    take it before the table lock is released, because an opener takes the table lock first; it
    stores the flag (and the count and time), then bumps the readers version (an atomic
    increment: a full barrier), then rescans, and only then claims positions the reader had not
    acknowledged. While any record is untethered, the gate stores in ``gate version`` the
    complement of the version it took in, never the version itself, so that no reader relies on
    the gate (every read checks `claimed`, R4, and counts what it missed). A returning reader
    clears the flag under the table lock with its liveness lock taken and bumps the version
    (``RingFile.claim_reader``); a reader of an implementation that does not clear it is tied
    again by the gate itself (``_retether_live_readers``). A live reader is never untethered."""

    LOOK_INTERVAL_NS = 10_000_000       # the most often the gate looks at the readers' locks

    def __init__(self, file: RingFile) -> None:
        self.file = file
        self.block = file.layout.policy == F.POLICY_BLOCK
        # Positions below ``limit`` may be claimed without a look at the readers: under
        # `overwrite`, every one up to the most a ring file counts; under `block`, up to the
        # slowest named reader's cursor plus the length (found again when the readers change).
        self.limit = 0 if self.block else F.MAX_COUNT
        self.version = -1
        self.tether_ns = file.layout.tether_ns if self.block else 0
        self.blocked_since = 0          # monotonic ns when the writer was first held back; 0: it has room
        self.next_tether_look = 0
        self.next_retether_look = 0
        self.untetherings = 0           # how many named readers this writer untethered

    def has_space(self, position: int) -> bool:
        if not self.block:
            return True
        if position < self.limit and self.file.d[F.OFF_READERS_VERSION // 4] == self.version:
            return True
        return self._look(position)

    def _look(self, position: int) -> bool:
        """The slow path: a rescan; when there is no room, the tether's clock and, once the
        timeout has passed, the untethering of the dead readers that hold the writer back."""
        if self._refresh(position):
            self.blocked_since = 0
            return True
        if not self.tether_ns:
            return False
        now = time.monotonic_ns()
        if not self.blocked_since:
            self.blocked_since = now
        if now - self.blocked_since < self.tether_ns or now < self.next_tether_look:
            return False
        self.next_tether_look = now + self.LOOK_INTERVAL_NS
        if not self._untether_dead_readers(position, now - self.blocked_since):
            return False
        if self._refresh(position):
            self.blocked_since = 0
            return True
        return False

    def tether_deadline(self) -> Optional[int]:
        """When (monotonic ns) the writer, held back, must look at its readers again although
        nobody wakes it; None when it need not."""
        if not self.tether_ns or not self.blocked_since:
            return None
        return max(self.blocked_since + self.tether_ns, self.next_tether_look)

    def _refresh(self, position: int) -> bool:
        file = self.file
        d, q = file.d, file.q
        version = d[F.OFF_READERS_VERSION // 4]
        self.version = version
        # The table is read whole before any cursor in it is trusted (twice: a record being
        # changed can look torn for an instant). A damaged table gives no room and no wait: the
        # push fails with Corrupted rather than wait for room the damage may never give.
        if file.reader_table_problem() is not None:
            self.limit = 0
            file.check_reader_table()
        lowest = position
        any_untethered = False
        for index in range(F.READER_CAPACITY):
            record = file._record(index)
            if d[(record + F.REC_STATE) // 4] != 1:
                continue
            # An untethered reader no longer holds the writer back. Without a tether timeout a
            # flag means nothing (only damage sets one): the reader holds the writer back.
            if self.tether_ns and d[(record + F.REC_UNTETHERED) // 4]:
                any_untethered = True
                continue
            lowest = min(lowest, q[(record + F.REC_CURSOR) // 8])
        self.limit = min(lowest + file.layout.length, F.MAX_COUNT)
        if any_untethered and self._retether_live_readers():
            return self._refresh(position)
        # Tells named readers which records every write from now on respects; while one is
        # untethered, a value that is never the readers version, so that none relies on it.
        advertised = ~version & 0xFFFF_FFFF if any_untethered else version
        if d[F.OFF_GATE_VERSION // 4] != advertised:
            d[F.OFF_GATE_VERSION // 4] = advertised
        return position < self.limit

    def _holds_back(self, index: int, position: int) -> bool:
        file = self.file
        record = file._record(index)
        return (file.d[(record + F.REC_STATE) // 4] == 1 and file.d[(record + F.REC_UNTETHERED) // 4] == 0
                and file.q[(record + F.REC_CURSOR) // 8] + file.layout.length <= position)

    def _alive(self, index: int) -> bool:
        return S.is_locked(self.file.fd, 1 + index)

    def _untether_dead_readers(self, position: int, held_ns: int) -> bool:
        """Untethers, under the table lock, every registered, tethered named reader whose cursor
        holds ``position`` back and whose process is not alive; logs a warning for each.
        Returns whether it untethered any."""
        file = self.file
        candidates = [index for index in range(F.READER_CAPACITY)
                      if self._holds_back(index, position) and not self._alive(index)]
        if not candidates or not S.try_lock(file.fd, F.TABLE_LOCK_BYTE):
            return False
        untethered = []
        try:
            # Under the table lock nobody can take a record's liveness lock: look again, then mark.
            for index in candidates:
                if self._holds_back(index, position) and not self._alive(index):
                    record = file._record(index)
                    file.d[(record + F.REC_UNTETHER_COUNT) // 4] = (file.d[(record + F.REC_UNTETHER_COUNT) // 4] + 1) & 0xFFFF_FFFF
                    file.q[(record + F.REC_UNTETHERED_AT) // 8] = time.time_ns()
                    file.d[(record + F.REC_UNTETHERED) // 4] = 1
                    untethered.append((file.reader_name(index) or f"#{index}", file.d[(record + F.REC_PID) // 4],
                                       file.q[(record + F.REC_CURSOR) // 8]))
            if untethered:
                file.bump_readers_version()         # publishes the marks before any claim they allow
        finally:
            S.unlock(file.fd, F.TABLE_LOCK_BYTE)
        self.untetherings += len(untethered)
        for name, pid, cursor in untethered:
            _log.warning('named reader "%s" (last opened by PID %d, not alive) held the writer of %s back for %d ms, '
                         "more than its tether timeout of %d ms: the writer goes on without it, overwriting from "
                         "position %d what it has not read; when it is opened again it counts what it missed and "
                         "holds the writer back again", name, pid, file.path, held_ns // 1_000_000,
                         self.tether_ns // 1_000_000, cursor)
        return bool(untethered)

    def _retether_live_readers(self) -> bool:
        """Ties again every untethered record whose process is alive (an opener that did not
        clear the flag: an earlier version, or a record registered over a stale flag), under the
        table lock, at most every 10 ms. Returns whether it tied any."""
        file = self.file
        now = time.monotonic_ns()
        if now < self.next_retether_look:
            return False
        self.next_retether_look = now + self.LOOK_INTERVAL_NS

        def flagged_and_alive(index: int) -> bool:
            record = file._record(index)
            return (file.d[(record + F.REC_STATE) // 4] == 1 and file.d[(record + F.REC_UNTETHERED) // 4] != 0
                    and self._alive(index))
        alive = [index for index in range(F.READER_CAPACITY) if flagged_and_alive(index)]
        if not alive or not S.try_lock(file.fd, F.TABLE_LOCK_BYTE):
            return False
        tied = []
        try:
            for index in alive:
                if flagged_and_alive(index):
                    file.d[(file._record(index) + F.REC_UNTETHERED) // 4] = 0
                    tied.append(file.reader_name(index) or f"#{index}")
            if tied:
                file.bump_readers_version()
        finally:
            S.unlock(file.fd, F.TABLE_LOCK_BYTE)
        for name in tied:
            _log.info('named reader "%s" of %s is open again by a live process that did not tie it: the writer waits for it again', name, file.path)
        return bool(tied)

    def wait(self, position: int, timeout: Optional[float]) -> bool:
        file = self.file
        if self.has_space(position):
            return True
        if timeout == 0:
            return False
        return file.sleep(F.OFF_SPACE, F.OFF_WRITER_WAITING, lambda: self.has_space(position), timeout,
                          look_at=self.tether_deadline)


class SlotPublisher:
    """The writer's side of a ring of slots: W1 claim, W3 payload, W4 publish, W5 wake; in a ring
    of items of version 4, V1 (the words invalidated) before W1 and V3/V4 (the words, the
    first item's last) after W3 (the Swift side's ``Publication.swift``, "Version 4")."""

    def __init__(self, file: RingFile) -> None:
        self.file, self.layout = file, file.layout
        self.published = file.published()
        self.claimed = max(file.claimed(), self.published)
        self.gate = SpaceGate(file)
        if file.layout.check_word_offset is not None:
            self._settle()

    def _word_index(self, sequence: int) -> int:
        """The index in ``file.q`` of the check word of ``sequence``'s slot (version 4)."""
        layout = self.layout
        return (F.HEADER_SIZE + (sequence % layout.length) * layout.stride + (layout.check_word_offset or 0)) // 8

    def _settle(self) -> None:
        """Version 4, at attach (under the writer lock), as ``RingPublisher.settle`` in Swift (the
        argument is there): continues after every slot from ``published`` whose word vouches
        for its bytes under its sequence (a predecessor killed after its batch's first word and
        before W4 published it to readers, who go by the words), then zeroes every word of the
        lap ahead that stamps its own sequence (a killed writer's rest of a batch, or pages a
        machine crash left newer than the header), so that no reader delivers an old item under
        a sequence this writer is about to write. Each walk looks at ``file.settle_reach`` slots
        at most (``RingFile._settle_reach``: the whole lap only after a reboot)."""
        q, mapping, layout = self.file.q, self.file.mapping, self.layout
        length, stride, size = layout.length, layout.stride, layout.item_size
        reach = self.file.settle_reach

        def vouched(sequence: int) -> bool:
            offset = F.HEADER_SIZE + (sequence % length) * stride
            return q[self._word_index(sequence)] == F.slot_word(sequence, mapping[offset:offset + size])
        next, walked = self.published, 0
        while walked < reach and vouched(next):
            next, walked = next + 1, walked + 1
        if next != self.published:
            self.claimed = max(self.claimed, next)
            q[self.file.claimed_index] = self.claimed
            self.announce(self.published, next)
        for ahead in range(next, next + reach):
            if q[self._word_index(ahead)] & 0xFFFFFFFF == F.slot_stamp(ahead):
                q[self._word_index(ahead)] = 0

    def _invalidate(self, start: int, end: int) -> None:
        """V1 for the slots of ``start ..< end`` (version 4), before W1."""
        q = self.file.q
        for sequence in range(start, end):
            q[self._word_index(sequence)] = 0

    def _seal(self, start: int, end: int) -> None:
        """V3 and V4 for ``start ..< end`` (version 4), after W3: each slot's word over its item as
        it lies, the first one's last (the batch's publication point for readers)."""
        q, mapping, layout = self.file.q, self.file.mapping, self.layout
        size, length, stride = layout.item_size, layout.length, layout.stride
        if size == 8:       # the item is its slot's first word: read as an int, no bytes object
            step, word8 = stride // 8, F.slot_word8
            numpy = sys.modules.get("numpy")     # a batch with numpy, if the program imported it
            if numpy is not None and end - start >= 32:
                slots = numpy.frombuffer(mapping, dtype=numpy.uint64, count=length * step, offset=HEADER_SIZE).reshape(length, step)
                indices = numpy.arange(start, end, dtype=numpy.uint64) % numpy.uint64(length)
                words = F.slot_words8_array(numpy, start, slots[indices, 0])
                slots[indices[1:], 1] = words[1:]
                slots[indices[0], 1] = words[0]                        # the first one's last
                return
            for sequence in [*range(start + 1, end), start]:
                index = F.W_DATA + (sequence % length) * step
                q[index + 1] = word8(sequence, q[index])
            return
        for sequence in [*range(start + 1, end), start]:
            offset = F.HEADER_SIZE + (sequence % length) * stride
            q[self._word_index(sequence)] = F.slot_word(sequence, mapping[offset:offset + size])

    def publish(self, payloads: "list[bytes]", timeout: Optional[float] = None) -> int:
        """Publishes the byte strings of ``payloads`` (each at most the item size, zero-padded) in
        runs the gate allows; returns how many were published before ``timeout`` ran out."""
        mapping, length, stride, size = self.file.mapping, self.layout.length, self.layout.stride, self.layout.item_size

        def write(start: int, done: int, room: int) -> None:
            for i in range(room):
                offset = F.HEADER_SIZE + ((start + i) % length) * stride
                data = payloads[done + i]
                mapping[offset:offset + size] = data if len(data) == size else data.ljust(size, b"\0")
        return self._publish_runs(len(payloads), write, timeout)

    def publish_words(self, words: Any, timeout: Optional[float] = None) -> int:
        """``publish`` for items of one word each (8-byte slots): ``words`` a flat buffer of
        unsigned 8-byte integers (format ``Q`` or ``L``: an ``array('Q')``, a memoryview), copied run by run into the slots with
        one slice assignment. A batch that fits below the gate's limit (always, under
        `overwrite`; checked as ``push_word`` checks one item) is published in one step without
        the general loop: W1, W3 (one or two copies of its bytes), W4 and W5 for the whole batch."""
        file, length = self.file, self.layout.length
        q = file.q
        total, start, gate = len(words), self.published, self.gate
        end = start + total
        if self.layout.check_word_offset is not None:   # version 4: a check word after each item
            return self._publish_checked_words(words, timeout)
        if 0 < total <= length and end <= gate.limit and end <= MAX_COUNT and (not gate.block or file.d[H_READERS_VERSION] == gate.version):
            if end > self.claimed:
                self.claimed = end
            q[file.claimed_index] = self.claimed                       # W1 (W2 free on x86-64)
            index = start % length
            run = length - index
            mapping = file.mapping
            if run >= total:                                           # W3
                mapping[HEADER_SIZE + index * 8:HEADER_SIZE + (index + total) * 8] = words
            else:
                mapping[HEADER_SIZE + index * 8:HEADER_SIZE + length * 8] = words[:run]
                mapping[HEADER_SIZE:HEADER_SIZE + (total - run) * 8] = words[run:]
            self.announce(start, end)                                  # W4, W5
            if file.faulted:
                raise file.truncated()
            return total
        words = memoryview(words)
        if words.format != "Q":
            words = words.cast("B").cast("Q")

        def write(start: int, done: int, room: int) -> None:
            index, written = start % length, 0
            while written < room:                                      # one or two runs
                run = min(room - written, length - index)
                q[F.W_DATA + index:F.W_DATA + index + run] = words[done + written:done + written + run]
                written += run
                index = 0
        return self._publish_runs(len(words), write, timeout)

    def _publish_checked_words(self, words: Any, timeout: Optional[float]) -> int:
        """``publish_words`` in version 4: each word into its slot's first word, by one stepped
        slice copy per run when the slots are two words (8-byte items), the check words then
        sealed by ``_publish_runs``."""
        words = memoryview(words)
        if words.format != "Q":
            words = words.cast("B").cast("Q")
        q, length, step = self.file.q, self.layout.length, self.layout.stride // 8
        if self.layout.item_size != 8:
            return self.publish([struct.pack("<Q", word)[:self.layout.item_size] for word in words], timeout)

        def write(start: int, done: int, room: int) -> None:
            index, written = start % length, 0
            while written < room:                                      # one or two runs
                run = min(room - written, length - index)
                first = F.W_DATA + index * step
                q[first:first + run * step:step] = words[done + written:done + written + run]
                written += run
                index = 0
        return self._publish_runs(len(words), write, timeout)

    def _publish_runs(self, total: int, write: "Callable[[int, int, int], None]", timeout: Optional[float]) -> int:
        """The one publishing loop: per run, the gate (bounded by one deadline for the whole call,
        as in Swift), W1 claim, W3 ``write(start, done, room)``, W4+W5 announce."""
        file, length = self.file, self.layout.length
        deadline = None if timeout is None else time.monotonic() + timeout
        done = 0
        while done < total:
            start = self.published
            if start + min(total - done, length) > F.MAX_COUNT:
                raise Corrupted(f"Ring file {file.path} cannot take another push: its counters would pass {F.MAX_COUNT}, the most a ring file counts.")
            if timeout != 0:
                spin_for_room(self.gate, start, deadline)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self.gate.wait(start, remaining):
                break
            room = min(total - done, length, self.gate.limit - start if self.gate.block else length)
            end = start + room
            checked = self.layout.check_word_offset is not None
            if checked:
                self._invalidate(start, end)                           # V1
            if end > self.claimed:
                self.claimed = end
            file.q[file.claimed_index] = self.claimed                  # W1 (W2 is free on x86-64)
            write(start, done, room)                                   # W3
            if checked:
                self._seal(start, end)                                 # V3, V4
            self.announce(start, end)
            done += room
        file.check()
        return done

    def announce(self, start: int, end: int) -> None:
        file = self.file
        file.q[F.OFF_PUBLISHED // 8] = end                             # W4
        self.published = end
        if S.WAKER_FENCE:
            S.fence()
        if file.d[F.OFF_WAITERS // 4]:                                # W5
            file.wake_readers()
        if start >> F.LAST_WRITE_STAMP_SHIFT != end >> F.LAST_WRITE_STAMP_SHIFT:
            file.q[F.OFF_LAST_WRITE_AT // 8] = time.time_ns()


# How long a `block` writer held back by its named readers looks for room before it sleeps on
# the futex (``SpaceGate.wait``). A reader that is reading frees room within microseconds (one
# pop, one batch); a sleep and its wake-up cost the two sides five system calls and a barrier,
# about 15 us of CPU each in Python, and a writer that slept whenever it caught up slept on
# almost every batch: two processes moving numpy batches of 1,000 through a 64,000-slot ring
# took a median 52 us per batch with 1,300 to 2,200 wake-ups per 5,000 batches, and 28 us with
# this spin (lists of ints: 60 and 47 us; 6 and 3 runs each, alternating, on a loaded host). A
# writer held back by a reader that is not reading spins this long once per wait: at 10
# wake-ups a second, 0.05 % of a core.
ROOM_SPIN_NS = 50_000


def spin_for_room(gate: "SpaceGate", position: int, deadline: Optional[float]) -> None:
    """Looks for room for ``position`` for up to ``ROOM_SPIN_NS`` (not past ``deadline``, a
    ``time.monotonic()``) before the gate's sleep; a writer with room returns at once."""
    if gate.has_space(position):
        return
    end = time.monotonic_ns() + ROOM_SPIN_NS
    if deadline is not None:
        end = min(end, int(deadline * 1e9))
    while time.monotonic_ns() < end:
        if gate.has_space(position):
            return


def push_word(writer: Any, value: Any, timeout: Optional[float] = None) -> bool:
    """The one-integer push of a ring whose items are at most 8 bytes and have no fields, as a
    writer's method (``_api._WordWriter.push``): the value is stored as its slot's word (which
    also zeroes the slot's padding), in W1, W3, W4 and W5 of ``SlotPublisher._publish_runs`` for
    one item, in a few word accesses; in a ring of 8-byte items of version 4 the slot's check
    word too (the word after the item: V1 zeroes it before W1, V3+V4 seal it after W3, as
    ``SlotPublisher._publish_runs`` does). Anything else (a value that is not such an int, a
    `block` writer that must look at its readers) goes to the writer's general push. It reads
    the writer's ``_publisher``, ``_file``, ``max_value``, ``length``, ``_slot_words`` and
    ``_checked``."""
    if timeout is not None:
        timeout = checked_timeout(timeout)
    if type(value) is int and 0 <= value <= writer.max_value:
        publisher = writer._publisher
        start = publisher.published
        gate = publisher.gate
        file = writer._file
        q = file.q
        if start < gate.limit and (not gate.block or file.d[H_READERS_VERSION] == gate.version):
            end = start + 1
            if end > publisher.claimed:
                publisher.claimed = end
            index = W_DATA + (start % writer.length) * writer._slot_words
            if writer._checked:
                q[index + 1] = 0                                             # V1
            q[file.claimed_index] = publisher.claimed                          # W1 (W2 free on x86-64)
            q[index] = value                                                 # W3
            if writer._checked:
                q[index + 1] = F.slot_word8(start, value)                      # V3, V4
            q[W_PUBLISHED] = end                                             # W4
            publisher.published = end
            if S.WAKER_FENCE:
                S.fence()
            if file.d[H_WAITERS]:                                            # W5
                file.wake_readers()
            if start >> LAST_WRITE_STAMP_SHIFT != end >> LAST_WRITE_STAMP_SHIFT:
                q[W_LAST_WRITE_AT] = time.time_ns()
            if file.faulted:
                raise file.truncated()
            return True
    return bool(writer._general_push(value, timeout))


def _commit_before_pop(reader: Any, file: RingFile, next: int) -> None:
    """The one-item pops' first step for a named reader (``pop_word``, ``pop_bytes``): commit
    what it returned before (a plain store of its cursor, then the writer woken if it waits for
    room), and stop if a forced removal freed its record. Anonymous readers never call it."""
    file.q[reader._cursor_word] = next
    if S.WAKER_FENCE:
        S.fence()
    if file.d[H_WRITER_WAITING]:
        file.wake_writer()
    if file.d[reader._state_word] != 1:
        raise reader._removed()


def pop_word(reader: Any, timeout: Optional[float] = None) -> Any:
    """The one-item pop of a ring whose items are at most 8 bytes and have no fields, as a
    reader's method (``_api._WordReader.pop``): R1, R2 and R4 of ``SlotCursor.read`` for one item,
    and, for a named reader, first the commit of what it returned before (``RingFile.commit``).
    With ``timeout``, an empty ring is waited for here (``SlotCursor.wait``, the futex sleep),
    then looked at once more, as the general pop does. A lap and the fault flag go to the
    reader's general pop. In a ring of 8-byte items of version 4, the slot's check word must
    vouch for the copy under its sequence too (V6), else the general pop decides. It reads the
    reader's ``_cursor``, ``_file``, ``_mask``, ``length``, ``_slot_words``, ``_checked`` and
    ``_cursor_word``."""
    if timeout is not None:
        timeout = checked_timeout(timeout)
    cursor, file = reader._cursor, reader._file
    q = file.q
    next = cursor.next
    if reader._cursor_word is not None:
        _commit_before_pop(reader, file, next)
    published = q[W_PUBLISHED]                                               # R1
    if next >= published and timeout is not None and not file.faulted:
        if not cursor.wait(timeout):
            return None
        published = q[W_PUBLISHED]
    if next < published:
        index = W_DATA + (next % reader.length) * reader._slot_words
        value = q[index]                                                     # R2
        word = q[index + 1] if reader._checked else 0
        if next >= q[file.claimed_index] - reader.length and not file.faulted and (   # R4
                not reader._checked or word == F.slot_word8(next, value)):     # V6
            cursor.next = next + 1
            return value & reader._mask
    elif not file.faulted:
        return None     # caught up (what the general path would find, slower)
    return reader._general_pop(timeout)


def push_bytes(writer: Any, value: Any, timeout: Optional[float] = None) -> bool:
    """The one-item push of raw bytes (at most the item size, zero-padded) to a ring of items
    wider than 8 bytes without fields, as a writer's method (``_api._WideWriter.push``): W1, W3
    (one slice copy), W4 and W5 for one item. Anything else goes to the writer's general push.
    It reads the writer's ``_publisher``, ``_file``, ``item_size``, ``length`` and ``_stride``."""
    if timeout is not None:
        timeout = checked_timeout(timeout)
    if type(value) is bytes and len(value) <= writer.item_size:
        publisher = writer._publisher
        start = publisher.published
        gate = publisher.gate
        file = writer._file
        q = file.q
        if start < gate.limit and (not gate.block or file.d[H_READERS_VERSION] == gate.version):
            end = start + 1
            if end > publisher.claimed:
                publisher.claimed = end
            q[file.claimed_index] = publisher.claimed                          # W1 (W2 free on x86-64)
            size = writer.item_size
            offset = HEADER_SIZE + (start % writer.length) * writer._stride
            file.mapping[offset:offset + size] = value if len(value) == size else value.ljust(size, b"\0")   # W3
            q[W_PUBLISHED] = end                                             # W4
            publisher.published = end
            if S.WAKER_FENCE:
                S.fence()
            if file.d[H_WAITERS]:                                            # W5
                file.wake_readers()
            if start >> LAST_WRITE_STAMP_SHIFT != end >> LAST_WRITE_STAMP_SHIFT:
                q[W_LAST_WRITE_AT] = time.time_ns()
            if file.faulted:
                raise file.truncated()
            return True
    return bool(writer._general_push(value, timeout))


def pop_bytes(reader: Any, timeout: Optional[float] = None) -> Any:
    """The one-item pop of a ring of items wider than 8 bytes without fields, as a reader's method
    (``_api._WideReader.pop``): R1, R2 (one slice copy) and R4, after a named reader's commit.
    Waiting as ``pop_word``; a lap and the fault flag go to the reader's general pop."""
    if timeout is not None:
        timeout = checked_timeout(timeout)
    cursor, file = reader._cursor, reader._file
    q = file.q
    next = cursor.next
    if reader._cursor_word is not None:
        _commit_before_pop(reader, file, next)
    published = q[W_PUBLISHED]                                               # R1
    if next >= published and timeout is not None and not file.faulted:
        if not cursor.wait(timeout):
            return None
        published = q[W_PUBLISHED]
    if next < published:
        offset = HEADER_SIZE + (next % reader.length) * reader._stride
        value = file.mapping[offset:offset + reader.item_size]                 # R2 (a copy)
        if next >= q[file.claimed_index] - reader.length and not file.faulted:   # R4
            cursor.next = next + 1
            return value
    elif not file.faulted:
        return None
    return reader._general_pop(timeout)


_numpy: Any = None


def numpy_module() -> Any:
    """numpy, imported on first use (the package works without it; ``import`` in a hot function
    costs a lookup per call)."""
    global _numpy
    if _numpy is None:
        import numpy
        _numpy = numpy
    return _numpy


class SlotCursor:
    """A reader of a ring of slots: R1 (published), R2 (copy), R3+R4 (claimed), lap recovery."""

    def __init__(self, file: RingFile, start: Union[str, int]) -> None:
        self.record: Optional[int] = None     # a named reader's record, set by its reader (see ``has_item``)
        self.file, self.layout = file, file.layout
        published = file.published()
        if start == "latest":
            self.next = published
        elif start == "oldest":
            self.next = min(max(0, file.claimed() - file.layout.length), published)
        else:
            self.next = min(int(start), published)
        self.missed = 0

    def read(self, count: int = 1) -> "list[bytes]":
        """Up to ``count`` items' bytes (a list); empty when caught up."""
        file, layout = self.file, self.layout
        q, mapping, length, stride, size = file.q, file.mapping, layout.length, layout.stride, layout.item_size
        while True:
            published = q[F.OFF_PUBLISHED // 8]                        # R1
            available = min(published - self.next, count, length)
            if available <= 0:
                file.check()
                return []
            first = self.next
            items, words = [], []
            check = layout.check_word_offset
            for i in range(available):                                 # R2
                offset = F.HEADER_SIZE + ((first + i) % length) * stride
                items.append(bytes(mapping[offset:offset + size]))
                if check is not None:
                    words.append(q[(offset + check) // 8])
            file.check()
            if self._intact(first, available):                         # R3 (free on x86-64), R4
                if check is None:
                    return items
                good = self._vouched(first, items, words)
                if good:
                    return items[:good]

    def _vouched(self, first: int, items: "list[bytes]", words: "list[int]") -> int:
        """Version 4, after R4 accepted a copy of ``items`` from ``first`` (the cursor past them)
        with their slots' check words: how many, from the first, are exactly what was written
        under their sequence (the word computed over the copy equals the slot's). The cursor is
        put back after those; if the first is not, it is skipped and counted as lost (damage: a
        machine crash's stale or torn page, a stray write), and 0 returned."""
        good = 0
        for item, word in zip(items, words):
            if word != F.slot_word(first + good, item):
                break
            good += 1
        if good == 0:
            # A word that does not stamp the item's sequence (0, or a later lap's) is a lap the
            # writer began after the copy (its V1 comes before its claim); one that does, over
            # other bytes, is damage, which is worth a word.
            if words[0] & 0xFFFFFFFF == F.slot_stamp(first):
                _log.warning("item %d of ring file %s is not what its check word vouches for: counted as lost", first, self.file.path)
            self.missed += 1
            good_next = first + 1
        else:
            good_next = first + good
        self.next = good_next
        return good

    def read_words(self, count: int) -> "list[int]":
        """``read`` for items of one word each (8-byte slots): up to ``count`` words as ints."""
        file, layout = self.file, self.layout
        q, length = file.q, layout.length
        while True:
            first = self.next
            available = min(q[W_PUBLISHED] - first, count, length)                 # R1
            if available <= 0:
                if file.faulted:
                    raise file.truncated()
                return []
            index = first % length
            run = min(available, length - index)
            words = q[W_DATA + index:W_DATA + index + run].tolist()                 # R2
            if run < available:
                words += q[W_DATA:W_DATA + available - run].tolist()
            if file.faulted:
                raise file.truncated()
            if first >= q[file.claimed_index] - length:                              # R4
                self.next = first + available
                return words
            self._intact(first, available)     # a lap: skips to the oldest item still intact

    def _intact(self, first: int, available: int) -> bool:
        """R4 for a copy of ``available`` items from ``first``: True (and the cursor moves past
        them) if the writer's claim shows none was reused meanwhile; otherwise False, the
        cursor skips to the oldest item still intact and counts what it missed."""
        length = self.layout.length
        claimed = self.file.q[self.file.claimed_index]
        if first >= claimed - length:
            self.next = first + available
            return True
        resume = max(first + 1, claimed - length)
        self.missed += resume - first
        self.next = resume
        return False

    def read_array(self, count: int, dtype: Any) -> Any:
        """Up to ``count`` items as a numpy array of ``dtype`` (one copy per run, checked once),
        or None when caught up. A dtype without fields as wide as the slots is copied as it is;
        any other (a structured dtype, with its padding) through bytes."""
        numpy = numpy_module()
        file, layout = self.file, self.layout
        q, length, stride, mapping = file.q, layout.length, layout.stride, file.mapping
        dense = dtype.names is None and dtype.itemsize == stride
        while True:
            first = self.next
            available = min(q[W_PUBLISHED] - first, count, length)                    # R1
            if available <= 0:
                file.check()
                return None
            index = first % length
            run = min(available, length - index)
            if dense:                                                                  # R2
                out = numpy.frombuffer(mapping, dtype=dtype, count=run, offset=HEADER_SIZE + index * stride)
                if run < available:
                    out = numpy.concatenate((out, numpy.frombuffer(mapping, dtype=dtype, count=available - run, offset=HEADER_SIZE)))
                else:
                    out = out.copy()
            else:
                raw = numpy.frombuffer(mapping, dtype=numpy.uint8, count=run * stride, offset=HEADER_SIZE + index * stride)
                if run < available:
                    raw = numpy.concatenate([raw, numpy.frombuffer(mapping, dtype=numpy.uint8, count=(available - run) * stride, offset=HEADER_SIZE)])
                else:
                    raw = raw.copy()
                out = numpy.ndarray(available, dtype=dtype, buffer=raw, strides=(stride,))
            file.check()
            if self._intact(first, available):                                       # R4
                check = layout.check_word_offset
                if check is None:
                    return out
                # Version 4 (never dense: a slot is wider than its item): every item against
                # the word copied with it in `raw`; 8-byte items all at once, with numpy.
                if layout.item_size == 8 and check == 8:
                    words = raw.view(numpy.uint64).reshape(available, stride // 8)
                    if bool((F.slot_words8_array(numpy, first, words[:, 0]) == words[:, 1]).all()):
                        return out
                slots = memoryview(raw.tobytes())
                good = self._vouched(first, [bytes(slots[i * stride:i * stride + layout.item_size]) for i in range(available)],
                                     [int.from_bytes(slots[i * stride + check:i * stride + check + 8], "little") for i in range(available)])
                if good:
                    return out[:good]

    def has_item(self) -> bool:
        file = self.file
        if file.faulted:
            raise file.truncated()
        # A named reader removed under it ends its wait as an item would: its next read raises.
        return file.q[W_PUBLISHED] > self.next or (self.record is not None and not file.is_registered(self.record))

    def wait(self, timeout: Optional[float], coalesce: float = 0.0) -> bool:
        """Sleeps until something is published past this cursor, at most ``timeout`` seconds;
        ``coalesce``: see ``RingFile.sleep``."""
        return self.file.sleep(F.OFF_NOTIFY, F.OFF_WAITERS, self.has_item, timeout, acknowledged=True, coalesce=coalesce)

    def follow(self, read: "Callable[[int], list[Any]]", timeout: Optional[float], coalesce: float) -> "Iterator[tuple[int, Any]]":
        """Yields (sequence, item) as they come, sleeping whenever caught up, for a reader
        without a record to commit to (a named reader's follow pops item by item, each pop
        committing the one before).

        What a wake-up costs is what a follower of a steady stream costs (at 1,000 items a
        second and a 5 ms delay, 200 wake-ups a second, each running this interpreter's code
        with cold caches), so a wake-up runs as few Python frames as it can: each look takes
        every item waiting at once (``read``, one of the read methods, at most
        ``FOLLOW_BATCH``), and the coalescing delay (C1 of ``RingFile.sleep``) is slept here,
        followed by one look at ``published``; only if nothing came does the follower go to the
        futex sleep (``wait``, S1-S5, which asks to be woken). The items are copies checked (R4)
        when read. The cursor moves past an item only as it is yielded, so a follower left
        mid-batch leaves the rest to the next read; a batch is dropped, and read again from the
        cursor, if something else moved the cursor meanwhile (a pop between two items)."""
        timeout = checked_timeout(timeout)
        coalesce = checked_timeout(coalesce, "coalesce") or 0.0
        file = self.file
        q = file.q
        pause = min(coalesce, LONGEST_COALESCING) if timeout is None else min(coalesce, LONGEST_COALESCING, timeout)
        sleep = time.sleep
        while True:
            items = read(FOLLOW_BATCH)
            if not items:
                if pause > 0:
                    sleep(pause)                                # C1: a plain sleep, no request
                    if file.faulted:
                        raise file.truncated()
                    if q[W_PUBLISHED] > self.next:
                        continue
                if not self.wait(None if timeout is None else max(0.0, timeout - pause)):
                    return
                continue
            sequence = self.next - len(items)
            self.next = sequence
            for item in items:
                if self.next != sequence:
                    break
                sequence += 1
                self.next = sequence
                yield sequence - 1, item


# --- Message rings ----------------------------------------------------------------------------
#
# What ties a message ring's records and counters together is the Swift library's
# ``Sources/Ring/MessageInvariants.swift`` (I1-I7), which this section follows rule by rule: the
# counters and the records they name are checked at every open, every reader's start and lap
# recovery, and the take-over (``MessageArea.observe``); readers check I6 and I7 on every record
# they read, and the writer on every record its tail walks past before it overwrites it. A
# contradiction counts only when the five words read the same twice in a row (a live writer is
# never mistaken for damage).

class MessageDamage(str):
    """What contradicts what in a damaged message ring, in words (positions are data-area words)."""


class MessageState:
    """A message ring's state at one instant, checked against I1-I6."""

    __slots__ = ("counters", "next", "oldest_position", "oldest_sequence")

    def __init__(self, counters: Counters, next: int, oldest_position: int, oldest_sequence: Optional[int]) -> None:
        self.counters, self.next = counters, next
        self.oldest_position, self.oldest_sequence = oldest_position, oldest_sequence


class Moving:
    """A writer kept changing the counters while they were checked: the last ones loaded."""

    __slots__ = ("counters",)

    def __init__(self, counters: Counters) -> None:
        self.counters = counters


OBSERVATION_ROUNDS = 64


class MessageArea:
    """A message ring's data area, in words (RingFileFormat.md, "Message rings")."""

    def __init__(self, file: RingFile) -> None:
        self.file = file
        assert file.layout.capacity is not None and file.layout.max_message is not None
        self.words = file.layout.capacity // 8
        self.max_message = file.layout.max_message
        # The file's version decides the records' layout (``F.record_header_words``): 3 header
        # words, or 4 with the check word that every reader verifies (version 4).
        self.header_words = F.record_header_words(file.layout.version)
        self.checked = self.header_words == 4
        self.max_record_words = self.header_words + (self.max_message + 7) // 8
        self.base_index = F.HEADER_SIZE // 8
        self.view = memoryview(file.mapping)

    def first_word(self, position: int) -> int:
        return self.file.q[self.base_index + (position & (self.words - 1))]

    def sequence_at(self, position: int) -> int:
        """The sequence word of the record at ``position``, its place wrapped into the data area
        on its own (MessageRing.swift, ``sequence(at:)``): inside the area whatever lies there."""
        return self.file.q[self.base_index + ((position + 1) & (self.words - 1))]

    def decode(self, first: int, position: int) -> Record:
        """('message', length, words) / ('padding', 0, words) / ('lost', 0, words) / None: I6
        and I9 for one record (a lost record only in version 4)."""
        length, kind = first & 0xFFFFFFFF, first >> 32
        room = self.words - (position & (self.words - 1))
        if kind == F.RECORD_MESSAGE and length <= self.max_message:
            words = self.header_words + (length + 7) // 8
            return ("message", length, words) if words <= room else None
        if kind == F.RECORD_PADDING and length == room and room < self.max_record_words:
            return ("padding", 0, room)
        if kind == F.RECORD_LOST and self.checked and 1 <= length <= room:
            return ("lost", 0, length)
        return None

    def allowance(self) -> int:
        """B of I4 (version 4; 0 in version 3): the sequences recoveries skipped, for a reader's
        cold path."""
        return min(self.file.q[F.OFF_SEQUENCE_ALLOWANCE // 8], F.MAX_COUNT) if self.checked else 0

    def byte_offset(self, position: int) -> int:
        return F.HEADER_SIZE + (position & (self.words - 1)) * 8

    def is_sealed(self, position: int, length: int) -> bool:
        """Whether the message record at ``position`` (``length`` bytes, inside the data area:
        decoded) matches its check word (I8; always in version 3, which has none). Loads from
        the mapping, vouched for by the caller's R4 as its copy is."""
        if not self.checked:
            return True
        offset = self.byte_offset(position)
        view = self.view
        return self.file.q[offset // 8 + 3] == F.record_check(view[offset:offset + 24], view[offset + 32:offset + 32 + length])

    @staticmethod
    def checksum_damage(position: int, sequence: int) -> MessageDamage:
        return MessageDamage(f"the message at word position {position} (sequence {sequence}) does not match its check word: its length, header or bytes are not the ones its writer published")

    def oldest_intact(self, claimed: int) -> int:
        return claimed - self.words if claimed > self.words else 0

    def load(self) -> Counters:
        """(tail, published, claimed, last record start, count), loaded in the order the checks need."""
        q = self.file.q
        return (q[F.OFF_MESSAGE_TAIL // 8], q[F.OFF_PUBLISHED // 8], q[self.file.claimed_index],
                q[F.OFF_LAST_RECORD_START // 8], q[F.OFF_PUBLISHED_MESSAGES // 8],
                q[F.OFF_SEQUENCE_ALLOWANCE // 8] if self.checked else 0)

    def observe(self) -> "Union[MessageState, MessageDamage, Moving]":
        """The ring's state (``MessageState``), its damage (``MessageDamage``) or ``Moving``."""
        counters = self.load()
        for _ in range(OBSERVATION_ROUNDS):
            verdict = self.check(counters)
            oldest = None if isinstance(verdict, MessageDamage) else self.oldest_message(counters, verdict[0])
            again = self.load()
            at_rest = again == counters
            if isinstance(verdict, MessageDamage):
                if at_rest:
                    return verdict
            elif verdict[1] >= self.oldest_intact(again[2]):                     # R4
                tail_intact = counters[0] >= self.oldest_intact(again[2])
                if isinstance(oldest, tuple) and tail_intact:
                    return MessageState(counters, verdict[0], oldest[0], oldest[1])
                if isinstance(oldest, MessageDamage) and at_rest:
                    return oldest
                return MessageState(counters, verdict[0], counters[0], None)
            counters = again
        return Moving(counters)

    def check(self, c: Counters) -> "Union[tuple[int, int], MessageDamage]":
        """I1-I5 on one set of loads: (next sequence, lowest position read) or the damage."""
        tail, published, claimed, last, count, allowance = c
        names = ("tail", "published", "claimed", "lastRecordStart", "publishedMessages", "sequenceAllowance")
        for name, value in zip(names, c):                                       # I1
            if value > F.MAX_COUNT:
                return MessageDamage(f"its {name} word holds {value}, beyond the {F.MAX_COUNT} a ring file can count")
        words = self.words
        if not (published <= claimed and claimed - published <= words):          # I2
            return MessageDamage(f"its counters contradict each other (published {published}, claimed {claimed}, in a data area of {words} words)")
        if tail > published:                                                     # I3
            return MessageDamage(f"its tail word ({tail}, the oldest message) is beyond the {published} words published")
        if tail < self.oldest_intact(claimed):
            return MessageDamage(f"its tail word ({tail}, the oldest message) points at words that the claim through {claimed} has already reused (a data area of {words} words)")
        if count > published // 3 + allowance:                                   # I4
            return MessageDamage(f"it counts {count} messages published in {published} words, where at most {published // 3} fit")
        if published == 0:                                                      # I5
            if count != 0 or last != 0:
                return MessageDamage(f"nothing is published, yet it counts {count} messages and names a last record at word {last}")
            return (0, 0)
        if last >= published:
            offset = published & (words - 1)
            room = words - offset
            after_padding = offset != 0 and room < self.max_record_words and last == published + room
            if not (last < claimed and (last == published or after_padding)):
                return MessageDamage(f"the record being written is said to start at word {last}, where no write from published ({published}) with a claim through {claimed} begins")
            return (count, published)
        if last < self.oldest_intact(claimed):
            # A claim took the last record: N was stored before it. That claim is unpublished,
            # and the tail walk ahead of it passed the record, which ended at P.
            if not (claimed > published and tail == published):
                return MessageDamage(f"the record being written is said to start at word {last}, where no write from published ({published}) with a claim through {claimed} begins")
            return (count, published)
        record = self.decode(self.first_word(last), last)
        if record is not None and record[0] == "lost" and last + record[2] == published:
            return (count, last)                                                 # I9: a recovery's last record
        if record is None or record[0] != "message" or last + record[2] != published:
            return MessageDamage(f"published ({published}) is not the end of the last record, which starts at word {last}")
        sequence = self.sequence_at(last)
        if sequence > last // 3 + allowance:
            return MessageDamage(f"the message at word position {last} has sequence {sequence}, more than the {last // 3} messages that fit before it")
        if count != sequence and count != sequence + 1:
            return MessageDamage(f"its last message is number {sequence}, but it counts {count} messages published")
        return (sequence + 1, last)

    def prove_chain(self, state: MessageState) -> Optional[MessageDamage]:
        """I6, I7 and I8 over every record from the oldest message to ``published``, and I5 at the
        end (MessageInvariants.swift, ``proveChain``): the messages form one chain of
        consecutive sequences ending exactly at ``published`` with the next sequence the state
        says. What a writer proves under the writer lock before it continues the sequence."""
        if state.oldest_sequence is None:
            return None
        sequence, position, published = state.oldest_sequence, state.oldest_position, state.counters[1]
        after_lost = False
        while position < published:
            first = self.first_word(position)
            record = self.decode(first, position)
            if record is None:
                return MessageDamage(f"the record at word position {position} cannot be a message or padding (its first word is {first:#x})")
            if record[0] == "padding":
                if position + record[2] >= published:
                    return MessageDamage(f"the padding record at word position {position} is the last one published, but padding is always followed by the message it makes room for")
            elif record[0] == "lost":
                if position + record[2] > published:
                    return MessageDamage(f"the record at word position {position} ({record[2]} words) ends beyond the {published} words published")
                after_lost = True
            else:
                found = self.sequence_at(position)
                if after_lost and found > sequence:                          # I9: a later sequence after a lost record
                    sequence = found
                after_lost = False
                if found != sequence:
                    return MessageDamage(f"the message at word position {position} has sequence {found}, but the one before it was {sequence - 1}, and nothing overwrote them")
                if position + record[2] > published:
                    return MessageDamage(f"the record at word position {position} ({record[2]} words) ends beyond the {published} words published")
                if not self.is_sealed(position, record[1]):
                    return self.checksum_damage(position, found)
                sequence += 1
            position += record[2]
        if sequence != state.next and not (after_lost and state.next >= sequence):
            return MessageDamage(f"its last message is number {sequence - 1}, but it counts {state.next} messages published")
        return None

    def oldest_message(self, c: Counters, next: int) -> "Union[tuple[int, int], MessageDamage]":
        """I6 and I4 for the oldest message: (position, sequence), or the damage."""
        tail, published, allowance = c[0], c[1], c[5]
        position = tail
        while True:                     # past padding (I6) and lost records (I9) to the first message
            if position >= published:
                return (published, next)
            first = self.first_word(position)
            record = self.decode(first, position)
            if record is not None and record[0] == "padding":
                if position + record[2] >= published:
                    return MessageDamage(f"the padding record at word position {position} is the last one published, but padding is always followed by the message it makes room for")
                position += record[2]
            elif record is not None and record[0] == "lost":
                if position + record[2] > published:
                    return MessageDamage(f"the record at word position {position} ({record[2]} words) ends beyond the {published} words published")
                position += record[2]
            else:
                break
        if record is None or record[0] != "message":
            return MessageDamage(f"the record at word position {position} cannot be a message or padding (its first word is {first:#x})")
        if position + record[2] > published:
            return MessageDamage(f"the record at word position {position} ({record[2]} words) ends beyond the {published} words published")
        oldest = self.sequence_at(position)
        if not (oldest < next and oldest <= position // 3 + allowance and next - oldest <= (published - position) // 3 + allowance):
            return MessageDamage(f"its oldest message (word position {position}) has sequence {oldest}, which does not fit before message {next} in the {published} words published")
        return (position, oldest)


# The message hot paths' constants, as globals (one lookup, not two).
MAX_COUNT, RECORD_MESSAGE = F.MAX_COUNT, F.RECORD_MESSAGE
W_LAST_RECORD_START, W_PUBLISHED_MESSAGES = F.OFF_LAST_RECORD_START // 8, F.OFF_PUBLISHED_MESSAGES // 8
MESSAGE_KIND, PADDING_KIND = F.RECORD_MESSAGE << 32, F.RECORD_PADDING << 32    # a record's first word: kind << 32 | length


class MessagePublisher:
    """The writer's side of a message ring: the tail walked ahead of each claim (each record
    checked before it is overwritten), the record, the count."""

    def __init__(self, file: RingFile) -> None:
        self.file, self.area = file, MessageArea(file)
        self.published = file.published()
        self.claimed = max(file.claimed(), self.published)
        self.gate = SpaceGate(file)
        if file.recovery_pending():
            # Continuing the count from the header could reuse a sequence a crash hid (a header
            # page older than the data): only a recovery may choose the next one.
            raise Corrupted(f"Ring file {file.path} needs a recovery after a machine crash (its last writer attached before the machine restarted and did not close after a sync), which this package does not run; `cbuff tail NAME --from latest` runs it (and prints nothing), then take it over again.")
        state = self.area.observe()         # under the writer lock
        if isinstance(state, MessageDamage):
            raise file.damaged(state)
        if isinstance(state, Moving):
            raise file.damaged(MessageDamage("its counters keep changing although this process holds its writer lock (another process writes it without the lock)"))
        damage = self.area.prove_chain(state)           # the sequence continues from this state
        if damage is not None:
            raise file.damaged(damage)
        self.tail = state.counters[0]
        self.tail_sequence = state.oldest_sequence if state.oldest_sequence is not None else state.next
        self.tail_after_lost = False        # a lost record between the tail and its first message (I9)
        self.next_sequence = state.next

    def _advance_tail(self, limit: int) -> None:
        """Walks the tail past every record below ``limit`` (what the next claim overwrites),
        checking each (I6, I7); raises ``Corrupted`` at a damaged one, writing nothing."""
        area, tail, sequence, published = self.area, self.tail, self.tail_sequence, self.published
        after_lost = self.tail_after_lost
        q, base, mask, max_message, header_words = self.file.q, area.base_index, area.words - 1, area.max_message, area.header_words
        while tail < limit:
            index = base + (tail & mask)
            first = q[index]
            # A message record within the area and the published words, with the sequence that
            # follows (``MessageArea.decode``'s first case, inline): the common case.
            length = first & 0xFFFFFFFF
            words = header_words + ((length + 7) >> 3)
            if (first >> 32 == RECORD_MESSAGE and length <= max_message and words <= area.words - (tail & mask)
                    and q[index + 1] == sequence and tail + words <= published):
                sequence += 1
                tail += words
                after_lost = False
                continue
            record = area.decode(first, tail)
            if record is None:
                raise self.file.damaged(MessageDamage(f"the record at word position {tail} cannot be a message or padding (its first word is {first:#x})"))
            if record[0] == "message":
                found = q[index + 1]
                if after_lost and sequence < found <= F.MAX_COUNT:                # I9: a later sequence after a lost record
                    sequence = found
                if found != sequence:
                    raise self.file.damaged(MessageDamage(f"the message at word position {tail} has sequence {found}, but the one before it was {sequence - 1}, and nothing overwrote them"))
                if tail + record[2] > published:
                    raise self.file.damaged(MessageDamage(f"the record at word position {tail} ({record[2]} words) ends beyond the {published} words published"))
                sequence += 1
                after_lost = False
            elif record[0] == "lost":
                if tail + record[2] > published:
                    raise self.file.damaged(MessageDamage(f"the record at word position {tail} ({record[2]} words) ends beyond the {published} words published"))
                after_lost = True
            elif tail + record[2] >= published:
                raise self.file.damaged(MessageDamage(f"the padding record at word position {tail} is the last one published, but padding is always followed by the message it makes room for"))
            tail += record[2]
        if tail != self.tail:
            self.tail, self.tail_sequence, self.tail_after_lost = tail, sequence, after_lost
            self.file.q[F.OFF_MESSAGE_TAIL // 8] = tail

    def publish(self, data: bytes, timeout: Optional[float] = None) -> bool:
        """Publishes one message (bytes); False if the gate gave no room in time. W1 (claim),
        the record (padding first if it would not fit before the end), W4 (publish), W5 (wake),
        the count; every word through locals, and the gate asked only when its fast check (as
        ``push_word``'s) fails."""
        file, area = self.file, self.area
        q = file.q
        words_in_area, base = area.words, area.base_index
        mask = words_in_area - 1
        length = len(data)
        header_words = area.header_words
        words = header_words + ((length + 7) >> 3)
        start = self.published
        room = words_in_area - (start & mask)
        end = start + (words if words <= room else room + words)
        sequence = self.next_sequence
        if end > MAX_COUNT or sequence >= MAX_COUNT:
            raise Corrupted(f"Ring file {file.path} cannot take another push: its counters would pass {F.MAX_COUNT}, the most a ring file counts.")
        gate = self.gate
        if not (end - 1 < gate.limit and (not gate.block or file.d[H_READERS_VERSION] == gate.version)):
            if timeout != 0:
                spin_for_room(gate, end - 1, None if timeout is None else time.monotonic() + timeout)
            if not gate.wait(end - 1, timeout):
                file.check()
                return False
        if end - words_in_area > self.tail:
            self._advance_tail(end - words_in_area)
        if end > self.claimed:
            self.claimed = end
        q[file.claimed_index] = self.claimed                           # W1
        record = end - words
        if record != start:
            q[base + (start & mask)] = (record - start) | PADDING_KIND
        q[W_LAST_RECORD_START] = record
        index = base + (record & mask)
        q[index + 1] = sequence
        q[index + 2] = time.time_ns() if file.layout.precise_time else time.clock_gettime_ns(CLOCK_REALTIME_COARSE)
        offset = index * 8 + 8 * header_words
        file.mapping[offset:offset + length] = data
        q[index] = length | MESSAGE_KIND
        if area.checked:                                               # version 4: its check, before W4
            view = area.view
            q[index + 3] = F.record_check(view[index * 8:index * 8 + 24], data)
        q[W_PUBLISHED] = end                                           # W4
        self.published = end
        if S.WAKER_FENCE:
            S.fence()
        if file.d[H_WAITERS]:                                         # W5
            file.wake_readers()
        if start >> LAST_WRITE_STAMP_SHIFT != end >> LAST_WRITE_STAMP_SHIFT:
            q[W_LAST_WRITE_AT] = time.time_ns()
        self.next_sequence = sequence + 1
        q[W_PUBLISHED_MESSAGES] = sequence + 1
        if file.faulted:
            raise file.truncated()
        return True


class MessageCursor:
    """A reader of a message ring: records decoded and checked (I6, I7), lap recovery at the
    writer's tail, sequences counted from the records.

    ``exact`` is the sequence the next message must have when it is known; otherwise ``slack``
    says what it may be: ("unknown",), ("lapped", from, expected), ("resumed", committed),
    ("resumed-lapped", from, committed)."""

    def __init__(self, file: RingFile, start: str = "oldest", committed: "Optional[tuple[int, Optional[int]]]" = None) -> None:
        self.record: Optional[int] = None     # a named reader's record, set by its reader (see ``has_item``)
        """``start``: "oldest" or "latest"; or ``committed`` = (position, sequence or None), a
        named reader's commit point, where it resumes."""
        self.file, self.area = file, MessageArea(file)
        self.missed = 0
        self.slack: tuple[Any, ...] = ("unknown",)
        state = self.area.observe()
        if isinstance(state, MessageDamage):
            raise file.damaged(state)
        if committed is not None:
            self._resume(state, *committed)
        elif isinstance(state, Moving):
            self.position, self.exact = state.counters[1], None
        elif start == "latest":
            self.position, self.exact = state.counters[1], state.next
        else:
            self.position, self.exact = state.oldest_position, state.oldest_sequence

    def _resume(self, state: "Union[MessageState, Moving]", position: int, sequence: Optional[int]) -> None:
        """Swift's ``MessageCursor.resume(at:sequence:in:area:)``."""
        if isinstance(state, Moving):
            self.position, self.exact = position, None
            if sequence is not None:
                self.slack = ("resumed", sequence)
            return
        published, claimed = state.counters[1], state.counters[2]
        if position > published:
            raise self.file.damaged(MessageDamage(f"a named reader committed word position {position}, beyond the {published} words published"))
        if sequence is not None and (sequence > state.next or (position == published and sequence != state.next)):
            raise self.file.damaged(MessageDamage(f"a named reader committed message {sequence} at word position {position}, but the message there is number {state.next}"))
        if position < self.area.oldest_intact(claimed):
            self.position, self.exact = state.counters[0], None
            if sequence is not None:
                self.slack = ("resumed-lapped", position, sequence)
        elif position == published:
            self.position, self.exact = position, state.next
        else:
            self.position, self.exact = position, None
            if sequence is not None:
                self.slack = ("resumed", sequence)

    @property
    def expected(self) -> Optional[int]:
        """The sequence the next message should have: exactly, or the bound this reader has."""
        if self.exact is not None:
            return self.exact
        kind = self.slack[0]
        if kind in ("lapped", "lost"):
            return int(self.slack[2])
        if kind in ("resumed", "resumed-lapped"):
            return int(self.slack[-1])
        return None

    def commit_point(self) -> "tuple[int, Optional[int]]":
        """(position, sequence or None) a named reader commits."""
        if self.exact is not None:
            return self.position, self.exact
        kind = self.slack[0]
        if kind in ("lapped", "resumed-lapped", "lost"):
            return self.slack[1], self.slack[2]
        return self.position, self.expected

    @property
    def next_sequence(self) -> int:
        expected = self.expected
        return expected if expected is not None else min(self.file.q[F.OFF_PUBLISHED_MESSAGES // 8], F.MAX_COUNT)

    def _admit(self, sequence: int, position: int) -> int:
        """How many messages were missed before ``sequence`` at ``position`` (I7, I4)."""
        if self.exact is not None:
            raise self.file.damaged(MessageDamage(f"the message at word position {position} has sequence {sequence}, but the one before it was {self.exact - 1}, and nothing overwrote them"))
        allowance = self.area.allowance()                                  # B of I4: what recoveries skipped
        if sequence > position // 3 + allowance:
            raise self.file.damaged(MessageDamage(f"the message at word position {position} has sequence {sequence}, more than the {position // 3} messages that fit before it"))
        kind = self.slack[0]
        if kind == "lost":
            # Past a lost record (I9): the sequence expected or a later one, the gap missed.
            if sequence >= self.slack[2]:
                return int(sequence - self.slack[2])
            raise self.file.damaged(MessageDamage(f"the message at word position {position} has sequence {sequence}, but the one before it was {self.slack[2] - 1}, and nothing overwrote them"))
        if kind == "lapped":
            _, start, expected = self.slack
            if sequence >= expected and sequence - expected <= (position - start) // 3 + allowance:
                return int(sequence - expected)
            raise self.file.damaged(MessageDamage(f"the message at word position {position} has sequence {sequence}, which a reader at message {expected} (word {start}) cannot reach by losing only the messages in between"))
        if kind == "resumed":
            if sequence <= self.slack[1]:
                return 0
            raise self.file.damaged(MessageDamage(f"a named reader committed message {self.slack[1]} at word position {position}, but the message there is number {sequence}"))
        if kind == "resumed-lapped":
            return max(0, sequence - int(self.slack[2]))
        return 0

    def _succession(self, end: int, sequence: int) -> Optional[MessageDamage]:
        """The damage, if any, that makes the message of ``sequence`` ending at ``end`` not the
        one its writer published there (MessageRing.swift, ``succession``): a record
        after it (past one padding record) without the next sequence, or, when it is the last
        one published, a checked state (I5) that ends elsewhere or counts otherwise. None when
        it is followed as it should be, or when a writer kept moving too fast to check."""
        area, q = self.area, self.file.q
        for _ in range(OBSERVATION_ROUNDS):
            if end < q[W_PUBLISHED]:
                following = end
                record = area.decode(area.first_word(following), following)
                if record is not None and record[0] == "padding":
                    following += record[2]
                    if following >= q[W_PUBLISHED]:                                   # I6
                        return MessageDamage(f"the padding record at word position {end} is the last one published, but padding is always followed by the message it makes room for")
                found = area.sequence_at(following)
                if found == sequence + 1:
                    return None
                return MessageDamage(f"the message at word position {following} has sequence {found}, but the one before it was {sequence}, and nothing overwrote them")
            state = area.observe()
            if isinstance(state, MessageDamage):
                return state
            if isinstance(state, MessageState) and state.counters[1] == end:               # I5
                if state.next == sequence + 1:
                    return None
                return MessageDamage(f"its last message is number {sequence}, but it counts {state.next} messages published")
        return None

    def _pass_lost(self, position: int) -> None:
        """Passes the lost record at ``position`` (I9; Swift's ``MessageCursor.passLost``): the
        next message may come later than the one expected, the difference counted as missed; a
        commit names the lost record, so that a reader resuming there counts the same gap."""
        expected = self.expected
        if expected is not None and not (self.exact is None and self.slack[0] == "lost"):
            self.slack = ("lost", position, expected)
        self.exact = None

    def _recover_from_lap(self) -> None:
        start = self.position
        state = self.area.observe()
        if isinstance(state, MessageDamage):
            raise self.file.damaged(state)
        if isinstance(state, Moving):
            self.position = max(state.counters[1], start + 1)
        else:
            tail = state.counters[0]
            self.position = tail if tail > start else state.counters[1]
        if self.exact is not None:
            self.slack = ("lapped", start, self.exact)
        elif self.slack[0] == "resumed":
            self.slack = ("resumed-lapped", start, self.slack[1])
        self.exact = None

    def read(self, accept: Optional[Callable[[int], bool]] = None) -> "Optional[tuple[int, int, bytes]]":
        """(sequence, time, bytes) of the next message, or None when caught up. ``accept(sequence)``
        may refuse to consume it: it is returned all the same and the cursor stays on it."""
        file, area, q = self.file, self.area, self.file.q
        words_in_area, base, max_message, header_words, checked = area.words, area.base_index, area.max_message, area.header_words, area.checked
        mask = words_in_area - 1
        while True:
            position = self.position
            published = q[W_PUBLISHED]                                 # R1
            if position >= published:
                if file.faulted:
                    raise file.truncated()
                return None
            index = base + (position & mask)
            first = q[index]
            # A whole message record (``MessageArea.decode``'s first case, inline): the common
            # case, read with locals; anything else is decoded below.
            length = first & 0xFFFFFFFF
            words = header_words + ((length + 7) >> 3)
            if first >> 32 == RECORD_MESSAGE and length <= max_message and words <= words_in_area - (position & mask) and position + words <= published:
                sequence, stamp = q[index + 1], q[index + 2]
                offset = index * 8 + 8 * header_words
                data = file.mapping[offset:offset + length]                   # R2 (a copy: bytes)
                end = position + words
                if checked:
                    # Version 4 (I8): the check word, over the copy and the header, vouches for
                    # the length and the bytes; it replaces the look-ahead below (MessageRing.swift,
                    # ``isFollowed``, says why). Checked by R4 below, as the copy is.
                    followed = q[index + 3] == F.record_check(area.view[index * 8:index * 8 + 24], data)
                # I7 ahead (``_succession``'s cheap half, loads only, checked by R4 below): the
                # record at this message's end carries the next sequence, or, if it is the last
                # one published, the writer's words name it (MessageRing.swift, isFollowed).
                elif end < published or end < q[W_PUBLISHED]:
                    followed = q[base + ((end + 1) & mask)] == sequence + 1   # wrapped: ``sequence_at``
                else:
                    last = q[W_LAST_RECORD_START]
                    followed = last == position or (last >= end and q[W_PUBLISHED_MESSAGES] == sequence + 1)
                claimed = q[file.claimed_index]
                if position < claimed - words_in_area:                         # R4 (area.oldest_intact)
                    self._recover_from_lap()
                    continue
                if file.faulted:
                    raise file.truncated()
                if not followed:
                    damage = area.checksum_damage(position, sequence) if checked else self._succession(end, sequence)
                    if damage is not None:
                        if position < area.oldest_intact(q[file.claimed_index]):
                            self._recover_from_lap()
                            continue
                        raise file.damaged(damage)
                lost = 0 if sequence == self.exact else self._admit(sequence, position)   # I7
                if accept is not None and not accept(sequence):
                    return sequence, stamp, data
                if lost:
                    self.missed += lost
                if self.exact is None:
                    self.slack = ("unknown",)
                self.exact = sequence + 1
                self.position = position + words
                return sequence, stamp, data
            record = area.decode(first, position)
            if position < area.oldest_intact(q[file.claimed_index]):
                self._recover_from_lap()
                continue
            if file.faulted:
                raise file.truncated()
            if record is not None and record[0] == "padding":
                if position + record[2] == published:
                    raise file.damaged(MessageDamage(f"the padding record at word position {position} is the last one published, but padding is always followed by the message it makes room for"))
                self.position = position + record[2]
                continue
            if record is not None and record[0] == "lost" and position + record[2] <= published:
                self._pass_lost(position)
                self.position = position + record[2]
                continue
            if record is None:
                raise file.damaged(MessageDamage(f"the record at word position {position} cannot be a message or padding (its first word is {first:#x})"))
            raise file.damaged(MessageDamage(f"the record at word position {position} ({record[2]} words) ends beyond the {published} words published"))

    def has_message(self) -> bool:
        self.file.check()
        # A named reader removed under it ends its wait as a message would: its next read raises.
        return bool(self.file.published() > self.position) or (self.record is not None and not self.file.is_registered(self.record))

    def wait(self, timeout: Optional[float], coalesce: float = 0.0) -> bool:
        """Sleeps until something is published past this cursor, at most ``timeout`` seconds;
        ``coalesce``: see ``RingFile.sleep``."""
        return self.file.sleep(F.OFF_NOTIFY, F.OFF_WAITERS, self.has_message, timeout, acknowledged=True, coalesce=coalesce)
