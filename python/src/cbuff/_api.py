"""The public face: DataDirectory, the writers and readers of both kinds of buffer."""

from __future__ import annotations

import array
import asyncio
import dataclasses
import logging
import os
import random
import re
import stat
import threading
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Literal, Optional, Tuple, TypeVar, Union

from . import _format as F
from . import _ring as R
from . import _system as S
from ._registry import Registry
from .errors import BufferAlreadyCreated, CBuffError, Closed, Corrupted, InvalidArgument, NotFound, PermissionDenied, ValueDoesNotFit, WriterBusy

# The syncer's and a closing writer's failed syncs go to the "cbuff" logger, as the tether's notices.
_log = logging.getLogger("cbuff")

_NAME_RULE = re.compile(r"[A-Za-z0-9_:@+\-][A-Za-z0-9._:@+\-]{0,199}\Z")

Policy = Literal["overwrite", "block"]
"""What a push does when the ring is full: overwrite the oldest item, or wait for named readers."""
Integrity = Literal["auto", "checked", "unchecked"]
"""Whether each slot of a buffer of items carries a check word (format version 4): always, never,
or (``"auto"``) on a disk and not in memory."""
Start = Union[Literal["oldest", "latest"], int]
"""Where a reader starts: the oldest item still present, only new ones, or a sequence."""
Item = Union[int, bytes, Dict[str, Any]]
FOLLOW_COALESCING = 0.005
"""``follow()``'s default coalescing delay in seconds: ``cbuff tail --follow``'s default, 5 ms."""
"""An item as pushed and popped: an int (items of at most 8 bytes), bytes, or a dict of fields."""


@dataclasses.dataclass
class Message:
    """A message: its sequence, its publish time (ns since the Unix epoch) and its bytes. (Not
    frozen: a frozen dataclass costs twice a namedtuple to build, once per message read.)"""

    __slots__ = ("data", "sequence", "time")
    sequence: int
    time: int
    data: bytes

    @property
    def text(self) -> str:
        """The bytes as UTF-8 text."""
        return self.data.decode("utf-8")


@dataclasses.dataclass(frozen=True)
class ReaderStatus:
    """A named reader as ``inspect`` sees it: its position (the sequence it reads next; None for
    a message reader that has read nothing yet), how far behind the writer it is, the PID that
    last opened it, whether that process holds it now, and whether a ``block`` writer stopped
    waiting for it (its tether timeout passed while it was gone; its next open ties it again)."""

    name: str
    position: Optional[int]
    lag: int
    pid: int
    alive: bool
    untethered: bool


@dataclasses.dataclass(frozen=True)
class DamagedBuffer:
    """A buffer ``survey()`` could not read: its name (None if even that is damaged) and why."""

    name: Optional[str]
    problem: CBuffError


@dataclasses.dataclass(frozen=True)
class Survey:
    """What ``DataDirectory.survey()`` found: the buffers it could read, and those it could not."""

    buffers: Tuple[BufferStatus, ...]
    damaged: Tuple[DamagedBuffer, ...]


@dataclasses.dataclass(frozen=True)
class BufferStatus:
    """Everything known about one buffer (``cbuff inspect``): ``to_json()`` gives the keys of
    ``cbuff inspect --json``."""

    name: str
    kind: Literal["items", "messages"]
    item_size: Optional[int]
    length: Optional[int]
    capacity: Optional[int]
    max_message: Optional[int]
    policy: Policy
    tether_timeout: Optional[float]     # seconds, under ``block``; None: off
    sync_policy: str    # none, each-batch, every:N or interval:MS (``syncPolicy`` in JSON, as cbuff inspect --json)
    path: str
    format_version: int
    type_name: Optional[str]
    item_alignment: Optional[int]
    fields: Optional[List[Dict[str, Any]]]
    writer_pid: Optional[int]
    created_at: str
    writer_alive: bool
    writer_state: Optional[str]
    written: int
    oldest: int
    count: int
    durable: int        # every sequence below it reached stable storage at a writer's sync; 0: none
    earlier_boot: Optional[bool]   # it holds what was written before the machine last restarted, unproven since; None: no boot recorded
    readers: Tuple[ReaderStatus, ...]

    def to_json(self) -> Dict[str, Any]:
        """The camelCase keys of ``cbuff inspect --json``."""
        def camel(name: str) -> str:
            head, *rest = name.split("_")
            return head + "".join(part.capitalize() for part in rest)
        out = {camel(field.name): getattr(self, field.name) for field in dataclasses.fields(self)}
        out["readers"] = [dataclasses.asdict(reader) for reader in self.readers]
        return out


def default_path() -> str:
    """``$XDG_DATA_HOME/cbuff``, else ``$HOME/.local/share/cbuff``, else ``$XDG_RUNTIME_DIR/cbuff``,
    else ``/tmp/cbuff-UID``: the Swift library's default."""
    for variable, suffix in (("XDG_DATA_HOME", "/cbuff"), ("HOME", "/.local/share/cbuff"), ("XDG_RUNTIME_DIR", "/cbuff")):
        base = os.environ.get(variable, "")
        if base.startswith("/"):
            return base + suffix
    return f"/tmp/cbuff-{os.getuid()}"


def validate_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RULE.match(name) or len(name.encode()) > 200:
        raise InvalidArgument(f"Buffer name {name!r} is invalid: 1 to 200 bytes of letters, digits and . _ - : @ +, not starting with a dot.")


Access = Literal["owner", "group"]
"""Who may use a data directory: its owner only (directories 0700, files 0600), or the owner and
the directory's group (directories 2770, files 0660; a directory another member of the group
owns is accepted too), as the Swift library's ``DataDirectory.Access``."""


