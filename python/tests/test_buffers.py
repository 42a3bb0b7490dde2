"""The Python API in one process: both kinds, named readers, the block policy, numpy, take-over."""
import os
import shutil
import tempfile

import pytest

import cbuff
from cbuff import _system
from cbuff.errors import BufferAlreadyCreated, Corrupted, InvalidArgument, NotFound, ReaderBusy, ValueDoesNotFit, WriterBusy


def test_items_come_back_and_a_lapped_reader_counts_exactly(directory):
    writer = directory.create_buffer("ints", item_size=8, length=16)
    reader = directory.open_reader("ints")
    for value in range(40):
        writer.push(value * 3)
    assert reader.pop_many(100) == [value * 3 for value in range(24, 40)]
    assert reader.missed == 24 and reader.next_sequence == 40
    assert reader.pop() is None
    assert writer.push_many(range(5)) == 5 and reader.pop_many(10) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueDoesNotFit):
        directory.create_buffer("small", item_size=1, length=4).push(256)
    with pytest.raises(BufferAlreadyCreated):
        directory.create_buffer("ints", item_size=8, length=16)
    with pytest.raises(NotFound):
        directory.open_reader("missing")
    with pytest.raises(InvalidArgument):
        directory.create_buffer("a/b", item_size=8, length=4)


def test_a_ring_of_length_l_keeps_the_l_most_recent_items(directory):
    writer = directory.create_buffer("five", item_size=2, length=5)
    for value in range(5):
        writer.push(value)
    assert directory.open_reader("five").pop_many(10) == [0, 1, 2, 3, 4]


def test_fields_are_dicts_and_numpy_structured_arrays(directory):
    pytest.importorskip("numpy")
    writer = directory.create_buffer("ticks", fields="time:u64,price:f64,qty:u32,sym:char4", length=64)
    for i in range(10):
        writer.push({"time": i, "price": i / 4, "qty": i * 2, "sym": "AB"})
    reader = directory.open_reader("ticks")
    assert reader.pop() == {"time": 0, "price": 0.0, "qty": 0, "sym": "AB"}
    ticks = reader.pop_array(100)
    assert ticks.dtype.names == ("time", "price", "qty", "sym") and len(ticks) == 9
    assert list(ticks["time"]) == list(range(1, 10)) and ticks["price"][3] == 1.0 and ticks["sym"][0] == b"AB"
    with pytest.raises(InvalidArgument):
        writer.push({"time": 1, "price": 2.0})
    with pytest.raises(ValueDoesNotFit):
        writer.push({"time": -1, "price": 2.0, "qty": 1, "sym": ""})


def test_pop_array_of_integers_across_the_wrap(directory):
    numpy = pytest.importorskip("numpy")
    writer = directory.create_buffer("wrap", item_size=8, length=1000)
    writer.push_many(range(1500))
    values = directory.open_reader("wrap").pop_array(2000)
    assert values.dtype == numpy.dtype("<u8") and list(values) == list(range(500, 1500))


@pytest.mark.parametrize("item_size", [3, 4, 16])
def test_pop_array_of_bytes_and_narrow_integers_across_the_wrap(directory, item_size):
    numpy = pytest.importorskip("numpy")
    writer = directory.create_buffer(f"wrap{item_size}", item_size=item_size, length=10)
    reader = directory.open_reader(f"wrap{item_size}")
    items = [bytes([i]) * item_size for i in range(1, 16)]
    for item in items[:7]:
        writer.push(item)
    assert len(reader.pop_array(5)) == 5
    for item in items[7:]:
        writer.push(item)                                   # the slots wrap: the read spans both runs
    values = reader.pop_array(100)
    expected = items[5:]
    if item_size == 4:
        assert values.dtype == numpy.dtype("<u4") and list(values) == [int.from_bytes(item, "little") for item in expected]
    else:
        assert values.dtype == numpy.dtype((numpy.void, item_size)) and [bytes(value) for value in values] == expected
    assert len(reader.pop_array(100)) == 0 and reader.pop_array(100).dtype == values.dtype


