"""Issue 25's odd inputs and odd moments: a ring truncated under a caught-up reader, a handle
closed by another thread while one waits on it, odd timeouts and argument types. Each gets a
typed cbuff error, never a Python built-in error, a silent acceptance or a hang."""

import os
import threading

import pytest

import cbuff
from cbuff import Closed, Corrupted


def _make(directory, kind, name):
    if kind == "items":
        return directory.create_buffer(name, item_size=8, length=1 << 12)
    return directory.create_buffer(name, messages=True, capacity=1 << 16, max_message=64)


@pytest.mark.parametrize("size", [4096, 0])
@pytest.mark.parametrize("kind", ["items", "messages"])
def test_a_caught_up_reader_of_a_truncated_ring_is_told_corrupted(directory, kind, size):
    """Nothing past the header is touched by a reader that read everything, so no access
    faults: the wait's look at the file's size must say it (as Swift's ``isStillNamed``)."""
    writer = _make(directory, kind, f"t{kind}{size}")
    readers = [directory.open_reader(writer.name), directory.open_reader(writer.name, reader="nr")]
    writer.push(1) if kind == "items" else writer.push_message(b"a")
    for reader in readers:
        assert reader.pop() is not None
    os.truncate(directory.ring_path(writer.name), size)
    for reader in readers:
        with pytest.raises(Corrupted):
            reader.wait(0.2)
        with pytest.raises(Corrupted):
            reader.pop(timeout=0.2)
        reader.close()          # never raises for a fault
    writer.close()


def test_a_named_reader_of_a_ring_truncated_to_nothing_is_not_told_it_was_removed(directory):
    writer = directory.create_buffer("t0", item_size=8, length=1024)
    reader = directory.open_reader("t0", reader="nr")
    writer.push(1)
    assert reader.pop() == 1
    os.truncate(directory.ring_path("t0"), 0)
    for _ in range(2):
        with pytest.raises(Corrupted):
            reader.pop()
    reader.close()
    writer.close()


def _closed_under(handle, body):
    """Runs ``body(handle)`` in a thread, closes ``handle`` once that thread waits (its wait
    cannot end by itself for 10 s), and returns what the thread raised."""
    outcome = []
    started = threading.Event()

    def run():
        started.set()
        try:
            body(handle)
            outcome.append(None)
        except BaseException as error:      # the outcome is the test's subject
            outcome.append(error)
    thread = threading.Thread(target=run)
    thread.start()
    started.wait()
    # The waiter is asleep on the futex once it asked to be woken; the close must end it
    # whether it is asleep yet or not, so no synchronisation beyond ``started`` is needed.
    handle.close()
    thread.join(5)
    assert not thread.is_alive(), "the waiter still waits 5 s after close"
    return outcome[0]


@pytest.mark.parametrize("operation", ["follow", "pop", "wait", "message follow", "message pop", "block push"])
def test_a_close_from_another_thread_ends_a_wait_with_closed(directory, operation):
    if operation.startswith("message"):
        directory.create_buffer("m", messages=True, capacity=4096, max_message=64)
        handle = directory.open_reader("m")
    elif operation == "block push":
        handle = directory.create_buffer("b", item_size=8, length=4, policy="block")
        directory.open_reader("b", reader="slow")
        handle.push_many([1, 2, 3, 4])
    else:
        directory.create_buffer("s", item_size=8, length=64)
        handle = directory.open_reader("s")
    bodies = {
        "follow": lambda h: list(h.follow()),
        "message follow": lambda h: list(h.follow()),
        "pop": lambda h: h.pop(timeout=10),
        "message pop": lambda h: h.pop_message(timeout=10),
        "wait": lambda h: h.wait(10),
        "block push": lambda h: h.push(5, timeout=10),
    }
    error = _closed_under(handle, bodies[operation])
    assert isinstance(error, Closed), repr(error)


@pytest.mark.parametrize("kind", ["items", "messages"])
def test_a_closed_handle_says_closed_for_every_property(directory, kind):
    writer = _make(directory, kind, "c" + kind)
    reader = directory.open_reader(writer.name)
    for handle in (writer, reader):
        handle.close()
        with pytest.raises(Closed):
            _ = handle.next_sequence
    with pytest.raises(Closed):
        _ = reader.missed
    assert isinstance(cbuff.Closed("x"), cbuff.CBuffError)


_ODD_TIMEOUTS = [float("nan"), float("inf"), -1.0, 1e300, "1", True]


