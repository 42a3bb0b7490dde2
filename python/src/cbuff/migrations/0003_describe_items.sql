-- Registry schema, version 3: what a buffer's items are (ring file format version 3).
-- Each column copies what the ring file's header records; the file is the truth, and a row
-- that disagrees with its file is reported as damaged when the buffer is opened.
-- NULL in all three for buffers of format version 2 (bytes or integers, nothing more said).
-- The item's alignment: a power of two from 1 to 4096 (slots are never less than 8-aligned).
ALTER TABLE buffers ADD COLUMN item_alignment INTEGER CHECK (item_alignment IS NULL OR item_alignment BETWEEN 1 AND 4096);
-- The name of the item's type, as its creator gave it (`Tick`), 1 to 60 bytes.
ALTER TABLE buffers ADD COLUMN type_name TEXT;
-- The item's fields in C layout, as JSON: [{"name":"time","type":"u64","offset":0}, ...],
-- types u8-u64, i8-i64, f32, f64, charN, bytesN. Query it with json_each(fields).
ALTER TABLE buffers ADD COLUMN fields TEXT;
