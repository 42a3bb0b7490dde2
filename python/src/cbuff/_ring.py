"""The ring file and the publication protocol (RingFileFormat.md, "Publication", "Message rings"):
a mapped file, its header words, the reader table, and the writer's and readers' steps for both
kinds of ring. Every access to the mapping is in this module, through ``Words``; ``_system``
says why each plain access has the ordering the protocol needs on x86-64."""

import os
import struct
import time

from . import _format as F
from . import _system as S
from .errors import Corrupted, InvalidArgument, ReaderBusy, TimedOut

SLICE_NS = 50_000_000      # the longest futex sleep before a fresh look
WAKE_REQUESTED_BIT = 31    # of `waiters` and `writer waiting`: a sleeper asked to be woken
CLOCK_REALTIME_COARSE = getattr(time, "CLOCK_REALTIME_COARSE", 5)   # Linux: the last timer tick


class RingFile:
    """One open, validated, mapped ring file. ``close()`` unmaps and closes (releasing locks)."""

    def __init__(self, path, fd, mapping, layout):
        self.path, self.fd, self.mapping, self.layout = path, fd, mapping, layout
        self.q = memoryview(mapping).cast("Q")     # u64 words: index = offset // 8
        self.d = memoryview(mapping).cast("I")     # u32 words: index = offset // 4
        self.claimed_index = layout.claimed_offset // 8
        self.data_offset = F.HEADER_SIZE
        self._base = None       # the mapping's address, for the futex calls (see ``address``)

    @classmethod
    def create(cls, path, layout, mode):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)
            os.posix_fallocate(fd, 0, layout.file_size)
            os.pwrite(fd, layout.encode(time.time_ns()), 0)
            return cls(path, fd, S.map_shared(fd, layout.file_size), layout)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise

    @classmethod
    def open(cls, path, writable=True):
        fd, info = S.open_trusted(path, writable)
        try:
            header = os.pread(fd, F.DESCRIBED_BYTES, 0)
            layout = F.Layout.validate(header, info.st_size, path)
            file = cls(path, fd, S.map_shared(fd, layout.file_size, writable), layout)
        except BaseException:
            os.close(fd)
            raise
        file.check_counters()
        return file

    def close(self):
        if self.mapping is None:
            return
        self.q.release()
        self.d.release()
        self.mapping.close()
        os.close(self.fd)
        self.mapping = None

    def address(self, offset):
        """The address of byte ``offset`` of the mapping (writable), for the futex system calls:
        found once, as ``address_of`` costs microseconds; valid while the file stays mapped."""
        if self._base is None:
            self._base = S.address_of(self.mapping, 0)
        return self._base + offset

    # Header words
    def published(self):
        return self.q[F.OFF_PUBLISHED // 8]

    def claimed(self):
        return self.q[self.claimed_index]

    def check_counters(self):
        published, claimed = self.published(), self.claimed()
        again = self.published()
        if claimed < published or (claimed - again > self.layout.length and claimed >= again):
            raise Corrupted(f"Ring file {self.path} is damaged: its counters contradict each other (published {published}, claimed {claimed}, length {self.layout.length}).")
        if claimed > F.MAX_POSITION:
            raise Corrupted(f"Ring file {self.path} is damaged: its claimed position {claimed} is beyond 2^63, which no writer reaches.")
        for index in range(F.READER_CAPACITY):
            state = self.d[(self._record(index) + F.REC_STATE) // 4]
            if state != 0:
                cursor = self.q[(self._record(index) + F.REC_CURSOR) // 8]
                if state != 1 or cursor > self.published():
                    raise Corrupted(f"Ring file {self.path} is damaged: named reader record {index} has state {state} and cursor {cursor}; remove that reader.")

    # The writer's liveness
    def try_lock_writer(self):
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

    def writer_alive(self):
        return S.is_locked(self.fd, F.WRITER_LOCK_BYTE)

    def recorded_writer_running(self):
        return (self.d[F.OFF_WRITER_STATE // 4] == F.STATE_ATTACHED
                and S.is_running(self.d[F.OFF_WRITER_PID // 4], self.q[F.OFF_WRITER_START_TIME // 8]))

    def attach_writer(self):
        pid = os.getpid()
        start = S.start_time(pid) or 0
        self.d[F.OFF_WRITER_PID // 4] = pid
        self.q[F.OFF_WRITER_START_TIME // 8] = start
        self.q[F.OFF_WRITER_GENERATION // 8] = (self.q[F.OFF_WRITER_GENERATION // 8] + 1) & 0xFFFF_FFFF_FFFF_FFFF  # wraps, as every bumped word
        # Only a dead or closed writer can have left a request for room: nobody sleeps there now.
        S.atomic_clear_u32(self.address(F.OFF_WRITER_WAITING))
        self.d[F.OFF_WRITER_STATE // 4] = F.STATE_ATTACHED      # last: whoever sees it sees the rest
        return pid, start

    def detach_writer(self):
        self.q[F.OFF_LAST_WRITE_AT // 8] = time.time_ns()
        self.d[F.OFF_WRITER_STATE // 4] = F.STATE_CLOSED
        self.wake_readers()

    # Waking (the format's "Waiting"): clear the request, change the futex word, wake everyone.
    def wake_readers(self):
        self._wake(F.OFF_NOTIFY, F.OFF_WAITERS)

    def wake_writer(self):
        self._wake(F.OFF_SPACE, F.OFF_WRITER_WAITING)

    def _wake(self, word_offset, request_offset):
        S.atomic_clear_bit_u32(self.address(request_offset), WAKE_REQUESTED_BIT)
        word = self.address(word_offset)
        S.atomic_add_u32(word, 1)
        S.futex_wake(word)

    # The reader table
    @staticmethod
    def _record(index):
        return F.READER_TABLE + index * F.READER_RECORD_SIZE

    def reader_name(self, index):
        record = self._record(index)
        if self.d[(record + F.REC_STATE) // 4] != 1:
            return None
        length = self.d[(record + F.REC_NAME_LENGTH) // 4]
        if not 1 <= length <= F.READER_NAME_MAX:
            return None
        return bytes(self.mapping[record + F.REC_NAME:record + F.REC_NAME + length]).decode("utf-8", "replace")

    def readers(self):
        """(index, name, cursor, sequence or None, pid, alive) of every named reader."""
        out = []
        for index in range(F.READER_CAPACITY):
            name = self.reader_name(index)
            if name is None:
                continue
            record = self._record(index)
            sequence = self.q[(record + F.REC_SEQUENCE) // 8]
            out.append((index, name, self.q[(record + F.REC_CURSOR) // 8], sequence - 1 if sequence else None,
                        self.d[(record + F.REC_PID) // 4], S.is_locked(self.fd, 1 + index)))
        return out

    def with_table_locked(self, timeout, body):
        deadline = time.monotonic() + timeout
        while not S.try_lock(self.fd, F.TABLE_LOCK_BYTE):
            if time.monotonic() > deadline:
                raise TimedOut(f"The named-reader table of {self.path} (byte {F.TABLE_LOCK_BYTE}) stayed locked by another process for {timeout} s.")
            time.sleep(0.001)
        try:
            return body()
        finally:
            S.unlock(self.fd, F.TABLE_LOCK_BYTE)

    def claim_reader(self, name, buffer, timeout, start):
        """Registers (or resumes) named reader ``name``: returns (index, is_new)."""
        encoded = name.encode()
        if not 1 <= len(encoded) <= F.READER_NAME_MAX or any(not (c.isalnum() and c.isascii() or c in "._-:@+") for c in name):
            raise InvalidArgument(f"Reader name {name!r} must be 1 to {F.READER_NAME_MAX} bytes of letters, digits and . _ - : @ +.")

        def body():
            existing = [index for index in range(F.READER_CAPACITY) if self.reader_name(index) == name]
            if existing:
                index = existing[0]
            else:
                free = [index for index in range(F.READER_CAPACITY) if self.d[(self._record(index) + F.REC_STATE) // 4] == 0]
                if not free:
                    raise InvalidArgument(f'Buffer "{buffer}" already has {F.READER_CAPACITY} named readers, its maximum.')
                index = free[0]
            record = self._record(index)
            if not S.try_lock(self.fd, 1 + index):
                raise ReaderBusy(f'Named reader "{name}" of buffer "{buffer}" is in use by a live process (PID {self.d[(record + F.REC_PID) // 4]}).')
            pid = os.getpid()
            if not existing:
                cursor, sequence = start()
                self.q[(record + F.REC_CURSOR) // 8] = cursor
                self.q[(record + F.REC_SEQUENCE) // 8] = 0 if sequence is None else sequence + 1
                self.d[(record + F.REC_NAME_LENGTH) // 4] = len(encoded)
                self.mapping[record + F.REC_NAME:record + F.REC_NAME + F.READER_NAME_MAX] = encoded.ljust(F.READER_NAME_MAX, b"\0")
            self.d[(record + F.REC_PID) // 4] = pid
            self.q[(record + F.REC_START_TIME) // 8] = S.start_time(pid) or 0
            if not existing:
                self.d[(record + F.REC_STATE) // 4] = 1          # last
                S.atomic_add_u32(self.address(F.OFF_READERS_VERSION), 1)
            return index, not existing
        return self.with_table_locked(timeout, body)

    def commit(self, index, cursor, sequence=None):
        """A named reader's commit: (the message sequence, then) the cursor, then a look at the writer."""
        record = self._record(index)
        if self.layout.messages:
            self.q[(record + F.REC_SEQUENCE) // 8] = 0 if sequence is None else sequence + 1
        self.q[(record + F.REC_CURSOR) // 8] = cursor
        # The writer's sleep pairs its request in WRITER_WAITING with a membarrier when the
        # kernel has one; without it a missed wake costs at most one 50 ms sleep slice, never an
        # item. Waking clears the request (a writer that died asleep costs one wake at most).
        if self.d[F.OFF_WRITER_WAITING // 4]:
            self.wake_writer()

    def committed(self, index):
        record = self._record(index)
        sequence = self.q[(record + F.REC_SEQUENCE) // 8]
        return self.q[(record + F.REC_CURSOR) // 8], (sequence - 1 if sequence else None)

    # Waiting (the format's "Waiting"): readers on `notify`, the writer on `space`.
    def sleep(self, word_offset, request_offset, ready, timeout):
        """Sleeps in slices until ``ready()`` or ``timeout`` seconds (None: no limit). Each slice
        first asks to be woken (bit 31 of the request word, which the waker clears when it
        wakes): a sleeper that dies costs the waker one wake-up at most."""
        deadline = None if timeout is None else time.monotonic() + timeout
        word, request = self.address(word_offset), self.address(request_offset)
        while True:
            if ready():
                return True
            remaining = SLICE_NS if deadline is None else min(SLICE_NS, int((deadline - time.monotonic()) * 1e9))
            if remaining <= 0:
                return ready()
            observed = self.d[word_offset // 4]
            S.atomic_set_bit_u32(request, WAKE_REQUESTED_BIT)
            S.global_barrier()
            if ready():
                return True
            S.futex_wait(word, observed, remaining)


class SpaceGate:
    """The `block` policy for the writer: never claim a position a named reader has not committed."""

    def __init__(self, file):
        self.file = file
        self.block = file.layout.policy == F.POLICY_BLOCK
        self.limit = 0 if self.block else 1 << 64
        self.version = -1

    def has_space(self, position):
        if not self.block:
            return True
        file = self.file
        version = file.d[F.OFF_READERS_VERSION // 4]
        if position < self.limit and version == self.version:
            return True
        self.version = version
        cursors = [file.q[(file._record(i) + F.REC_CURSOR) // 8] for i in range(F.READER_CAPACITY)
                   if file.d[(file._record(i) + F.REC_STATE) // 4] == 1]
        self.limit = (min(cursors) if cursors else position) + file.layout.length
        if file.d[F.OFF_GATE_VERSION // 4] != version:
            file.d[F.OFF_GATE_VERSION // 4] = version
        return position < self.limit

    def wait(self, position, timeout):
        file = self.file
        if self.has_space(position):
            return True
        if timeout == 0:
            return False
        return file.sleep(F.OFF_SPACE, F.OFF_WRITER_WAITING, lambda: self.has_space(position), timeout)


class SlotPublisher:
    """The writer's side of a ring of slots: W1 claim, W3 payload, W4 publish, W5 wake."""

    def __init__(self, file):
        self.file, self.layout = file, file.layout
        self.published = file.published()
        self.claimed = max(file.claimed(), self.published)
        self.gate = SpaceGate(file)

    def publish(self, payloads, timeout=None):
        """Publishes the byte strings of ``payloads`` (each at most the item size, zero-padded) in
        runs the gate allows; returns how many were published before ``timeout`` ran out."""
        mapping, length, stride, size = self.file.mapping, self.layout.length, self.layout.stride, self.layout.item_size

        def write(start, done, room):
            for i in range(room):
                offset = F.HEADER_SIZE + ((start + i) % length) * stride
                data = payloads[done + i]
                mapping[offset:offset + size] = data if len(data) == size else data.ljust(size, b"\0")
        return self._publish_runs(len(payloads), write, timeout)

    def publish_words(self, words, timeout=None):
        """``publish`` for items of one word each (8-byte slots): ``words`` an ``array('Q')``,
        copied run by run into the slots with one slice assignment."""
        q, length = self.file.q, self.layout.length

        def write(start, done, room):
            index, written = start % length, 0
            while written < room:                                      # one or two runs
                run = min(room - written, length - index)
                q[F.W_DATA + index:F.W_DATA + index + run] = words[done + written:done + written + run]
                written += run
                index = 0
        return self._publish_runs(len(words), write, timeout)

    def _publish_runs(self, total, write, timeout):
        """The one publishing loop: per run, the gate (bounded by one deadline for the whole call,
        as in Swift), W1 claim, W3 ``write(start, done, room)``, W4+W5 announce."""
        file, length = self.file, self.layout.length
        deadline = None if timeout is None else time.monotonic() + timeout
        done = 0
        while done < total:
            start = self.published
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self.gate.wait(start, remaining):
                break
            room = min(total - done, length, self.gate.limit - start if self.gate.block else length)
            end = start + room
            if end > self.claimed:
                self.claimed = end
            file.q[file.claimed_index] = self.claimed                  # W1 (W2 is free on x86-64)
            write(start, done, room)                                   # W3
            self.announce(start, end)
            done += room
        return done

    def announce(self, start, end):
        file = self.file
        file.q[F.OFF_PUBLISHED // 8] = end                             # W4
        self.published = end
        if file.d[F.OFF_WAITERS // 4]:                                # W5
            file.wake_readers()
        if start >> F.LAST_WRITE_STAMP_SHIFT != end >> F.LAST_WRITE_STAMP_SHIFT:
            file.q[F.OFF_LAST_WRITE_AT // 8] = time.time_ns()


class SlotCursor:
    """A reader of a ring of slots: R1 (published), R2 (copy), R3+R4 (claimed), lap recovery."""

    def __init__(self, file, start):
        self.file, self.layout = file, file.layout
        published = file.published()
        if start == "latest":
            self.next = published
        elif start == "oldest":
            self.next = min(max(0, file.claimed() - file.layout.length), published)
        else:
            self.next = min(start, published)
        self.missed = 0

    def read(self, count=1):
        """Up to ``count`` items' bytes (a list); empty when caught up."""
        file, layout = self.file, self.layout
        q, mapping, length, stride, size = file.q, file.mapping, layout.length, layout.stride, layout.item_size
        while True:
            published = q[F.OFF_PUBLISHED // 8]                        # R1
            available = min(published - self.next, count, length)
            if available <= 0:
                return []
            first = self.next
            items = []
            for i in range(available):                                 # R2
                offset = F.HEADER_SIZE + ((first + i) % length) * stride
                items.append(bytes(mapping[offset:offset + size]))
            if self._intact(first, available):                         # R3 (free on x86-64), R4
                return items

    def read_words(self, count):
        """``read`` for items of one word each (8-byte slots): up to ``count`` words as ints."""
        file, layout = self.file, self.layout
        q, length = file.q, layout.length
        while True:
            available = min(q[F.W_PUBLISHED] - self.next, count, length)           # R1
            if available <= 0:
                return []
            first = self.next
            index = first % length
            run = min(available, length - index)
            words = q[F.W_DATA + index:F.W_DATA + index + run].tolist()             # R2
            if run < available:
                words += q[F.W_DATA:F.W_DATA + available - run].tolist()
            if self._intact(first, available):                                       # R4
                return words

    def _intact(self, first, available):
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

    def read_array(self, count, dtype):
        """Up to ``count`` items as a numpy array of ``dtype`` (one copy per run, checked once)."""
        import numpy
        file, layout = self.file, self.layout
        q, length, stride = file.q, layout.length, layout.stride
        while True:
            published = q[F.OFF_PUBLISHED // 8]
            available = min(published - self.next, count, length)
            if available <= 0:
                return numpy.empty(0, dtype=dtype)
            first = self.next
            index = first % length
            run = min(available, length - index)
            raw = numpy.frombuffer(file.mapping, dtype=numpy.uint8, count=run * stride, offset=F.HEADER_SIZE + index * stride)
            if run < available:
                raw = numpy.concatenate([raw, numpy.frombuffer(file.mapping, dtype=numpy.uint8, count=(available - run) * stride, offset=F.HEADER_SIZE)])
            else:
                raw = raw.copy()
            if self._intact(first, available):                                       # R4
                if stride == dtype.itemsize:
                    return raw.view(dtype).reshape(available)
                return numpy.ndarray(available, dtype=dtype, buffer=raw, strides=(stride,))

    def has_item(self):
        return self.file.q[F.OFF_PUBLISHED // 8] > self.next

    def wait(self, timeout):
        return self.file.sleep(F.OFF_NOTIFY, F.OFF_WAITERS, self.has_item, timeout)


# --- Message rings ----------------------------------------------------------------------------

class MessageArea:
    """A message ring's data area, in words (RingFileFormat.md, "Message rings")."""

    def __init__(self, file):
        self.file = file
        self.words = file.layout.capacity // 8
        self.max_message = file.layout.max_message
        self.base_index = F.HEADER_SIZE // 8

    def first_word(self, position):
        return self.file.q[self.base_index + (position & (self.words - 1))]

    def decode(self, first, position):
        """('message', length, words) / ('padding', words) / None."""
        length, kind = first & 0xFFFFFFFF, first >> 32
        room = self.words - (position & (self.words - 1))
        if kind == F.RECORD_MESSAGE and length <= self.max_message:
            words = F.RECORD_HEADER_WORDS + (length + 7) // 8
            return ("message", length, words) if words <= room else None
        if kind == F.RECORD_PADDING and length == room:
            return ("padding", 0, room)
        return None

    def byte_offset(self, position):
        return F.HEADER_SIZE + (position & (self.words - 1)) * 8

    def oldest_intact(self, claimed):
        return claimed - self.words if claimed > self.words else 0

    def oldest_record(self, minimum):
        q = self.file.q
        for _ in range(64):
            tail, claimed, published = q[F.OFF_MESSAGE_TAIL // 8], self.file.claimed(), self.file.published()
            if tail >= self.oldest_intact(claimed) and minimum <= tail <= published:
                return tail
        return max(minimum, self.file.published())


class MessagePublisher:
    """The writer's side of a message ring: the tail walked ahead of each claim, the record, the count."""

    def __init__(self, file):
        self.file, self.area = file, MessageArea(file)
        q = file.q
        self.published = file.published()
        self.claimed = max(file.claimed(), self.published)
        self.gate = SpaceGate(file)
        oldest = self.area.oldest_intact(self.claimed)
        recorded = q[F.OFF_MESSAGE_TAIL // 8]
        self.tail = recorded if oldest <= recorded <= self.published else self.published
        q[F.OFF_MESSAGE_TAIL // 8] = self.tail
        self.next_sequence = self._resume_sequence(oldest)

    def _resume_sequence(self, oldest):
        if self.published == 0:
            return 0
        q, area = self.file.q, self.area
        last = q[F.OFF_LAST_RECORD_START // 8]
        if oldest <= last < self.published:
            record = area.decode(area.first_word(last), last)
            if record and record[0] == "message" and last + record[2] == self.published:
                return q[area.base_index + ((last + 1) & (area.words - 1))] + 1
        return q[F.OFF_PUBLISHED_MESSAGES // 8]

    def publish(self, data, timeout=None):
        """Publishes one message (bytes); False if the gate gave no room in time."""
        file, area, q = self.file, self.area, self.file.q
        length = len(data)
        words = F.RECORD_HEADER_WORDS + (length + 7) // 8
        start = self.published
        room = area.words - (start & (area.words - 1))
        end = start + (words if words <= room else room + words)
        if not self.gate.wait(end - 1, timeout):
            return False
        if end > area.words:
            limit, tail = end - area.words, self.tail
            while tail < limit:
                record = area.decode(area.first_word(tail), tail)
                if record is None:
                    tail = self.published
                    break
                tail += record[2]
            if tail != self.tail:
                self.tail = tail
                q[F.OFF_MESSAGE_TAIL // 8] = tail
        if end > self.claimed:
            self.claimed = end
        q[file.claimed_index] = self.claimed                           # W1
        record = end - words
        if record != start:
            q[area.base_index + (start & (area.words - 1))] = (record - start) | F.RECORD_PADDING << 32
        q[F.OFF_LAST_RECORD_START // 8] = record
        offset = area.byte_offset(record)
        index = offset // 8
        q[index + 1] = self.next_sequence
        q[index + 2] = time.time_ns() if file.layout.precise_time else time.clock_gettime_ns(CLOCK_REALTIME_COARSE)
        file.mapping[offset + 24:offset + 24 + length] = data
        q[index] = length | F.RECORD_MESSAGE << 32
        q[F.OFF_PUBLISHED // 8] = end                                  # W4
        self.published = end
        if file.d[F.OFF_WAITERS // 4]:
            file.wake_readers()
        if start >> F.LAST_WRITE_STAMP_SHIFT != end >> F.LAST_WRITE_STAMP_SHIFT:
            q[F.OFF_LAST_WRITE_AT // 8] = time.time_ns()
        self.next_sequence += 1
        q[F.OFF_PUBLISHED_MESSAGES // 8] = self.next_sequence
        return True


class MessageCursor:
    """A reader of a message ring: records decoded and checked, lap recovery at the writer's tail."""

    def __init__(self, file, start, sequence=None):
        self.file, self.area = file, MessageArea(file)
        self.missed = 0
        if start == "oldest":
            self.position, self.expected = self.area.oldest_record(0), None
        elif start == "latest":
            self.position, self.expected = file.published(), None
        else:
            self.position, self.expected = min(start, file.published()), sequence
        if self.expected is None:
            self.expected = self._resolve()

    def _resolve(self):
        area, q = self.area, self.file.q
        for _ in range(1000):
            found = self.read(peek=True)
            if found is not None:
                return found[0]
            if self.position == 0:
                return 0
            last = q[F.OFF_LAST_RECORD_START // 8]
            if last < self.position:
                record = area.decode(area.first_word(last), last)
                if record and record[0] == "message" and last + record[2] == self.position:
                    sequence = q[area.byte_offset(last) // 8 + 1]
                    if last >= area.oldest_intact(self.file.claimed()):
                        return sequence + 1
        return None

    @property
    def next_sequence(self):
        return self.expected if self.expected is not None else self.file.q[F.OFF_PUBLISHED_MESSAGES // 8]

    def read(self, peek=False):
        """(sequence, time, bytes) of the next message, or None when caught up."""
        file, area, q = self.file, self.area, self.file.q
        while True:
            position = self.position
            published = q[F.OFF_PUBLISHED // 8]                        # R1
            if position >= published:
                return None
            record = area.decode(area.first_word(position), position)
            if record is not None and record[0] == "message" and position + record[2] <= published:
                offset = area.byte_offset(position)
                sequence, stamp = q[offset // 8 + 1], q[offset // 8 + 2]
                data = bytes(file.mapping[offset + 24:offset + 24 + record[1]])   # R2
                if position < area.oldest_intact(file.claimed()):      # R4
                    self.position = area.oldest_record(position + 1)
                    continue
                if peek:
                    return sequence, stamp, data
                if self.expected is not None and sequence > self.expected:
                    self.missed += sequence - self.expected
                self.expected = sequence + 1
                self.position = position + record[2]
                return sequence, stamp, data
            intact = position >= area.oldest_intact(file.claimed())
            if not intact:
                self.position = area.oldest_record(position + 1)
                continue
            if record is not None and record[0] == "padding":
                self.position = position + record[2]
                continue
            raise Corrupted(f"The ring file {file.path} is damaged: the record at word position {position} of its data area cannot be a message, and nothing overwrote it.")

    def has_message(self):
        return self.file.published() > self.position

    def wait(self, timeout):
        return self.file.sleep(F.OFF_NOTIFY, F.OFF_WAITERS, self.has_message, timeout)
