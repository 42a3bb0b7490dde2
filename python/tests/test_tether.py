"""The tether timeout (RingFileFormat.md, "The tether timeout (`block` only)") and the atomic
reader seek, with real Swift and Python processes on the same buffers: a Python block writer
stops waiting for a dead named reader, a Python opener ties a reader again, a Python writer ties
again a live reader whose opener left the flag, and each side sees what the other did."""
import json
import logging
import struct
import subprocess
import time

import pytest

import cbuff
from cbuff import _format as F

from conftest import swift_binary

DAY_NS = 86_400 * 1_000_000_000
# The format's offsets, pinned here as RingFileFormat.md gives them: line 1's tether word, a
# reader record's untethered flag (then its count and time).
TETHER_WORD, RECORD_UNTETHERED = 72, 16


def record_words(directory, name, slot):
    """(untethered, count, at) of reader record ``slot`` of ring ``name``, read from the file."""
    with open(directory.ring_path(name), "rb") as f:
        f.seek(F.READER_TABLE + slot * F.READER_RECORD_SIZE + RECORD_UNTETHERED)
        return struct.unpack("<IIQ", f.read(16))


def header_u32(directory, name, offset):
    with open(directory.ring_path(name), "rb") as f:
        f.seek(offset)
        return struct.unpack("<I", f.read(4))[0]


def untether_with_swift(cbuff_cli, name):
    """A Swift writer pushes past the unopened reader "r" of a full ring of 4 (tether 200 ms)."""
    assert cbuff_cli("create", name, "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "r",
                     "--tether-timeout", "200ms")[0] == 0
    status, _, err = cbuff_cli("push", name, "1", "2", "3", "4", "5", "6")
    assert status == 0 and err.count("tether timeout") == 1, err
    report = json.loads(cbuff_cli("inspect", name, "--json")[1])
    assert report["readers"][0]["untethered"] is True, report


def test_a_python_opener_ties_a_reader_a_swift_writer_untethered(directory, cbuff_cli):
    untether_with_swift(cbuff_cli, "t")
    version = header_u32(directory, "t", F.OFF_READERS_VERSION)
    reader = directory.open_reader("t", reader="r")
    # Cleared under the table lock, with the readers version bumped: the Swift writer waits again.
    assert record_words(directory, "t", 0)[0] == 0
    assert header_u32(directory, "t", F.OFF_READERS_VERSION) != version
    report = json.loads(cbuff_cli("inspect", "t", "--json")[1])
    assert report["readers"][0]["untethered"] is False, report
    # Its cursor was lapped: it counts what it missed and resumes at the oldest item present.
    assert reader.pop_many(10) == [3, 4, 5, 6] and reader.missed == 2
    reader.close()
    # Tied again: a Swift push beyond the room waits for it (and, past the timeout, untethers it
    # again, since it is gone): one warning, as the first time.
    status, _, err = cbuff_cli("push", "t", "7", "8", "9", "10", "11")
    assert status == 0 and err.count("tether timeout") == 1, err
    assert record_words(directory, "t", 0)[:2] == (1, 2)


def test_registering_over_a_stale_flag_zeroes_the_record(directory):
    directory.create_buffer("stale", item_size=8, length=4, policy="block").close()
    # What an earlier version leaves when it frees a record: bytes 16-63 untouched.
    with open(directory.ring_path("stale"), "r+b") as f:
        f.seek(F.READER_TABLE + RECORD_UNTETHERED)
        f.write(struct.pack("<IIQ", 1, 7, 123))
    directory.open_reader("stale", reader="fresh").close()
    assert record_words(directory, "stale", 0) == (0, 0, 0)


