"""The ring file format, versions 2, 3 and 4: every constant and offset in one place, the header's
encoding and validation, and field layouts. Written from the repository's format document,
``Sources/SharedRing/SharedRing.docc/RingFileFormat.md``; ``tests/test_format.py`` pins the golden
bytes the Swift tests pin."""

import re
import struct
import zlib
from typing import Any, Callable, Optional, Tuple

from .errors import Corrupted, InvalidArgument

MAGIC = b"CBUFRING"
VERSIONS = (2, 3, 4)
HEADER_SIZE = 4096
DESCRIBED_BYTES = 1024          # lines 0-15: what a reader validates first
READER_CAPACITY = 24
READER_RECORD_SIZE = 128
READER_TABLE = 1024
BYTE_ORDER_MARK = 0x01020304
MAX_ITEM_SIZE = 1 << 24
MAX_LENGTH = 1 << 32
MAX_FILE_SIZE = 1 << 40
# The largest value a counter of a ring file may hold (published, claimed, a cursor, a message
# sequence): 2^63 - 1, as the Swift side's Limits.maxCount. Beyond it is damage; a push that would
# pass it is refused. No counter ever wraps.
MAX_COUNT = (1 << 63) - 1
LAST_WRITE_STAMP_SHIFT = 10     # the writer stamps lastWriteAt when a publish crosses 2^10 positions

# Line 0: geometry and checksum.
OFF_MAGIC, OFF_VERSION, OFF_HEADER_SIZE = 0, 8, 12
OFF_ITEM_SIZE, OFF_LENGTH, OFF_STRIDE, OFF_POLICY = 16, 24, 32, 36
OFF_READER_CAPACITY, OFF_BOM, OFF_FILE_SIZE, OFF_CHECKSUM = 40, 44, 48, 56
# Line 1: the creation time; the `block` policy's tether timeout (ns, 0: off; see ``SpaceGate``).
OFF_CREATED_AT, OFF_TETHER = 64, 72
OFF_WRITER_BOOT, OFF_EARLIER_BOOT_BELOW = 80, 96   # 16 bytes: the last writer's boot id; u64: unproven sequences of an earlier boot below it
MAX_TETHER_NS = 30 * 86_400 * 1_000_000_000      # 30 days: a header that says more is damage
# The sync policy, written once at creation (zero in earlier files: none): u32 kind, u32 zero,
# u64 parameter (N for every N, the interval in ns for interval, else 0). RingSyncPolicy in Swift.
OFF_SYNC_POLICY, OFF_SYNC_RESERVED, OFF_SYNC_PARAMETER = 104, 108, 112
SYNC_NONE, SYNC_EACH_BATCH, SYNC_EVERY_N, SYNC_INTERVAL = 0, 1, 2, 3
SYNC_MAX_COUNT = 1 << 40
SYNC_MIN_INTERVAL_NS, SYNC_MAX_INTERVAL_NS = 1_000_000, 3_600_000_000_000
SYNC_USAGE = f"give none, each-batch, every:N (N from 1 to {SYNC_MAX_COUNT}) or interval:MS (1 to 3600000 milliseconds)"


def sync_policy_problem(kind: int, parameter: int) -> Optional[str]:
    """Why a sync policy's words say no policy (naming the byte), or None."""
    if kind not in (SYNC_NONE, SYNC_EACH_BATCH, SYNC_EVERY_N, SYNC_INTERVAL):
        return f"its sync policy (byte 104) is {kind}; a writer records only 0 (none), 1 (each batch), 2 (every N) or 3 (interval)"
    if kind in (SYNC_NONE, SYNC_EACH_BATCH) and parameter != 0:
        return f"its sync policy's parameter (byte 112) is {parameter}, where policy {sync_policy_text(kind, 0)} takes none (0)"
    if kind == SYNC_EVERY_N and not 1 <= parameter <= SYNC_MAX_COUNT:
        return f"its sync policy's parameter (byte 112) is {parameter}: a sync every N needs N from 1 to {SYNC_MAX_COUNT}"
    if kind == SYNC_INTERVAL and not SYNC_MIN_INTERVAL_NS <= parameter <= SYNC_MAX_INTERVAL_NS:
        return f"its sync policy's parameter (byte 112) is {parameter}: a sync interval must be from 1 ms to 1 hour ({SYNC_MIN_INTERVAL_NS} to {SYNC_MAX_INTERVAL_NS} ns)"
    return None


def sync_policy_text(kind: int, parameter: int) -> str:
    """``none``, ``each-batch``, ``every:N``, ``interval:MS``: the command line's spelling, which
    ``inspect`` shows (Swift's ``RingSyncPolicy.description``)."""
    if kind == SYNC_EACH_BATCH:
        return "each-batch"
    if kind == SYNC_EVERY_N:
        return f"every:{parameter}"
    if kind == SYNC_INTERVAL:
        return f"interval:{parameter // 1_000_000}" if parameter % 1_000_000 == 0 else f"interval:{parameter / 1e6}"
    return "none"