class DataDirectory:
    """A data directory: ``path``, else ``$CBUFF_DIR``, else the per-user default. ``access``:
    "owner" (the default) or "group" (see ``Access``)."""

    def __init__(self, path: Optional[str] = None, lock_timeout: float = 5.0, access: Access = "owner") -> None:
        if access not in ("owner", "group"):
            raise InvalidArgument(f'access {access!r} is not "owner" or "group".')
        if path is not None and not isinstance(path, str):
            raise InvalidArgument(f"path {path!r} is not a str (or None for $CBUFF_DIR or the default).")
        self.path = path or os.environ.get("CBUFF_DIR") or default_path()
        if "\0" in self.path:
            raise InvalidArgument(f"The data directory path {self.path!r} contains a NUL byte.")
        try:
            self.path.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument(f"The data directory path {self.path!r} is not valid UTF-8; choose one that is.") from None
        checked = R.checked_timeout(lock_timeout, "lock_timeout")
        if checked is None:
            raise InvalidArgument("lock_timeout None is not a number of seconds.")
        self.lock_timeout: float = checked
        self.access = access

    def __repr__(self) -> str:
        return f"DataDirectory({self.path!r})"

    def ring_path(self, name: str) -> str:
        return os.path.join(self.path, name + ".ring")

    def _trust(self, create: bool = False) -> S.DirectoryTrust:
        """The data directory, checked (created, with the mode ``access`` gives it, if ``create``
        and it is missing)."""
        if create and not os.path.lexists(self.path):
            S.make_directories(self.path, 0o2770 if self.access == "group" else 0o700)
        try:
            return S.check_directory(self.path, accepting_group=self.access == "group")
        except NotFound:
            raise NotFound(f"No buffer there: {self.path} holds no cbuff registry.") from None

    def _registry(self, create: bool = False) -> Registry:
        trust = self._trust(create)
        try:
            return Registry(trust, self.lock_timeout, create)
        except FileNotFoundError:
            raise NotFound(f"No buffer there: {self.path} holds no cbuff registry.") from None

    def _look_up(self, name: str) -> Tuple[Registry, Any]:
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

    def _open_buffer(self, name: str, writable: bool = True, read_only_on_read_only_mount: bool = False) -> Tuple[Registry, Any, Any]:
        """Looks buffer ``name`` up and opens its ring file (``_open_ring``), seeing the buffer as
        it was before or after any remove, create or take-over that runs meanwhile, never a
        mixture: the Swift side's ``DataDirectory.openBuffer``. The row is read without a lock,
        then the file opened; a remove and a create in between can make the file missing or
        another buffer's. Such an open is done again under the registry's write lock, where no
        create or remove is half done (each renames or unlinks the ring file inside the write
        transaction that inserts or deletes its row), and what it finds there is the answer;
        without that lock (a read-only registry, a lock held too long) the first failure stands.
        Returns the registry (the caller closes it), the row and the ring file."""
        registry, row = self._look_up(name)
        try:
            return registry, row, self._open_ring(registry, row, writable, read_only_on_read_only_mount)
        except (Corrupted, NotFound) as failure:
            first = failure
        except BaseException:
            registry.close()
            raise

        def again(db: Any) -> Tuple[Any, Any, Optional[CBuffError]]:
            try:
                now = registry.row(name, db)
                if now is None:
                    raise NotFound(f'No buffer named "{name}" in {self.path}.')
                return now, self._open_ring(registry, now, writable), None
            except CBuffError as error:
                return None, None, error
        try:
            now, file, answer = registry.read_under_write_lock(again)
        except CBuffError:
            registry.close()
            raise first from None           # no second look could be had: the first stands
        except BaseException:
            registry.close()
            raise
        if answer is not None:
            registry.close()
            raise answer from None
        return registry, now, file

    def _open_ring(self, registry: Registry, row: Any, writable: bool = True, read_only_on_read_only_mount: bool = False) -> Any:
        """Opens the ring file of ``row`` and checks that the row is that file's, whole. With
        ``read_only_on_read_only_mount`` (an anonymous reader, which stores nothing), a ring of
        a data directory on a read-only mount is opened read-only instead, as the Swift side's
        ``RingFile.open(readOnlyOnReadOnlyMount:)`` opens it."""
        try:
            try:
                file = R.RingFile.open(registry.trust, row.name + ".ring", writable)
            except PermissionDenied:
                if not (writable and read_only_on_read_only_mount and S.is_read_only(registry.trust)):
                    raise
                file = R.RingFile.open(registry.trust, row.name + ".ring", False)
        except FileNotFoundError:
            raise self._lost_ring_error(row.name, _lost_ring(registry.trust, row.name) or ("missing", 0, ())) from None
        except Corrupted:
            lost = _lost_ring(registry.trust, row.name)
            if lost is None:
                raise
            raise self._lost_ring_error(row.name, lost) from None
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

    def _lost_ring_sentence(self, name: str, lost: Tuple[str, int, Tuple[str, ...]]) -> str:
        """The state of buffer ``name``'s ring file that holds no ring, and the one command that
        recovers it: the Swift side's ``lostRingSentence``, word for word."""
        path = self.ring_path(name)
        if lost[0] == "missing" and lost[2]:
            there = [os.path.join(self.path, entry) for entry in lost[2]]
            recovery = (f"`mv {there[0]} {path}` recovers the buffer if it is that file" if len(there) == 1
                        else f"renaming the one that is the buffer's back to {path} (`mv`) recovers it")
            return (f"its ring file {path} is missing, and {', '.join(there)} {'is' if len(there) == 1 else 'are'} there under the temporary name "
                    f"a create gives its ring file (a machine crash can lose the rename that names it): {recovery}; otherwise `cbuff rm {name}` removes its registry row")
        if lost[0] == "missing":
            return f"its ring file {path} is missing (lost in a machine crash, deleted by hand, or its removal was interrupted); nothing is left to read: `cbuff rm {name}` removes its registry row"
        what = "is empty (0 bytes)" if lost[1] == 0 else f"holds only zeros ({lost[1]} bytes)"
        return f"its ring file {path} {what}, with no ring header (what a machine crash soon after its creation can leave); nothing is left to read: `cbuff rm {name}` removes the row and the file"

    def _lost_ring_error(self, name: str, lost: Tuple[str, int, Tuple[str, ...]]) -> Corrupted:
        return Corrupted(f'Buffer "{name}" is registered but {self._lost_ring_sentence(name, lost)}.')

    # Creating and attaching

    def create_buffer(self, name: str, item_size: Optional[int] = None, length: Optional[int] = None,
                      policy: Policy = "overwrite", fields: Union[str, F.FieldLayout, None] = None,
                      messages: bool = False, capacity: Optional[int] = None, max_message: Optional[int] = None,
                      precise_time: bool = False, tether_timeout: Optional[float] = None,
                      sync: str = "none", integrity: Integrity = "auto") -> Union[Writer, MessageWriter]:
        """Creates a buffer and returns its writer: of items (``item_size``, ``length``; or
        ``fields="time:u64,price:f64"`` and ``length``), or of messages (``messages=True,
        capacity=…, max_message=…``). Raises BufferAlreadyCreated if the name exists.

        ``tether_timeout`` (seconds, ``block`` only, at most 30 days; None or 0: off): a named
        reader whose process is not running and which has held the writer back that long is
        *untethered*: the writer goes on without it (logging a warning on the ``cbuff`` logger)
        and overwrites what it had not read; opened again, it counts what it missed and holds
        the writer back again. A running reader is never untethered.

        ``sync``: when its writers make what they push durable on their own, recorded in the
        ring file so that every writer follows it (Swift's too): ``"none"`` (the default: only
        ``sync()``), ``"each-batch"`` (after every push call), ``"every:N"`` (whenever N items or
        messages were pushed since the last sync), ``"interval:MS"`` (a daemon thread of the
        writer syncs at most MS milliseconds, plus the sync's own time, after something was
        published; it blocks on an event while nothing is, costing nothing). A writer's close
        syncs under every policy but none. A sync a policy asked for that fails raises from the
        push that asked, after its items were published.

        ``integrity`` (items only): ``"checked"`` gives every slot a check word (format
        version 4): after a machine crash or power loss a reader delivers an item only if it is
        exactly what was written under its sequence, and counts the rest as lost; 8 bytes more
        a slot, at most 2^30 items. ``"unchecked"`` leaves it out (format version 2, or 3 with
        fields). ``"auto"``, the default: checked on a disk, unchecked in memory (tmpfs, as
        ``/dev/shm``), where a machine crash loses the file whole. Every record of a message
        buffer carries a check word."""
        validate_name(name)
        if not isinstance(policy, str) or policy not in F.POLICIES:
            raise InvalidArgument(f"Policy {policy!r} is not 'overwrite' or 'block'.")
        if integrity not in ("auto", "checked", "unchecked"):
            raise InvalidArgument(f"Integrity {integrity!r} is not 'auto', 'checked' or 'unchecked'.")
        if messages:
            if integrity != "auto":
                raise InvalidArgument("integrity is for buffers of items: every record of a message buffer carries a check word.")
            if capacity is None or max_message is None:
                raise InvalidArgument("A buffer of messages needs a capacity and a largest message (capacity=…, max_message=…).")
            layout = F.Layout.message_ring(capacity, max_message, F.POLICIES[policy], precise_time)
        else:
            if fields is not None and not isinstance(fields, (str, F.FieldLayout)):
                raise InvalidArgument(f"fields {fields!r} is not a field list (\"time:u64,price:f64\"), a FieldLayout or None.")
            layout_fields = F.FieldLayout.parse(fields) if isinstance(fields, str) else fields
            if layout_fields is not None and item_size is not None and item_size != layout_fields.size:
                raise InvalidArgument(f"item_size {item_size} disagrees with the fields {layout_fields}, which make items of {layout_fields.size} bytes.")
            size = layout_fields.size if layout_fields is not None else (1 if item_size is None else item_size)
            layout = F.Layout.items(size, 2 if length is None else length, F.POLICIES[policy], fields=layout_fields)
        layout.tethered(tether_timeout)
        layout.syncing(sync)
        registry = self._registry(create=True)
        try:
            if not messages and (integrity == "checked" or (integrity == "auto" and layout.length <= F.MAX_CHECKED_LENGTH
                                                            and not S.in_memory(registry.trust.path))):
                # The slots' check words, decided where the directory's file system is known.
                layout = F.Layout.items(layout.item_size, layout.length, layout.policy, fields=layout.fields, checked=True)
                layout.tethered(tether_timeout)
                layout.syncing(sync)
            if registry.row(name) is not None:
                raise self._already_created(name, registry)
            temporary = f".{name}.{os.getpid()}.{random.getrandbits(32)}.tmp"
            file = R.RingFile.create(registry.trust, temporary, layout)
            try:
                if not S.try_lock(file.fd, F.WRITER_LOCK_BYTE):
                    raise WriterBusy(f'Cannot create buffer "{name}": another process locked its new ring file {file.path} first.')
                file.attach_writer()
                # Durable before it is registered (the Swift side's `createRing`, issue 26): the
                # file, then its name, then the row.
                S.synchronize(file.fd, f"make the new ring file {file.path} durable")

                def register(db: Any) -> None:
                    if registry.has_row(db, name):
                        raise self._already_created(name, registry)
                    final = self.ring_path(name)
                    self._check_replaceable(registry, name)
                    try:
                        os.rename(file.path, final)
                    except OSError as error:
                        raise S.system_error(error, f"rename the new ring file {file.path} to {final}") from None
                    file.path = final
                    S.synchronize_directory(registry.trust, f"naming ring file {final}")
                    Registry.insert(db, name, layout, file.created_at())
                registry.write(register)
            except BaseException as error:
                file.detach_writer()
                if isinstance(error, CBuffError) and error.commit_outcome_unknown:
                    # Whether the row is in the registry cannot be told: the file stays at its
                    # name, a whole buffer under the row or an empty ring no row names (the
                    # Swift side's ``createRing``).
                    file.close()
                    error.message = (f'{error.message} Whether buffer "{name}" was created cannot be told (a commit that fails may still be in the registry\'s log), '
                                     f'so its ring file {self.ring_path(name)} is kept: `cbuff inspect {name}` says whether it is registered; '
                                     f'if it is not, `cbuff create {name}` replaces that empty file, or `cbuff rm {name}` removes it.')
                    error.args = (error.message,)
                    raise
                # The transaction rolled back: remove the file under whichever name it has now,
                # unless another creator has already replaced it there.
                try:
                    if os.path.samestat(os.fstat(file.fd), os.stat(file.path)):
                        os.unlink(file.path)
                except OSError:
                    pass
                file.close()
                raise
        finally:
            registry.close()
        return _following_policy(MessageWriter(name, file) if messages else _item_writer(name, file))

    def _check_replaceable(self, registry: Registry, name: str) -> None:
        """Raises unless whatever is at the ring file of ``name`` (which has no row) may be
        replaced by a new ring file without losing anything (the Swift side's
        ``checkReplaceable``): nothing there; a symbolic link, FIFO or socket planted there (the
        rename replaces the entry, never follows it; a directory makes the rename fail, in
        words); or the debris of a creator killed between its rename and its commit, which no
        process holds and in which nothing was ever written. Any other file is someone's data."""
        final = self.ring_path(name)
        try:
            if not stat.S_ISREG(os.lstat(final).st_mode):
                return
        except FileNotFoundError:
            return
        if R.live_writer_pid(registry.trust, name + ".ring") is not None:
            raise WriterBusy(f'Cannot create buffer "{name}": its ring file {final} exists without a registry row and a live process writes to it.')
        lost = _lost_ring(registry.trust, name)
        if lost is not None and lost[0] == "zeroed":
            return      # no ring header: it holds nothing a ring file could
        written: Optional[int] = None
        try:
            file = R.RingFile.open(registry.trust, name + ".ring", False)
            try:
                file.check()
                written = file.claimed()
            finally:
                file.close()
        except (CBuffError, OSError):
            pass
        if written != 0:
            holds = f"holds data ({written} written)" if written is not None else "cannot be read as an empty ring"
            raise BufferAlreadyCreated(f'Cannot create buffer "{name}": a ring file {final} is there without a registry row and {holds}, left by a lost registry or an interrupted removal; cbuff never replaces it. Move it away or delete it, then create the buffer again.')

    def _already_created(self, name: str, registry: Registry) -> BufferAlreadyCreated:
        pid = R.live_writer_pid(registry.trust, name + ".ring")
        if pid is not None:
            return BufferAlreadyCreated(f'Buffer "{name}" already exists and its writer (PID {pid or "unknown"}) is alive.')
        lost = _lost_ring(registry.trust, name)
        if lost is not None:
            return BufferAlreadyCreated(f'Cannot create buffer "{name}": it is registered but {self._lost_ring_sentence(name, lost)}, then create it again.')
        # A file a take-over would refuse (damaged, not the row's, not a regular file) is never
        # advised to be taken over: the refusal's own sentence, and the one recovery (the Swift
        # side's ``alreadyCreated``). Opened as the take-over opens it, read-only.
        try:
            row = registry.row(name)
            if row is not None:
                self._open_ring(registry, row, writable=False).close()
        except Corrupted as error:
            return BufferAlreadyCreated(f'Cannot create buffer "{name}": it is registered, but a take-over would refuse its ring file: {error.message} `cbuff rm {name}` removes the buffer (its row and its ring file), then create it again.')
        except CBuffError:
            pass
        if R.never_had_a_writer(registry.trust, name + ".ring"):
            return BufferAlreadyCreated(f'Buffer "{name}" already exists and has had no writer yet; take it over to start writing, or remove it first.')
        return BufferAlreadyCreated(f'Buffer "{name}" already exists and its writer is gone; take it over to resume writing, or remove it first.')

    def take_over(self, name: str) -> Union[Writer, MessageWriter]:
        """Becomes the writer of a buffer whose writer is gone; the sequence continues."""
        registry, _, file = self._open_buffer(name)
        try:
            try:
                if not file.try_lock_writer():
                    raise WriterBusy(f'Buffer "{name}" already has a live writer (PID {file.recorded_writer_pid()}); a buffer has one writer at a time.')
                # The ring is checked (a message ring's whole chain proven) before the writer's
                # words change: a refused take-over changes nothing, as Swift's.
                handle = _following_policy(MessageWriter(name, file) if file.layout.messages else _item_writer(name, file))
                pid, start = file.attach_writer()
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

    def open_reader(self, name: str, start: Start = "oldest", reader: Optional[str] = None) -> Union[Reader, MessageReader]:
        """A reader of buffer ``name``: anonymous, or the named reader ``reader`` (its cursor lives
        in the ring file; delivery at least once). ``start``: "oldest", "latest" or a sequence."""
        if not (start in ("oldest", "latest") or (type(start) is int and start >= 0)):
            raise InvalidArgument(f'start {start!r} is not "oldest", "latest" or a sequence (an int from 0).')
        registry, _, file = self._open_buffer(name, read_only_on_read_only_mount=reader is None)
        try:
            file.warn_if_crash_damage_is_undetectable(name)
            kind = MessageReader if file.layout.messages else _item_reader
            try:
                if isinstance(start, int):
                    # A replay starts at most at the next sequence to be published (the Swift
                    # side's ``beyondPublished``): never silently moved to the latest.
                    published = int(R.MessageCursor(file, "latest").next_sequence) if file.layout.messages else file.published()
                    if start > published:
                        noun = "message" if file.layout.messages else "item"
                        raise InvalidArgument(f'Buffer "{name}" has published {published} {noun}{"" if published == 1 else "s"} (the next is sequence {published}); a reader cannot start at {start}.')
                if reader is None:
                    return kind(name, file, start)

                def start_at() -> Tuple[int, Optional[int]]:
                    if file.layout.messages:
                        point: Tuple[int, Optional[int]] = R.MessageCursor(file, start if isinstance(start, str) else "oldest").commit_point()
                        return point
                    return int(R.SlotCursor(file, start).next), None
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

    def seek_reader(self, name: str, reader: str, to: Start) -> int:
        """Moves named reader ``reader`` of buffer ``name`` to ``to``: "oldest" (the oldest item
        or message still present), "latest" (the next one to be published) or, for a buffer of
        items, a sequence (at most the next one to be published; one already overwritten moves
        it to the oldest present). For an operator whose reader fell behind, or whose ``block``
        writer waits for a reader that will not come back. Refused (``ReaderBusy``) while a live
        process has the reader open; a refused move leaves it where it was. Returns the reader's
        new position (the next sequence it delivers). ``cbuff reader seek`` does the same."""
        if not (to in ("oldest", "latest") or (type(to) is int and to >= 0)):
            raise InvalidArgument(f'to {to!r} is not "oldest", "latest" or a sequence (an int from 0).')
        registry, row = self._look_up(name)
        try:
            file = self._open_ring(registry, row)
        finally:
            registry.close()
        try:
            if isinstance(to, int) and file.layout.messages:
                raise InvalidArgument(f'A named reader of buffer "{name}" (messages) moves to oldest or latest; a sequence is for buffers of items.')
            there: List[Optional[int]] = [None]

            def target() -> Tuple[int, Optional[int]]:
                if file.layout.messages:
                    point: Tuple[int, Optional[int]] = R.MessageCursor(file, "oldest" if to == "oldest" else "latest").commit_point()
                    there[0] = point[1]
                    return point
                published = int(file.published())
                if isinstance(to, int) and to > published:
                    raise InvalidArgument(f'Buffer "{name}" has published {published} items (the next is sequence {published}); reader "{reader}" cannot move to {to}. It was not moved.')
                oldest = int(R.SlotCursor(file, "oldest").next)
                # Never below the oldest item present: the gate must not wait for items gone.
                return (published if to == "latest" else oldest if to == "oldest" else max(int(to), oldest)), None
            if not isinstance(reader, str) or not F.READER_NAME_RULE.match(reader):
                raise InvalidArgument(f"Reader name {reader!r} must be 1 to {F.READER_NAME_MAX} bytes of letters, digits and . _ - : @ +, not starting with a dot.")
            position = int(file.seek_reader(reader, name, self.lock_timeout, target))
            if file.layout.messages:
                return there[0] if there[0] is not None else int(R.MessageCursor(file, "latest").next_sequence)
            return position
        finally:
            file.close()

    # Looking and cleaning up

    def buffers(self) -> List[BufferStatus]:
        """Every buffer's status (see ``inspect``), by name. Raises the first damaged buffer's
        error; ``survey()`` reports every healthy buffer beside the damaged ones."""
        survey = self.survey()
        if survey.damaged:
            raise survey.damaged[0].problem
        return list(survey.buffers)

    def survey(self) -> Survey:
        """The status of every buffer that can be read, and the error of each that cannot (a
        damaged row, a ring file missing or damaged): for monitoring, which must go on
        reporting every healthy buffer when one is damaged (the Swift side's ``survey()``,
        ``cbuff list``). A buffer removed since the rows were read is left out."""
        try:
            registry = self._registry()
        except NotFound:
            return Survey((), ())
        try:
            names = registry.names()
        finally:
            registry.close()
        statuses: List[BufferStatus] = []
        damaged: List[DamagedBuffer] = []
        for name in names:
            if not isinstance(name, str):
                damaged.append(DamagedBuffer(None, Corrupted(f"The registry has a row whose name is not text ({name!r}); remove it with sqlite3.")))
                continue
            try:
                statuses.append(self.inspect(name))
            except NotFound:
                pass        # removed since the rows were read: left out, as if read after
            except CBuffError as error:
                damaged.append(DamagedBuffer(name, error))
        return Survey(tuple(statuses), tuple(damaged))

    def inspect(self, name: str) -> BufferStatus:
        """What ``cbuff inspect NAME`` says (``to_json()``: the keys of its ``--json``)."""
        registry, row, file = self._open_buffer(name, writable=False)
        layout = row.layout
        try:
            writer_alive = bool(file.writer_alive())
            # The header's, as the Swift side's inspect: the registry's column is for scripts,
            # and a take-over that wrote nothing leaves the dead writer's there.
            writer_pid = None if file.recorded_writer_state() == F.STATE_NEVER else file.recorded_writer_pid()
            writer_state = "alive" if writer_alive else {0: "never attached", 1: "died", 2: "closed"}.get(file.recorded_writer_state())
            # The durable sequence first (as the Swift side's snapshot): the counts loaded after
            # it are at least it, so one above them is damage (the word is input).
            durable = file.durable()
            published, claimed = file.published(), file.claimed()
            if layout.messages:
                first = R.MessageCursor(file, "oldest")
                written = int(R.MessageCursor(file, "latest").next_sequence)
                oldest = min(first.expected if first.expected is not None else written, written)
            else:
                written, oldest = published, min(max(0, claimed - layout.length), published)
            readers = []
            for entry in file.readers():
                position = entry.sequence if layout.messages else entry.cursor
                # A message reader with no sequence yet has read nothing and waits at "latest".
                lag = max(0, written - (written if position is None else position))
                readers.append(ReaderStatus(entry.name, position, lag, entry.pid, entry.alive, entry.untethered))
            tether_ns = file.layout.tether_ns
            if durable > written:
                raise Corrupted(f"Ring file {file.path} is damaged: its durable sequence ({durable}) is beyond the {written} {'messages' if layout.messages else 'items'} ever published.")
            earlier_boot = file.earlier_boot(oldest)
            file.check()
        finally:
            file.close()
            registry.close()
        return BufferStatus(
            name=name, kind="messages" if layout.messages else "items",
            item_size=None if layout.messages else row.item_size, length=None if layout.messages else row.length,
            capacity=layout.capacity, max_message=layout.max_message, policy="block" if row.policy else "overwrite",
            tether_timeout=tether_ns / 1e9 if tether_ns else None, sync_policy=file.layout.sync_policy,
            path=self.ring_path(name), format_version=row.format_version, type_name=row.type_name,
            item_alignment=row.alignment,
            fields=[{"name": f.name, "type": f.type, "offset": f.offset} for f in row.fields.fields] if row.fields else None,
            writer_pid=writer_pid, created_at=row.created_at, writer_alive=writer_alive, writer_state=writer_state,
            written=written, oldest=oldest, count=written - oldest, durable=durable, earlier_boot=earlier_boot, readers=tuple(readers))

    def remove(self, name: str, force: bool = False) -> None:
        """Removes the buffer's ring file and registry row; refused while a writer is alive unless ``force``."""
        self._remove(name, force)

    def _remove(self, name: str, force: bool, created_ns: Optional[int] = None) -> bool:
        """``remove``; with ``created_ns``, only the buffer whose ring file was created then (its
        row's ``ring_created_ns``, checked inside the removal's transaction): a buffer of the same
        name created since by someone else is left alone. Returns whether it removed one."""
        validate_name(name)
        registry = self._registry()
        trust = registry.trust
        try:
            def remove(db: Any) -> bool:
                if created_ns is not None:
                    row = registry.row(name, db)
                    if row is None or row.ring_created_ns != created_ns:
                        raise _NotThatBuffer()
                if not registry.has_row(db, name):
                    # No row, but a ring file of that name no live writer holds: it goes, as asked.
                    try:
                        regular = stat.S_ISREG(os.lstat(self.ring_path(name)).st_mode)
                    except OSError:
                        regular = False
                    if not regular or R.live_writer_pid(trust, name + ".ring") is not None:
                        raise NotFound(f'No buffer named "{name}" in {self.path}.')
                elif not force:
                    try:
                        alive = R.writer_alive_for_removal(trust, name + ".ring")
                    except CBuffError as error:
                        error.message = f'Buffer "{name}" was not removed: cannot tell whether a writer holds it. {error.message}'
                        error.args = (error.message,)
                        raise
                    if alive:
                        raise WriterBusy(f'Buffer "{name}" has a live writer; stop it first or force the removal.')
                registry.delete(db, name)
                # The name itself goes: a planted link, never its target. A directory there was
                # never the ring file (cbuff makes none) and no writer holds one: the buffer
                # goes, the directory stays, and the caller hears of it. Its sleeping readers
                # are woken after the unlink, through the file opened before it: they look, and
                # find it gone now (``RingAnnouncement``).
                announcement = R.RingAnnouncement(trust, name + ".ring")
                try:
                    try:
                        os.unlink(self.ring_path(name))
                        unlinked.append(True)
                    except FileNotFoundError:
                        pass
                    except IsADirectoryError:
                        return True
                    except OSError as error:
                        raise S.system_error(error, f"delete ring file {self.ring_path(name)}") from None
                    announcement.wake_readers()
                finally:
                    announcement.close()
                # The unlink durable before the row's deletion commits (the Swift side's
                # `removeBuffer`): a crash leaves the row and the file, or the row alone, never
                # a file with data under no row. A failed sync keeps the removal, and says so.
                try:
                    S.synchronize_directory(trust, f"deleting ring file {self.ring_path(name)}")
                except CBuffError as error:
                    unsynced.append(error)
                return False
            unsynced: List[CBuffError] = []
            unlinked: List[bool] = []
            try:
                left_directory = registry.write(remove)
            except _NotThatBuffer:
                return False
            except CBuffError as error:
                if unlinked:
                    # Only the commit fails after the unlink (the Swift side's `removeBuffer`).
                    error.message = (f'{error.message} Buffer "{name}"\'s ring file {self.ring_path(name)} is deleted already, and whether its registry row '
                                     f'is gone cannot be told: `cbuff rm {name}` again finishes the removal.')
                    error.args = (error.message,)
                raise
        finally:
            registry.close()
        if unsynced:
            failure = unsynced[0]
            failure.message = f'Buffer "{name}" was removed, but not durably: {failure.message} After a machine crash its ring file may be back without a registry row (cbuff list names it; delete it by hand).'
            failure.args = (failure.message,)
            raise failure
        if left_directory:
            raise Corrupted(f'Buffer "{name}" was removed, but a directory, not its ring file, is at {self.ring_path(name)}; cbuff never makes directories there and never removes one, so it is left in place.')
        return True


