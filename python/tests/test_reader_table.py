"""The named-reader table is read whole (RingFileFormat.md, "Named readers"), by Python as by
Swift, with real processes on the same buffers: two records with one name are damage for a
Python writer's gate too (it fails the push, never waits), and a named reader removed by force
(`cbuff reader rm --force`) while a Python process reads it stops at its next read or wait, its
record not handed to another reader meanwhile."""
import time

import pytest

import cbuff
from cbuff import _format as F


def duplicate_record_zero(directory, name):
    """Copies named-reader record 0 over record 1: one name in two registered records."""
    with open(directory.ring_path(name), "r+b") as f:
        f.seek(F.READER_TABLE)
        record = f.read(F.READER_RECORD_SIZE)
        f.seek(F.READER_TABLE + F.READER_RECORD_SIZE)
        f.write(record)


def record_name(directory, name, index):
    with open(directory.ring_path(name), "rb") as f:
        f.seek(F.READER_TABLE + index * F.READER_RECORD_SIZE)
        record = f.read(F.READER_RECORD_SIZE)
    if record[F.REC_STATE] != 1:
        return None
    return record[F.REC_NAME:F.REC_NAME + record[F.REC_NAME_LENGTH]].decode()


def test_a_python_block_writer_fails_on_a_table_with_one_name_twice(directory, cbuff_cli):
    assert cbuff_cli("create", "j", "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "r")[0] == 0
    writer = directory.take_over("j")
    for value in (1, 2, 3, 4):
        assert writer.push(value, timeout=0)
    assert not writer.push(5, timeout=0)            # full: r has read nothing
    duplicate_record_zero(directory, "j")
    started = time.monotonic()
    with pytest.raises(cbuff.Corrupted, match="records 0 and 1"):
        writer.push(5, timeout=10)
    assert time.monotonic() - started < 5            # no wait for room the damage never gives
    writer.close()
    for command in (["reader", "list", "j"], ["pop", "j", "--reader", "r"]):
        status, _, err = cbuff_cli(*command)
        assert status == 65 and "records 0 and 1" in err, (command, err)
    with pytest.raises(cbuff.Corrupted):
        directory.open_reader("j", reader="r")


def test_a_python_reader_removed_by_force_stops_and_keeps_its_record_until_then(directory, cbuff_cli):
    assert cbuff_cli("create", "x", "--item-size", "8", "--length", "64", "--policy", "block", "--reader", "r1")[0] == 0
    assert cbuff_cli("push", "x", "1", "2", "3")[0] == 0
    reader = directory.open_reader("x", reader="r1")
    assert [reader.pop(), reader.pop(), reader.pop()] == [1, 2, 3]
    assert cbuff_cli("reader", "rm", "x", "r1", "--force")[0] == 0
    # Its record is free but still held by this process: new readers go elsewhere, from Swift
    # and from Python, and are not refused as "in use by a live process (PID 0)".
    status, _, err = cbuff_cli("reader", "add", "x", "r2", "--from", "latest")
    assert status == 0, err
    other = directory.open_reader("x", reader="r3")
    assert record_name(directory, "x", 0) is None
    assert {record_name(directory, "x", 1), record_name(directory, "x", 2)} == {"r2", "r3"}
    # A wait ends at once (the removal is what it finds), and the next read says why.
    started = time.monotonic()
    assert reader.wait(10)
    assert time.monotonic() - started < 5
    with pytest.raises(cbuff.NotFound, match="was removed"):
        reader.pop()
    reader.close()
    other.close()
    assert cbuff_cli("push", "x", "4", "5")[0] == 0
    assert cbuff_cli("pop", "x", "--reader", "r2", "-n", "10")[1].split() == ["4", "5"]
    # Once the removed reader's process let it go, the record is anyone's again.
    assert cbuff_cli("reader", "add", "x", "r4")[0] == 0
    assert record_name(directory, "x", 0) == "r4"
