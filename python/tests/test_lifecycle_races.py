"""A buffer's life seen from beside it: removed and created again while others open, inspect
and list it (seen before or after, never as damage), a directory where its ring file belongs,
and a second create of a buffer that never had a writer. The same rules and sentences as the
cbuff tool (Tests/SharedRingTests/RemoveCreateRaceTests.swift, Tests/CLITests/OperatorCLITests.swift)."""

import os
import subprocess
import sys
import textwrap

import pytest

import cbuff
from cbuff.errors import BufferAlreadyCreated, CBuffError, Corrupted, NotFound

CHURN = textwrap.dedent("""
    import sys
    import cbuff
    directory = cbuff.DataDirectory(sys.argv[1])
    for _ in range(int(sys.argv[2])):
        directory.remove("r")
        with directory.create_buffer("r", item_size=8, length=16) as writer:
            writer.push(1)
""")


def test_lookers_see_the_buffer_before_or_after_a_remove_and_create_never_damaged(data_dir):
    path = os.path.join(data_dir, "d")
    cbuff.DataDirectory(path).create_buffer("r", item_size=8, length=16).close()
    # The churn is another process, as a user's `cbuff rm` and `cbuff create` would be.
    churn = subprocess.Popen([sys.executable, "-c", CHURN, path, "300"])
    looker = cbuff.DataDirectory(path)
    looks, damage = 0, []
    try:
        while churn.poll() is None:
            looks += 1
            for look in (lambda: looker.inspect("r"), lambda: looker.open_reader("r").close(), looker.buffers):
                try:
                    look()
                except NotFound:
                    pass            # removed and not created yet: seen after the remove
                except CBuffError as error:
                    damage.append(str(error))
    finally:
        churn.wait(timeout=120)
    assert churn.returncode == 0
    assert looks > 0
    assert damage == [], f"{len(damage)} of {looks * 3} looks saw damage, the first: {damage[0]}"


@pytest.mark.parametrize("force", [False, True])
def test_a_directory_at_the_ring_path_is_never_a_ring_file(directory, cbuff_cli, force):
    directory.create_buffer("d", item_size=8, length=4).close()
    ring = directory.ring_path("d")
    os.unlink(ring)
    os.mkdir(ring)
    with pytest.raises(Corrupted, match="was removed, but a directory"):
        directory.remove("d", force=force)
    with pytest.raises(NotFound):
        directory.inspect("d")
    with pytest.raises(Corrupted, match="a directory is where a file should be"):
        directory.create_buffer("d", item_size=8, length=4)
    assert [entry for entry in os.listdir(directory.path) if entry.endswith(".tmp")] == []
    # The cbuff tool says the same, with its code.
    status, _, stderr = cbuff_cli("create", "d", "--item-size", "8", "--length", "4")
    assert status == 65 and "a directory is where a file should be" in stderr
    os.rmdir(ring)


def test_a_second_create_of_a_never_written_buffer_says_it_had_no_writer(directory, cbuff_cli):
    assert cbuff_cli("create", "n", "--item-size", "8", "--length", "4")[0] == 0     # no writer
    with pytest.raises(BufferAlreadyCreated, match="has had no writer yet"):
        directory.create_buffer("n", item_size=8, length=4)
    with directory.take_over("n") as writer:
        writer.push(1)
    with pytest.raises(BufferAlreadyCreated, match="its writer is gone"):
        directory.create_buffer("n", item_size=8, length=4)
    status, _, stderr = cbuff_cli("create", "n", "--item-size", "8", "--length", "4")
    assert status == 73 and "its writer is gone" in stderr


def _forget_row(directory, name):
    """Deletes the row of ``name`` as a lost registry would: the ring file stays."""
    import sqlite3
    with sqlite3.connect(os.path.join(directory.path, "registry.sqlite")) as db:
        db.execute("DELETE FROM buffers WHERE name = ?", (name,))


def test_create_never_replaces_a_ring_file_that_holds_data(directory, cbuff_cli):
    with directory.create_buffer("kept", item_size=8, length=4) as writer:
        for value in (1, 2, 3):
            writer.push(value)
    _forget_row(directory, "kept")
    with pytest.raises(BufferAlreadyCreated, match=r"without a registry row and holds data \(3 written\)"):
        directory.create_buffer("kept", item_size=8, length=4)
    status, _, stderr = cbuff_cli("create", "kept", "--item-size", "8", "--length", "4")
    assert status == 73 and "holds data (3 written)" in stderr
    assert os.path.getsize(directory.ring_path("kept")) > 0
    directory.remove("kept")               # finishes what a lost registry left: the file goes
    assert not os.path.lexists(directory.ring_path("kept"))
    directory.create_buffer("kept", item_size=8, length=4).close()