def test_named_readers_resume_and_hold_a_blocking_writer(directory):
    writer = directory.create_buffer("held", item_size=8, length=4, policy="block")
    reader = directory.open_reader("held", reader="billing")
    assert reader.is_newly_registered
    assert writer.push_many(range(10), timeout=0.05) == 4          # the ring is full of unconsumed items
    assert not writer.try_push(99)
    with pytest.raises(ReaderBusy):
        directory.open_reader("held", reader="billing")
    assert reader.pop() == 0 and reader.pop() == 1                 # acknowledges 0
    reader.close()                                                 # acknowledges 1
    assert writer.try_push(4) and writer.try_push(5) and not writer.try_push(6)
    again = directory.open_reader("held", reader="billing")
    assert not again.is_newly_registered and again.pop_many(10) == [2, 3, 4, 5]
    status = directory.inspect("held")
    assert status.readers[0].name == "billing" and status.readers[0].alive is True    # `again` holds its lock
    assert status.to_json()["readers"][0]["name"] == "billing" and status.to_json()["writerAlive"] is True


@pytest.mark.parametrize("item_size", [8, 4, 16])
def test_follow_reads_in_batches_but_moves_the_cursor_item_by_item(directory, item_size):
    """follow() of an unnamed reader takes every waiting item at one look; a follower left
    mid-batch leaves the rest to pop(), and a pop between two items is never repeated."""
    writer = directory.create_buffer(f"f{item_size}", item_size=item_size, length=8)
    reader = directory.open_reader(f"f{item_size}")
    value = (lambda i: bytes([i]) * item_size) if item_size > 8 else (lambda i: i)
    for i in range(12):                                             # a lap: 4 missed
        writer.push(value(i))
    follower = reader.follow(timeout=0)
    assert next(follower) == (4, value(4)) and reader.next_sequence == 5
    for _ in follower:
        break                                                       # left after item 5
    assert reader.pop() == value(6) and reader.missed == 4
    follower = reader.follow(timeout=0)
    assert next(follower) == (7, value(7))
    assert reader.pop() == value(8)                                 # a pop between two items
    writer.push(value(12))
    assert list(follower) == [(i, value(i)) for i in range(9, 13)] and reader.pop() is None


def test_messages_of_every_size_and_a_lapped_reader(directory):
    writer = directory.create_buffer("logs", messages=True, capacity=4096, max_message=1000)
    reader = directory.open_reader("logs")
    writer.push_message("hello")
    writer.push_message(b"")
    writer.push_message(bytes(range(256)) * 3)
    got = [reader.pop_message() for _ in range(3)]
    assert [m.sequence for m in got] == [0, 1, 2] and got[0].text == "hello" and got[1].data == b"" and len(got[2].data) == 768
    for i in range(100):
        writer.push_message(bytes([i]) * 100)                       # 136-byte records: 30 fit
    rest = list(reader.follow(timeout=0))
    assert [m.sequence for m in rest] == list(range(73, 103)) and reader.missed == 70
    assert all(m.data == bytes([m.sequence - 3]) * 100 for m in rest)
    with pytest.raises(ValueDoesNotFit):
        writer.push_message(bytes(1001))
    status = directory.inspect("logs")
    assert status.kind == "messages" and status.written == 103 and status.oldest == 73 and status.count == 30


def test_a_new_writer_continues_each_kind(directory):
    writer = directory.create_buffer("ints", item_size=8, length=8)
    writer.push_many([1, 2, 3])
    with pytest.raises(WriterBusy):
        directory.take_over("ints")
    writer.close()
    again = directory.take_over("ints")
    assert again.next_sequence == 3
    messages = directory.create_buffer("logs", messages=True, capacity=4096, max_message=100)
    messages.push_message("a")
    messages.close()
    assert directory.take_over("logs").next_sequence == 1
    again.close()
    directory.remove("ints")
    assert [b.name for b in directory.buffers()] == ["logs"]
    assert not os.path.exists(directory.ring_path("ints"))


