"""The public face: DataDirectory, the writers and readers of both kinds of buffer."""

import array
import collections
import os
import random
import re
import time

from . import _format as F
from . import _ring as R
from . import _system as S
from ._format import H_READERS_VERSION, H_WAITERS, H_WRITER_WAITING, LAST_WRITE_STAMP_SHIFT, W_DATA, W_LAST_WRITE_AT, W_PUBLISHED
from ._registry import Registry
from .errors import BufferAlreadyCreated, CBuffError, Corrupted, InvalidArgument, NotFound, ValueDoesNotFit, WriterBusy

_NAME_RULE = re.compile(r"[A-Za-z0-9_:@+\-][A-Za-z0-9._:@+\-]{0,199}\Z")

Message = collections.namedtuple("Message", "sequence time data")
Message.text = property(lambda self: self.data.decode("utf-8"))
Message.__doc__ = "A message: its sequence, its publish time (ns since the Unix epoch) and its bytes."


def default_path():
    """``$XDG_DATA_HOME/cbuff``, else ``$HOME/.local/share/cbuff``, else ``$XDG_RUNTIME_DIR/cbuff``,
    else ``/tmp/cbuff-UID``: the Swift library's default."""
    for variable, suffix in (("XDG_DATA_HOME", "/cbuff"), ("HOME", "/.local/share/cbuff"), ("XDG_RUNTIME_DIR", "/cbuff")):
        base = os.environ.get(variable, "")
        if base.startswith("/"):
            return base + suffix
    return f"/tmp/cbuff-{os.getuid()}"


def validate_name(name):
    if not isinstance(name, str) or not _NAME_RULE.match(name) or len(name.encode()) > 200:
        raise InvalidArgument(f"Buffer name {name!r} is invalid: 1 to 200 bytes of letters, digits and . _ - : @ +, not starting with a dot.")