@pytest.mark.parametrize("timeout", _ODD_TIMEOUTS, ids=repr)
def test_an_odd_timeout_of_a_wait_is_an_invalid_argument(directory, timeout):
    directory.create_buffer("e", item_size=8, length=8)
    reader = directory.open_reader("e")
    for wait in (lambda: reader.wait(timeout), lambda: reader.pop(timeout=timeout),
                 lambda: list(reader.follow(timeout=timeout)),
                 lambda: list(reader.follow(timeout=0.01, coalesce=timeout))):
        with pytest.raises(cbuff.InvalidArgument):
            wait()


@pytest.mark.parametrize("timeout", _ODD_TIMEOUTS, ids=repr)
def test_an_odd_timeout_is_refused_even_when_no_wait_is_needed(directory, timeout):
    """An item waiting, room in the ring: the argument is still checked (and nothing is
    consumed or pushed by the refused call), so that a bad timeout cannot hide until the day
    a wait is needed."""
    writer = directory.create_buffer("e", item_size=8, length=8)
    messages = directory.create_buffer("m", messages=True, capacity=4096, max_message=64)
    writer.push(1)
    messages.push_message("one")
    reader, message_reader = directory.open_reader("e"), directory.open_reader("m")
    for call in (lambda: reader.pop(timeout=timeout), lambda: writer.push(2, timeout=timeout),
                 lambda: writer.push_many([2], timeout=timeout), lambda: message_reader.pop_message(timeout=timeout),
                 lambda: messages.push_message("two", timeout=timeout), lambda: reader.follow(timeout=timeout),
                 lambda: message_reader.follow(timeout=timeout), lambda: reader.follow(coalesce=timeout)):
        with pytest.raises(cbuff.InvalidArgument):
            call()
    assert reader.pop() == 1 and reader.pop() is None and message_reader.pop_message().text == "one"
    assert message_reader.pop_message() is None


@pytest.mark.parametrize("timeout", _ODD_TIMEOUTS, ids=repr)
def test_an_odd_timeout_of_follow_async_is_an_invalid_argument(directory, timeout):
    import asyncio
    directory.create_buffer("e", item_size=8, length=8)
    reader = directory.open_reader("e")

    async def follow():
        async for _ in reader.follow_async(timeout=timeout):
            pass
    with pytest.raises(cbuff.InvalidArgument):
        asyncio.run(asyncio.wait_for(follow(), 5))


@pytest.mark.parametrize("timeout", [*_ODD_TIMEOUTS, None], ids=repr)
def test_an_odd_lock_timeout_is_an_invalid_argument(data_dir, timeout):
    with pytest.raises(cbuff.InvalidArgument):
        cbuff.DataDirectory(data_dir, lock_timeout=timeout)


@pytest.mark.parametrize("call", [
    lambda d: d.create_buffer("p", item_size=8, length=4, policy=[]),
    lambda d: d.create_buffer("p", fields=5, length=4),
    lambda d: d.create_buffer("p", item_size=True, length=4),
    lambda d: d.create_buffer("p", item_size=8, length=True),
    lambda d: d.create_buffer("p", messages=True, capacity=4096, max_message=64, precise_time="no"),
], ids=["policy-list", "fields-int", "item-size-bool", "length-bool", "precise-time-str"])
def test_a_wrongly_typed_creation_argument_is_an_invalid_argument(directory, call):
    with pytest.raises(cbuff.InvalidArgument):
        call(directory)


@pytest.mark.parametrize("path", [b"/tmp/x", 5, "/tmp/with\0nul", "/tmp/not-utf8-\udcff"], ids=repr)
def test_a_data_directory_path_that_is_not_a_text_path_is_an_invalid_argument(path):
    with pytest.raises(cbuff.InvalidArgument):
        cbuff.DataDirectory(path)


def test_wrongly_typed_batches_are_invalid_arguments(directory):
    writer = directory.create_buffer("b", item_size=8, length=8)
    for values in (5, None, "12"):
        with pytest.raises(cbuff.InvalidArgument):
            writer.push_many(values)
    reader = directory.open_reader("b")
    for count in (None, 1.5, True, -1):
        with pytest.raises(cbuff.InvalidArgument):
            reader.pop_many(count)
    pytest.importorskip("numpy")
    for count in ("a", None, 2.0):
        with pytest.raises(cbuff.InvalidArgument):
            reader.pop_array(count)


def test_the_seed_api_says_only_what_was_given(data_dir):
    from shared_cbuff import SharedCircularBuffer
    path = os.path.join(data_dir, "d")
    creator = SharedCircularBuffer("s", create=True, item_size=4, length=8, directory=path)
    with pytest.raises(cbuff.InvalidArgument, match=r"not item size 8\.$"):
        SharedCircularBuffer("s", item_size=8, directory=path)
    with pytest.raises(cbuff.InvalidArgument):
        SharedCircularBuffer("s", directory=5)      # type: ignore[arg-type]
    creator.cleanup()