def _lost_ring(trust: S.DirectoryTrust, name: str) -> Optional[Tuple[str, int, Tuple[str, ...]]]:
    """What is at buffer ``name``'s ring file when it holds no ring (the Swift side's
    ``LostRing``, the one rule of both): ("missing", 0, temporaries) — with the temporary ring
    files of that name that may be the buffer (``_temporary_rings``) — or ("zeroed", size, ())
    for a regular file every byte of which is zero (an empty one included: a zeroed header over
    items is not); None for anything else (a ring file, sound or damaged; a file cbuff does not
    open; one that cannot be read), which keeps the rules of a damaged file."""
    try:
        present = trust.check_if_present(name + ".ring", "ring file")
    except CBuffError:
        return None
    if present is None:
        return ("missing", 0, _temporary_rings(trust, name))
    size = _zeroed_size(trust, name + ".ring")
    if size == -1:
        return ("missing", 0, _temporary_rings(trust, name))
    return None if size is None else ("zeroed", size, ())


def _zeroed_size(trust: S.DirectoryTrust, entry: str) -> Optional[int]:
    """The size of file ``entry`` when every byte of it is zero (the header's place read first,
    then the rest), None when not or when it cannot be read, -1 when it is not there."""
    try:
        fd, info = S.open_trusted(trust, entry, False)
    except FileNotFoundError:
        return -1
    except CBuffError:
        return None
    try:
        offset = 0
        while offset < info.st_size:                      # the header's place first, then the rest
            chunk = os.pread(fd, min(info.st_size - offset, F.HEADER_SIZE if offset == 0 else 1 << 16), offset)
            if not chunk or chunk.count(0) != len(chunk):
                return None
            offset += len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return info.st_size


