-- Registry schema, version 5: a row names its ring file by more than its name.
-- When the ring file was created, in nanoseconds since the Unix epoch, exactly as its header
-- records it (offset 64, `createdAt`, written once at creation and never changed). A ring file
-- whose header says otherwise is not this buffer's file (another buffer's ring copied or renamed
-- into place, a restore of the wrong file) and is refused as damaged, never read or written.
-- NULL for buffers created before this version: their files are not tied.
ALTER TABLE buffers ADD COLUMN ring_created_ns INTEGER
    CHECK (ring_created_ns IS NULL OR (typeof(ring_created_ns) = 'integer' AND ring_created_ns > 0));
