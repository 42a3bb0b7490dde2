"""The sync policy chosen at creation (RingFileFormat.md, "The sync policy"; issue 26): Python
writers follow it as Swift's do, both sides read what the other recorded, the header's words are
validated, and a writer's close syncs under every policy but none."""
import json
import struct
import threading
import time

import pytest

import cbuff
from cbuff import _format as F

SYNC_WORDS = 104     # u32 kind, u32 zero, u64 parameter, as RingFileFormat.md pins them


def words(directory, name):
    with open(directory.ring_path(name), "rb") as f:
        f.seek(SYNC_WORDS)
        return struct.unpack("<IIQ", f.read(16))


def wait_until_durable(directory, name, sequence, seconds=2.0):
    """Seconds until ``inspect`` shows the durable sequence at ``sequence`` or beyond (looking
    every 0.2 ms), or None after ``seconds``: the deadline bounds the wait, not the look."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if directory.inspect(name).durable >= sequence:
            return time.monotonic() - start
        time.sleep(0.0002)
    return None


def test_every_n_syncs_at_exact_multiples_and_close_syncs_the_rest(directory):
    writer = directory.create_buffer("n", item_size=8, length=16, sync="every:4")
    assert words(directory, "n") == (2, 0, 4) and writer.sync_policy == "every:4"
    for value in range(1, 11):
        writer.push(value)
        assert writer.durable_sequence == value // 4 * 4, value
    writer.push_many(list(range(11, 15)))        # reaches 12: one sync at the end of the batch
    assert writer.durable_sequence == 14
    writer.close()
    status = directory.inspect("n")
    assert status.durable == 14 and status.sync_policy == "every:4"
    assert status.to_json()["syncPolicy"] == "every:4"


def test_each_batch_syncs_after_every_push_call_of_both_kinds(directory):
    items = directory.create_buffer("items", item_size=24, length=8, sync="each-batch")
    items.push(b"x")
    assert items.durable_sequence == 1
    assert items.try_push(2)
    assert items.durable_sequence == 2
    items.push_many([3, 4, 5])
    assert items.durable_sequence == 5
    items.close()
    messages = directory.create_buffer("m", messages=True, capacity=4096, max_message=64, sync="each-batch")
    for index in range(1, 4):
        messages.push_message(f"message {index}")
        assert messages.durable_sequence == index
    messages.close()


@pytest.mark.parametrize("messages", [False, True])
def test_interval_makes_what_was_pushed_durable_within_the_bound(directory, messages):
    if messages:
        writer = directory.create_buffer("i", messages=True, capacity=4096, max_message=64, sync="interval:10")
    else:
        writer = directory.create_buffer("i", item_size=8, length=64, sync="interval:10")
    try:
        for round in range(1, 4):
            writer.push(b"r" if messages else round)
            took = wait_until_durable(directory, "i", round)
            assert took is not None, f"round {round}: durable {writer.durable_sequence}"
        assert writer._syncer is not None and writer._syncer.failure is None
    finally:
        writer.close()
    assert directory.inspect("i").sync_policy == "interval:10"


def test_an_idle_interval_writer_costs_nothing(directory):
    """The syncer blocks on an event while nothing is published: over half a second, its
    thread takes no measurable CPU (under 5 ms), after one push was synced."""
    writer = directory.create_buffer("idle", item_size=8, length=16, sync="interval:1")
    writer.push(1)
    assert wait_until_durable(directory, "idle", 1) is not None
    assert writer._syncer._thread is not threading.current_thread()
    start = time.process_time()
    time.sleep(0.5)
    spent = time.process_time() - start
    writer.close()
    assert spent < 0.005, f"{spent * 1000:.1f} ms of CPU over 0.5 s idle"


def test_close_stops_the_syncer_and_syncs(directory):
    writer = directory.create_buffer("long", item_size=8, length=16, sync="interval:3600000")
    writer.push_many([1, 2, 3])
    assert writer.durable_sequence == 0
    thread = writer._syncer._thread
    writer.close()
    assert not thread.is_alive()
    assert directory.inspect("long").durable == 3
    taken = directory.take_over("long")
    assert taken.durable_sequence == 3 and taken._syncer is not None
    taken.close()


def test_none_is_the_default_and_leaves_the_writer_unchanged(directory):
    writer = directory.create_buffer("plain", item_size=8, length=16, integrity="unchecked")
    assert type(writer).__name__ == "_WordWriter"
    writer.push(1)
    writer.close()
    status = directory.inspect("plain")
    assert status.durable == 0 and status.sync_policy == "none"
    assert words(directory, "plain") == (0, 0, 0)


@pytest.mark.parametrize("policy", ["every:0", "every:-1", "interval:0", "interval:3600001", "bogus", "every:", "each-batch:1",
                                    "every:1099511627777", "none:0", 7, None, "every:1e3", "every:٣", "every:+3", "interval:+10"])
def test_a_bad_policy_is_refused_before_anything_is_created(directory, policy):
    with pytest.raises(cbuff.InvalidArgument):
        directory.create_buffer("bad", item_size=8, length=16, sync=policy)
    with pytest.raises(cbuff.NotFound):
        directory.inspect("bad")


@pytest.mark.parametrize("at, value, names", [
    (104, struct.pack("<I", 4), "byte 104"),
    (108, struct.pack("<I", 1), "byte 108"),
    (104, struct.pack("<I", 2), "byte 112"),                    # every 0
    (112, struct.pack("<Q", 1), "byte 112"),                    # a parameter for none
    (104, struct.pack("<IIQ", 3, 0, 999_999), "byte 112"),      # an interval under 1 ms
])
def test_damaged_policy_words_are_corrupted(directory, at, value, names):
    directory.create_buffer("d", item_size=8, length=16).close()
    with open(directory.ring_path("d"), "r+b") as f:
        f.seek(at)
        f.write(value)
    with pytest.raises(cbuff.Corrupted, match=names):
        directory.open_reader("d")


def test_both_sides_read_and_follow_what_the_other_recorded(directory, cbuff_cli):
    status, _, err = cbuff_cli("create", "s", "--item-size", "8", "--length", "16", "--sync", "every:3")
    assert status == 0, err
    writer = directory.take_over("s")
    for value in range(1, 8):
        writer.push(value)
    assert writer.durable_sequence == 6
    writer.close()
    directory.create_buffer("p", messages=True, capacity=4096, max_message=64, sync="interval:250").close()
    status, out, err = cbuff_cli("inspect", "p", "--json")
    assert status == 0, err
    assert json.loads(out)["syncPolicy"] == "interval:250"
    status, out, err = cbuff_cli("inspect", "s")
    assert "every:3" in out and "below sequence 7" in out, out


def test_parse_and_text_agree(directory):
    for text in ["none", "each-batch", "every:1", "every:1099511627776", "interval:1", "interval:3600000"]:
        assert F.sync_policy_text(*F.parse_sync_policy(text)) == text