def _temporary_rings(trust: S.DirectoryTrust, name: str) -> Tuple[str, ...]:
    """The temporary ring files of buffer ``name`` (``.NAME.PID.N.tmp``) that may be that buffer
    (the Swift side's ``temporaryRings``): no live process holds them (a creator at work does)
    and they hold something (not only zeros); a machine crash that loses a create's rename
    leaves the buffer there. In name order."""
    prefix = f".{name}."
    try:
        entries = sorted(os.listdir(trust.path))
    except OSError:
        return ()
    found: List[str] = []
    for entry in entries:
        parts = entry[len(prefix):].split(".") if entry.startswith(prefix) else []
        if len(parts) != 3 or parts[2] != "tmp" or not parts[0].lstrip("+-").isdigit() or not -2**31 <= int(parts[0]) < 2**31:
            continue
        if R.live_writer_pid(trust, entry) is None and _zeroed_size(trust, entry) is None:
            found.append(entry)
    return tuple(found)


def _check_count(count: Any) -> None:
    """How many items a batch read takes: an int (not a bool) from 0."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise InvalidArgument(f"count {count!r} is not a number of items (an int from 0).")


class _NotThatBuffer(Exception):
    """Inside ``_remove``'s transaction: the name now names another buffer (rolled back)."""


