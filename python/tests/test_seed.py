"""The seed library's behaviour (shared_cbuff's README and tests), on cbuff, written anew: the
same calls, the same errors. The one intended difference is the last test, named for it."""
import pytest

from shared_cbuff.buffer import SharedCircularBuffer
from shared_cbuff.errors import BufferAlreadyCreated, CBuffException, ReadOperationsForbidden, WriteOperationsForbidden


@pytest.fixture(autouse=True)
def data_directory(data_dir, monkeypatch):
    monkeypatch.setenv("CBUFF_DIR", data_dir + "/d")


def test_the_readme_session():
    writer = SharedCircularBuffer("shared_buffer_a", create=True, length=5)
    reader = SharedCircularBuffer("shared_buffer_a")
    for value in [50, 10, 20, 30]:
        writer.push(value)
    assert reader.popitem() == 50
    assert reader.popmany(3) == [10, 20, 30]
    writer.cleanup()
    reader.cleanup()


def test_defaults_and_what_a_reader_discovers():
    writer = SharedCircularBuffer("defaults", create=True)
    assert (writer.item_size, writer.length) == (1, 2)
    reader = SharedCircularBuffer("defaults")
    assert (reader.item_size, reader.length, reader.name) == (1, 2, "defaults")
    assert str(writer) == "SharedCircularBuffer (defaults)"
    assert str(reader) == "SharedCircularBuffer (defaults) (0.00% full)"
    writer.push(1)
    assert str(reader) == "SharedCircularBuffer (defaults) (50.00% full)"


def test_a_length_below_2_is_a_value_error_before_any_lookup():
    for create in (True, False):
        with pytest.raises(ValueError) as raised:
            SharedCircularBuffer("never-created", create=create, length=1)
        assert raised.type is ValueError               # the seed's own test asks for exactly this type


def test_a_reader_giving_the_buffers_geometry_or_the_defaults_opens_it():
    SharedCircularBuffer("geometry", create=True, item_size=3, length=16)
    assert SharedCircularBuffer("geometry", item_size=3).item_size == 3
    assert SharedCircularBuffer("geometry", item_size=3, length=16).length == 16
    with pytest.raises(ValueError):
        SharedCircularBuffer("geometry", item_size=4)


def test_creating_twice_is_buffer_already_created():
    SharedCircularBuffer("twice", create=True)
    with pytest.raises(BufferAlreadyCreated):
        SharedCircularBuffer("twice", create=True)


def test_a_reader_cannot_write_and_the_writer_cannot_read():
    writer = SharedCircularBuffer("roles", create=True, item_size=2, length=4)
    reader = SharedCircularBuffer("roles")
    with pytest.raises(WriteOperationsForbidden):
        reader.push(1)
    with pytest.raises(ReadOperationsForbidden):
        writer.popitem()
    with pytest.raises(ReadOperationsForbidden):
        writer.popmany(2)
    assert issubclass(WriteOperationsForbidden, CBuffException) and issubclass(BufferAlreadyCreated, CBuffException)


def test_usage_counts_what_is_waiting():
    writer = SharedCircularBuffer("usage", create=True, item_size=4, length=8)
    reader = SharedCircularBuffer("usage")
    assert writer.usage == 0 and reader.usage == 0
    for value in range(3):
        writer.push(value)
    assert writer.usage == 3 and reader.usage == 3
    reader.popitem()
    assert reader.usage == 2
    assert reader.popmany(10) == [1, 2] and reader.popitem() is None


def test_values_that_do_not_fit_are_refused_never_truncated():
    writer = SharedCircularBuffer("fit", create=True, item_size=1, length=4)
    with pytest.raises(CBuffException):
        writer.push(256)
    with pytest.raises(CBuffException):
        writer.push(-1)
    writer.push(255)
    assert SharedCircularBuffer("fit").popitem() == 255


def test_cleanup_removes_the_buffer():
    writer = SharedCircularBuffer("gone", create=True)
    writer.cleanup()
    SharedCircularBuffer("gone", create=True)       # the name is free again


def test_intended_difference_a_ring_of_length_l_keeps_the_l_most_recent_items():
    # The seed stored its write pointer modulo the ring: after exactly L pushes the pointer was
    # back at 0 and a reader saw an empty buffer. cbuff counts items, not slots.
    writer = SharedCircularBuffer("exactly", create=True, length=3)
    reader = SharedCircularBuffer("exactly")
    for value in [7, 8, 9]:
        writer.push(value)
    assert reader.popmany(3) == [7, 8, 9]
