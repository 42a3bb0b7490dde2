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