# --- Items ------------------------------------------------------------------------------------

class _ClosedFile:
    """What a closed handle holds instead of its ring file: any use raises ``Closed``."""

    closed = True

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise Closed(f'This handle on buffer "{self._name}" is closed; open the buffer again to use it.')


class _Handle:
    """What writers and readers share: the open file, the name, close and context management."""

    def __init__(self, name: str, file: Any) -> None:
        self.name: str = name
        self._file: Any = file
        layout = file.layout
        self.item_size: int = layout.item_size
        self.length: int = layout.length
        self.policy: Policy = "block" if layout.policy else "overwrite"
        self.fields: Optional[F.FieldLayout] = layout.fields

    def __enter__(self) -> _Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def _drop(self) -> None:
        """What every close ends with: the handle's file, cursor and publisher replaced by one
        that raises ``Closed`` at any use (``next_sequence``, ``missed`` included). A thread
        still waiting inside this handle keeps its own reference to the ring file, whose
        ``closed`` it sees at its next wake (``RingFile.close``)."""
        closed = _ClosedFile(self.name)
        self._file = closed
        for attribute in ("_cursor", "_publisher"):
            if attribute in self.__dict__:
                setattr(self, attribute, closed)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class _WriterHandle(_Handle):
    """What both writers share: the writer's close (which marks the header closed and releases
    the writer lock) and syncing."""

    _syncer: Optional[_Syncer] = None
    _sync_lock: Optional[threading.Lock] = None
    _sync_due = 0       # under each-batch or every:N, the sequence at which a sync is due

    def close(self) -> None:
        if not self._file.closed:
            try:
                if self._file.layout.sync_kind != F.SYNC_NONE:
                    self._close_syncing()
                self._file.detach_writer()
            finally:
                self._file.close()
        self._drop()

    def _close_syncing(self) -> None:
        """A writer's close under a sync policy: stops and joins the syncer, then syncs (a
        failure is logged: ``sync()`` before ``close()`` raises it)."""
        if self._syncer is not None:
            self._syncer.stop()
            self._syncer = None
        try:
            self._synchronize()
        except CBuffError as error:
            _log.warning("the closing writer of %s could not sync what it pushed: %s", self._file.path, error)

    def _synchronize(self) -> int:
        """A sync of the ring file, under the lock the syncer thread takes too (when there is
        one): syncs never overlap, so the durable word only grows and a failed fsync poisons
        the next sync of either thread."""
        lock = self._sync_lock
        if lock is None:
            return int(self._file.synchronize())
        with lock:
            return int(self._file.synchronize())

    def sync(self) -> int:
        """Makes every item or message pushed so far durable: when it returns, a machine crash or power
        loss no longer loses them (unless this writer overwrites them later), and the buffer's
        durable sequence (``durable_sequence``, ``inspect``) says so: ``fsync`` of the ring
        file, then ``msync`` of its header page. Returns the durable sequence. Raises
        ``SystemFailure`` if the kernel could not write the file back."""
        self._file.check()
        return self._synchronize()

    @property
    def sync_policy(self) -> str:
        """When this writer syncs on its own: the buffer's policy as the ring file records it
        (``none``, ``each-batch``, ``every:N``, ``interval:MS``)."""
        return str(self._file.layout.sync_policy)

    @property
    def durable_sequence(self) -> int:
        """Every item or message below it reached stable storage at a ``sync`` (0 if none ever did)."""
        return int(self._file.durable())


