-- Registry schema, version 2: named readers.
-- A named reader's cursor lives in its buffer's ring file (record `slot` of the reader table);
-- this table lets scripts see which named readers exist. Whether one is alive is decided by the
-- lock its process holds on the ring file, never by `pid` alone.
CREATE TABLE readers (
    -- The buffer read, and the reader's name (unique per buffer).
    buffer     TEXT    NOT NULL REFERENCES buffers(name) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    -- Its record in the ring file's reader table (0-based).
    slot       INTEGER NOT NULL CHECK (slot >= 0),
    -- When it was first registered, and the last process that opened it.
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    pid        INTEGER,
    opened_at  TEXT,
    PRIMARY KEY (buffer, name)
);
