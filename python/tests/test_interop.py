"""Python and the real Swift binaries on the same buffers, both directions, both kinds."""
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from cbuff.errors import Corrupted

from conftest import swift_binary

PYTHON = [sys.executable, "-c"]


def item_bytes(sequence, size):
    """TestSupport's TestItem: the sequence, then its tag in every other byte."""
    tag = ((sequence * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 56 | 1
    return sequence.to_bytes(8, "little") + bytes([tag]) * (size - 8)


def test_swift_writes_python_reads_and_the_reverse(directory, cbuff_cli):
    assert cbuff_cli("create", "from-swift", "--item-size", "8", "--length", "16")[0] == 0
    assert cbuff_cli("push", "from-swift", "1", "2", "3")[0] == 0
    assert directory.open_reader("from-swift").pop_many(10) == [1, 2, 3]
    writer = directory.create_buffer("from-python", item_size=4, length=8, policy="block")
    writer.push_many([10, 20, 30])
    writer.close()
    status, out, err = cbuff_cli("pop", "from-python", "-n", "5")
    assert status == 0 and out.split() == ["10", "20", "30"], err
    report = json.loads(cbuff_cli("inspect", "from-python", "--json")[1])
    assert report["policy"] == "block" and report["written"] == 3 and report["writerState"] == "closed"
    assert cbuff_cli("push", "from-python", "40")[0] == 0           # cbuff takes over a Python-made buffer
    assert directory.open_reader("from-python").pop_many(5) == [10, 20, 30, 40]


def test_fields_both_ways(directory, cbuff_cli):
    assert cbuff_cli("create", "ticks", "--fields", "time:u64,price:f64,qty:u32", "--length", "8")[0] == 0
    assert cbuff_cli("push", "ticks", '{"time":1,"price":2.5,"qty":3}')[0] == 0
    reader = directory.open_reader("ticks")
    assert reader.pop() == {"time": 1, "price": 2.5, "qty": 3}
    writer = directory.create_buffer("quotes", fields="time:u64,sym:char4,px:f32", length=8)
    writer.push({"time": 7, "sym": "XNY", "px": 0.5})
    writer.close()
    status, out, err = cbuff_cli("tail", "quotes")
    assert status == 0 and out == '{"sequence":0,"time":7,"sym":"XNY","px":0.5}\n', err
    report = json.loads(cbuff_cli("inspect", "quotes", "--json")[1])
    assert report["itemSize"] == 16 and [f["offset"] for f in report["fields"]] == [0, 8, 12]


def test_messages_both_ways(directory, cbuff_cli):
    assert cbuff_cli("create", "logs", "--messages", "--capacity", "64K", "--max-message", "1K")[0] == 0
    assert cbuff_cli("push", "logs", "--stdin", input=b"one\ntwo\n")[0] == 0
    reader = directory.open_reader("logs")
    assert [m.text for m in reader.follow(timeout=0)] == ["one", "two"]
    writer = directory.take_over("logs")
    assert writer.next_sequence == 2
    writer.push_message("three")
    writer.push_message(b"\xff\x00")
    writer.close()
    status, out, err = cbuff_cli("tail", "logs", "--format", "jsonl")
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and [line["sequence"] for line in lines] == [0, 1, 2, 3], err
    assert lines[2]["text"] == "three" and lines[3]["base64"] == "/wA="
    directory.create_buffer("py-logs", messages=True, capacity=8192, max_message=512).push_message("from python")
    assert cbuff_cli("tail", "py-logs")[1] == "from python\n"
    # Both made version 4 (a check word in every record), and each checks the other's.
    assert json.loads(cbuff_cli("inspect", "py-logs", "--json")[1])["formatVersion"] == 4
    assert directory.inspect("logs").format_version == 4


def test_a_damaged_version_4_record_is_refused_both_ways(directory, cbuff_cli):
    """One flipped byte of a message (its check word no longer matches) in a ring the other
    implementation wrote: the messages before it are delivered, then corrupted (exit 65)."""
    assert cbuff_cli("create", "swift-made", "--messages", "--capacity", "4K", "--max-message", "100")[0] == 0
    assert cbuff_cli("push", "swift-made", "first", "second", "third")[0] == 0
    writer = directory.create_buffer("python-made", messages=True, capacity=4096, max_message=100)
    for text in ("first", "second", "third"):
        writer.push_message(text)
    writer.close()
    for name in ("swift-made", "python-made"):
        with open(directory.ring_path(name), "r+b") as ring:     # records of 5 words: the second's first byte
            ring.seek(4096 + 5 * 8 + 32)
            byte = ring.read(1)
            ring.seek(4096 + 5 * 8 + 32)
            ring.write(bytes([byte[0] ^ 0x20]))
        reader = directory.open_reader(name)
        assert reader.pop_message().text == "first"
        with pytest.raises(Corrupted, match="check word"):
            reader.pop_message()
        status, out, err = cbuff_cli("pop", name, "-n", "3")
        assert status == 65 and out == "first\n" and "check word" in err, (status, out, err)


def test_a_python_writer_killed_mid_stream_is_taken_over_by_cbuff_push(directory, cbuff_cli, data_dir):
    directory.create_buffer("killed", item_size=8, length=1 << 16).close()
    script = textwrap.dedent(f"""
        import cbuff, os, sys
        writer = cbuff.DataDirectory({directory.path!r}).take_over("killed")
        for value in range(1000):
            writer.push(value)
        print("pushed", flush=True)
        while True:
            writer.push(writer.next_sequence)
    """)
    child = subprocess.Popen([*PYTHON, script], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert child.stdout.readline().strip() == b"pushed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    report = json.loads(cbuff_cli("inspect", "killed", "--json")[1])
    assert report["writerState"] == "died"
    written = report["written"]
    assert cbuff_cli("push", "killed", "123456")[0] == 0
    values = directory.open_reader("killed").pop_many(1 << 17)
    assert values[:written] == list(range(written)) and values[written:] == [123456]


def test_mixed_create_races_have_exactly_one_winner(directory, cbuff_cli):
    agent = swift_binary("cbuff-test-agent")
    os.makedirs(directory.path, mode=0o700, exist_ok=True)
    cbuff_cli("list")
    script = textwrap.dedent(f"""
        import cbuff, sys
        sys.stdin.readline()
        try:
            cbuff.DataDirectory({directory.path!r}).create_buffer(sys.argv[1], item_size=8, length=4).close()
            print("created", flush=True)
        except cbuff.BufferAlreadyCreated:
            print("refused bufferAlreadyCreated", flush=True)
    """)
    for round in range(12):
        name = f"race{round}"
        swift = subprocess.Popen([agent, "race", directory.path, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        python = subprocess.Popen([*PYTHON, script, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        for process in (swift, python):
            process.stdin.write(b"go\n")
            process.stdin.flush()
        outcomes = [process.communicate(timeout=60)[0].decode().strip() for process in (swift, python)]
        assert sorted(outcome.split()[0] for outcome in outcomes) == ["created", "refused"], f"round {round}: {outcomes}"
        assert all(outcome == "created" or "bufferAlreadyCreated" in outcome or "already" in outcome for outcome in outcomes), outcomes
    assert len(directory.buffers()) == 12


def test_a_python_reader_beside_a_fast_swift_writer_checks_every_item(directory, cbuff_cli):
    assert cbuff_cli("create", "fast", "--item-size", "32", "--length", "4096")[0] == 0
    read_beside_a_swift_writer(directory, "fast", 300_000, 32)


def read_beside_a_swift_writer(directory, name, total, size):
    """Reads buffer ``name`` while the test agent writes ``total`` items of ``size`` bytes into it
    (TestSupport's TestItem: each its sequence and tag): every item delivered is intact and in
    sequence, and delivered + missed is everything written. Items of 8 bytes are popped one by
    one (the word path), wider ones read in batches."""
    reader = directory.open_reader(name)
    writer = subprocess.Popen([swift_binary("cbuff-test-agent"), "write", os.path.dirname(directory.ring_path("x")), name, str(total)],
                              stdout=subprocess.PIPE)
    delivered = bad = 0
    last = -1
    while last < total - 1:
        if size == 8:
            value = reader.pop()
            items = [] if value is None else [value.to_bytes(8, "little")]
        else:
            items = reader._cursor.read(256)
        if not items:
            reader.wait(1.0)
            continue
        first = reader.next_sequence - len(items)
        for offset, item in enumerate(items):
            sequence = int.from_bytes(item[:8], "little")
            if item != item_bytes(sequence, size) or sequence != first + offset or sequence <= last:
                bad += 1
            last = sequence
            delivered += 1
    assert writer.wait() == 0
    assert bad == 0 and delivered + reader.missed == total, (delivered, reader.missed)


def test_a_python_named_reader_loses_nothing_under_block(directory, cbuff_cli):
    assert cbuff_cli("create", "lossless", "--item-size", "8", "--length", "64", "--policy", "block")[0] == 0
    reader = directory.open_reader("lossless", reader="py")
    total = 20_000
    pusher = subprocess.Popen([swift_binary("cbuff"), "--dir", directory.path, "push", "lossless", "--stdin"], stdin=subprocess.PIPE)
    feeder = threading.Thread(target=lambda: (pusher.stdin.write("".join(f"{i}\n" for i in range(total)).encode()), pusher.stdin.close()))
    feeder.start()
    got = []
    while len(got) < total:
        value = reader.pop(timeout=10)
        assert value is not None, f"nothing for 10 s after {len(got)} items"
        got.append(value)
    feeder.join()
    assert pusher.wait() == 0
    assert got == list(range(total)) and reader.missed == 0


def test_a_python_writer_held_back_by_a_swift_named_reader_loses_nothing(directory, cbuff_cli):
    writer = directory.create_buffer("held", item_size=8, length=16, policy="block")
    total = 20_000
    drain = subprocess.Popen([swift_binary("cbuff-test-agent"), "drain", directory.path, "held", str(total), "swift"],
                             stdout=subprocess.PIPE)
    assert drain.stdout.readline().strip() == b"ready"          # registered: the gate now waits for it
    pushed = 0
    while pushed < total:
        pushed += writer.push_many(range(pushed, min(pushed + 100, total)), timeout=30)
    report = drain.stdout.readline().decode().split()
    assert drain.wait() == 0
    assert report[:3] == [f"delivered={total}", "missed=0", "bad=0"], report


def test_python_replays_messages_from_a_sequence(directory, cbuff_cli):
    assert cbuff_cli("create", "replay", "--messages", "--capacity", "4K", "--max-message", "100")[0] == 0
    assert cbuff_cli("push", "replay", *[f"message {i}" for i in range(10)])[0] == 0
    reader = directory.open_reader("replay", start=6)
    assert [m.text for m in reader.follow(timeout=0)] == ["message 6", "message 7", "message 8", "message 9"]
    assert directory.open_reader("replay", start="latest").pop_message() is None


def test_python_pops_wide_items_one_by_one_beside_a_fast_swift_writer(directory, cbuff_cli):
    """The one-item pop of wide items (``_ring.pop_bytes``) under a writer that laps it: every
    item delivered is exactly the one written under its sequence, and the count adds up."""
    total, size = 200_000, 24
    assert cbuff_cli("create", "wide", "--item-size", str(size), "--length", "1024")[0] == 0
    reader = directory.open_reader("wide")
    writer = subprocess.Popen([swift_binary("cbuff-test-agent"), "write", os.path.dirname(directory.ring_path("x")), "wide", str(total)],
                              stdout=subprocess.PIPE)
    delivered = bad = 0
    last = -1
    while last < total - 1:
        item = reader.pop(timeout=1.0)
        if item is None:
            continue
        sequence = int.from_bytes(item[:8], "little")
        if item != item_bytes(sequence, size) or sequence != reader.next_sequence - 1 or sequence <= last:
            bad += 1
        last = sequence
        delivered += 1
    assert writer.wait() == 0
    assert bad == 0 and delivered + reader.missed == total, (delivered, reader.missed)


def test_python_pushes_wide_items_that_swift_reads(directory, cbuff_cli):
    writer = directory.create_buffer("wide-out", item_size=16, length=8)
    for sequence in range(12):
        assert writer.push(item_bytes(sequence, 16)) is True
    writer.push(b"short")                                      # zero-padded
    reader = directory.open_reader("wide-out")
    got = reader.pop_many(20)
    assert got == [item_bytes(sequence, 16) for sequence in range(5, 12)] + [b"short".ljust(16, b"\0")]
    status, out, _ = cbuff_cli("pop", "wide-out", "-n", "20")
    assert status == 0 and len(out.split()) == 8


def test_a_sync_is_recorded_alike_both_ways(directory, cbuff_cli):
    """A writer's sync records the durable sequence in the header: Python's is what ``cbuff
    inspect`` shows, ``cbuff push --sync``'s what Python's inspect shows, for both kinds."""
    writer = directory.create_buffer("items", item_size=8, length=16)
    writer.push_many(list(range(1, 41)))                      # lapped: 40 published
    assert writer.durable_sequence == 0
    assert writer.sync() == 40
    writer.push(41)
    assert writer.durable_sequence == 40                      # until the next sync
    writer.close()
    status, out, err = cbuff_cli("inspect", "items", "--json")
    assert status == 0, err
    assert json.loads(out)["durable"] == 40
    assert cbuff_cli("push", "items", "--sync", "42")[0] == 0
    assert directory.inspect("items").durable == 42
    assert directory.inspect("items").to_json()["durable"] == 42

    messages = directory.create_buffer("messages", messages=True, capacity=4096, max_message=100)
    for index in range(300):
        messages.push(f"message {index}")
    assert messages.sync() == 300
    messages.close()
    assert json.loads(cbuff_cli("inspect", "messages", "--json")[1])["durable"] == 300
    assert cbuff_cli("push", "messages", "--sync", "one more")[0] == 0
    assert directory.inspect("messages").durable == 301
    with pytest.raises(Exception) as closed:
        messages.sync()
    assert type(closed.value).__name__ == "Closed"


def test_the_writers_boot_is_recorded_alike_both_ways(directory, data_dir, caplog):
    """A writer records its boot (a debug cbuff takes CBUFF_TEST_BOOT_ID, standing in for an
    earlier boot); a Python writer of this boot marks the items still from then as unproven, as
    the Swift side does, and both inspects agree on ``earlierBoot`` until they are overwritten."""
    binary = swift_binary("cbuff")
    folder = os.path.join(data_dir, "d")

    def cbuff(*arguments, boot=None):
        environment = dict(os.environ, CBUFF_TEST_BOOT_ID=boot) if boot else dict(os.environ)
        environment.pop("CBUFF_TEST_BOOT_ID", None) if boot is None else None
        done = subprocess.run([binary, "--dir", folder, *arguments], capture_output=True, timeout=120, env=environment)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    earlier = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    assert cbuff("create", "b", "--item-size", "8", "--length", "4", "--integrity", "unchecked", boot=earlier)[0] == 0
    assert cbuff("push", "b", "1", boot=earlier)[0] == 0
    assert directory.inspect("b").earlier_boot is True               # this boot is not that one
    # A reader of it says once that it cannot tell what a crash did (the format has no check words).
    with caplog.at_level(logging.WARNING, logger="cbuff"):
        directory.open_reader("b").close()
    assert any('buffer "b" holds items written before the machine last restarted, and its format (version 2) carries no check words'
               in record.getMessage() for record in caplog.records), caplog.records
    writer = directory.take_over("b")
    writer.push(2)
    writer.close()
    assert directory.inspect("b").earlier_boot is True               # item 0 is from then, unproven
    assert json.loads(cbuff("inspect", "b", "--json")[1])["earlierBoot"] is True
    writer = directory.take_over("b")
    writer.push_many([3, 4, 5, 6])                                   # item 0 overwritten
    writer.close()
    assert directory.inspect("b").earlier_boot is False
    assert json.loads(cbuff("inspect", "b", "--json")[1])["earlierBoot"] is False


def test_a_failed_sync_records_nothing_and_the_next_rewrites_every_page(directory, monkeypatch):
    """As the Swift side's SyncTests: a failed fsync stores no durable sequence, and the next
    sync (after which it is stored) first dirties every page again."""
    from cbuff import _system
    from cbuff.errors import CBuffError as Error

    writer = directory.create_buffer("items", item_size=8, length=1024)
    writer.push_many([1, 2, 3])
    real = _system.synchronize
    calls = []

    def failing(fd, doing):
        calls.append(doing)
        raise _system.system_error(OSError(5, "Input/output error"), doing)
    monkeypatch.setattr(_system, "synchronize", failing)
    with pytest.raises(Error):
        writer.sync()
    assert calls and writer.durable_sequence == 0
    monkeypatch.setattr(_system, "synchronize", real)
    file = writer._file
    assert file._sync_failed
    assert writer.sync() == 3
    assert not file._sync_failed and writer.durable_sequence == 3
    writer.close()


def test_a_durable_word_beyond_what_was_published_is_damage_both_ways(directory, cbuff_cli, data_dir):
    """The durable word is input: one beyond what was published is refused by both inspects
    with the same sentence."""
    writer = directory.create_buffer("m", messages=True, capacity=4096, max_message=64)
    writer.push("one")
    writer.push("two")
    writer.close()
    with open(os.path.join(data_dir, "d", "m.ring"), "r+b") as f:
        f.seek(352)
        f.write((2**63 - 1).to_bytes(8, "little"))
    sentence = "its durable sequence (9223372036854775807) is beyond the 2 messages ever published"
    with pytest.raises(Corrupted) as refused:
        directory.inspect("m")
    assert sentence in str(refused.value)
    status, _, err = cbuff_cli("inspect", "m")
    assert status == 65 and sentence in err


def test_version_4_items_both_ways_and_a_damaged_slot_is_skipped_and_counted(directory, cbuff_cli):
    """A ring of items of format version 4 (a check word in every slot, made by `cbuff create
    --integrity checked`): Swift writes and Python reads, Python takes over, writes single items
    and batches and Swift reads them; a slot whose byte changed under its word (what a machine
    crash's stale page does) is counted as lost by both, never delivered."""
    assert cbuff_cli("create", "checked", "--item-size", "8", "--length", "8", "--integrity", "checked")[0] == 0
    assert cbuff_cli("push", "checked", "1", "2", "3")[0] == 0
    reader = directory.open_reader("checked")
    assert [reader.pop() for _ in range(4)] == [1, 2, 3, None]
    with directory.take_over("checked") as writer:
        writer.push(4)
        assert writer.push_many([5, 6, 7]) == 3
    assert [reader.pop() for _ in range(5)] == [4, 5, 6, 7, None]
    assert json.loads(cbuff_cli("inspect", "checked", "--json")[1])["formatVersion"] == 4
    status, out, _ = cbuff_cli("pop", "checked", "-n", "10")
    assert status == 0 and out.split() == ["1", "2", "3", "4", "5", "6", "7"]
    # Item 5 (the value 6; slot 5, after the 4096-byte header; slots of 16 bytes) gets one byte changed.
    path = directory.ring_path("checked")
    with open(path, "r+b") as ring:
        ring.seek(4096 + 5 * 16 + 2)
        ring.write(b"\xff")
    status, out, err = cbuff_cli("pop", "checked", "-n", "10")
    assert status == 0 and out.split() == ["1", "2", "3", "4", "5", "7"], err
    again = directory.open_reader("checked")
    assert [again.pop() for _ in range(7)] == [1, 2, 3, 4, 5, 7, None]
    assert again.missed == 1


@pytest.mark.parametrize("size", [8, 24])
def test_a_python_reader_of_version_4_items_beside_a_fast_swift_writer_checks_every_item(directory, cbuff_cli, size):
    """(8-byte items take the one-item word paths, their check word read as an int.)"""
    assert cbuff_cli("create", "fast4", "--item-size", str(size), "--length", "1024", "--integrity", "checked")[0] == 0
    read_beside_a_swift_writer(directory, "fast4", 100_000, size)


def test_python_reads_a_recovered_message_ring_as_swift_does(directory, data_dir, cbuff_cli):
    """A writer process of an earlier boot (the Swift test agent, ``CBUFF_TEST_BOOT_ID``) pushes
    300 messages, syncs, pushes 300 more and is killed; a page of the synced messages is zeroed,
    as a power loss may leave it. Python refuses to take the ring over before it is recovered
    (it could reuse a sequence), Swift recovers it when it reads it, and then Python reads exactly
    what Swift read (the same sequences and bytes, the same count of missed messages: the lost
    record is passed and the jump counted) and its writer continues above every sequence."""
    from cbuff.errors import Corrupted as Damaged

    folder = os.path.join(data_dir, "d")
    agent = swift_binary("cbuff-test-agent")
    earlier = dict(os.environ, CBUFF_TEST_BOOT_ID="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    this_boot = {k: v for k, v in os.environ.items() if k != "CBUFF_TEST_BOOT_ID"}
    assert cbuff_cli("create", "m", "--messages", "--capacity", "64K", "--max-message", "120")[0] == 0
    writer = subprocess.Popen([agent, "crash-writer", folder, "m", "300", "120"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=earlier, text=True)
    try:
        assert writer.stdout.readline().startswith("synced 300")
        writer.stdin.write("more 300\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "pushed 600"
    finally:
        writer.kill()
        writer.wait()
    path = directory.ring_path("m")
    with open(path, "r+b") as f:                       # a page of synced messages, zeroed
        f.seek(4096 + 2 * 4096)
        f.write(bytes(4096))
    with pytest.raises(Damaged, match="needs a recovery"):
        directory.take_over("m")
    listed = subprocess.run([agent, "list-messages", folder, "m"], capture_output=True, text=True, timeout=120, env=this_boot)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.split("\n")
    swift = [(int(line.split()[0]), bytes.fromhex(line.split()[1])) for line in lines if line and line[0].isdigit()]
    missed = int(next(line for line in lines if line.startswith("missed=")).split("=")[1])
    assert 500 < len(swift) < 600 and missed == 600 - len(swift)
    reader = directory.open_reader("m")
    python = [(m.sequence, bytes(m.data)) for m in reader.follow(timeout=0)]
    assert python == swift and reader.missed == missed
    report = json.loads(cbuff_cli("inspect", "m", "--json")[1])
    assert report["lastRecovery"]["lostMessages"] == missed and report["lastRecovery"]["lostRanges"] == 1
    writer = directory.take_over("m")
    assert writer.next_sequence == 600
    writer.push(b"after the crash")
    writer.close()
    again = directory.open_reader("m")
    read = [(m.sequence, bytes(m.data)) for m in again.follow(timeout=0)]
    assert read == [*swift, (600, b"after the crash")] and again.missed == missed