class Writer(_WriterHandle):
    """The one writer of a buffer of items."""

    def __enter__(self) -> Writer:
        return self

    def __init__(self, name: str, file: Any) -> None:
        super().__init__(name, file)
        self._publisher = R.SlotPublisher(file)
        self.max_value = (1 << (8 * min(self.item_size, 8))) - 1
        layout = file.layout
        # The one-integer push in a few word accesses (items of at most 8 bytes, no fields): the
        # value is stored as its slot's word, which also zeroes the slot's padding.
        self._word_slots = layout.item_size <= 8 and layout.fields is None
        self._slot_words = layout.stride // 8
        self._stride = layout.stride
        # Version 4 with 8-byte items: the one-integer push seals the word after the item.
        self._checked = layout.check_word_offset is not None

    def _general_push(self, value: Item, timeout: Optional[float] = None) -> bool:
        return Writer.push(self, value, timeout)

    @property
    def next_sequence(self) -> int:
        return int(self._publisher.published)

    def _encode(self, value: Any) -> bytes:
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

    def push(self, value: Item, timeout: Optional[float] = None) -> bool:
        """Pushes an int, bytes (zero-padded) or, with fields, a dict; waits for room under
        `block` (at most ``timeout`` seconds: then returns False, pushing nothing)."""
        if timeout is not None:
            timeout = R.checked_timeout(timeout)
        self._file.check()
        return bool(self._publisher.publish([self._encode(value)], timeout) == 1)

    def try_push(self, value: Item) -> bool:
        self._file.check()
        return bool(self._publisher.publish([self._encode(value)], 0) == 1)

    def push_many(self, values: Any, timeout: Optional[float] = None) -> int:
        """Pushes every value, announcing them once per run; all are checked first. Into items
        of at most 8 bytes without fields, an ``array('Q')``, a numpy ``uint64`` array or any
        other contiguous buffer of unsigned 8-byte integers is copied as it is (one slice copy
        per run, no Python int per item)."""
        if timeout is not None:
            timeout = R.checked_timeout(timeout)
        self._file.check()
        words = _unsigned_words(values)
        if words is None and not isinstance(values, list):
            if isinstance(values, str) or not hasattr(values, "__iter__"):
                raise InvalidArgument(f"push_many takes an iterable of items, not {type(values).__name__}.")
            values = list(values)
        if self._word_slots and (self._slot_words == 1 or (self._checked and self.item_size == 8)):
            if words is None:
                try:
                    words = memoryview(array.array("Q", values))     # refuses negative, too large and non-integers
                except (OverflowError, TypeError):
                    pass
            if words is not None and (self.max_value == 0xFFFFFFFFFFFFFFFF or max(words, default=0) <= self.max_value):
                return int(self._publisher.publish_words(words, timeout))
        if words is not None:
            values = words.tolist()
        encoded = [self._encode(value) for value in values]
        return int(self._publisher.publish(encoded, timeout))



def _reader_removed(file: Any, buffer: str, reader: Optional[str]) -> CBuffError:
    """What a named reader raises once it finds its record removed under it (``cbuff reader rm
    --force`` while it was open): its name no longer names it (the Swift ``readerRemoved``). A
    record found free in a mapping that faulted (the file was truncated: it reads zeros) was not
    removed: that is ``Corrupted``."""
    file.check_size()
    return NotFound(f'Named reader "{reader}" of buffer "{buffer}" was removed (cbuff reader rm --force) while this process was reading it; it reads nothing more, and what it read since its last commit is recorded nowhere.')


_WORD_FORMATS = frozenset(("Q", "L", "<Q", "<L", "=Q", "=L", "@Q", "@L"))


def _unsigned_words(values: Any) -> Optional[memoryview]:
    """``values`` as a flat memoryview of unsigned 8-byte integers (format ``Q`` or ``L``: an
    ``array('Q')``, numpy ``uint64``) if it is a contiguous one-dimensional buffer of them, else None."""
    if isinstance(values, (list, range)):
        return None
    try:
        view = memoryview(values)
    except TypeError:
        return None
    if view.ndim != 1 or view.itemsize != 8 or view.format not in _WORD_FORMATS or not view.c_contiguous:
        return None
    return view


