"""The registry (docs/registry.md): one SQLite file per data directory, migrated from the same
numbered SQL files as the Swift side (a copy in ``cbuff/migrations``, which the tests check is
byte for byte the repository's), every row validated as input."""

import errno
import fcntl
import os
import re
import sqlite3
import time
import urllib.parse
from importlib import resources
from typing import Any, Callable, Optional, TypeVar

from . import _format as F
from . import _system as S
from . import _walcheck
from .errors import CBuffError, Corrupted, InvalidArgument, SystemFailure, TimedOut

# A UTC time as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ') writes it, the only form cbuff stores.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z\Z")
_BUFFER_NAME = re.compile(r"[A-Za-z0-9_:@+\-][A-Za-z0-9._:@+\-]{0,199}\Z")

REGISTRY, LOCK = "registry.sqlite", "registry.lock"
T = TypeVar("T")


def migrations() -> "list[tuple[str, str]]":
    """(identifier, sql) of every migration, in order."""
    folder = resources.files("cbuff") / "migrations"
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name[:-4], (folder / name).read_text()) for name in names]


class Row:
    """A validated row of ``buffers``."""

    def __init__(self, values: "dict[str, Any]") -> None:
        name = values.get("name")
        if not isinstance(name, str):
            raise Corrupted(f"The registry has a row whose name is not text ({name!r}); remove it with sqlite3.")

        def damaged(column: str, expected: str) -> Corrupted:
            return Corrupted(f'The registry row of buffer "{name}" is damaged: {column} is {values.get(column)!r}, not {expected}; remove the buffer (cbuff rm) to clean it up.')

        def integer(column: str, low: int, high: int, optional: bool = False) -> Any:
            value = values.get(column)
            if value is None and optional:
                return None
            if type(value) is not int or not low <= value <= high:
                raise damaged(column, f"an integer from {low} to {high}")
            return value

        def text(column: str, optional: bool = False) -> Any:
            value = values.get(column)
            if value is None and optional:
                return None
            if not isinstance(value, str):
                raise damaged(column, "text")
            return value

        if not _BUFFER_NAME.match(name):
            raise Corrupted(f"The registry has a row with an invalid buffer name ({name.encode('unicode_escape').decode()[:60]!r}); remove it with sqlite3.")
        self.name = name
        self.item_size = integer("item_size", 1, F.MAX_ITEM_SIZE)
        self.length = integer("length", 2, F.MAX_LENGTH)
        policy = text("policy")
        if policy not in F.POLICIES:
            raise damaged("policy", "'overwrite' or 'block'")
        self.policy = F.POLICIES[policy]
        if text("file") != name + ".ring":
            raise damaged("file", f'"{name}.ring"')
        self.format_version = integer("format_version", min(F.VERSIONS), max(F.VERSIONS))
        self.created_at = text("created_at")
        if not _TIMESTAMP.match(self.created_at):
            raise damaged("created_at", "a UTC time such as 2026-12-07T06:15:00.000Z")
        self.writer_pid = integer("writer_pid", 1, 0x7FFFFFFF, optional=True)
        self.writer_start_time = integer("writer_start_time", -(1 << 63), (1 << 63) - 1, optional=True)
        self.writer_since = text("writer_since", optional=True)
        if self.writer_since is not None and not _TIMESTAMP.match(self.writer_since):
            raise damaged("writer_since", "NULL or a UTC time such as 2026-12-07T06:15:00.000Z")
        # No writer ever attached (all three NULL), or one did: its PID and when.
        if self.writer_pid is None and (self.writer_start_time is not None or self.writer_since is not None):
            raise damaged("writer_pid", "a process ID, since writer_start_time or writer_since says a writer attached")
        if self.writer_pid is not None and self.writer_since is None:
            raise damaged("writer_since", "a UTC time, since writer_pid names a writer")
        self.ring_created_ns = integer("ring_created_ns", 1, F.MAX_COUNT, optional=True) if "ring_created_ns" in values else None
        self.alignment = integer("item_alignment", 1, F.MAX_ALIGNMENT, optional=True)
        self.type_name = text("type_name", optional=True)
        fields = text("fields", optional=True)
        kind = values.get("kind", "items")
        if kind == "messages" and self.format_version not in (3, 4):
            raise damaged("format_version", "3 or 4 (a buffer of messages)")
        described = self.alignment is not None or self.type_name is not None or fields is not None
        if described and self.format_version < 3:
            raise damaged("format_version", "3 (its items are described: alignment, type name or fields)")
        try:
            self.fields = F.FieldLayout.from_json(fields) if fields is not None else None
            if kind == "messages":
                self.layout = F.Layout.message_ring(integer("capacity", F.MIN_CAPACITY, F.MAX_CAPACITY),
                                                    integer("max_message", 0, 0xFFFFFFFF), self.policy,
                                                    version=self.format_version)
                if (self.item_size, self.length) != (8, self.layout.length) or fields or self.alignment or self.type_name:
                    raise damaged("item_size", "8, with length capacity / 8 and no item description")
            elif kind == "items":
                if values.get("capacity") is not None or values.get("max_message") is not None:
                    raise damaged("capacity", "NULL (a buffer of items has no message capacity)")
                self.layout = F.Layout.items(self.item_size, self.length, self.policy, self.alignment, self.type_name, self.fields,
                                             checked=self.format_version >= 4)
            else:
                raise damaged("kind", "'items' or 'messages'")
        except Exception as error:
            if isinstance(error, Corrupted):
                raise
            raise Corrupted(f'The registry row of buffer "{name}" is damaged: {error}') from None
        self.kind = kind

    def disagreement(self, layout: F.Layout, created_at: int, path: str) -> Optional[Corrupted]:
        """Why this row is not the row of the ring file whose header gave ``layout`` and
        ``created_at``, as a ``Corrupted`` error, or None when they agree: the file's creation
        time (unless the row predates schema 5), kind, geometry, items and format version."""
        buffer = f'Buffer "{self.name}" is damaged'
        if self.ring_created_ns is not None and self.ring_created_ns != created_at:
            return Corrupted(f"{buffer}: its ring file {path} is not its own: the registry says the file was created at {self.ring_created_ns} ns, the file's header says {created_at} ns (another buffer's ring file copied or renamed into place?); nothing was read or written. Remove the buffer (cbuff rm), or put its own ring file back.")
        mine = self.layout
        if (layout.messages, layout.capacity, layout.max_message) != (mine.messages, mine.capacity, mine.max_message):
            return Corrupted(f"{buffer}: its registry row and its ring file {path} disagree on whether it holds messages, or on their capacity or largest size.")
        if (layout.item_size, layout.length, layout.policy) != (self.item_size, self.length, self.policy):
            return Corrupted(f"{buffer}: the registry says item size {self.item_size}, length {self.length}, policy {self.policy}, but its ring file {path} says {layout.item_size}, {layout.length}, {layout.policy}.")
        if not layout.describes_same_items(mine):
            return Corrupted(f"{buffer}: its registry row and its ring file {path} describe its items differently.")
        if layout.version != self.format_version:
            return Corrupted(f"{buffer}: the registry says format version {self.format_version}, but its ring file {path} has format version {layout.version}.")
        return None


