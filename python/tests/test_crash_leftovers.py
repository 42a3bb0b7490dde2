"""What a machine crash can leave, read by the Python package as the cbuff tool reads it
(issue 26; Tests/SharedRingProcessTests/LifecycleEvidenceTests.swift and WALRecoveryTests.swift):
a registry row over a ring file that holds no ring is named in the tool's own sentence with its
one recovery, ``cbuff rm NAME``, which ``remove`` performs; and a registry log whose unfinished
transaction SQLite drops is read as SQLite reads it."""

import os
import sqlite3
import struct

import pytest

import cbuff
from cbuff.errors import BufferAlreadyCreated, Corrupted, NotFound

LOSSES = {
    "zeroed": lambda path: open(path, "r+b").write(bytes(os.path.getsize(path))),
    "empty": lambda path: os.truncate(path, 0),
    "short-zeroed": lambda path: (os.truncate(path, 0), os.truncate(path, 100)),
    "missing": os.unlink,
}


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_a_row_over_a_lost_ring_file_is_said_as_the_tool_says_it_and_removed(directory, cbuff_cli, loss):
    with directory.create_buffer("lost", item_size=8, length=16) as writer:
        writer.push(1)
    LOSSES[loss](directory.ring_path("lost"))
    status, _, said = cbuff_cli("pop", "lost")
    assert status == 65 and "`cbuff rm lost`" in said, (status, said)
    for attempt in (lambda: directory.open_reader("lost"), lambda: directory.take_over("lost"), lambda: directory.inspect("lost")):
        with pytest.raises(Corrupted) as raised:
            attempt()
        assert raised.value.message in said, (raised.value.message, said)
    status, _, refused = cbuff_cli("create", "lost", "--item-size", "8", "--length", "16")
    with pytest.raises(BufferAlreadyCreated) as raised:
        directory.create_buffer("lost", item_size=8, length=16)
    assert status == 73 and raised.value.message in refused, (raised.value.message, refused)
    directory.remove("lost")            # no force: no writer holds it
    assert not os.path.lexists(directory.ring_path("lost"))
    with pytest.raises(NotFound):
        directory.inspect("lost")
    directory.create_buffer("lost", item_size=8, length=16).close()


def test_a_damaged_ring_file_with_a_header_is_not_lost(directory, cbuff_cli):
    directory.create_buffer("damaged", item_size=8, length=16).close()
    with open(directory.ring_path("damaged"), "r+b") as f:
        f.write(bytes(8))              # the magic number gone, the rest of the header kept
    with pytest.raises(Corrupted) as raised:
        directory.open_reader("damaged")
    assert "cbuff rm" not in raised.value.message
    with pytest.raises(BufferAlreadyCreated):
        directory.create_buffer("damaged", item_size=8, length=16)
    assert os.path.exists(directory.ring_path("damaged"))


def test_a_zeroed_header_over_items_is_not_lost(directory, cbuff_cli):
    """A machine crash can lose a ring file's header page and keep its slots: that file holds
    items, so it is a damaged file, never a lost one (the Swift side's
    LifecycleEvidenceTests.aZeroedHeaderOverItemsIsNeverTakenForALostRing)."""
    writer = directory.create_buffer("items", item_size=8, length=64)
    for value in range(1, 41):
        writer.push(value)
    writer.close()
    with open(directory.ring_path("items"), "r+b") as f:
        f.write(bytes(4096))
    with pytest.raises(Corrupted) as raised:
        directory.open_reader("items")
    assert "only zeros" not in raised.value.message and "cbuff rm" not in raised.value.message
    with sqlite3.connect(os.path.join(directory.path, "registry.sqlite")) as db:
        db.execute("DELETE FROM buffers WHERE name = 'items'")
    with pytest.raises(BufferAlreadyCreated):
        directory.create_buffer("items", item_size=8, length=64)
    assert os.path.getsize(directory.ring_path("items")) > 4096