class Reader(_Handle):
    """A reader of a buffer of items, with its own cursor."""

    def __enter__(self) -> Reader:
        return self

    def __init__(self, name: str, file: Any, start: Optional[Start], named: Optional[Tuple[str, int, bool]] = None) -> None:
        super().__init__(name, file)
        self.reader_name: Optional[str] = named[0] if named else None
        self._index: Optional[int] = named[1] if named else None
        self.is_newly_registered: bool = named[2] if named else False
        self._cursor = R.SlotCursor(file, file.committed(named[1])[0] if named else (start if start is not None else "oldest"))
        self._wide = self.item_size > 8 and self.fields is None
        self._word_slots = self.item_size <= 8 and self.fields is None
        self._slot_words = file.layout.stride // 8
        self._stride = file.layout.stride
        self._checked = file.layout.check_word_offset is not None
        self._mask = (1 << (8 * min(self.item_size, 8))) - 1
        self._cursor_word = (R.RingFile._record(named[1]) + F.REC_CURSOR) // 8 if named else None
        self._state_word = (R.RingFile._record(named[1]) + F.REC_STATE) // 4 if named else 0
        self._cursor.record = self._index
        self._dtype: Any = None         # pop_array's, made at its first call

    def _general_pop(self, timeout: Optional[float] = None) -> Optional[Item]:
        return Reader.pop(self, timeout)

    @property
    def missed(self) -> int:
        """Items this reader never saw because the writer overwrote them first."""
        return int(self._cursor.missed)

    @property
    def next_sequence(self) -> int:
        return int(self._cursor.next)

    def available(self) -> int:
        """How many items were published that this reader has not read (those it will find
        overwritten included): a snapshot."""
        file = self._file
        published = file.published()
        file.check()
        return max(0, int(published) - self.next_sequence)

    def _acknowledge(self) -> None:
        self._file.check()
        if self._index is not None:
            self._file.commit(self._index, self._cursor.next)
            if not self._file.is_registered(self._index):
                raise self._removed()

    def _removed(self) -> CBuffError:
        """What a named reader raises once a forced removal freed its record under it; a record
        read as free because the file was truncated under it (the mapping reads zeros) is
        ``Corrupted``, not a removal."""
        return _reader_removed(self._file, self.name, self.reader_name)

    def commit(self) -> None:
        """A named reader's commit of everything it returned (also done by the next read)."""
        self._acknowledge()

    def _decode(self, item: bytes, sequence: int) -> Item:
        if self.fields is not None:
            return self.fields.decode(item)
        if self._wide:
            return item
        return int.from_bytes(item, "little")

    def pop(self, timeout: Optional[float] = None) -> Optional[Item]:
        """The next item (int; bytes for items over 8 bytes; a dict with fields), or None;
        with ``timeout`` seconds, waits that long for one."""
        if timeout is not None:
            timeout = R.checked_timeout(timeout)
        self._acknowledge()
        items = self._cursor.read(1)
        if not items and timeout is not None and self._cursor.wait(timeout):
            items = self._cursor.read(1)
        return self._decode(items[0], self._cursor.next - 1) if items else None

    def pop_many(self, count: int) -> List[Any]:
        """Up to ``count`` items, oldest first (fewer if fewer are waiting)."""
        _check_count(count)
        self._acknowledge()
        if self._word_slots and self._slot_words == 1:
            # One read takes every item waiting (up to ``count``, both runs of a wrap); another
            # is tried only if it came short and more were published meanwhile.
            read_words, mask = self._cursor.read_words, self._mask
            out: List[Any] = read_words(count)
            while 0 < len(out) < count:
                more = read_words(count - len(out))
                if not more:
                    break
                out += more
            return out if mask == 0xFFFFFFFFFFFFFFFF else [word & mask for word in out]
        out = []
        while len(out) < count:
            items = self._cursor.read(count - len(out))
            if not items:
                break
            first = self._cursor.next - len(items)
            out.extend(self._decode(item, first + i) for i, item in enumerate(items))
        return out

    def pop_array(self, count: int) -> Any:
        """Up to ``count`` items as one numpy array: uint64 (or smaller) integers, a structured
        array for a buffer with fields, raw ``V`` items otherwise. Needs numpy."""
        _check_count(count)
        numpy = R.numpy_module()
        self._acknowledge()
        dtype = self._dtype
        if dtype is None:
            if self.fields is not None:
                dtype = self.fields.numpy_dtype()
            elif self.item_size in (1, 2, 4, 8):
                dtype = numpy.dtype(f"<u{self.item_size}")
            else:
                dtype = numpy.dtype((numpy.void, self.item_size))
            self._dtype = dtype
        read_array = self._cursor.read_array
        part = read_array(count, dtype)
        if part is None:
            return numpy.empty(0, dtype=dtype)
        if len(part) == count:
            return part
        parts, total = [part], len(part)
        while total < count:
            part = read_array(count - total, dtype)
            if part is None:
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

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until an item is waiting (sleeping on the futex), at most ``timeout`` seconds."""
        self._file.check()
        return bool(self._cursor.wait(timeout))

    def follow(self, timeout: Optional[float] = None, coalesce: float = FOLLOW_COALESCING) -> Iterator[Tuple[int, Item]]:
        """Yields (sequence, item) as they come, waiting (sleeping on the buffer's futex); ends
        after ``timeout`` seconds without one (None: never).

        ``coalesce`` (seconds, default 5 ms; 0: each item at once; a longer one than 1 s is cut to 1 s, as the Swift side's ``wakeUpCoalescing``): once caught up,
        the follower first sleeps that long without asking the writer to wake it, then takes
        everything that came meanwhile; only if nothing came does it ask to be woken. An item
        waits at most that long; a follower of 1,000 items a second is woken every 5 ms, not
        every item (``cbuff tail --follow --coalesce MS``, the Swift ``wakeUpCoalescing``)."""
        timeout, coalesce = R.checked_timeout(timeout), R.checked_timeout(coalesce, "coalesce") or 0.0
        if self._index is None:
            read = self._cursor.read_words if self._word_slots and self._slot_words == 1 and self._mask == 0xFFFFFFFFFFFFFFFF else self._read_decoded
            return self._follow_reading(read, timeout, coalesce)
        return self._follow_popping(timeout, coalesce)

    def _follow_reading(self, read: Callable[[int], List[Any]], timeout: Optional[float], coalesce: float) -> Iterator[Tuple[int, Item]]:
        """The cursor's follow as a generator of this reader's, so that the reader (and its file)
        lives as long as the iteration: ``for x in directory.open_reader(name).follow()`` holds
        no other reference to it, and a reader collected meanwhile closed its file under the
        follower."""
        yield from self._cursor.follow(read, timeout, coalesce)

    def _follow_popping(self, timeout: Optional[float], coalesce: float) -> Iterator[Tuple[int, Item]]:
        """``follow()`` of a named reader: pop by pop, each committing the item before."""
        while True:
            item = self.pop()
            if item is None:
                if not self._cursor.wait(timeout, coalesce):
                    return
                continue
            yield self._cursor.next - 1, item

    def _read_decoded(self, count: int) -> List[Any]:
        """Up to ``count`` items as ``pop`` returns them, the cursor past them (``follow``'s read)."""
        if self._word_slots and self._slot_words == 1:
            words: List[Any] = self._cursor.read_words(count)
            return words if self._mask == 0xFFFFFFFFFFFFFFFF else [word & self._mask for word in words]
        return [self._decode(item, 0) for item in self._cursor.read(count)]

    async def follow_async(self, timeout: Optional[float] = None, coalesce: float = FOLLOW_COALESCING) -> AsyncIterator[Tuple[int, Item]]:
        """``follow()`` for asyncio: ``async for sequence, item in reader.follow_async()``. The
        event loop never blocks: the coalescing delay is an ``asyncio.sleep``, and while nothing
        is waiting after it, one worker thread sleeps on the buffer's futex (``_wait_off_loop``),
        costing no CPU; cancelling the task ends the iteration at once (the worker's sleep ends
        by itself within 50 ms). Ends after ``timeout`` seconds without an item (None: never);
        ``coalesce`` as for ``follow()``."""
        while True:
            item = self.pop()
            if item is None:
                if not await _wait_off_loop(self._cursor, timeout, coalesce):
                    return
                continue
            yield self._cursor.next - 1, item

    def close(self) -> None:
        if not self._file.closed:
            try:
                self._acknowledge()
            except (NotFound, Corrupted):
                pass        # removed by force, or truncated, under it: nothing left to commit to
            self._file.close()
        self._drop()


async def _wait_off_loop(cursor: Any, timeout: Optional[float], coalesce: float = 0.0) -> bool:
    """Waits for ``cursor`` to have something (True) or for ``timeout`` seconds (False): first
    the coalescing delay (at most 1 s) on the event loop, without asking to be woken (C1 of
    ``RingFile.sleep``), then, if nothing came, the futex sleep run in a worker thread one
    slice (50 ms at most) at a time, so that a cancellation never leaves a worker asleep for
    long."""
    timeout = R.checked_timeout(timeout)
    coalesce = R.checked_timeout(coalesce, "coalesce") or 0.0
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    if coalesce > 0:
        pause = min(coalesce, R.LONGEST_COALESCING)
        await asyncio.sleep(pause if deadline is None else max(0.0, min(pause, deadline - loop.time())))
        if cursor.wait(0):         # a look, no sleep
            return True
    while True:
        remaining = R.SLICE_NS / 1e9 if deadline is None else min(R.SLICE_NS / 1e9, deadline - loop.time())
        if remaining <= 0:
            return False
        if await asyncio.to_thread(cursor.wait, remaining):
            return True


class _WordWriter(Writer):
    """A writer of items of at most 8 bytes without fields: its one-integer push is the ring's
    word push (``_ring.push_word``), the protocol's steps in a few word accesses."""

    push = R.push_word


class _WordReader(Reader):
    """A reader of items of at most 8 bytes without fields: its one-item pop is the ring's word
    pop (``_ring.pop_word``)."""

    pop = R.pop_word


class _WideWriter(Writer):
    """A writer of items wider than 8 bytes without fields: its push of bytes is the ring's
    (``_ring.push_bytes``)."""

    push = R.push_bytes


class _WideReader(Reader):
    """A reader of items wider than 8 bytes without fields: its one-item pop is the ring's
    (``_ring.pop_bytes``)."""

    pop = R.pop_bytes


def _word_paths(layout: Any) -> bool:
    """Whether the one-item word paths (``_ring.push_word``, ``pop_word``) take this ring's items:
    at most 8 bytes without fields, and, in version 4 (a check word after each), exactly 8."""
    return layout.fields is None and layout.item_size <= 8 and (layout.check_word_offset is None or layout.item_size == 8)


def _wide_paths(layout: Any) -> bool:
    """Whether the one-item paths of bytes (``_ring.push_bytes``, ``pop_bytes``) take this ring's
    items: wider than 8 bytes, without fields or check words."""
    return layout.fields is None and layout.item_size > 8 and layout.check_word_offset is None


def _item_writer(name: str, file: Any) -> Writer:
    if _word_paths(file.layout):
        return _WordWriter(name, file)
    return _WideWriter(name, file) if _wide_paths(file.layout) else Writer(name, file)


def _item_reader(name: str, file: Any, start: Optional[Start], named: Optional[Tuple[str, int, bool]] = None) -> Reader:
    if _word_paths(file.layout):
        return _WordReader(name, file, start, named)
    return (_WideReader if _wide_paths(file.layout) else Reader)(name, file, start, named)


# --- Messages ---------------------------------------------------------------------------------

class MessageWriter(_WriterHandle):
    """The one writer of a buffer of variable-size messages."""

    def __enter__(self) -> MessageWriter:
        return self

    def __init__(self, name: str, file: Any) -> None:
        super().__init__(name, file)
        self.capacity, self.max_message = file.layout.capacity, file.layout.max_message
        self._publisher = R.MessagePublisher(file)

    @property
    def next_sequence(self) -> int:
        return int(self._publisher.next_sequence)

    def push_message(self, data: Union[bytes, bytearray, memoryview, str], timeout: Optional[float] = None) -> bool:
        """Pushes one message (bytes, or a str as UTF-8); False if no room came within ``timeout``."""
        if timeout is not None:
            timeout = R.checked_timeout(timeout)
        self._file.check()
        if type(data) is not bytes:
            data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if len(data) > self.max_message:
            raise ValueDoesNotFit(f'A message of {len(data)} bytes cannot be pushed to buffer "{self.name}": its messages are at most {self.max_message} bytes.')
        return bool(self._publisher.publish(data, timeout))

    push = push_message



class _Syncer:
    """The syncer of a Python writer whose buffer's policy is ``interval:MS``: a daemon thread
    that blocks on an event while nothing is published (no wake-up at all: an idle writer costs
    nothing), is poked by the writer's first push after it went idle, sleeps the interval, then
    syncs under the writer's sync lock; it goes on while more was published meanwhile. So what
    is published at t is durable by t + MS + one sync. The handshake (``waiting`` set, then
    ``published`` looked at; the writer publishes, then looks at ``waiting``) runs under the
    GIL, whose bytecode steps are sequentially consistent: either the writer sees ``waiting``
    and sets the event, or the syncer sees the item. A sync that failed is not retried here:
    Python's retry rewrites every page with plain stores, which this thread must not do while
    the writer's thread stores items; ``poisoned`` tells the writer's next push to sync itself."""

    def __init__(self, writer: _WriterHandle, interval: float) -> None:
        file = writer._file
        self.waiting = False
        self.poisoned = False
        self.failure: Optional[CBuffError] = None
        self._interval = interval
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._lock = writer._sync_lock
        # Dropped at ``stop``: the ring file's mapping holds a duplicate of its descriptor (as
        # Python's mmap does), which holds the writer lock until the last reference goes.
        self._file: Any = file
        self._thread = threading.Thread(target=self._run, name=f"cbuff syncer {writer.name}", daemon=True)
        self._thread.start()

    def _published(self) -> int:
        file = self._file
        return int(file.q[F.OFF_PUBLISHED_MESSAGES // 8]) if file.layout.messages else int(file.published())

    def _run(self) -> None:
        file, lock = self._file, self._lock
        assert lock is not None
        synced = int(file.durable())
        while not self._stopped.is_set():
            self.waiting = True
            if self._published() <= synced:
                self._wake.wait()
            self.waiting = False
            self._wake.clear()
            while not self._stopped.wait(self._interval):
                if self.poisoned:
                    break
                with lock:
                    try:
                        synced = int(file.synchronize())
                        self.failure = None
                    except CBuffError as error:
                        self.failure, self.poisoned = error, True
                        _log.warning("the interval syncer of %s could not sync: %s; the writer's next push syncs again", file.path, error)
                        break
                if self._published() <= synced:
                    break

    def poke(self, writer: _WriterHandle) -> None:
        """The writer's side, after a push that found ``waiting`` or ``poisoned``."""
        if self.poisoned:
            self.poisoned = False
            writer._synchronize()
        if self.waiting:
            self.waiting = False
            self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join()
        self._file = None


class _PolicySyncing:
    """The push methods of a writer whose buffer has a sync policy other than none: the plain
    push (the class's own, kept in ``_plain``), then what the policy asks. A writer of policy
    none never gets this class: its pushes are unchanged."""

    _plain: Any
    _syncer: Optional[_Syncer]
    _sync_due: int

    def _after_push(self) -> None:
        syncer = self._syncer
        if syncer is not None:
            if syncer.waiting or syncer.poisoned:
                syncer.poke(self)  # type: ignore[arg-type]
        elif self.next_sequence >= self._sync_due:  # type: ignore[attr-defined]
            through = self._synchronize()  # type: ignore[attr-defined]
            self._sync_due = _sync_due_after(through, self._file.layout)  # type: ignore[attr-defined]



def _syncing_push(name: str) -> Any:
    """The push method ``name`` of a syncing class: the plain class's, then the policy's step."""
    def push(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self._plain, name)(self, *args, **kwargs)
        self._after_push()
        return result
    push.__name__ = name
    return push


_PUSHES = ("push", "try_push", "push_many", "push_message")


def _sync_due_after(durable: int, layout: Any) -> int:
    """The sequence at which the next sync is due after one made everything below ``durable``
    durable: at once for each-batch, N later for every:N."""
    return 0 if layout.sync_kind == F.SYNC_EACH_BATCH else durable + layout.sync_parameter


_SYNCING_CLASSES: Dict[type, type] = {}


_W = TypeVar("_W", bound=_WriterHandle)


def _following_policy(writer: _W) -> _W:
    """``writer``, made to follow its buffer's sync policy: unchanged under none; else of a
    class whose pushes sync as the policy says (and, under interval, with its syncer started)."""
    layout = writer._file.layout
    if layout.sync_kind == F.SYNC_NONE:
        return writer
    base = type(writer)
    syncing = _SYNCING_CLASSES.get(base)
    if syncing is None:
        pushes = {name: _syncing_push(name) for name in _PUSHES if hasattr(base, name)}
        syncing = type(f"_Syncing{base.__name__}", (_PolicySyncing, base), {"_plain": base, **pushes})
        _SYNCING_CLASSES[base] = syncing
    writer.__class__ = syncing
    writer._sync_lock = threading.Lock()
    writer._sync_due = _sync_due_after(int(writer._file.durable()), layout)
    if layout.sync_kind == F.SYNC_INTERVAL:
        writer._syncer = _Syncer(writer, layout.sync_parameter / 1e9)
    return writer


class MessageReader(_Handle):
    """A reader of a buffer of messages, with its own cursor."""

    def __enter__(self) -> MessageReader:
        return self

    def __init__(self, name: str, file: Any, start: Optional[Start], named: Optional[Tuple[str, int, bool]] = None) -> None:
        super().__init__(name, file)
        self.capacity, self.max_message = file.layout.capacity, file.layout.max_message
        self.reader_name: Optional[str] = named[0] if named else None
        self._index: Optional[int] = named[1] if named else None
        self.is_newly_registered: bool = named[2] if named else False
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
            self._cursor = R.MessageCursor(file, "latest" if start == "latest" else "oldest")
        self._cursor.record = self._index

    @property
    def missed(self) -> int:
        """Messages this reader never saw because the writer overwrote them first."""
        return int(self._cursor.missed)

    @property
    def next_sequence(self) -> int:
        return int(self._cursor.next_sequence)

    def _acknowledge(self) -> None:
        self._file.check()
        if self._index is not None:
            self._file.commit(self._index, *self._cursor.commit_point())
            if not self._file.is_registered(self._index):
                raise _reader_removed(self._file, self.name, self.reader_name)

    def commit(self) -> None:
        """A named reader's commit of everything it returned (also done by the next read)."""
        self._acknowledge()

    def pop_message(self, timeout: Optional[float] = None) -> Optional[Message]:
        """The next Message(sequence, time, data), or None (waiting up to ``timeout`` seconds)."""
        if timeout is not None:
            timeout = R.checked_timeout(timeout)
        self._acknowledge()
        found = self._cursor.read()
        if found is None and timeout is not None and self._cursor.wait(timeout):
            found = self._cursor.read()
        return Message(*found) if found else None

    pop = pop_message

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until a message is waiting (sleeping on the futex), at most ``timeout`` seconds."""
        self._file.check()
        return bool(self._cursor.wait(timeout))

    def follow(self, timeout: Optional[float] = None, coalesce: float = FOLLOW_COALESCING) -> Iterator[Message]:
        """Yields messages as they come, waiting; ends after ``timeout`` seconds without one;
        ``coalesce`` as for ``Reader.follow``."""
        return self._follow(R.checked_timeout(timeout), R.checked_timeout(coalesce, "coalesce") or 0.0)

    def _follow(self, timeout: Optional[float], coalesce: float) -> Iterator[Message]:
        while True:
            message = self.pop_message()
            if message is None:
                if not self._cursor.wait(timeout, coalesce):
                    return
                continue
            yield message

    async def follow_async(self, timeout: Optional[float] = None, coalesce: float = FOLLOW_COALESCING) -> AsyncIterator[Message]:
        """``follow()`` for asyncio: ``async for message in reader.follow_async()`` (see
        ``Reader.follow_async``)."""
        while True:
            message = self.pop_message()
            if message is None:
                if not await _wait_off_loop(self._cursor, timeout, coalesce):
                    return
                continue
            yield message

    def close(self) -> None:
        if not self._file.closed:
            try:
                self._acknowledge()
            except (NotFound, Corrupted):
                pass        # removed by force, or truncated, under it: nothing left to commit to
            self._file.close()
        self._drop()