class DataDirectory:
    """A data directory: ``path``, else ``$CBUFF_DIR``, else the per-user default."""

    def __init__(self, path=None, lock_timeout=5.0):
        self.path = path or os.environ.get("CBUFF_DIR") or default_path()
        self.lock_timeout = lock_timeout

    def __repr__(self):
        return f"DataDirectory({self.path!r})"

    def ring_path(self, name):
        return os.path.join(self.path, name + ".ring")

    def _trust(self, create=False):
        """The data directory, checked (created, owner-only, if ``create`` and it is missing)."""
        if create and not os.path.lexists(self.path):
            try:
                os.makedirs(self.path, mode=0o700, exist_ok=True)
            except OSError as error:
                raise S.system_error(error, f"create the data directory {self.path}") from None
        try:
            return S.check_directory(self.path)
        except NotFound:
            raise NotFound(f"No buffer there: {self.path} holds no cbuff registry.") from None

    def _registry(self, create=False):
        trust = self._trust(create)
        try:
            return Registry(trust, self.lock_timeout, create)
        except FileNotFoundError:
            raise NotFound(f"No buffer there: {self.path} holds no cbuff registry.") from None

    def _look_up(self, name):
        validate_name(name)
        registry = self._registry()
        try:
            row = registry.row(name)
        except BaseException:
            registry.close()
            raise
        if row is None:
            registry.close()
            raise NotFound(f'No buffer named "{name}" in {self.path}.')
        return registry, row

    def _open_ring(self, registry, row, writable=True):
        """Opens the ring file of ``row`` and checks that the row is that file's, whole."""
        try:
            file = R.RingFile.open(registry.trust, row.name + ".ring", writable)
        except FileNotFoundError:
            raise Corrupted(f'Buffer "{row.name}" is registered but its ring file {self.ring_path(row.name)} is missing; remove the buffer to clean up its registry row.') from None
        problem = row.disagreement(file.layout, file.created_at(), file.path)
        if problem is None:
            try:
                file.check()
            except BaseException:
                file.close()
                raise
            return file
        file.close()
        raise problem

    # Creating and attaching

    def create_buffer(self, name, item_size=None, length=None, policy="overwrite", fields=None,
                      messages=False, capacity=None, max_message=None, precise_time=False):
        """Creates a buffer and returns its writer: of items (``item_size``, ``length``; or
        ``fields="time:u64,price:f64"`` and ``length``), or of messages (``messages=True,
        capacity=…, max_message=…``). Raises BufferAlreadyCreated if the name exists."""
        validate_name(name)
        if policy not in F.POLICIES:
            raise InvalidArgument(f"Policy {policy!r} is not 'overwrite' or 'block'.")
        if messages:
            layout = F.Layout.message_ring(capacity, max_message, F.POLICIES[policy], precise_time)
        else:
            layout_fields = F.FieldLayout.parse(fields) if isinstance(fields, str) else fields
            if layout_fields is not None and item_size is not None and item_size != layout_fields.size:
                raise InvalidArgument(f"item_size {item_size} disagrees with the fields {layout_fields}, which make items of {layout_fields.size} bytes.")
            size = layout_fields.size if layout_fields is not None else (1 if item_size is None else item_size)
            layout = F.Layout.items(size, 2 if length is None else length, F.POLICIES[policy], fields=layout_fields)
        registry = self._registry(create=True)
        try:
            if registry.row(name) is not None:
                raise self._already_created(name, registry)
            temporary = f".{name}.{os.getpid()}.{random.getrandbits(32)}.tmp"
            file = R.RingFile.create(registry.trust, temporary, layout)
            try:
                if not S.try_lock(file.fd, F.WRITER_LOCK_BYTE):
                    raise WriterBusy(f'Cannot create buffer "{name}": another process locked its new ring file {file.path} first.')
                file.attach_writer()

                def register(db):
                    if registry.has_row(db, name):
                        raise self._already_created(name, registry)
                    final = self.ring_path(name)
                    if os.path.lexists(final) and self._file_writer_alive(registry.trust, name):
                        raise WriterBusy(f'Cannot create buffer "{name}": its ring file {final} exists without a registry row and a live process writes to it.')
                    try:
                        os.rename(file.path, final)
                    except OSError as error:
                        raise S.system_error(error, f"rename the new ring file {file.path} to {final}") from None
                    file.path = final
                    Registry.insert(db, name, layout, file.created_at())
                registry.write(register)
            except BaseException:
                # The transaction rolled back: remove the file under whichever name it has now,
                # unless another creator has already replaced it there.
                file.detach_writer()
                try:
                    if os.path.samestat(os.fstat(file.fd), os.stat(file.path)):
                        os.unlink(file.path)
                except OSError:
                    pass
                file.close()
                raise
        finally:
            registry.close()
        return MessageWriter(name, file) if messages else Writer(name, file)

    def _file_writer_alive(self, trust, name):
        """Whether a live process holds the writer lock of ring file ``name``.ring (False if
        there is no such file, or it cannot be opened as a ring file)."""
        try:
            fd, _ = S.open_trusted(trust, name + ".ring", False)
        except (FileNotFoundError, CBuffError):
            return False
        try:
            return S.is_locked(fd, F.WRITER_LOCK_BYTE)
        finally:
            os.close(fd)

    def _already_created(self, name, registry):
        if self._file_writer_alive(registry.trust, name):
            try:
                fd, _ = S.open_trusted(registry.trust, name + ".ring", False)
                try:
                    pid = int.from_bytes(os.pread(fd, 4, F.OFF_WRITER_PID), "little")
                finally:
                    os.close(fd)
            except (OSError, CBuffError):
                pid = "unknown"
            return BufferAlreadyCreated(f'Buffer "{name}" already exists and its writer (PID {pid}) is alive.')
        return BufferAlreadyCreated(f'Buffer "{name}" already exists and its writer is gone; take it over to resume writing, or remove it first.')

    def take_over(self, name):
        """Becomes the writer of a buffer whose writer is gone; the sequence continues."""
        registry, row = self._look_up(name)
        try:
            file = self._open_ring(registry, row)
            try:
                if not file.try_lock_writer():
                    raise WriterBusy(f'Buffer "{name}" already has a live writer (PID {file.d[F.OFF_WRITER_PID // 4]}); a buffer has one writer at a time.')
                pid, start = file.attach_writer()
                handle = MessageWriter(name, file) if file.layout.messages else Writer(name, file)
            except BaseException:
                file.close()
                raise
            try:
                registry.record_writer(name, pid, start)
            except CBuffError:
                pass        # the ring file's header is the truth; the registry's columns are for scripts
        finally:
            registry.close()
        return handle

    def open_reader(self, name, start="oldest", reader=None):
        """A reader of buffer ``name``: anonymous, or the named reader ``reader`` (its cursor lives
        in the ring file; delivery at least once). ``start``: "oldest", "latest" or a sequence."""
        if not (start in ("oldest", "latest") or (type(start) is int and start >= 0)):
            raise InvalidArgument(f'start {start!r} is not "oldest", "latest" or a sequence (an int from 0).')
        registry, row = self._look_up(name)
        try:
            file = self._open_ring(registry, row)
            kind = MessageReader if file.layout.messages else Reader
            try:
                if reader is None:
                    return kind(name, file, start)

                def start_at():
                    if file.layout.messages:
                        probe = R.MessageCursor(file, start if isinstance(start, str) else "oldest")
                        return probe.commit_point()
                    probe = R.SlotCursor(file, start)
                    return probe.next, None
                index, is_new = file.claim_reader(reader, name, self.lock_timeout, start_at)
                handle = kind(name, file, None, named=(reader, index, is_new))
            except BaseException:
                file.close()
                raise
            try:
                registry.record_reader(name, reader, index)
            except CBuffError:
                pass
            return handle
        finally:
            registry.close()

    def _writer_alive_for_removal(self, trust, name):
        """Whether a live writer holds buffer ``name``, decided as a take-over decides it: a busy
        lock whose recorded writer closed or died is looked at again for up to 100 ms (a child
        forked by the writer holds the lock until it execs)."""
        try:
            fd, _info = S.open_trusted(trust, name + ".ring", False)
        except (FileNotFoundError, CBuffError):
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

    # Looking and cleaning up

    def buffers(self):
        """Every buffer's status (see ``inspect``), by name."""
        try:
            registry = self._registry()
        except NotFound:
            return []
        try:
            names = [row.name for row in registry.rows()]
        finally:
            registry.close()
        return [self.inspect(name) for name in names]

    def inspect(self, name):
        """What ``cbuff inspect NAME --json`` says, as a dict (the same camelCase keys)."""
        registry, row = self._look_up(name)
        layout = row.layout
        report = {"name": name, "kind": "messages" if layout.messages else "items",
                  "itemSize": None if layout.messages else row.item_size, "length": None if layout.messages else row.length,
                  "capacity": layout.capacity, "maxMessage": layout.max_message,
                  "policy": "block" if row.policy else "overwrite", "path": self.ring_path(name),
                  "formatVersion": row.format_version, "typeName": row.type_name, "itemAlignment": row.alignment,
                  "fields": [{"name": f.name, "type": f.type, "offset": f.offset} for f in row.fields.fields] if row.fields else None,
                  "writerPid": row.writer_pid, "createdAt": row.created_at}
        try:
            file = self._open_ring(registry, row, writable=False)
        except BaseException:
            registry.close()
            raise
        try:
            report["writerAlive"] = file.writer_alive()
            state = file.d[F.OFF_WRITER_STATE // 4]
            report["writerState"] = "alive" if report["writerAlive"] else {0: "never attached", 1: "died", 2: "closed"}.get(state)
            published, claimed = file.published(), file.claimed()
            if layout.messages:
                oldest = R.MessageCursor(file, "oldest")
                written = R.MessageCursor(file, "latest").next_sequence
                report.update(written=written, oldest=min(oldest.expected if oldest.expected is not None else written, written))
            else:
                report.update(written=published, oldest=min(max(0, claimed - layout.length), published))
            report["count"] = report["written"] - report["oldest"]
            report["readers"] = []
            for _, reader, cursor, sequence, pid, alive in file.readers():
                position = sequence if layout.messages else cursor
                # A message reader with no sequence yet has read nothing and waits at "latest".
                lag = max(0, report["written"] - (report["written"] if position is None else position))
                report["readers"].append({"name": reader, "position": position, "lag": lag, "pid": pid, "alive": alive})
            file.check()
        finally:
            file.close()
            registry.close()
        return report

    def remove(self, name, force=False):
        """Removes the buffer's ring file and registry row; refused while a writer is alive unless ``force``."""
        validate_name(name)
        registry = self._registry()
        trust = registry.trust
        try:
            def remove(db):
                if not registry.has_row(db, name):
                    raise NotFound(f'No buffer named "{name}" in {self.path}.')
                if not force and self._writer_alive_for_removal(trust, name):
                    raise WriterBusy(f'Buffer "{name}" has a live writer; stop it first or force the removal.')
                db.execute("DELETE FROM buffers WHERE name = ?", (name,))
                try:
                    os.unlink(self.ring_path(name))      # the name itself: a planted link, never its target
                except FileNotFoundError:
                    pass
                except OSError as error:
                    raise S.system_error(error, f"remove the ring file {self.ring_path(name)}") from None
            registry.write(remove)
        finally:
            registry.close()


# --- Items ------------------------------------------------------------------------------------

class _Handle:
    """What writers and readers share: the open file, the name, close and context management."""

    def __init__(self, name, file):
        self.name, self._file = name, file
        layout = file.layout
        self.item_size, self.length = layout.item_size, layout.length
        self.policy = "block" if layout.policy else "overwrite"
        self.fields = layout.fields

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Writer(_Handle):
    """The one writer of a buffer of items."""

    def __init__(self, name, file):
        super().__init__(name, file)
        self._publisher = R.SlotPublisher(file)
        self.max_value = (1 << (8 * min(self.item_size, 8))) - 1
        layout = file.layout
        # The one-integer push in a few word accesses (items of at most 8 bytes, no fields): the
        # value is stored as its slot's word, which also zeroes the slot's padding.
        self._word_slots = layout.item_size <= 8 and layout.fields is None
        self._slot_words = layout.stride // 8

    @property
    def next_sequence(self):
        return self._publisher.published

    def _encode(self, value):
        if self.fields is not None and isinstance(value, dict):
            return self.fields.encode(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            if len(value) > self.item_size:
                raise ValueDoesNotFit(f"{len(value)} bytes cannot be pushed to buffer \"{self.name}\", whose items are {self.item_size} bytes.")
            return bytes(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= self.max_value:
                raise ValueDoesNotFit(f"Value {value} cannot be pushed to buffer \"{self.name}\": items are unsigned integers of at most {min(self.item_size, 8) * 8} bits.")
            return value.to_bytes(min(self.item_size, 8), "little")
        raise InvalidArgument(f"cannot push {type(value).__name__} to buffer \"{self.name}\": push an int, bytes, or (for a buffer with fields) a dict")

    def push(self, value, timeout=None):
        """Pushes an int, bytes (zero-padded) or, with fields, a dict; waits for room under
        `block` (at most ``timeout`` seconds: then returns False, pushing nothing)."""
        publisher = self._publisher
        if self._word_slots and type(value) is int and 0 <= value <= self.max_value:
            start = publisher.published
            gate = publisher.gate
            file = self._file
            q = file.q
            if start < gate.limit and (not gate.block or file.d[H_READERS_VERSION] == gate.version):
                # W1, W3, W4, W5 of SlotPublisher.publish, for one word-sized item.
                end = start + 1
                if end > publisher.claimed:
                    publisher.claimed = end
                q[file.claimed_index] = publisher.claimed
                q[W_DATA + (start % self.length) * self._slot_words] = value
                q[W_PUBLISHED] = end
                publisher.published = end
                if file.d[H_WAITERS]:
                    file.wake_readers()
                if start >> LAST_WRITE_STAMP_SHIFT != end >> LAST_WRITE_STAMP_SHIFT:
                    q[W_LAST_WRITE_AT] = time.time_ns()
                if file.faulted:
                    raise file.truncated()
                return True
        return publisher.publish([self._encode(value)], timeout) == 1

    def try_push(self, value):
        return self._publisher.publish([self._encode(value)], 0) == 1

    def push_many(self, values, timeout=None):
        """Pushes every value, announcing them once per run; all are checked first."""
        values = list(values)
        if self._word_slots and self._slot_words == 1:
            try:
                words = array.array("Q", values)        # refuses negative, too large and non-integers
            except (OverflowError, TypeError):
                words = None
            if words is not None and (self.max_value == 0xFFFFFFFFFFFFFFFF or max(words, default=0) <= self.max_value):
                return self._publisher.publish_words(words, timeout)
        encoded = [self._encode(value) for value in values]
        return self._publisher.publish(encoded, timeout)

    def close(self):
        if self._file is not None and self._file.mapping is not None:
            self._file.detach_writer()
            self._file.close()
        self._file = None


class Reader(_Handle):
    """A reader of a buffer of items, with its own cursor."""

    def __init__(self, name, file, start, named=None):
        super().__init__(name, file)
        self.reader_name, self._index, self.is_newly_registered = named or (None, None, False)
        start = file.committed(self._index)[0] if named else start
        self._cursor = R.SlotCursor(file, start)
        self._wide = self.item_size > 8 and self.fields is None
        self._word_slots = self.item_size <= 8 and self.fields is None
        self._slot_words = file.layout.stride // 8
        self._mask = (1 << (8 * min(self.item_size, 8))) - 1
        self._cursor_word = (R.RingFile._record(self._index) + F.REC_CURSOR) // 8 if named else None

    @property
    def missed(self):
        return self._cursor.missed

    @property
    def next_sequence(self):
        return self._cursor.next

    def available(self):
        """How many items were published that this reader has not read (those it will find
        overwritten included): a snapshot."""
        file = self._file
        published = file.published()
        file.check()
        return max(0, published - self._cursor.next)

    def _acknowledge(self):
        if self._index is not None:
            self._file.commit(self._index, self._cursor.next)

    def commit(self):
        self._acknowledge()

    def _decode(self, item, sequence):
        if self.fields is not None:
            return self.fields.decode(item)
        if self._wide:
            return item
        return int.from_bytes(item, "little")

    def pop(self, timeout=None):
        """The next item (int; bytes for items over 8 bytes; a dict with fields), or None;
        with ``timeout`` seconds, waits that long for one."""
        if self._word_slots:
            # R1, R2, R4 of SlotCursor.read for one word-sized item; a named reader first commits
            # what it returned before (the commit of RingFile.commit, inline).
            cursor, file = self._cursor, self._file
            q = file.q
            next = cursor.next
            if self._cursor_word is not None:
                q[self._cursor_word] = next
                if file.d[H_WRITER_WAITING]:
                    file.wake_writer()
            if next < q[W_PUBLISHED]:
                value = q[W_DATA + (next % self.length) * self._slot_words]
                if next >= q[file.claimed_index] - self.length and not file.faulted:
                    cursor.next = next + 1
                    return value & self._mask
            elif timeout is None and not file.faulted:
                return None     # caught up (what the general path below would find, slower)
        self._acknowledge()
        items = self._cursor.read(1)
        if not items and timeout is not None and self._cursor.wait(timeout):
            items = self._cursor.read(1)
        return self._decode(items[0], self._cursor.next - 1) if items else None

    def pop_many(self, count):
        """Up to ``count`` items, oldest first (fewer if fewer are waiting)."""
        self._acknowledge()
        if self._word_slots and self._slot_words == 1:
            out, mask = [], self._mask
            while len(out) < count:
                words = self._cursor.read_words(count - len(out))
                if not words:
                    break
                out.extend(words if mask == 0xFFFFFFFFFFFFFFFF else [word & mask for word in words])
            return out
        out = []
        while len(out) < count:
            items = self._cursor.read(count - len(out))
            if not items:
                break
            first = self._cursor.next - len(items)
            out.extend(self._decode(item, first + i) for i, item in enumerate(items))
        return out

    def pop_array(self, count):
        """Up to ``count`` items as one numpy array: uint64 (or smaller) integers, a structured
        array for a buffer with fields, raw ``V`` items otherwise. Needs numpy."""
        import numpy
        self._acknowledge()
        if self.fields is not None:
            dtype = self.fields.numpy_dtype()
        elif self.item_size in (1, 2, 4, 8):
            dtype = numpy.dtype(f"<u{self.item_size}")
        else:
            dtype = numpy.dtype((numpy.void, self.item_size))
        parts, total = [], 0
        while total < count:
            part = self._cursor.read_array(count - total, dtype)
            if len(part) == 0:
                break
            parts.append(part)
            total += len(part)
        if len(parts) == 1:
            return parts[0]
        # Copied into one array of ``dtype`` (numpy.concatenate would drop a structured dtype's
        # padding: 28 bytes per item instead of 32), so every batch has the same dtype.
        out = numpy.empty(total, dtype=dtype)
        at = 0
        for part in parts:
            out[at:at + len(part)] = part
            at += len(part)
        return out

    def wait(self, timeout=None):
        return self._cursor.wait(timeout)

    def follow(self, timeout=None):
        """Yields (sequence, item) as they come, waiting (sleeping on the buffer's futex); ends
        after ``timeout`` seconds without one (None: never)."""
        while True:
            item = self.pop()
            if item is None:
                if not self._cursor.wait(timeout):
                    return
                continue
            yield self._cursor.next - 1, item

    def close(self):
        if self._file is not None and self._file.mapping is not None:
            self._acknowledge()
            self._file.close()
        self._file = None


# --- Messages ---------------------------------------------------------------------------------

class MessageWriter(_Handle):
    """The one writer of a buffer of variable-size messages."""

    def __init__(self, name, file):
        super().__init__(name, file)
        self.capacity, self.max_message = file.layout.capacity, file.layout.max_message
        self._publisher = R.MessagePublisher(file)

    @property
    def next_sequence(self):
        return self._publisher.next_sequence

    def push_message(self, data, timeout=None):
        """Pushes one message (bytes, or a str as UTF-8); False if no room came within ``timeout``."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        data = bytes(data)
        if len(data) > self.max_message:
            raise ValueDoesNotFit(f'A message of {len(data)} bytes cannot be pushed to buffer "{self.name}": its messages are at most {self.max_message} bytes.')
        return self._publisher.publish(data, timeout)

    push = push_message

    def close(self):
        if self._file is not None and self._file.mapping is not None:
            self._file.detach_writer()
            self._file.close()
        self._file = None


class MessageReader(_Handle):
    """A reader of a buffer of messages, with its own cursor."""

    def __init__(self, name, file, start, named=None):
        super().__init__(name, file)
        self.capacity, self.max_message = file.layout.capacity, file.layout.max_message
        self.reader_name, self._index, self.is_newly_registered = named or (None, None, False)
        if named:
            self._cursor = R.MessageCursor(file, committed=file.committed(self._index))
        elif isinstance(start, int) and not isinstance(start, bool):
            # A replay from message ``start``: read past the older ones without counting them.
            self._cursor = R.MessageCursor(file, "oldest")
            while True:
                found = self._cursor.read(accept=lambda sequence: sequence < start)
                if found is None or found[0] >= start:
                    break
            self._cursor.missed = 0
        else:
            self._cursor = R.MessageCursor(file, start)

    @property
    def missed(self):
        return self._cursor.missed

    @property
    def next_sequence(self):
        return self._cursor.next_sequence

    def _acknowledge(self):
        if self._index is not None:
            self._file.commit(self._index, *self._cursor.commit_point())

    def commit(self):
        self._acknowledge()

    def pop_message(self, timeout=None):
        """The next Message(sequence, time, data), or None (waiting up to ``timeout`` seconds)."""
        self._acknowledge()
        found = self._cursor.read()
        if found is None and timeout is not None and self._cursor.wait(timeout):
            found = self._cursor.read()
        return Message(*found) if found else None

    pop = pop_message

    def follow(self, timeout=None):
        """Yields messages as they come, waiting; ends after ``timeout`` seconds without one."""
        while True:
            message = self.pop_message()
            if message is None:
                if not self._cursor.wait(timeout):
                    return
                continue
            yield message

    def close(self):
        if self._file is not None and self._file.mapping is not None:
            self._acknowledge()
            self._file.close()
        self._file = None
