"""The registry (docs/registry.md): one SQLite file per data directory, migrated from the same
numbered SQL files as the Swift side (a copy in ``cbuff/migrations``, which the tests check is
byte for byte the repository's), every row validated as input."""

import fcntl
import os
import sqlite3
import time
from importlib import resources

from . import _format as F
from .errors import Corrupted, SystemFailure, TimedOut

REGISTRY, LOCK = "registry.sqlite", "registry.lock"


def migrations():
    """(identifier, sql) of every migration, in order."""
    folder = resources.files("cbuff") / "migrations"
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name[:-4], (folder / name).read_text()) for name in names]


class Row:
    """A validated row of ``buffers``."""

    def __init__(self, values):
        name = values.get("name")
        if not isinstance(name, str):
            raise Corrupted(f"The registry has a row whose name is not text ({name!r}); remove it with sqlite3.")

        def damaged(column, expected):
            return Corrupted(f'The registry row of buffer "{name}" is damaged: {column} is {values.get(column)!r}, not {expected}; remove the buffer (cbuff rm) to clean it up.')

        def integer(column, low, high, optional=False):
            value = values.get(column)
            if value is None and optional:
                return None
            if type(value) is not int or not low <= value <= high:
                raise damaged(column, f"an integer from {low} to {high}")
            return value

        def text(column, optional=False):
            value = values.get(column)
            if value is None and optional:
                return None
            if not isinstance(value, str):
                raise damaged(column, "text")
            return value

        self.name = name
        self.item_size = integer("item_size", 1, F.MAX_ITEM_SIZE)
        self.length = integer("length", 2, F.MAX_LENGTH)
        policy = text("policy")
        if policy not in F.POLICIES:
            raise damaged("policy", "'overwrite' or 'block'")
        self.policy = F.POLICIES[policy]
        if text("file") != name + ".ring":
            raise damaged("file", f'"{name}.ring"')
        self.format_version = integer("format_version", 1, 0xFFFFFFFF)
        self.created_at = text("created_at")
        self.writer_pid = integer("writer_pid", 1, 0x7FFFFFFF, optional=True)
        self.writer_since = text("writer_since", optional=True)
        self.alignment = integer("item_alignment", 1, F.MAX_ALIGNMENT, optional=True)
        self.type_name = text("type_name", optional=True)
        fields = text("fields", optional=True)
        kind = values.get("kind", "items")
        try:
            self.fields = F.FieldLayout.from_json(fields) if fields is not None else None
            if kind == "messages":
                self.layout = F.Layout.message_ring(integer("capacity", F.MIN_CAPACITY, F.MAX_CAPACITY),
                                                    integer("max_message", 0, 0xFFFFFFFF), self.policy)
                if (self.item_size, self.length) != (8, self.layout.length) or fields or self.alignment or self.type_name:
                    raise damaged("item_size", "8, with length capacity / 8 and no item description")
            elif kind == "items":
                if values.get("capacity") is not None or values.get("max_message") is not None:
                    raise damaged("capacity", "NULL (a buffer of items has no message capacity)")
                self.layout = F.Layout.items(self.item_size, self.length, self.policy, self.alignment, self.type_name, self.fields)
            else:
                raise damaged("kind", "'items' or 'messages'")
        except Exception as error:
            if isinstance(error, Corrupted):
                raise
            raise Corrupted(f'The registry row of buffer "{name}" is damaged: {error}') from None


class Registry:
    """An open registry: ``write(body)`` runs ``body(connection)`` in one BEGIN IMMEDIATE."""

    def __init__(self, directory, mode, timeout):
        self.directory, self.timeout = directory, timeout
        self.path = os.path.join(directory, REGISTRY)
        lock = os.open(os.path.join(directory, LOCK), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimedOut(f"The registry lock {directory}/{LOCK} stayed held by another process for {timeout} s.") from None
                    time.sleep(0.005)
            if not os.path.exists(self.path):
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode))
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        finally:
            os.close(lock)      # releases the flock

    def _migrate(self):
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
        applied = {row[0] for row in db.execute("SELECT identifier FROM grdb_migrations")}
        known = migrations()
        if applied - {identifier for identifier, _ in known}:
            raise Corrupted(f"The registry {self.path} was written by a newer version of cbuff (it has migrations this version does not know); use that version.")
        pending = [(identifier, sql) for identifier, sql in known if identifier not in applied]
        if not pending:
            return
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode = WAL")
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
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self):
        self.db.close()

    def write(self, body):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            result = body(self.db)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return result

    def row(self, name, db=None):
        cursor = (db or self.db).execute("SELECT * FROM buffers WHERE name = ?", (name,))
        values = cursor.fetchone()
        if values is None:
            return None
        return Row(dict(zip([c[0] for c in cursor.description], values)))

    def rows(self):
        cursor = self.db.execute("SELECT * FROM buffers ORDER BY name")
        columns = [c[0] for c in cursor.description]
        return [Row(dict(zip(columns, values))) for values in cursor.fetchall()]

    @staticmethod
    def insert(db, name, layout, pid, start):
        db.execute("""INSERT INTO buffers (name, item_size, length, policy, file, format_version,
                                           item_alignment, type_name, fields, kind, capacity, max_message,
                                           writer_pid, writer_start_time, writer_since)
                      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))""",
                   (name, layout.item_size, layout.length, "block" if layout.policy else "overwrite", name + ".ring",
                    layout.version, layout.alignment, layout.type_name, layout.fields.json if layout.fields else None,
                    "messages" if layout.messages else "items", layout.capacity, layout.max_message,
                    pid, _signed(start)))

    def record_writer(self, name, pid, start):
        self.write(lambda db: db.execute("UPDATE buffers SET writer_pid = ?, writer_start_time = ?, writer_since = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE name = ?",
                                         (pid, _signed(start), name)))

    def record_reader(self, buffer, reader, slot):
        self.write(lambda db: db.execute("""INSERT INTO readers (buffer, name, slot, pid, opened_at)
                                            VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                                            ON CONFLICT (buffer, name) DO UPDATE SET slot = excluded.slot, pid = excluded.pid, opened_at = excluded.opened_at""",
                                         (buffer, reader, slot, os.getpid())))

    def delete(self, db, name):
        db.execute("DELETE FROM buffers WHERE name = ?", (name,))


def _signed(value):
    if value is None:
        return None
    return value - (1 << 64) if value >= 1 << 63 else value


def _statements(sql):
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
