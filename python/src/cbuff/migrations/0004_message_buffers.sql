-- Registry schema, version 4: buffers of variable-size messages (ring file format version 3, kind 1).
-- A message buffer's row keeps item_size and length as its ring file's line 0 has them (8, and
-- the data area's 8-byte words), so that the earlier columns stay NOT NULL and valid; `kind`
-- says how to read them, and `capacity` and `max_message` say what a message buffer is.
-- 'items' (a ring of fixed-size items) or 'messages' (a ring of variable-size messages).
ALTER TABLE buffers ADD COLUMN kind TEXT NOT NULL DEFAULT 'items' CHECK (kind IN ('items', 'messages'));
-- Messages only: bytes of the data area (a power of two), and the largest message in bytes.
ALTER TABLE buffers ADD COLUMN capacity INTEGER;
ALTER TABLE buffers ADD COLUMN max_message INTEGER;