def test_create_replaces_the_debris_of_a_killed_creator(directory):
    directory.create_buffer("debris", item_size=8, length=4).close()
    _forget_row(directory, "debris")
    directory.create_buffer("debris", item_size=8, length=4).close()


def test_a_row_without_its_ring_file_is_said_by_create(directory, cbuff_cli):
    directory.create_buffer("halfway", item_size=8, length=4).close()
    os.unlink(directory.ring_path("halfway"))
    with pytest.raises(BufferAlreadyCreated, match="is missing"):
        directory.create_buffer("halfway", item_size=8, length=4)
    status, stdout, _ = cbuff_cli("rm", "--dead")
    assert status == 0 and stdout.split() == ["halfway"]


KILLED_WRITER = textwrap.dedent("""
    import os, sys, cbuff
    writer = cbuff.DataDirectory(sys.argv[1]).take_over("crashed")
    writer.push(1)
    os.kill(os.getpid(), 9)
""")


def test_a_take_over_that_wrote_nothing_leaves_the_crash_as_it_found_it(directory):
    directory.create_buffer("crashed", item_size=8, length=4).close()
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, directory.path], timeout=60)
    assert killed.returncode == -9
    before = directory.inspect("crashed")
    assert before.writer_state == "died"
    directory.take_over("crashed").close()
    after = directory.inspect("crashed")
    assert after.writer_state == "died" and after.writer_pid == before.writer_pid
    with directory.take_over("crashed") as writer:
        writer.push(2)
    assert directory.inspect("crashed").writer_state == "closed"


SEED_CREATOR = textwrap.dedent("""
    import sys
    from shared_cbuff import SharedCircularBuffer
    buffer = SharedCircularBuffer("x", create=True, length=4, directory=sys.argv[1])
    buffer.push(1)
    print("created", flush=True)
    sys.stdin.readline()        # exits normally when told: its cleanup runs at exit
""")


def test_a_seed_creators_exit_removes_only_the_buffer_it_created(directory):
    creator = subprocess.Popen([sys.executable, "-c", SEED_CREATOR, directory.path],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert creator.stdout is not None and creator.stdout.readline() == "created\n"
        directory.remove("x", force=True)                                  # cbuff rm --force x
        with directory.create_buffer("x", item_size=1, length=4) as newer:    # someone else's now
            newer.push(7)
            assert creator.stdin is not None
            creator.stdin.close()
            assert creator.wait(timeout=60) == 0
            assert [status.name for status in directory.buffers()] == ["x"]
            assert directory.inspect("x").writer_alive
    finally:
        creator.kill()
        creator.wait(timeout=60)


def test_remove_keeps_a_ring_file_with_two_names(directory, cbuff_cli):
    directory.create_buffer("linked", item_size=8, length=4).close()
    os.link(directory.ring_path("linked"), os.path.join(directory.path, "elsewhere"))
    with pytest.raises(Corrupted, match="has 2 names"):
        directory.remove("linked")
    assert os.path.exists(directory.ring_path("linked"))
    status, _, stderr = cbuff_cli("rm", "linked")
    assert status == 65 and "has 2 names" in stderr


def test_a_replay_beyond_what_was_published_is_refused(directory, cbuff_cli):
    with directory.create_buffer("r", item_size=8, length=4) as writer:
        writer.push(1)
    for start in (2, 10**6, 2**64):
        with pytest.raises(cbuff.errors.InvalidArgument, match="a reader cannot start at"):
            directory.open_reader("r", start=start)
    directory.open_reader("r", start=1).close()            # the next to be published: fine


def test_survey_reports_every_healthy_buffer_beside_a_damaged_one(directory):
    for name in ("a", "b", "c"):
        directory.create_buffer(name, item_size=8, length=4).close()
    os.unlink(directory.ring_path("b"))
    survey = directory.survey()
    assert [status.name for status in survey.buffers] == ["a", "c"]
    assert [(damage.name, type(damage.problem)) for damage in survey.damaged] == [("b", Corrupted)]
    with pytest.raises(Corrupted, match="is missing"):
        directory.buffers()