def parse_sync_policy(text: Any) -> Tuple[int, int]:
    """The (kind, parameter) ``text`` names (see ``sync_policy_text``); InvalidArgument otherwise."""
    if not isinstance(text, str):
        raise InvalidArgument(f"Sync policy {text!r} is not a string: {SYNC_USAGE}.")
    head, colon, tail = text.partition(":")
    kind, parameter = -1, 0
    if not colon and head in ("none", "each-batch"):
        kind = SYNC_NONE if head == "none" else SYNC_EACH_BATCH
    elif colon and head in ("every", "interval") and tail.isdigit() and tail.isascii():
        kind = SYNC_EVERY_N if head == "every" else SYNC_INTERVAL
        parameter = int(tail) * (1 if head == "every" else 1_000_000)
    if kind < 0 or sync_policy_problem(kind, parameter) is not None:
        raise InvalidArgument(f"Sync policy {text!r} is not one: {SYNC_USAGE}.")
    return kind, parameter
# Line 2: the writer's.
OFF_PUBLISHED, OFF_LAST_WRITE_AT, OFF_WRITER_PID, OFF_WRITER_STATE = 128, 136, 144, 148
OFF_WRITER_START_TIME, OFF_WRITER_GENERATION, OFF_GATE_VERSION = 152, 160, 168
OFF_CLAIMED_OVERWRITE, OFF_CLAIMED_BLOCK = 176, 320
# Line 3: readers' wake-up line. Line 4: the block policy's.
OFF_NOTIFY, OFF_WAITERS = 192, 196
OFF_SPACE, OFF_WRITER_WAITING, OFF_READERS_VERSION = 256, 260, 264
# Line 5, message rings: the writer's tail, last record start, messages published.
OFF_MESSAGE_TAIL, OFF_LAST_RECORD_START, OFF_PUBLISHED_MESSAGES = 328, 336, 344
OFF_DURABLE = 352               # u64, both kinds: every sequence below it reached stable storage (a writer's sync)
# Lines 6-15, version 3: the item description.
OFF_KIND, OFF_ALIGNMENT, OFF_FIELD_COUNT, OFF_TYPE_NAME_LENGTH, OFF_TYPE_NAME = 384, 388, 392, 396, 400
OFF_MESSAGE_CAPACITY, OFF_MAX_MESSAGE, OFF_MESSAGE_FLAGS = 464, 472, 476
OFF_FIELDS, FIELD_RECORD_SIZE, OFF_DESCRIBED_CHECKSUM = 512, 32, 1016

# The same offsets as indexes of the mapping's u64 (W_) and u32 (H_) views, for the hot paths.
W_DATA, W_PUBLISHED, W_LAST_WRITE_AT = HEADER_SIZE // 8, OFF_PUBLISHED // 8, OFF_LAST_WRITE_AT // 8
H_WAITERS, H_WRITER_WAITING, H_READERS_VERSION = OFF_WAITERS // 4, OFF_WRITER_WAITING // 4, OFF_READERS_VERSION // 4

POLICY_OVERWRITE, POLICY_BLOCK = 0, 1
POLICIES = {"overwrite": POLICY_OVERWRITE, "block": POLICY_BLOCK}
STATE_NEVER, STATE_ATTACHED, STATE_CLOSED = 0, 1, 2


def check_writer_state(state: int, path: str) -> int:
    """``state``, the header's writer state word, if a writer could have written it; else
    ``Corrupted`` naming the word (never read as "never attached")."""
    if state not in (STATE_NEVER, STATE_ATTACHED, STATE_CLOSED):
        raise Corrupted(f"Ring file {path} is damaged: its writer state word (byte 148) holds {state}; "
                        "a writer records only 0 (never attached), 1 (attached) or 2 (closed).")
    return state
KIND_ITEMS, KIND_MESSAGES = 0, 1

# Reader table records: cursor at 0 (+8 for message rings: 1 + the expected sequence), the
# tether's words at 16 (untethered flag), 20 (how many times untethered) and 24 (when, ns since
# the epoch), state at 64, PID 68, start time 72, name length 80, name 84 (44 bytes).
REC_CURSOR, REC_SEQUENCE, REC_STATE, REC_PID, REC_START_TIME, REC_NAME_LENGTH, REC_NAME = 0, 8, 64, 68, 72, 80, 84
REC_UNTETHERED, REC_UNTETHER_COUNT, REC_UNTETHERED_AT = 16, 20, 24
READER_NAME_MAX = 44
# A reader name, as registration accepts it (and as a registered record must still hold it).
READER_NAME_RULE = re.compile(r"[A-Za-z0-9_:@+\-][A-Za-z0-9._:@+\-]{0,43}\Z")
TABLE_LOCK_BYTE = 64
WRITER_LOCK_BYTE = 0