def test_a_python_block_writer_untethers_a_dead_reader_and_waits_for_it_when_it_returns(directory, cbuff_cli, caplog):
    assert cbuff_cli("create", "t", "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "r",
                     "--tether-timeout", "200ms")[0] == 0
    writer = directory.take_over("t")
    assert writer.push_many([1, 2, 3, 4]) == 4
    version = header_u32(directory, "t", F.OFF_READERS_VERSION)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="cbuff"):
        assert writer.push_many([5, 6], timeout=30) == 2, "the writer waited for a reader that is gone"
        assert writer.push(7, timeout=30)
    took = time.monotonic() - started
    assert 0.2 <= took < 20, took
    warnings = [r for r in caplog.records if "tether timeout" in r.getMessage()]
    assert len(warnings) == 1 and '"r"' in warnings[0].getMessage(), caplog.records
    flag, count, at = record_words(directory, "t", 0)
    assert flag == 1 and count == 1 and abs(at - time.time_ns()) < 60 * 10**9
    now = header_u32(directory, "t", F.OFF_READERS_VERSION)
    assert now != version
    # No reader may rely on the gate while a record is untethered: never the version itself.
    assert header_u32(directory, "t", F.OFF_GATE_VERSION) == ~now & 0xFFFFFFFF
    report = json.loads(cbuff_cli("inspect", "t", "--json")[1])
    assert report["readers"][0]["untethered"] is True, report
    # The Swift reader comes back: it ties itself again and counts what it missed.
    status, out, err = cbuff_cli("pop", "t", "--reader", "r", "-n", "10")
    assert status == 0 and out.split() == ["4", "5", "6", "7"], (out, err)
    assert record_words(directory, "t", 0)[0] == 0
    # The Python writer waits for it again: 4 fit, the 5th does not (within less than the timeout).
    assert writer.push_many([8, 9, 10, 11]) == 4
    assert not writer.push(12, timeout=0.1)
    writer.close()


def test_a_python_message_writer_untethers_a_dead_reader(directory, cbuff_cli):
    assert cbuff_cli("create", "m", "--messages", "--capacity", "4096", "--max-message", "64", "--policy", "block",
                     "--reader", "r", "--tether-timeout", "200ms")[0] == 0
    writer = directory.take_over("m")
    pushed = 0
    while writer.push_message(b"x" * 64, timeout=10):
        pushed += 1
        if pushed == 200:         # 4096 bytes hold 46 such records: it went on without the reader
            break
    assert pushed == 200
    assert record_words(directory, "m", 0)[0] == 1
    writer.close()
    status, out, err = cbuff_cli("pop", "m", "--reader", "r", "-n", "1000")
    assert status == 0 and len(out.split()) >= 40, (out, err)
    assert record_words(directory, "m", 0)[0] == 0