def test_the_package_works_without_numpy(directory):
    import subprocess
    import sys
    script = ("import sys; sys.modules['numpy'] = None\n"
              "import cbuff\n"
              f"d = cbuff.DataDirectory({directory.path!r})\n"
              "w = d.create_buffer('plain', item_size=8, length=4); w.push(5)\n"
              "r = d.open_reader('plain'); assert r.pop() == 5\n"
              "try:\n    r.pop_array(4)\nexcept ImportError:\n    print('no numpy, as expected')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**__import__("os").environ, "PYTHONPATH": __import__("os").pathsep.join(sys.path)})
    assert done.returncode == 0 and "no numpy, as expected" in done.stdout, done.stderr


def test_batches_of_small_integers_across_the_wrap_and_refused_batches(directory):
    writer = directory.create_buffer("three", item_size=3, length=10)
    reader = directory.open_reader("three")
    assert writer.push_many(iter(range(7))) == 7 and reader.pop_many(4) == [0, 1, 2, 3]
    assert writer.push_many([(1 << 24) - 1, 7, 8, 9, 10]) == 5                # wraps the 10 slots
    assert reader.pop_many(100) == [4, 5, 6, (1 << 24) - 1, 7, 8, 9, 10]
    for bad in ([1, 1 << 24], [1, -1], [1, "x"]):
        with pytest.raises((ValueDoesNotFit, InvalidArgument)):
            writer.push_many(bad)
    assert writer.next_sequence == 12 and reader.pop() is None               # nothing of a refused batch


def test_batches_of_words_are_taken_from_buffers_as_they_are_and_checked(directory):
    import array
    writer = directory.create_buffer("words", item_size=8, length=6)
    reader = directory.open_reader("words")
    assert writer.push_many(array.array("Q", [1, 2, 3, 4])) == 4 and reader.pop_many(2) == [1, 2]
    assert writer.push_many(memoryview(array.array("Q", [5, 2**64 - 1, 7]))) == 3      # wraps the 6 slots
    assert reader.pop_many(100) == [3, 4, 5, 2**64 - 1, 7]
    for other in (array.array("q", [8, 9]), array.array("d", [10.0]), b"\x0b\x0c"):   # not unsigned words: item by item
        try:
            writer.push_many(other)
        except (ValueDoesNotFit, InvalidArgument):
            pass
    assert reader.pop_many(100) == [8, 9, 11, 12]          # the floats were refused whole
    narrow = directory.create_buffer("narrow", item_size=3, length=10)
    with pytest.raises(ValueDoesNotFit):
        narrow.push_many(array.array("Q", [1, 1 << 24]))
    assert narrow.push_many(array.array("Q", [1, (1 << 24) - 1])) == 2 and narrow.next_sequence == 2
    wide = directory.create_buffer("wide16", item_size=16, length=4)
    assert wide.push_many(array.array("Q", [1, 2])) == 2       # as ints, each in its 16 bytes
    assert directory.open_reader("wide16").pop_many(4) == [(1).to_bytes(16, "little"), (2).to_bytes(16, "little")]
    numpy = pytest.importorskip("numpy")
    assert writer.push_many(numpy.arange(3, dtype=numpy.uint64) + 20) == 3
    assert writer.push_many(numpy.arange(6, dtype=numpy.uint64)[::2] + 30) == 3          # strided: item by item
    assert reader.pop_many(100) == [20, 21, 22, 30, 32, 34]


def test_a_message_ending_one_word_before_the_end_of_the_area_is_read_by_both(directory, cbuff_cli):
    """Only one word of padding fits after it: every load of a read must stay in the data area
    (version 3's look-ahead read the word past it: an IndexError in Python, a load past the
    mapping in Swift)."""
    writer = directory.create_buffer("edge", messages=True, capacity=4096, max_message=2016)
    for data in (b"a" * 2016, b"b" * 1976, b"", b"d"):      # records at words 0, 256, 507; padding at 511
        writer.push_message(data)
    writer.close()
    reader = directory.open_reader("edge")
    assert [len(m.data) for m in iter(reader.pop_message, None)] == [1976, 0, 1]     # the first, overwritten
    status, out, err = cbuff_cli("pop", "edge", "-n", "10", "--format", "jsonl")
    assert status == 0 and len(out.splitlines()) == 3, (status, out, err)


@pytest.mark.parametrize("kind", ["sequence", "kind", "count, last record taken", "count, a write started", "body"])
def test_a_take_over_proves_the_whole_chain_before_it_writes(directory, kind):
    """The Swift side's DamagedMessageRingTests.aTakeOverProvesTheWholeChainBeforeItWrites: a
    ring damaged in the middle (a message's byte included: its check word, I8), or whose count
    was forged where I5 takes it on trust, is refused before anything is written."""
    writer = directory.create_buffer("chain", messages=True, capacity=4096, max_message=2016)
    for i in range(40):
        writer.push_message(b"x%03d" % i + b"." * 96)                 # 17 words each: wrapped once
    writer.close()
    path = directory.ring_path("chain")
    with open(path, "rb") as ring:
        before = bytearray(ring.read())

    def word(offset: int) -> int:
        return int.from_bytes(before[offset:offset + 8], "little")
    published, tail = word(128), word(328)
    oldest = word(4096 + (tail % 512) * 8 + 8)
    victim = 4096 + ((tail + 17 * 12) % 512) * 8                      # the 13th message's record
    edits = {"sequence": {victim + 8: word(victim + 8) + 3}, "kind": {victim: 7 << 32}, "body": {victim + 32: word(victim + 32) ^ 1},
             "count, last record taken": {336: 0, 344: oldest + 1},
             "count, a write started": {176: published + 40, 336: published, 344: oldest + 1}}[kind]
    for offset, value in edits.items():
        before[offset:offset + 8] = value.to_bytes(8, "little")
    with open(path, "r+b") as ring:
        ring.write(before)
    with pytest.raises(Corrupted):
        directory.take_over("chain")
    with open(path, "rb") as ring:
        assert ring.read() == bytes(before), "a refused take-over wrote into the file"


@pytest.mark.parametrize("victim, readable", [(2, 2), (3, 3)])
def test_a_length_enlarged_over_the_next_record_is_never_delivered(directory, victim, readable):
    """A message's length word forged to take in the record after it (the Swift side's
    DamagedMessageRingTests): the record at its new end does not carry the next sequence, or
    it ends at published where the writer's words name another last record; nothing of it is
    delivered, the messages before it are."""
    writer = directory.create_buffer("forged", messages=True, capacity=4096, max_message=100)
    for text in ("aaaa", "bbbb", "cccc", "dddd", "eeee"):
        writer.push_message(text)                                   # records of 5 words, from word 0
    writer.close()
    with open(directory.ring_path("forged"), "r+b") as ring:
        ring.seek(4096 + victim * 5 * 8)
        ring.write((48 | 1 << 32).to_bytes(8, "little"))          # 10 words: this record and the next
    reader = directory.open_reader("forged")
    assert [reader.pop_message().text for _ in range(readable)] == ["aaaa", "bbbb", "cccc", "dddd"][:readable]
    with pytest.raises(Corrupted):
        reader.pop_message()


@pytest.mark.parametrize("position", [2**64 - 1, 2**64 - 3, 2**63 + 1])
def test_a_position_beyond_2_to_the_63_is_damage(directory, position):
    """Positions never wrap (the Swift side's PositionLimitTests, found by its fuzzer)."""
    directory.create_buffer("far", item_size=8, length=16).close()
    with open(directory.ring_path("far"), "r+b") as ring:
        for offset in (128, 176):
            ring.seek(offset)
            ring.write(position.to_bytes(8, "little"))
    with pytest.raises(Corrupted):
        directory.open_reader("far")
    with pytest.raises(Corrupted):
        directory.take_over("far")


def test_bumped_words_wrap_at_their_top(directory):
    """A take-over bumps the writer generation, which wraps (the Swift side's SharedWordWrapTests)."""
    directory.create_buffer("wrap", item_size=8, length=4).close()
    with open(directory.ring_path("wrap"), "r+b") as ring:
        ring.seek(160)
        ring.write((2**64 - 1).to_bytes(8, "little"))
    writer = directory.take_over("wrap")
    writer.push(7)
    writer.close()
    assert directory.open_reader("wrap").pop() == 7


def test_pop_array_has_one_dtype_whatever_the_batch(directory):
    """Across the wrap (two runs), as in one run: the fields' dtype, padding included."""
    numpy = pytest.importorskip("numpy")
    writer = directory.create_buffer("padded", fields="time:u64,price:f64,qty:u32", length=8)
    expected = writer.fields.numpy_dtype()
    assert expected.itemsize == 24                      # 20 bytes of fields, padded to 8
    for round in range(3):
        reader = directory.open_reader("padded", start="latest")
        for i in range(6):
            writer.push({"time": round * 10 + i, "price": 1.5, "qty": i})
        array = reader.pop_array(100)
        assert array.dtype == expected and array.dtype.itemsize == 24, (round, array.dtype)
        assert list(array["time"]) == [round * 10 + i for i in range(6)]
        assert isinstance(array, numpy.ndarray)


def test_a_closed_handle_says_closed(directory):
    from cbuff.errors import Closed
    cases = [(directory.create_buffer("w8", item_size=8, length=4), 1),
             (directory.create_buffer("w32", item_size=32, length=4), b"x"),
             (directory.create_buffer("wf", fields="a:u64,b:u32", length=4), {"a": 1, "b": 2}),
             (directory.create_buffer("wm", messages=True, capacity=4096, max_message=16), b"x")]
    for writer, value in cases:
        reader = directory.open_reader(writer.name)
        writer.close()
        reader.close()
        writer.close()                                  # closing again does nothing
        with pytest.raises(Closed):
            writer.push(value)
        with pytest.raises(Closed):
            reader.pop()
        with pytest.raises(Closed):
            reader.pop(timeout=0.01)
        with pytest.raises(Closed):
            reader.wait(0.01)


def test_slots_carry_check_words_by_default_only_where_a_machine_crash_can_tear_them(directory):
    """``integrity="auto"``, the default: check words on a disk (format version 4), none in
    memory (``/dev/shm``: version 2, or 3 with fields), where a machine crash loses the file
    whole; ``"checked"`` and ``"unchecked"`` wherever asked, as the Swift side decides."""
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("no /dev/shm")
    shm = tempfile.mkdtemp(dir="/dev/shm", prefix="cbuff-py-")
    try:
        memory = cbuff.DataDirectory(shm)
        memory.create_buffer("auto", item_size=8, length=64).close()
        memory.create_buffer("checked", item_size=8, length=64, integrity="checked").close()
        memory.create_buffer("fields", fields="time:u64", length=64).close()
        assert [memory.inspect(name).format_version for name in ("auto", "checked", "fields")] == [2, 4, 3]
        directory.create_buffer("auto", item_size=8, length=64).close()
        directory.create_buffer("unchecked", item_size=8, length=64, integrity="unchecked").close()
        assert _system.in_memory(shm) and directory.inspect("auto").format_version == (2 if _system.in_memory(directory.path) else 4)
        assert directory.inspect("unchecked").format_version == 2
        with pytest.raises(InvalidArgument):
            memory.create_buffer("long", item_size=1, length=(1 << 30) + 1, integrity="checked")
        with pytest.raises(InvalidArgument):
            memory.create_buffer("m", messages=True, capacity=4096, max_message=64, integrity="unchecked")
        # Through a symbolic link, the directory is where it leads (as the Swift side sees it).
        link = os.path.join(directory.path + "-link")
        os.symlink(shm, link)
        try:
            cbuff.DataDirectory(link).create_buffer("linked", item_size=8, length=64).close()
            assert memory.inspect("linked").format_version == 2
        finally:
            os.unlink(link)
    finally:
        shutil.rmtree(shm)


def test_numpy_batches_of_a_ring_with_check_words_are_sealed_and_checked_whole(directory):
    """8-byte items with check words take numpy whole batches (``slot_words8_array``): a push of
    an array seals its words with array operations (across the ring's wrap), ``pop_array``
    checks a batch at once, and a damaged slot is still skipped and counted, never delivered."""
    numpy = pytest.importorskip("numpy")
    from cbuff import _format as F
    values = numpy.array([(i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF for i in range(300)], dtype=numpy.uint64)
    words = F.slot_words8_array(numpy, (1 << 31) - 100, values)        # across the stamp's 31 bits
    assert [int(word) for word in words] == [F.slot_word8((1 << 31) - 100 + i, int(value)) for i, value in enumerate(values)]
    writer = directory.create_buffer("np", item_size=8, length=256, integrity="checked")
    reader = directory.open_reader("np")
    writer.push_many(numpy.arange(200, dtype=numpy.uint64))
    assert list(map(int, reader.pop_array(300))) == list(range(200))
    writer.push_many(numpy.arange(200, 400, dtype=numpy.uint64))       # wraps
    with open(directory.ring_path("np"), "r+b") as ring:
        ring.seek(4096 + (250 % 256) * 16 + 3)
        ring.write(b"\xff")
    got = []
    while len(batch := reader.pop_array(64)):
        got += map(int, batch)
    assert got == [value for value in range(200, 400) if value != 250] and reader.missed == 1