# Message records: word 0 = length | kind << 32, then sequence, then time, then (version 4 only)
# the check word, then the bytes. The file's version decides which, here only
# (``record_header_words``; the Swift side's MessageRecordFormat).
RECORD_MESSAGE, RECORD_PADDING = 1, 2
# Version 4 only: a lost record, one word ``words | 3 << 32`` that a recovery after a machine crash
# wrote over damaged messages (RingFileFormat.md, "Lost records"): passed as padding is, the jump
# in sequence after it counted as missed (I9).
RECORD_LOST = 3
# Line 5, version-4 message rings, written by a recovery: when it ran (ns), the allowance B of I4
# (the sequences every recovery skipped), the messages the last one lost (u32), its spans (u32).
OFF_RECOVERED_AT, OFF_SEQUENCE_ALLOWANCE, OFF_RECOVERY_LOST, OFF_RECOVERY_RANGES = 360, 368, 376, 380
MESSAGES_VERSION = 4            # new rings of messages: records with a check word


def record_header_words(version: int) -> int:
    """Words before a message's bytes in a ring of messages of format ``version``: 3 in version
    3; 4 in version 4, whose word 3 is the record's check (``record_check``)."""
    return 4 if version >= 4 else 3


def record_check(header: "bytes | memoryview", body: "bytes | memoryview") -> int:
    """The check word of a version-4 message record: zlib's CRC-32 of its bytes 0-23 (length and
    kind, sequence, time), then of its message (RingFileFormat.md, "Message records")."""
    return zlib.crc32(body, zlib.crc32(header))
MIN_CAPACITY, MAX_CAPACITY = 4096, 1 << 35

MAX_FIELDS, MAX_FIELD_NAME, MAX_ARRAY = 14, 23, 65535
MAX_ALIGNMENT, MAX_TYPE_NAME = 4096, 60
RESERVED_FIELD_NAME = "sequence"
# Field type codes: name -> (code, width, struct letter).
SCALARS = {"u8": (1, 1, "B"), "u16": (2, 2, "H"), "u32": (3, 4, "I"), "u64": (4, 8, "Q"),
           "i8": (5, 1, "b"), "i16": (6, 2, "h"), "i32": (7, 4, "i"), "i64": (8, 8, "q"),
           "f32": (9, 4, "f"), "f64": (10, 8, "d")}
CODE_BYTES, CODE_CHARS = 11, 12
_NAME_RULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,22}\Z")


def fnv1a64(data: "bytes | bytearray | memoryview") -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


MAX_CHECKED_LENGTH = 1 << 30   # a ring of items of version 4: stamps of 31 bits tell older from newer


def _crc32c_tables() -> "tuple[list[int], ...]":
    """Slice-by-8 tables of CRC32C (Castagnoli, reflected 0x82F63B78): table k is the register's
    change for a byte followed by k zero bytes (as the Swift side's crc32c_tables.c)."""
    first = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        first.append(crc)
    tables = [first]
    for _ in range(7):
        previous = tables[-1]
        tables.append([(previous[b] >> 8) ^ first[previous[b] & 255] for b in range(256)])
    return tuple(tables)


_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7 = _crc32c_tables()


def crc32c(data: "bytes | bytearray | memoryview", value: int = 0) -> int:
    """CRC32C of ``data`` continuing one whose result was ``value`` (0 to start): the running-value
    form of the usual libraries (``crc32c.crc32c(data, value)``). Pure Python, eight bytes a step."""
    crc = ~value & 0xFFFFFFFF
    view = memoryview(data).cast("B")
    whole = len(view) & ~7
    for (word,) in struct.iter_unpack("<Q", view[:whole]):
        x = word ^ crc
        crc = (_C7[x & 255] ^ _C6[(x >> 8) & 255] ^ _C5[(x >> 16) & 255] ^ _C4[(x >> 24) & 255]
               ^ _C3[(x >> 32) & 255] ^ _C2[(x >> 40) & 255] ^ _C1[(x >> 48) & 255] ^ _C0[x >> 56])
    for byte in view[whole:]:
        crc = _C0[(crc ^ byte) & 255] ^ (crc >> 8)
    return ~crc & 0xFFFFFFFF


def slot_stamp(sequence: int) -> int:
    """The low half of the check word of ``sequence`` in a ring of items of version 4: its low 31
    bits and the "written" bit."""
    return (sequence & 0x7FFFFFFF) | 0x80000000


def slot_word(sequence: int, item: "bytes | bytearray | memoryview") -> int:
    """The check word of an item slot of version 4 holding ``item`` under ``sequence``: the stamp,
    then the CRC32C of the item continuing ``(sequence >> 31) mod 2^32`` (RingFileFormat.md, "Item
    slots of version 4")."""
    if len(item) == 8:
        return slot_word8(sequence, int.from_bytes(item, "little"))
    return crc32c(item, (sequence >> 31) & 0xFFFFFFFF) << 32 | slot_stamp(sequence)


def slot_word8(sequence: int, value: int) -> int:
    """``slot_word`` of an 8-byte item whose bytes, read little-endian, are ``value``: one
    slice-by-8 step over the int itself, no bytes object (the one-item paths of version 4)."""
    x = value ^ (~(sequence >> 31) & 0xFFFFFFFF)
    crc = (_C7[x & 255] ^ _C6[(x >> 8) & 255] ^ _C5[(x >> 16) & 255] ^ _C4[(x >> 24) & 255]
           ^ _C3[(x >> 32) & 255] ^ _C2[(x >> 40) & 255] ^ _C1[(x >> 48) & 255] ^ _C0[x >> 56])
    return (~crc & 0xFFFFFFFF) << 32 | (sequence & 0x7FFFFFFF) | 0x80000000