def test_a_live_reader_is_never_untethered(directory, cbuff_cli):
    assert cbuff_cli("create", "live", "--item-size", "8", "--length", "4", "--policy", "block",
                     "--tether-timeout", "100ms")[0] == 0
    holder = subprocess.Popen([swift_binary("cbuff-test-agent"), "register", directory.path, "live", "r"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        holder.stdin.write(b"go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().split()[0] == b"slot"
        writer = directory.take_over("live")
        assert writer.push_many([1, 2, 3, 4]) == 4
        assert not writer.push(5, timeout=0.5)        # five times the timeout: still waiting
        assert record_words(directory, "live", 0)[0] == 0
        writer.close()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def test_a_python_writer_ties_again_a_live_reader_whose_opener_left_the_flag(directory, cbuff_cli, caplog):
    assert cbuff_cli("create", "left", "--item-size", "8", "--length", "4", "--policy", "block", "--tether-timeout", "100ms")[0] == 0
    reader = directory.open_reader("left", reader="r")
    # An opener of an earlier version (or another implementation) leaves the flag set.
    with open(directory.ring_path("left"), "r+b") as f:
        f.seek(F.READER_TABLE + RECORD_UNTETHERED)
        f.write(struct.pack("<I", 1))
    writer = directory.take_over("left")
    with caplog.at_level(logging.INFO, logger="cbuff"):
        assert writer.push_many([1, 2, 3, 4]) == 4
        assert not writer.push(5, timeout=0.3)       # it waits for the live reader again
    assert record_words(directory, "left", 0)[0] == 0
    assert any("did not tie it" in r.getMessage() for r in caplog.records)
    assert reader.pop_many(10) == [1, 2, 3, 4] and reader.missed == 0
    writer.close()
    reader.close()


def test_inspect_reports_the_tether_as_swift_does(directory, cbuff_cli):
    untether_with_swift(cbuff_cli, "t")
    assert cbuff_cli("create", "off", "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "q")[0] == 0
    for name in ("t", "off"):
        swift = json.loads(cbuff_cli("inspect", name, "--json")[1])
        status = directory.inspect(name)
        ours = status.to_json()
        assert ours["tetherTimeout"] == swift["tetherTimeout"], (ours, swift)
        assert [r["untethered"] for r in ours["readers"]] == [r["untethered"] for r in swift["readers"]]
    assert directory.inspect("t").tether_timeout == 0.2 and directory.inspect("t").readers[0].untethered is True
    assert directory.inspect("off").tether_timeout is None


def test_python_creates_a_tethered_buffer_swift_reads_it_and_refuses_what_swift_refuses(directory, cbuff_cli):
    directory.create_buffer("made", item_size=8, length=4, policy="block", tether_timeout=1.5).close()
    assert json.loads(cbuff_cli("inspect", "made", "--json")[1])["tetherTimeout"] == 1.5
    with pytest.raises(cbuff.InvalidArgument):
        directory.create_buffer("o", item_size=8, length=4, tether_timeout=1)
    with pytest.raises(cbuff.InvalidArgument):
        directory.create_buffer("long", item_size=8, length=4, policy="block", tether_timeout=31 * 86_400)
    with pytest.raises(cbuff.InvalidArgument):
        directory.create_buffer("neg", item_size=8, length=4, policy="block", tether_timeout=-1)


@pytest.mark.parametrize("word", [30 * DAY_NS + 1, 2**64 - 1])
def test_a_tether_beyond_30_days_is_damage_for_both(directory, cbuff_cli, word):
    assert cbuff_cli("create", "b", "--item-size", "8", "--length", "4", "--policy", "block", "--tether-timeout", "1s")[0] == 0
    with open(directory.ring_path("b"), "r+b") as f:
        f.seek(TETHER_WORD)
        f.write(struct.pack("<Q", word))
    assert cbuff_cli("pop", "b")[0] == 65
    with pytest.raises(cbuff.Corrupted, match="tether timeout"):
        directory.open_reader("b")
    with pytest.raises(cbuff.Corrupted, match="tether timeout"):
        directory.take_over("b")


def test_seek_moves_a_named_reader_in_one_change_both_ways(directory, cbuff_cli):
    assert cbuff_cli("create", "s", "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "r")[0] == 0
    assert cbuff_cli("push", "s", "1", "2", "3", "4")[0] == 0
    # A Swift writer held back by "r" goes on once Python moves "r" past everything.
    blocked = subprocess.Popen([swift_binary("cbuff-test-agent"), "write", directory.path, "s", "3"],
                               stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while header_u32(directory, "s", F.OFF_WRITER_WAITING) == 0:     # asleep for room (the buffer says so)
            assert time.monotonic() < deadline and blocked.poll() is None, "the writer never waited for room"
            time.sleep(0.001)
        assert directory.seek_reader("s", "r", "latest") == 4
        assert blocked.stdout.readline().split() == [b"pushed", b"7"]
    finally:
        blocked.wait(timeout=60)
    status, out, _ = cbuff_cli("pop", "s", "--reader", "r", "-n", "10")
    assert status == 0 and len(out.split()) == 3
    assert directory.seek_reader("s", "r", 5) == 5                    # the oldest present is 3
    assert directory.seek_reader("s", "r", 0) == 3
    assert cbuff_cli("pop", "s", "--reader", "r", "-n", "1")[1].split() == ["4"]     # item 3 holds 4
    # Swift's seek, then Python's reader resumes there.
    assert cbuff_cli("reader", "seek", "s", "r", "--to", "latest")[0] == 0
    reader = directory.open_reader("s", reader="r")
    assert reader.next_sequence == 7
    with pytest.raises(cbuff.ReaderBusy):
        directory.seek_reader("s", "r", "oldest")                     # open by a live process
    reader.close()
    with pytest.raises(cbuff.InvalidArgument):
        directory.seek_reader("s", "r", 8)                            # beyond the next one
    with pytest.raises(cbuff.NotFound):
        directory.seek_reader("s", "nobody", "oldest")
    assert directory.open_reader("s", reader="r").next_sequence == 7


def test_seek_in_a_message_buffer(directory, cbuff_cli):
    assert cbuff_cli("create", "ms", "--messages", "--capacity", "4096", "--max-message", "64", "--reader", "r")[0] == 0
    assert cbuff_cli("push", "ms", "a", "b", "c")[0] == 0
    assert directory.seek_reader("ms", "r", "latest") == 3
    assert cbuff_cli("push", "ms", "d")[0] == 0
    assert cbuff_cli("pop", "ms", "--reader", "r", "-n", "5")[1].split() == ["d"]
    assert directory.seek_reader("ms", "r", "oldest") == 0
    assert [m.text for m in directory.open_reader("ms", reader="r").follow(timeout=0)] == ["a", "b", "c", "d"]
    with pytest.raises(cbuff.InvalidArgument):
        directory.seek_reader("ms", "r", 1)