class Registry:
    """An open registry: ``write(body)`` runs ``body(connection)`` in one BEGIN IMMEDIATE.

    The registry file, SQLite's companions (-wal, -shm, -journal) and the lock are checked before SQLite opens them
    (regular files owned as expected, never symbolic links); a missing registry is built under a
    temporary name, complete, then renamed into place, so whoever sees ``registry.sqlite`` sees a
    whole registry (the Swift side's ``Registry.build``). Every SQLite error becomes cbuff's
    error of the code the Swift side gives (``translate``)."""

    TEMPORARY = REGISTRY + ".new"
    # WAL mode's two files and the rollback journal SQLite looks for (a hot journal) before it
    # reads anything: each, and the lock, gets the registry file's check before SQLite opens
    # anything (the Swift side's ``Registry.neighbours``).
    COMPANIONS = ("-wal", "-shm", "-journal")

    def __init__(self, trust: S.DirectoryTrust, timeout: float, create: bool) -> None:
        self.trust, self.directory, self.timeout = trust, trust.path, timeout
        self.path = os.path.join(trust.path, REGISTRY)
        self.db: Optional[sqlite3.Connection] = None
        present = trust.check_if_present(REGISTRY, "registry file")
        if present is None and create:
            self._check_path_length()
            self._under_lock("create the registry", self._build_if_missing)
        elif present is None:
            raise FileNotFoundError(self.path)
        for suffix in self.COMPANIONS:
            trust.check_if_present(REGISTRY + suffix, "registry file")
        trust.check_if_present(LOCK, "registry lock")
        wal = trust.check_if_present(REGISTRY + "-wal", "registry file")
        if wal is not None and wal.st_size > 0:     # cbuff's checkpoints leave it empty: nothing to check then
            _walcheck.verify(trust, REGISTRY + "-wal", REGISTRY + "-shm")
        try:
            with S.standard_slots_held():
                self.db = self._connect()
            applied = self._applied()
            known = [identifier for identifier, _ in migrations()]
            if applied - set(known):
                raise Corrupted(f"The registry {self.path} was written by a newer version of cbuff (it has migrations this version does not know); use that version.")
            if set(known) - applied:
                self._under_lock("upgrade the registry", self._migrate)
        except sqlite3.Error as error:
            self.close()
            raise self.translate(error, f"open the registry {self.path}") from None
        except BaseException:
            self.close()
            raise

    # The longest path SQLite opens a database by: its unix VFS takes paths of at most 512 bytes,
    # and it names the rollback journal PATH-journal (the Swift side's measurement, SQLite 3.40.1).
    LONGEST_DATABASE_PATH = 504

    def _resolved_length(self) -> int:
        return len(os.path.realpath(self.directory).encode()) + 1 + len(REGISTRY)

    def _check_path_length(self) -> None:
        """Raises ``InvalidArgument`` if SQLite cannot open the registry by its path (SQLite makes
        it absolute and resolves its links), before anything is created: the Swift side's
        ``Registry.checkPathLength``, sentence for sentence."""
        length = self._resolved_length()
        if length > self.LONGEST_DATABASE_PATH:
            raise InvalidArgument(f"The data directory's path is too long for SQLite, which keeps the registry: {os.path.realpath(self.directory)} makes its registry's path {length} bytes long, and SQLite opens files by paths of at most {self.LONGEST_DATABASE_PATH} bytes; choose a directory whose full path is at most {self.LONGEST_DATABASE_PATH - 1 - len(REGISTRY)} bytes.")

    def _connect(self) -> sqlite3.Connection:
        """Opens SQLite on the registry (the Swift side's ``Registry.openQueue``). A registry on a
        read-only mount whose WAL index (-shm) is absent (every process that used it closed it,
        or it was copied without it) cannot be opened normally: SQLite would need to create the
        index. Its WAL is then empty or absent too (cbuff checkpoints every change into
        ``registry.sqlite``, and ``_walcheck`` has read it), so the file alone is the registry,
        and it is opened as immutable: read without locks, which a mount nobody can write makes
        safe."""
        db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()      # SQLite opens its files on first use
            # A commit returns only once its frames are synced, before the WAL index counts
            # them: a row is durable when its create returns, and ``_walcheck`` may take an
            # index's count as proof (the Swift side's ``Registry.configuration``).
            db.execute("PRAGMA synchronous = FULL")
            return db
        except sqlite3.Error as error:
            db.close()
            wal = self.trust.check_if_present(REGISTRY + "-wal", "registry file")
            if (_primary(error) != SQLITE_CANTOPEN or not S.is_read_only(self.trust)
                    or self.trust.check_if_present(REGISTRY + "-shm", "registry file") is not None
                    or (wal is not None and wal.st_size > 0)):
                raise
        uri = "file:" + urllib.parse.quote(os.path.join(os.path.realpath(self.directory), REGISTRY)) + "?mode=ro&immutable=1"
        db = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _applied(self) -> "set[str]":
        table = self.connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'grdb_migrations'").fetchone()[0]
        if not table:
            return set()
        return {row[0] for row in self.connection.execute("SELECT identifier FROM grdb_migrations")}

    def _under_lock(self, doing: str, body: Callable[[], None]) -> None:
        """Runs ``body()`` holding the exclusive flock on ``registry.lock`` (bounded wait)."""
        lock_path = os.path.join(self.directory, LOCK)
        lock, info = S.open_or_create_trusted(self.trust, LOCK, "registry lock")
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise S.lock_wait_timed_out(lock_path, info.st_ino, 0, self.timeout, doing) from None
                    time.sleep(0.005)
            return body()
        finally:
            os.close(lock)      # releases the flock

    def _build_if_missing(self) -> None:
        """Builds a new registry under a temporary name, complete (WAL mode, every migration,
        checkpointed, closed), then renames it into place. Called holding the registry lock, so
        a leftover of a creator that died is removed first."""
        if self.trust.check_if_present(REGISTRY, "registry file") is not None:
            return
        temporary = os.path.join(self.directory, self.TEMPORARY)
        leftovers = [temporary] + [temporary + suffix for suffix in self.COMPANIONS]
        for entry in leftovers:
            try:
                os.unlink(entry)
            except FileNotFoundError:
                pass
            except OSError as error:
                raise S.system_error(error, f"remove the leftover {entry}") from None
        try:
            os.close(S.create_exclusive(self.trust, self.TEMPORARY, "new registry"))
        except FileExistsError as error:      # removed above, so put there by someone else meanwhile
            raise S.system_error(error, f"create the registry {self.path}") from None
        try:
            with S.standard_slots_held():
                db = sqlite3.connect(temporary, timeout=self.timeout, isolation_level=None)
                try:
                    db.execute("PRAGMA synchronous = FULL")
                    db.execute("PRAGMA journal_mode = WAL")
                    _apply(db, migrations())
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    db.close()
            for suffix in self.COMPANIONS:
                try:
                    os.unlink(temporary + suffix)
                except FileNotFoundError:
                    pass
            os.rename(temporary, self.path)
        except BaseException as error:
            for entry in leftovers:
                try:
                    os.unlink(entry)
                except OSError:
                    pass
            if isinstance(error, sqlite3.Error):
                raise self.translate(error, f"create the registry {self.path}") from None
            if isinstance(error, OSError):
                raise S.system_error(error, f"create the registry {self.path}") from None
            raise

    def _migrate(self) -> None:
        db = self.connection
        known = migrations()
        applied = self._applied()      # another process may have migrated while this one waited
        pending = [(identifier, sql) for identifier, sql in known if identifier not in applied]
        if not pending:
            return
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode = WAL")
        _apply(db, pending)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def translate(self, error: sqlite3.Error, doing: str) -> CBuffError:
        """SQLite's error as cbuff's, as the Swift side's ``Registry.translate`` says it: not a
        database or damaged -> Corrupted; locked -> TimedOut naming the holder; read-only,
        refused, cannot open, full, I/O -> the errno table's words for that cause (a read-only
        mount said as one); anything else -> SystemFailure. SQLite's words follow."""
        primary = _primary(error)
        text = str(error)
        read_only = S.is_read_only(self.trust)
        failure: CBuffError
        if primary in (SQLITE_CORRUPT, SQLITE_NOTADB):
            failure = Corrupted(f"Cannot {doing}: the registry is not a valid SQLite database.")
        elif primary in (SQLITE_BUSY, SQLITE_LOCKED):
            # In WAL mode SQLite's write lock is a POSIX lock on byte 120 of the -shm file.
            try:
                shm = self.trust.check_if_present(REGISTRY + "-shm", "registry file")
            except CBuffError:
                shm = None
            if shm is None:
                failure = TimedOut(f"Cannot {doing}: the registry stayed locked by another process for {S.seconds(self.timeout)}.")
            else:
                failure = S.lock_wait_timed_out(self.path, shm.st_ino, 120, self.timeout, doing)
        elif primary == SQLITE_READONLY:
            failure = S.words(errno.EROFS if read_only else errno.EACCES, doing)
        elif primary in (SQLITE_PERM, SQLITE_AUTH):
            failure = S.words(errno.EACCES, doing)
        elif primary == SQLITE_CANTOPEN:
            if self._resolved_length() > self.LONGEST_DATABASE_PATH:
                failure = S.words(errno.ENAMETOOLONG, doing)
            else:
                failure = S.words(errno.EROFS, doing) if read_only else SystemFailure(f"Cannot {doing}.")
        elif primary == SQLITE_FULL:
            failure = S.words(errno.ENOSPC, doing)
        elif primary == SQLITE_NOMEM:
            failure = S.words(errno.ENOMEM, doing)
        elif primary == SQLITE_IOERR:
            failure = S.words(errno.EROFS if read_only else errno.EIO, doing)
        else:
            failure = SystemFailure(f"Cannot {doing}.")
        failure.message += f" (SQLite error {getattr(error, 'sqlite_errorcode', '?')}: {text})"
        failure.args = (failure.message,)
        return failure

    @property
    def connection(self) -> sqlite3.Connection:
        if self.db is None:
            raise SystemFailure(f"The registry {self.path} is closed.")
        return self.db

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def write(self, body: "Callable[[sqlite3.Connection], T]") -> T:
        """Runs ``body(connection)`` in one IMMEDIATE transaction (a thrown error rolls it back),
        then checkpoints, so that ``registry.sqlite`` alone is a complete record."""
        db = self.connection
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self.translate(error, "update the registry") from None
        committing = False
        try:
            result = body(db)
            committing = True
            db.execute("COMMIT")
        except BaseException as error:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(error, sqlite3.Error):
                failure = self.translate(error, "update the registry")
                # A failed COMMIT (a failed sync of the log, a full disk) is "unknown", not
                # "rolled back": its frames may be in the log, where the next open finds them
                # (the Swift side's ``Registry.CommitOutcomeUnknown``). A caller that would undo
                # what the transaction named must not.
                failure.commit_outcome_unknown = committing
                raise failure from None
            raise
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass        # the commit stands; the next change checkpoints again
        return result

    def read_under_write_lock(self, body: "Callable[[sqlite3.Connection], T]") -> T:
        """Runs ``body(connection)``, which only reads, under the registry's write lock (an
        IMMEDIATE transaction, rolled back: nothing written, nothing checkpointed), so that it
        sees no change of another process half done: a second look (the Swift side's
        ``Registry.readUnderWriteLock``)."""
        db = self.connection
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self.translate(error, "look again at the registry") from None
        try:
            return body(db)
        finally:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def row(self, name: str, db: Optional[sqlite3.Connection] = None) -> Optional[Row]:
        try:
            cursor = (db or self.connection).execute("SELECT * FROM buffers WHERE name = ?", (name,))
            values = cursor.fetchone()
        except sqlite3.Error as error:
            raise self.translate(error, f'look up buffer "{name}" in the registry') from None
        if values is None:
            return None
        return Row(dict(zip([c[0] for c in cursor.description], values)))

    def has_row(self, db: sqlite3.Connection, name: str) -> bool:
        return bool(db.execute("SELECT count(*) FROM buffers WHERE name = ?", (name,)).fetchone()[0] > 0)

    def names(self) -> "list[Any]":
        """Every row's name, as stored (not validated: a damaged row still has one to report)."""
        try:
            return [values[0] for values in self.connection.execute("SELECT name FROM buffers ORDER BY name").fetchall()]
        except sqlite3.Error as error:
            raise self.translate(error, "list the registry") from None

    def rows(self) -> "list[Row]":
        try:
            cursor = self.connection.execute("SELECT * FROM buffers ORDER BY name")
            columns = [c[0] for c in cursor.description]
            fetched = cursor.fetchall()
        except sqlite3.Error as error:
            raise self.translate(error, "list the registry") from None
        return [Row(dict(zip(columns, values))) for values in fetched]

    @staticmethod
    def insert(db: sqlite3.Connection, name: str, layout: F.Layout, created_ns: int) -> None:
        """The row of a new buffer: no writer recorded (none has attached to it yet), and the
        ring file's createdAt, which ties the row to that file (schema 5)."""
        db.execute("""INSERT INTO buffers (name, item_size, length, policy, file, format_version,
                                           item_alignment, type_name, fields, kind, capacity, max_message,
                                           ring_created_ns)
                      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                   (name, layout.item_size, layout.length, "block" if layout.policy else "overwrite", name + ".ring",
                    layout.version, layout.alignment, layout.type_name, layout.fields.json if layout.fields else None,
                    "messages" if layout.messages else "items", layout.capacity, layout.max_message, created_ns))

    def record_writer(self, name: str, pid: int, start: Optional[int]) -> None:
        self.write(lambda db: db.execute("UPDATE buffers SET writer_pid = ?, writer_start_time = ?, writer_since = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE name = ?",
                                         (pid, _signed(start), name)))

    def record_reader(self, buffer: str, reader: str, slot: int) -> None:
        self.write(lambda db: db.execute("""INSERT INTO readers (buffer, name, slot, pid, opened_at)
                                            VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                                            ON CONFLICT (buffer, name) DO UPDATE SET slot = excluded.slot, pid = excluded.pid, opened_at = excluded.opened_at""",
                                         (buffer, reader, slot, os.getpid())))

    def delete(self, db: sqlite3.Connection, name: str) -> None:
        db.execute("DELETE FROM buffers WHERE name = ?", (name,))


# SQLite's primary result codes (https://www.sqlite.org/rescode.html).
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_READONLY = 3, 5, 6, 7, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_AUTH, SQLITE_NOTADB = 10, 11, 13, 14, 23, 26


def _primary(error: sqlite3.Error) -> Optional[int]:
    """The error's primary result code: its own (Python 3.11 and later), else read from SQLite's
    words for it (https://www.sqlite.org/rescode.html), which Python passes on."""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(error)
    for words, primary in (("not a database", SQLITE_NOTADB), ("malformed", SQLITE_CORRUPT), ("table is locked", SQLITE_LOCKED),
                           ("locked", SQLITE_BUSY), ("readonly", SQLITE_READONLY), ("unable to open", SQLITE_CANTOPEN),
                           ("disk is full", SQLITE_FULL), ("I/O error", SQLITE_IOERR), ("out of memory", SQLITE_NOMEM),
                           ("access permission denied", SQLITE_PERM), ("authorization denied", SQLITE_AUTH)):
        if words in text:
            return primary
    return None


def _apply(db: sqlite3.Connection, pending: "list[tuple[str, str]]") -> None:
    """Applies migrations, each in one IMMEDIATE transaction with the record of its identifier."""
    db.execute("CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
    for identifier, sql in pending:
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                db.execute(statement)
            db.execute("INSERT INTO grdb_migrations (identifier) VALUES (?)", (identifier,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _signed(value: Optional[int]) -> Optional[int]:
    if value is None:
        return None
    return value - (1 << 64) if value >= 1 << 63 else value


def _statements(sql: str) -> "list[str]":
    """The statements of a migration file (semicolons end them; comments are SQL's own)."""
    statement, out = "", []
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            out.append(statement)
            statement = ""
    if statement.strip() and not all(l.strip().startswith("--") or not l.strip() for l in statement.splitlines()):
        raise SystemFailure("a migration ends in an incomplete statement")
    return out