_numpy_tables: Any = None


def slot_words8_array(numpy: Any, first: int, values: Any) -> Any:
    """``slot_word8`` of many 8-byte items at once, with numpy (optional): the words of items
    ``values`` (a uint64 array) under sequences ``first``, ``first + 1``, … as a uint64 array.
    The slice-by-8 step over whole arrays: some twenty array operations a batch, whatever its
    size, where the loop pays each item's table lookups in the interpreter."""
    global _numpy_tables
    if _numpy_tables is None:
        _numpy_tables = numpy.array([_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7], dtype=numpy.uint64)
    tables = _numpy_tables
    u64 = numpy.uint64
    sequences = numpy.arange(first, first + len(values), dtype=u64)
    x = values.astype(u64, copy=False) ^ (~(sequences >> u64(31)) & u64(0xFFFFFFFF))
    byte = u64(255)
    crc = (tables[7][x & byte] ^ tables[6][(x >> u64(8)) & byte] ^ tables[5][(x >> u64(16)) & byte] ^ tables[4][(x >> u64(24)) & byte]
           ^ tables[3][(x >> u64(32)) & byte] ^ tables[2][(x >> u64(40)) & byte] ^ tables[1][(x >> u64(48)) & byte] ^ tables[0][x >> u64(56)])
    return ((~crc & u64(0xFFFFFFFF)) << u64(32)) | (sequences & u64(0x7FFFFFFF)) | u64(0x80000000)


def round_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


# --- Field layouts --------------------------------------------------------------------------

class Field:
    """One field: its name, type text (``u64``, ``char8``, ``bytes16``) and offset."""

    __slots__ = ("count", "kind", "name", "offset", "type", "width")

    def __init__(self, name: str, type: str, offset: int) -> None:
        self.name, self.type, self.offset = name, type, offset
        self.kind, self.count, self.width = parse_type(type)

    @property
    def size(self) -> int:
        return self.width * self.count

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and (self.name, self.type, self.offset) == (other.name, other.type, other.offset)

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.type!r}, {self.offset})"


def parse_type(text: str) -> "tuple[str, int, int]":
    """``u64`` -> ("u64", 1, 8); ``char8`` -> ("chars", 8, 1); ``bytes16`` -> ("bytes", 16, 1)."""
    if text in SCALARS:
        return text, 1, SCALARS[text][1]
    for prefix, kind in (("char", "chars"), ("bytes", "bytes")):
        digits = text[len(prefix):]
        if text.startswith(prefix) and digits.isdigit() and digits[0] != "0" and len(digits) <= 5 and int(digits) <= MAX_ARRAY:
            return kind, int(digits), 1
    raise InvalidArgument(f"unknown field type {text!r}: use u8, u16, u32, u64, i8, i16, i32, i64, f32, f64, charN or bytesN")


