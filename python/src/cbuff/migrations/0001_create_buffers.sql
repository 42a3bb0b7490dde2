-- Registry schema, version 1: one row per buffer.
-- A shipped migration is never edited: change the schema with a new, higher-numbered file.
CREATE TABLE buffers (
    -- The buffer's name: 1 to 200 bytes of [A-Za-z0-9._:@+-], not starting with '.'.
    name              TEXT    NOT NULL PRIMARY KEY,
    -- Bytes per item, and number of slots: the ring holds the `length` most recent items.
    item_size         INTEGER NOT NULL CHECK (item_size >= 1),
    length            INTEGER NOT NULL CHECK (length >= 2),
    -- What a push does when the ring is full: 'overwrite' the oldest item, or 'block'.
    policy            TEXT    NOT NULL DEFAULT 'overwrite' CHECK (policy IN ('overwrite', 'block')),
    -- The ring file, relative to the data directory.
    file              TEXT    NOT NULL UNIQUE,
    -- The ring file's format version (see docs/ring-file-format.md).
    format_version    INTEGER NOT NULL,
    -- When the buffer was created (UTC, ISO 8601).
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- The last process that became the writer, and its start time in clock ticks after boot
    -- (field 22 of /proc/PID/stat), so that a reused PID is not mistaken for the writer.
    -- Whether that writer is alive is decided by the lock it holds on the ring file, never by
    -- these columns alone. NULL until a writer attaches.
    writer_pid        INTEGER,
    writer_start_time INTEGER,
    -- When the last writer attached (UTC, ISO 8601).
    writer_since      TEXT
);