def test_create_replaces_a_zeroed_ring_file_without_a_row(directory):
    directory.create_buffer("zeros", item_size=8, length=16).close()
    with sqlite3.connect(os.path.join(directory.path, "registry.sqlite")) as db:
        db.execute("DELETE FROM buffers WHERE name = 'zeros'")
    LOSSES["zeroed"](directory.ring_path("zeros"))
    with directory.create_buffer("zeros", item_size=8, length=16) as writer:
        writer.push(5)
    assert directory.open_reader("zeros").pop() == 5


def _checksum(data, seed):
    s0, s1 = seed
    words = struct.unpack(f"<{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def test_an_uncommitted_transaction_written_out_of_order_is_dropped_as_sqlite_drops_it(directory, cbuff_cli):
    """The registry after "a", after "a" and "b", after "a", "b" and "c", as real pages; a log
    over the first with "b" committed and "c"'s frames written out of order (its first frame's
    page never reached the disk, its header and the later frames did): SQLite reads "a" and "b", and so do the package and the tool."""
    registry = os.path.join(directory.path, "registry.sqlite")
    images = []
    for name in ("a", "b", "c"):
        directory.create_buffer(name, item_size=8, length=16).close()
        with open(registry, "rb") as f:
            images.append(f.read())
    os.unlink(directory.ring_path("c"))
    page = struct.unpack(">H", images[0][16:18])[0]
    salts = (0x1234, 0x5678)
    log = bytearray(struct.pack(">IIIIII", 0x377F0682, 3007000, page, 0, *salts))
    sums = _checksum(bytes(log), (0, 0))
    log += struct.pack(">II", *sums)
    transactions = []
    for before, after in ((images[0], images[1]), (images[1], images[2])):
        pages = [start for start in range(0, len(after), page) if after[start:start + page] != before[start:start + page]]
        frames = []
        for n, start in enumerate(pages):
            head = struct.pack(">II", start // page + 1, len(after) // page if n == len(pages) - 1 else 0)
            sums = _checksum(head + after[start:start + page], sums)
            frames.append((len(log), len(log) + 24 + page))
            log += head + struct.pack(">IIII", *salts, *sums) + after[start:start + page]
        transactions.append(frames)
    assert len(transactions[1]) >= 2
    start, end = transactions[1][0]
    log[start + 24:end] = bytes(end - start - 24)   # its header reached the disk, its page did not
    for suffix in ("-shm", "-wal"):
        if os.path.exists(registry + suffix):
            os.unlink(registry + suffix)
    with open(registry, "wb") as f:
        f.write(images[0])
    with open(registry + "-wal", "wb") as f:
        f.write(log)
    assert sorted(b.name for b in cbuff.DataDirectory(directory.path).buffers()) == ["a", "b"]
    status, out, err = cbuff_cli("list")
    assert status == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["a", "b"], (status, out, err)
    with sqlite3.connect(registry) as db:
        assert [row[0] for row in db.execute("SELECT name FROM buffers ORDER BY name")] == ["a", "b"]


@pytest.mark.parametrize("damage", ["short", "magic", "not-its-own", "directory"])
def test_create_over_a_ring_file_a_take_over_refuses_says_so_as_the_tool_does(directory, cbuff_cli, damage):
    """A damaged file is never advised to be taken over (issue 26, F4): the take-over's own
    refusal and the one recovery, ``cbuff rm NAME``, in the tool's words."""
    with directory.create_buffer("hurt", item_size=8, length=16) as writer:
        writer.push(1)
    path = directory.ring_path("hurt")
    if damage == "short":
        os.truncate(path, 100)
    elif damage == "magic":
        with open(path, "r+b") as f:
            f.write(bytes(8))
    elif damage == "not-its-own":
        with open(path, "r+b") as f:
            f.seek(64)                  # the creation time the row records
            f.write(struct.pack("<Q", 1))
    else:
        os.unlink(path)
        os.mkdir(path, 0o700)
    with pytest.raises(Corrupted) as refused:
        directory.take_over("hurt")
    with pytest.raises(BufferAlreadyCreated) as raised:
        directory.create_buffer("hurt", item_size=8, length=16)
    message = raised.value.message
    # (A directory is said as what it is; the take-over's writable open meets EISDIR first.)
    assert refused.value.message in message or damage == "directory", (refused.value.message, message)
    assert "`cbuff rm hurt`" in message and "take it over" not in message, message
    status, _, said = cbuff_cli("create", "hurt", "--item-size", "8", "--length", "16")
    assert status == 73 and message in said, (message, said)


def test_a_ring_file_under_its_temporary_name_is_named_with_its_recovery(directory, cbuff_cli):
    """The lost-rename state (issue 26, F7): the row committed, the ring file's name lost, the
    buffer under its temporary name. The sentence names that file and ``mv`` back, as the tool
    says it; renaming it back recovers every item."""
    with directory.create_buffer("renamed", item_size=8, length=64) as writer:
        for value in (1, 2, 3):
            writer.push(value)
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    temporary = os.path.join(directory.path, f".renamed.{pid_max + 1}.0.tmp")
    os.rename(directory.ring_path("renamed"), temporary)
    recovery = f"`mv {temporary} {directory.ring_path('renamed')}` recovers the buffer"
    status, _, said = cbuff_cli("tail", "renamed")
    with pytest.raises(Corrupted) as raised:
        directory.open_reader("renamed")
    assert status == 65 and recovery in said and raised.value.message in said, (raised.value.message, said)
    os.rename(temporary, directory.ring_path("renamed"))
    with directory.open_reader("renamed") as reader:
        assert [reader.pop() for _ in range(3)] == [1, 2, 3]


STRACE = "/usr/bin/strace"


def _strace_works():
    import subprocess
    return os.access(STRACE, os.X_OK) and subprocess.run([STRACE, "-o", "/dev/null", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _strace_works(), reason="strace (with ptrace allowed) is needed to inject a failing fdatasync into SQLite; the fault is never faked")
def test_a_create_or_removal_whose_commit_fails_leaves_a_whole_directory(directory, cbuff_cli):
    """A failed commit is "unknown", not "rolled back" (issue 26, F6): each fdatasync of a
    create in turn fails with EIO (strace injects it); no row is ever left over a missing ring
    file, and a removal that failed after its unlink says so and how to finish."""
    import subprocess
    import sys
    import textwrap
    directory.create_buffer("warm", item_size=8, length=4).close()
    source = os.path.dirname(os.path.dirname(cbuff.__file__))

    def failing(nth, code):
        program = textwrap.dedent("""
            import sys, cbuff
            d = cbuff.DataDirectory(sys.argv[1])
            try:
                %s
            except cbuff.CBuffError as error:
                print(error.code, error.message)
        """) % code
        done = subprocess.run([STRACE, "-f", "-o", "/dev/null", "-e", f"inject=fdatasync:error=EIO:when={nth}",
                               sys.executable, "-c", program, directory.path],
                              env={**os.environ, "PYTHONPATH": source}, capture_output=True, timeout=60)
        return done.stdout.decode()
    told = False
    for nth in range(1, 7):
        said = failing(nth, "d.create_buffer('c', item_size=8, length=16).close()")
        told = told or "cannot be told" in said
        assert not cbuff.DataDirectory(directory.path).survey().damaged, (nth, said)
        status, out, _ = cbuff_cli("list")
        assert status == 0, (nth, said, out)
        try:
            directory.remove("c")       # a whole buffer, or a ring file no row names: it goes
        except NotFound:
            pass                        # nothing was left
    assert told, "no injected fdatasync failed a create's commit"
    finished = False
    for nth in range(1, 5):
        with directory.create_buffer("c", item_size=8, length=16) as writer:
            writer.push(5)
        said = failing(nth, "d.remove('c')")
        if said and not os.path.exists(directory.ring_path("c")):
            finished = True
            assert "is deleted already" in said and "`cbuff rm c` again finishes the removal" in said, said
        if said:
            try:
                directory.remove("c")
            except NotFound:
                pass
        assert not cbuff.DataDirectory(directory.path).survey().damaged, (nth, said)
    assert finished, "no injected fdatasync failed a removal after its unlink"