class FieldLayout:
    """Fields in C layout: each at a multiple of its alignment, the item padded to the largest."""

    def __init__(self, fields: "list[Field]") -> None:
        if not fields:
            raise InvalidArgument("Invalid field layout: it has no fields.")
        if len(fields) > MAX_FIELDS:
            raise InvalidArgument(f"Invalid field layout: it has {len(fields)} fields; a buffer records at most {MAX_FIELDS}.")
        end, alignment, names = 0, 1, set()
        for field in fields:
            if not _NAME_RULE.match(field.name) or field.name == RESERVED_FIELD_NAME:
                raise InvalidArgument(f"Invalid field name {field.name!r}: 1 to 23 letters, digits or underscores, not starting with a digit, and not 'sequence'.")
            if field.name in names:
                raise InvalidArgument(f"Invalid field layout: field {field.name!r} appears twice.")
            names.add(field.name)
            expected = round_up(end, field.width)
            if field.offset != expected:
                raise InvalidArgument(f"Invalid field layout: field {field.name!r} is at offset {field.offset}, where C's layout puts it at {expected}.")
            end = expected + field.size
            alignment = max(alignment, field.width)
        self.fields = list(fields)
        self.alignment = alignment
        self.size = round_up(end, alignment)
        if self.size > MAX_ITEM_SIZE:
            raise InvalidArgument(f"Invalid field layout: items of {self.size} bytes; the most is {MAX_ITEM_SIZE}.")

    @classmethod
    def parse(cls, spec: str) -> "FieldLayout":
        """``time:u64,price:f64,qty:u32`` (spaces around names and types ignored)."""
        declared = []
        for piece in spec.split(","):
            parts = [part.strip() for part in piece.split(":")]
            if len(parts) != 2 or not parts[0]:
                raise InvalidArgument(f"Invalid field {piece!r}: write each field as name:type, separated by commas (time:u64,price:f64,sym:char8).")
            declared.append((parts[0], parts[1]))
        return cls.declaring(declared)

    @classmethod
    def declaring(cls, declared: "list[tuple[str, str]]") -> "FieldLayout":
        offset, fields = 0, []
        for name, type in declared:
            _, count, width = parse_type(type)
            offset = round_up(offset, width)
            fields.append(Field(name, type, offset))
            offset += width * count
        return cls(fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldLayout) and self.fields == other.fields

    def __str__(self) -> str:
        return ",".join(f"{f.name}:{f.type}" for f in self.fields)

    def __repr__(self) -> str:
        return f"FieldLayout.parse({str(self)!r})"

    @property
    def json(self) -> str:
        """As the registry's ``fields`` column holds it (no spaces, keys in this order)."""
        return "[" + ",".join(f'{{"name":"{f.name}","type":"{f.type}","offset":{f.offset}}}' for f in self.fields) + "]"

    @classmethod
    def from_json(cls, text: str) -> "FieldLayout":
        import json
        try:
            value = json.loads(text)
            fields = [Field(entry["name"], entry["type"], entry["offset"]) for entry in value
                      if isinstance(entry, dict) and set(entry) == {"name", "type", "offset"}
                      and isinstance(entry["name"], str) and isinstance(entry["type"], str) and type(entry["offset"]) is int]
            if not isinstance(value, list) or len(fields) != len(value):
                raise ValueError("not an array of {name, type, offset}")
        except (ValueError, TypeError, KeyError) as error:
            raise InvalidArgument(f"Invalid field layout JSON: {error}.") from None
        return cls(fields)

    def numpy_dtype(self) -> Any:
        """The numpy structured dtype of these items (``charN`` as ``SN``, ``bytesN`` as ``VN``)."""
        import numpy
        formats = []
        for field in self.fields:
            if field.kind == "chars":
                formats.append(f"S{field.count}")
            elif field.kind == "bytes":
                formats.append(f"V{field.count}")
            else:
                formats.append("<" + SCALARS[field.kind][2])
        return numpy.dtype({"names": [f.name for f in self.fields], "formats": formats,
                            "offsets": [f.offset for f in self.fields], "itemsize": self.size})

    def decode(self, item: bytes, sequence: Optional[int] = None) -> "dict[str, Any]":
        """An item's bytes as a dict of its fields (text up to its first NUL, bytes as bytes)."""
        out: dict[str, Any] = {} if sequence is None else {"sequence": sequence}
        for field in self.fields:
            raw = item[field.offset:field.offset + field.size]
            if field.kind == "chars":
                out[field.name] = bytes(raw).split(b"\0", 1)[0].decode("utf-8", "replace")
            elif field.kind == "bytes":
                out[field.name] = bytes(raw)
            else:
                out[field.name] = struct.unpack("<" + SCALARS[field.kind][2], raw)[0]
        return out

    def encode(self, values: "dict[str, Any]") -> bytes:
        """A dict of every field (and at most a ``sequence`` key, ignored) as the item's bytes."""
        if not isinstance(values, dict):
            raise InvalidArgument(f"an item of fields {self} is a dict, not {type(values).__name__}")
        unknown = set(values) - {f.name for f in self.fields} - {RESERVED_FIELD_NAME}
        if unknown:
            raise InvalidArgument(f"unknown field {sorted(unknown)[0]!r} (the fields are {self})")
        item = bytearray(self.size)
        for field in self.fields:
            if field.name not in values:
                raise InvalidArgument(f"field {field.name!r} is missing")
            value = values[field.name]
            if field.kind == "chars":
                data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
                if len(data) > field.count or b"\0" in data:
                    from .errors import ValueDoesNotFit
                    raise ValueDoesNotFit(f"field {field.name!r} ({field.type}) holds at most {field.count} bytes of text without NUL")
                item[field.offset:field.offset + len(data)] = data
            elif field.kind == "bytes":
                data = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
                if len(data) != field.count:
                    from .errors import ValueDoesNotFit
                    raise ValueDoesNotFit(f"field {field.name!r} ({field.type}) needs exactly {field.count} bytes")
                item[field.offset:field.offset + field.count] = data
            else:
                try:
                    struct.pack_into("<" + SCALARS[field.kind][2], item, field.offset, value)
                except (struct.error, TypeError) as error:
                    from .errors import ValueDoesNotFit
                    raise ValueDoesNotFit(f"field {field.name!r} ({field.type}) cannot hold {value!r}: {error}") from None
        return bytes(item)


# --- Headers --------------------------------------------------------------------------------

def _is_integer(value: Any) -> bool:
    """An ``int`` that is not a ``bool`` (True is no item size)."""
    return isinstance(value, int) and not isinstance(value, bool)


