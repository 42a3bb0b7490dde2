"""The format against the golden bytes the Swift tests pin (RingFileTests, FieldLayoutTests)."""
import pathlib
import struct

import pytest

from cbuff import _format as F
from cbuff import _registry
from cbuff.errors import Corrupted, InvalidArgument

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]


def test_line_zero_has_the_swift_tests_golden_bytes():
    header = F.Layout.items(8, 16, F.POLICY_OVERWRITE).encode(created_at=0)
    golden = bytes.fromhex("4342554652494e47" "02000000" "00100000" "0800000000000000" "1000000000000000"
                           "08000000" "00000000" "18000000" "04030201" "8010000000000000")
    assert header[0:56] == golden
    assert struct.unpack_from("<Q", header, 56)[0] == 0x1DDEA5663BC765CF   # Swift's pinned checksum


def test_the_item_description_has_the_swift_tests_golden_bytes():
    fields = F.FieldLayout.parse("time:u64,sym:char8,qty:u32")
    header = F.Layout.items(24, 4, F.POLICY_OVERWRITE, alignment=8, type_name="Tick", fields=fields).encode(0)
    assert header[8:12] == b"\x03\0\0\0"
    assert header[384:400] == bytes([0, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0])
    assert header[400:405] == b"Tick\0"
    assert header[544:576] == bytes([3]) + b"sym" + bytes(20) + bytes([12, 0, 8, 0, 8, 0, 0, 0])
    assert not any(header[960:1016])
    assert F.Layout.validate(header + bytes(4096 - 1024 + 4 * 24), 4096 + 4 * 24, "t").fields == fields


def test_a_message_rings_header_has_the_swift_tests_golden_bytes():
    header = F.Layout.message_ring(65536, 1024, F.POLICY_BLOCK).encode(0)
    assert header[8:12] == b"\x04\0\0\0"                       # version 4: records with a check word
    version3 = F.Layout.message_ring(65536, 1024, F.POLICY_BLOCK, version=3).encode(0)
    assert version3[8:12] == b"\x03\0\0\0" and version3[384:] == header[384:]
    assert F.Layout.validate(version3 + bytes(4096 - 1024 + 65536), 4096 + 65536, "t").version == 3
    assert header[16:40] == bytes([8, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0])
    assert header[48:56] == bytes([0, 0x10, 1, 0, 0, 0, 0, 0])
    assert header[384:400] == bytes([1]) + bytes(15)
    assert header[464:476] == bytes([0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 0, 0])
    assert not any(header[476:1016])


@pytest.mark.parametrize("spec,size,offsets", [("time:u64,price:f64,qty:u32", 24, [0, 8, 16]),
                                               ("sym:char8,px:f32", 12, [0, 8]), ("a:u8,b:u16,c:u8,d:u32", 12, [0, 2, 4, 8])])
def test_fields_are_laid_out_as_c(spec, size, offsets):
    layout = F.FieldLayout.parse(spec)
    assert layout.size == size and [f.offset for f in layout.fields] == offsets
    assert F.FieldLayout.from_json(layout.json) == layout


@pytest.mark.parametrize("spec", ["", "time", "t:u65", "a:u8,a:u8", "9x:u8", "sequence:u64", "s:char0"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(InvalidArgument):
        F.FieldLayout.parse(spec)


@pytest.mark.parametrize("offset,byte", [(0, 0x58), (8, 1), (8, 9), (16, 9), (56, 0)])
def test_a_damaged_header_is_refused(offset, byte):
    header = bytearray(F.Layout.items(8, 16, F.POLICY_OVERWRITE).encode(0))
    header[offset] = byte
    with pytest.raises(Corrupted):
        F.Layout.validate(bytes(header), 4224, "t")


def test_the_packaged_migrations_are_the_repositorys():
    packaged = dict(_registry.migrations())
    repository = {path.stem: path.read_text() for path in (REPOSITORY / "migrations").glob("*.sql")}
    assert packaged == repository


# RingFileFormat.md's example record (pinned in the Swift suite too, RingTests' CRC32Tests): message
# 7, "hello", stamped 1,700,000,000,000,000,000 ns. Its bytes 0-23, and the check word zlib gives.
GOLDEN_RECORD_HEADER = bytes.fromhex("0500000001000000" "0700000000000000" "00002a36fe9c9717")
GOLDEN_RECORD_CHECK = 0x101ADF15


def test_the_golden_record_check():
    assert F.record_check(GOLDEN_RECORD_HEADER, b"hello") == GOLDEN_RECORD_CHECK
    assert struct.unpack("<IIQQ", GOLDEN_RECORD_HEADER) == (5, 1, 7, 1_700_000_000_000_000_000)
    assert F.record_header_words(4) == 4 and F.record_header_words(3) == 3


def test_a_file_that_says_version_4_items_without_their_slots_is_damaged():
    """A version-3 geometry relabelled 4: its stride and size lack the check words."""
    layout = F.Layout.items(24, 4, F.POLICY_OVERWRITE, fields=F.FieldLayout.parse("time:u64,price:f64,qty:u32"))
    layout.version = 4
    header = layout.encode(0)
    with pytest.raises(Corrupted, match="stride"):
        F.Layout.validate(header + bytes(4096 - 1024 + 4 * 24), 4096 + 4 * 24, "t")


def test_a_message_header_takes_32_bytes_in_version_4():
    with pytest.raises(InvalidArgument, match="less a 32-byte header"):
        F.Layout.message_ring(4096, 2017, F.POLICY_OVERWRITE)
    assert F.Layout.message_ring(4096, 2024, F.POLICY_OVERWRITE, version=3).max_message == 2024


def test_crc32c_and_the_slot_check_word_match_the_format_documents_examples():
    """RingFileFormat.md, "Item slots of version 4" (pinned in the Swift suite's CRC32CTests too)."""
    assert F.crc32c(b"123456789") == 0xE3069283
    item = bytes(range(1, 9))
    assert F.slot_word(0, item).to_bytes(8, "little") == bytes.fromhex("00000080811f8946")
    assert F.slot_word(5, item).to_bytes(8, "little") == bytes.fromhex("05000080811f8946")
    assert F.slot_word((1 << 31) + 5, item).to_bytes(8, "little") == bytes.fromhex("05000080a662b50f")
    # Every length around the 8-byte steps, against a bitwise CRC32C, continued from a value.
    def bitwise(data, value=0):
        crc = ~value & 0xFFFFFFFF
        for byte in data:
            crc ^= byte
            for _ in range(8):
                crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        return ~crc & 0xFFFFFFFF
    data = bytes((i * 37 + 11) & 255 for i in range(70))
    for length in range(70):
        assert F.crc32c(data[:length], 0x1234) == bitwise(data[:length], 0x1234), length


def test_a_version_4_layout_of_items_has_a_check_word_after_each_item():
    layout = F.Layout.items(13, 4, 1, checked=True)
    assert (layout.version, layout.stride, layout.check_word_offset, layout.file_size) == (4, 24, 16, 4096 + 4 * 24)
    header = layout.encode(1) + bytes(layout.file_size - 1024)
    decoded = F.Layout.validate(header, layout.file_size, "x")
    assert (decoded.version, decoded.stride, decoded.check_word_offset) == (4, 24, 16)
    with pytest.raises(InvalidArgument):
        F.Layout.items(8, (1 << 30) + 1, 0, checked=True)