class Layout:
    """A ring file's geometry: item size, length (positions), policy, stride, file size, and what
    version 3 says (item alignment, type name, fields; or a message ring's capacity)."""

    def __init__(self, item_size: int, length: int, policy: int, alignment: Optional[int] = None,
                 type_name: Optional[str] = None, fields: Optional[FieldLayout] = None,
                 capacity: Optional[int] = None, max_message: Optional[int] = None, precise_time: bool = False,
                 version: Optional[int] = None, checked: bool = False) -> None:
        self.item_size, self.length, self.policy = item_size, length, policy
        # The tether timeout in ns (0: off), only ever non-zero under `block` (``tethered``).
        self.tether_ns = 0
        # The sync policy (``syncing``): kind and parameter, as bytes 104 and 112 hold them.
        self.sync_kind, self.sync_parameter = SYNC_NONE, 0
        self.alignment, self.type_name, self.fields = alignment, type_name, fields
        self.capacity, self.max_message, self.precise_time = capacity, max_message, precise_time
        self.messages = capacity is not None
        plain = alignment is None and type_name is None and fields is None and not self.messages
        self.version = 4 if checked else version or (2 if plain else 3)
        slot_alignment = max(8, alignment or 8)
        # Version 4's items: a check word after each, at ``check_word_offset`` in its slot.
        self.check_word_offset: Optional[int] = round_up(item_size, 8) if checked else None
        self.stride = round_up(item_size if self.check_word_offset is None else self.check_word_offset + 8, slot_alignment)
        self.file_size = HEADER_SIZE + length * self.stride

    @classmethod
    def items(cls, item_size: int, length: int, policy: int, alignment: Optional[int] = None,
              type_name: Optional[str] = None, fields: Optional[FieldLayout] = None, checked: bool = False) -> "Layout":
        """A ring of items; of format version 4, a check word in every slot, if ``checked``."""
        if not _is_integer(item_size) or not 1 <= item_size <= MAX_ITEM_SIZE:
            raise InvalidArgument(f"Item size {item_size} is out of range: it must be between 1 and {MAX_ITEM_SIZE} bytes.")
        if not _is_integer(length) or not 2 <= length <= MAX_LENGTH:
            raise InvalidArgument(f"Length {length} is out of range: a buffer holds between 2 and {MAX_LENGTH} items.")
        if checked and length > MAX_CHECKED_LENGTH:
            raise InvalidArgument(f"Length {length} is out of range for a buffer whose items carry check words: it holds between 2 and {MAX_CHECKED_LENGTH} items (a buffer created with integrity unchecked, no check words, holds up to {MAX_LENGTH}).")
        if alignment is not None and (alignment < 1 or alignment > MAX_ALIGNMENT or alignment & (alignment - 1)):
            raise InvalidArgument(f"Item alignment {alignment} is not a power of two from 1 to {MAX_ALIGNMENT}.")
        if type_name is not None and not (0 < len(type_name.encode()) <= MAX_TYPE_NAME and type_name.isprintable()):
            raise InvalidArgument(f"Item type name {type_name!r} must be 1 to {MAX_TYPE_NAME} bytes of printable UTF-8.")
        if fields is not None:
            if fields.size != item_size:
                raise InvalidArgument(f"The fields {fields} make items of {fields.size} bytes, not {item_size}.")
            if alignment is not None and alignment != fields.alignment:
                raise InvalidArgument(f"The fields {fields} are aligned to {fields.alignment} bytes, not the {alignment} given.")
            alignment = fields.alignment
        layout = cls(item_size, length, policy, alignment, type_name, fields, checked=checked)
        if layout.file_size > MAX_FILE_SIZE:
            raise InvalidArgument(f"A buffer of {length} items of {item_size} bytes would need more than {MAX_FILE_SIZE >> 30} GiB.")
        return layout

    @classmethod
    def message_ring(cls, capacity: int, max_message: int, policy: int, precise_time: bool = False,
                     version: int = MESSAGES_VERSION) -> "Layout":
        """A ring of messages of format ``version`` (4 for a new one; 3 as an earlier file says)."""
        if not _is_integer(capacity) or not MIN_CAPACITY <= capacity <= MAX_CAPACITY or capacity & (capacity - 1):
            raise InvalidArgument(f"Message capacity {capacity} is not a power of two from 4 KiB to 32 GiB.")
        header_bytes = 8 * record_header_words(version)
        largest = capacity // 2 - header_bytes
        if not _is_integer(max_message) or not 0 <= max_message <= largest:
            raise InvalidArgument(f"Largest message {max_message} is out of range: a ring of {capacity} bytes carries messages of at most {largest} bytes (half its capacity, less a {header_bytes}-byte header).")
        if not isinstance(precise_time, bool):
            raise InvalidArgument(f"precise_time {precise_time!r} is not True or False.")
        return cls(8, capacity // 8, policy, capacity=capacity, max_message=max_message, precise_time=precise_time, version=version)

    def tethered(self, seconds: Optional[float]) -> "Layout":
        """This layout with a tether timeout of ``seconds`` (None or 0: off): only under `block`,
        at most 30 days (the Swift library's ``RingLayout.tethered``)."""
        if seconds is None or seconds == 0:
            return self
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
            raise InvalidArgument(f"A tether timeout is a number of seconds from 0, not {seconds!r}.")
        if self.policy != POLICY_BLOCK:
            raise InvalidArgument("A tether timeout is for buffers of the block policy: under overwrite the writer never waits for a reader.")
        if seconds > MAX_TETHER_NS / 1e9:
            raise InvalidArgument(f"A tether timeout of {seconds} s is beyond the longest, {MAX_TETHER_NS // 86_400_000_000_000} days.")
        self.tether_ns = int(seconds * 1e9)
        return self

    def syncing(self, policy: str) -> "Layout":
        """This layout with sync policy ``policy`` (``none``, ``each-batch``, ``every:N``,
        ``interval:MS``; the Swift library's ``RingLayout.syncing``)."""
        self.sync_kind, self.sync_parameter = parse_sync_policy(policy)
        return self

    @property
    def sync_policy(self) -> str:
        return sync_policy_text(self.sync_kind, self.sync_parameter)

    @property
    def claimed_offset(self) -> int:
        return OFF_CLAIMED_BLOCK if self.policy == POLICY_BLOCK else OFF_CLAIMED_OVERWRITE

    def describes_same_items(self, other: "Layout") -> bool:
        return (self.alignment, self.type_name, self.fields, self.capacity, self.max_message) == \
               (other.alignment, other.type_name, other.fields, other.capacity, other.max_message)

    def encode(self, created_at: int) -> bytes:
        """The first 1024 bytes of a new ring file (every other byte is zero)."""
        header = bytearray(DESCRIBED_BYTES)
        header[0:8] = MAGIC
        struct.pack_into("<IIQQIIIIQ", header, OFF_VERSION, self.version, HEADER_SIZE, self.item_size, self.length,
                         self.stride, self.policy, READER_CAPACITY, BYTE_ORDER_MARK, self.file_size)
        struct.pack_into("<Q", header, OFF_CHECKSUM, fnv1a64(header[0:OFF_CHECKSUM]))
        struct.pack_into("<QQ", header, OFF_CREATED_AT, created_at, self.tether_ns)
        struct.pack_into("<IIQ", header, OFF_SYNC_POLICY, self.sync_kind, 0, self.sync_parameter)
        if self.version >= 3:
            if self.messages:
                struct.pack_into("<I", header, OFF_KIND, KIND_MESSAGES)
                struct.pack_into("<QII", header, OFF_MESSAGE_CAPACITY, self.capacity, self.max_message, 1 if self.precise_time else 0)
            else:
                name = (self.type_name or "").encode()
                fields = self.fields.fields if self.fields else []
                struct.pack_into("<IIII", header, OFF_KIND, KIND_ITEMS, self.alignment or 0, len(fields), len(name))
                header[OFF_TYPE_NAME:OFF_TYPE_NAME + len(name)] = name
                for index, field in enumerate(fields):
                    record = OFF_FIELDS + index * FIELD_RECORD_SIZE
                    encoded = field.name.encode()
                    header[record] = len(encoded)
                    header[record + 1:record + 1 + len(encoded)] = encoded
                    code = SCALARS[field.kind][0] if field.kind in SCALARS else (CODE_BYTES if field.kind == "bytes" else CODE_CHARS)
                    struct.pack_into("<BBHI", header, record + 24, code, 0, field.count, field.offset)
            struct.pack_into("<Q", header, OFF_DESCRIBED_CHECKSUM, fnv1a64(header[OFF_KIND:OFF_DESCRIBED_CHECKSUM]))
        return bytes(header)

    @classmethod
    def validate(cls, header: bytes, actual_size: int, path: str) -> "Layout":
        """Checks every field of a header against the others and the file's real size."""
        def corrupt(what: str) -> Corrupted:
            return Corrupted(f"Ring file {path} is damaged: {what}.")
        if actual_size < HEADER_SIZE or len(header) < DESCRIBED_BYTES:
            raise corrupt(f"it is {actual_size} bytes, shorter than the {HEADER_SIZE}-byte header")
        if header[0:8] != MAGIC:
            raise corrupt('it does not start with the magic number "CBUFRING"; it is not a cbuff ring file')
        version, header_size, item_size, length, stride, policy, readers, bom, file_size, checksum = \
            struct.unpack_from("<IIQQIIIIQQ", header, OFF_VERSION)
        if version not in VERSIONS:
            raise Corrupted(f"Ring file {path} has format version {version}; this library reads versions 2 to 4.")
        if checksum != fnv1a64(header[0:OFF_CHECKSUM]):
            raise corrupt("its header checksum does not match its contents")
        if bom != BYTE_ORDER_MARK or header_size != HEADER_SIZE or readers != READER_CAPACITY or policy not in (0, 1):
            raise corrupt("its byte-order mark, header size, reader capacity or policy is wrong")
        if not (1 <= item_size <= MAX_ITEM_SIZE and 2 <= length <= MAX_LENGTH):
            raise corrupt(f"its item size {item_size} or length {length} is out of range")
        try:
            if version >= 3:
                layout = cls._decode_description(header, version, item_size, length, policy, corrupt, path)
            else:
                layout = cls.items(item_size, length, policy)
        except InvalidArgument as error:
            raise corrupt(str(error).rstrip(".")) from None
        layout.version = version
        if stride != layout.stride or file_size != layout.file_size:
            raise corrupt(f"its stride {stride} or file size {file_size} does not follow from its geometry")
        if actual_size != layout.file_size:
            raise corrupt(f"it is {actual_size} bytes but its header says {layout.file_size} (truncated or extended)")
        # Line 1 is not covered by the checksum: the tether word is checked on its own, as Swift does.
        tether = struct.unpack_from("<Q", header, OFF_TETHER)[0]
        if tether and policy != POLICY_BLOCK:
            raise corrupt(f"it records a tether timeout ({tether} ns) although its policy is overwrite")
        if tether > MAX_TETHER_NS:
            raise corrupt(f"its tether timeout {tether} ns is beyond the longest, {MAX_TETHER_NS} ns")
        layout.tether_ns = tether
        sync_kind, sync_reserved, sync_parameter = struct.unpack_from("<IIQ", header, OFF_SYNC_POLICY)
        if sync_reserved:
            raise corrupt(f"its sync policy's reserved word (byte 108) holds {sync_reserved}, not 0")
        problem = sync_policy_problem(sync_kind, sync_parameter)
        if problem is not None:
            raise corrupt(problem)
        layout.sync_kind, layout.sync_parameter = sync_kind, sync_parameter
        # Line 2's writer state is a writer's word, outside the checksum, with a closed set of
        # values: anything else is damage naming the word (the Swift side's RecordedWriterState).
        check_writer_state(struct.unpack_from("<I", header, OFF_WRITER_STATE)[0], path)
        return layout

    @classmethod
    def _decode_description(cls, header: bytes, version: int, item_size: int, length: int, policy: int,
                            corrupt: Callable[[str], Corrupted], path: str) -> "Layout":
        if struct.unpack_from("<Q", header, OFF_DESCRIBED_CHECKSUM)[0] != fnv1a64(header[OFF_KIND:OFF_DESCRIBED_CHECKSUM]):
            raise corrupt("the checksum of its item description (bytes 384-1015) does not match them")
        kind, alignment, field_count, name_length = struct.unpack_from("<IIII", header, OFF_KIND)

        def zero(start: int, end: int, what: str) -> None:
            if any(header[start:end]):
                raise corrupt(f"{what} (bytes {start}-{end - 1}) should be zero")
        if kind == KIND_MESSAGES:
            zero(OFF_KIND + 4, OFF_MESSAGE_CAPACITY, "the item description of a message ring")
            zero(OFF_MESSAGE_FLAGS + 4, OFF_DESCRIBED_CHECKSUM, "the reserved bytes after its message geometry")
            capacity, max_message, flags = struct.unpack_from("<QII", header, OFF_MESSAGE_CAPACITY)
            if flags > 1:
                raise corrupt(f"its message flags {flags} are unknown")
            layout = cls.message_ring(capacity, max_message, policy, precise_time=flags == 1, version=version)
            if item_size != 8 or length != layout.length:
                raise corrupt("its line 0 does not say item size 8 and length capacity / 8")
            return layout
        if kind != KIND_ITEMS:
            raise corrupt(f"its kind {kind} is unknown")
        if field_count > MAX_FIELDS or name_length > MAX_TYPE_NAME:
            raise corrupt("its field count or type name length is out of range")
        zero(OFF_TYPE_NAME + name_length, OFF_MESSAGE_CAPACITY, "the bytes after its type name")
        zero(OFF_MESSAGE_CAPACITY, OFF_FIELDS, "its message geometry")
        zero(OFF_FIELDS + field_count * FIELD_RECORD_SIZE, OFF_DESCRIBED_CHECKSUM, "its unused field records")
        try:
            type_name = bytes(header[OFF_TYPE_NAME:OFF_TYPE_NAME + name_length]).decode() if name_length else None
        except UnicodeDecodeError:
            raise corrupt("its type name is not UTF-8") from None
        codes = {code: name for name, (code, _, _) in SCALARS.items()}
        fields = []
        for index in range(field_count):
            record = OFF_FIELDS + index * FIELD_RECORD_SIZE
            length_byte = header[record]
            code, reserved, count, offset = struct.unpack_from("<BBHI", header, record + 24)
            if not 1 <= length_byte <= MAX_FIELD_NAME or reserved or any(header[record + 1 + length_byte:record + 24]):
                raise corrupt(f"field record {index} is invalid")
            try:
                name = bytes(header[record + 1:record + 1 + length_byte]).decode()
            except UnicodeDecodeError:
                raise corrupt(f"field record {index} has an invalid name") from None
            if code in codes and count == 1:
                text = codes[code]
            elif code in (CODE_BYTES, CODE_CHARS) and count >= 1:
                text = ("bytes" if code == CODE_BYTES else "char") + str(count)
            else:
                raise corrupt(f"field record {index} has an unknown type {code}")
            fields.append(Field(name, text, offset))
        layout_fields = FieldLayout(fields) if fields else None
        return cls.items(item_size, length, policy, alignment or None, type_name, layout_fields, checked=version >= 4)
