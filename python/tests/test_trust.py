"""The trust rules of CrashSafety.md and SPEC §3 as Python keeps them: a ring truncated under a
process is a typed error (never SIGBUS), a row is its ring file's whole (schema 5's
ring_created_ns, format version, kind), a ring file has one name, counters stop at 2^63 - 1,
the registry is built complete, and SQLite's errors are cbuff's."""
import os
import pickle
import sqlite3
import struct
import subprocess
import sys
import textwrap

import pytest

import cbuff
from cbuff import _format as F
from cbuff import _registry
from cbuff.errors import CBuffError, Corrupted, NotFound, TimedOut, WriterBusy

from conftest import swift_binary


def run_child(script, *arguments):
    """Runs ``script`` in a fresh Python process: (status, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *arguments], capture_output=True, timeout=120)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


TRUNCATED_UNDER_A_READER = """
    import os, subprocess, sys, faulthandler
    import cbuff
    from cbuff import _system
    faulthandler.enable()          # the guard chains to it for faults elsewhere; it must not take ours
    directory = cbuff.DataDirectory(sys.argv[1])
    kind, size = sys.argv[2], int(sys.argv[3])
    if kind == "messages":
        writer = directory.create_buffer("t", messages=True, capacity=1 << 20, max_message=64)
        for n in range(5000):
            writer.push_message(b"m%d" % n)
    else:
        writer = directory.create_buffer("t", item_size=8, length=1 << 17)
        writer.push_many(range(100_000))
    reader = directory.open_reader("t")
    first = reader.pop()
    # Another process truncates the file under both mappings.
    subprocess.run(["truncate", "-s", str(size), directory.ring_path("t")], check=True)
    outcomes = []
    for step in ("pop_many", "pop", "push", "inspect"):
        try:
            if step == "pop_many":
                if kind == "messages":
                    while reader.pop_message() is not None:
                        pass
                else:
                    while reader.pop_many(1000):
                        pass
            elif step == "pop":
                reader.pop()
            elif step == "push":
                writer.push(b"x" if kind == "messages" else 1)
            else:
                directory.inspect("t")
            outcomes.append(step + ":none")
        except cbuff.CBuffError as error:
            outcomes.append(step + ":" + error.code)
    print(" ".join(outcomes), "faults=%d" % _system.faults)
"""


@pytest.mark.parametrize("kind,size", [("items", 4096), ("items", 8192), ("items", 0), ("messages", 4096), ("messages", 0)])
def test_a_ring_truncated_under_a_reader_and_a_writer_is_corrupted_never_sigbus(data_dir, kind, size):
    status, out, err = run_child(TRUNCATED_UNDER_A_READER, os.path.join(data_dir, "d"), kind, str(size))
    assert status == 0, (status, out, err)          # -7 would be SIGBUS
    words = dict(part.split(":") for part in out.split()[:4])
    assert words["pop_many"] == "corrupted" and words["pop"] == "corrupted" and words["push"] == "corrupted", out
    assert words["inspect"] == "corrupted", out      # opened anew: the size no longer matches the header
    assert int(out.split("faults=")[1]) >= 1, out


def test_a_sigbus_elsewhere_still_kills(data_dir):
    """The guard handles faults in ring mappings only: any other SIGBUS keeps its default action."""
    status, out, err = run_child("""
        import mmap, os, sys, tempfile
        import cbuff
        directory = cbuff.DataDirectory(sys.argv[1])
        directory.create_buffer("t", item_size=8, length=16).push(1)     # the guard is installed
        with tempfile.TemporaryFile() as f:
            f.truncate(8192)
            m = mmap.mmap(f.fileno(), 8192)
            f.truncate(0)
            print(m[5000], flush=True)
        print("survived")
    """, os.path.join(data_dir, "d"))
    assert status == -7 and "survived" not in out, (status, out, err)


def test_a_row_is_its_ring_files_whole(directory):
    directory.create_buffer("b", item_size=8, length=16, integrity="checked").close()
    db = sqlite3.connect(os.path.join(directory.path, "registry.sqlite"))
    created, pid = db.execute("SELECT ring_created_ns, writer_pid FROM buffers WHERE name = 'b'").fetchone()
    with open(directory.ring_path("b"), "rb") as ring:
        ring.seek(F.OFF_CREATED_AT)
        assert created == int.from_bytes(ring.read(8), "little") > 0
    assert pid is None                                  # create records no writer
    for sql, expect in (("UPDATE buffers SET ring_created_ns = ring_created_ns + 1", Corrupted),
                        ("UPDATE buffers SET ring_created_ns = NULL", None),        # NULL is not checked
                        ("UPDATE buffers SET format_version = 3", Corrupted),
                        ("UPDATE buffers SET format_version = 9", Corrupted),
                        ("UPDATE buffers SET format_version = 2", Corrupted),   # its slots carry check words: version 4
                        ("UPDATE buffers SET format_version = 4", None),
                        ("UPDATE buffers SET writer_pid = 5, writer_since = NULL", Corrupted),
                        ("UPDATE buffers SET writer_pid = NULL", None),
                        ("UPDATE buffers SET created_at = 'yesterday'", Corrupted)):
        db.execute(sql)
        db.commit()
        if expect is None:
            directory.open_reader("b").close()
        else:
            with pytest.raises(expect):
                directory.open_reader("b")
            db.execute("UPDATE buffers SET ring_created_ns = NULL, format_version = 4, writer_pid = NULL, writer_since = NULL, created_at = '2026-12-07T06:00:00.000Z'")
            db.commit()
    db.close()


def test_another_buffers_ring_file_renamed_into_place_is_refused(directory):
    directory.create_buffer("a", item_size=8, length=16).close()
    directory.create_buffer("b", item_size=8, length=16).close()
    os.replace(directory.ring_path("a"), directory.ring_path("b"))
    with pytest.raises(Corrupted, match="not its own"):
        directory.open_reader("b")


def test_a_ring_file_with_two_names_is_refused_even_read_only(directory):
    directory.create_buffer("b", item_size=8, length=16).close()
    os.link(directory.ring_path("b"), os.path.join(directory.path, "elsewhere"))
    for attempt in (lambda: directory.open_reader("b"), lambda: directory.take_over("b"), lambda: directory.inspect("b")):
        with pytest.raises(Corrupted, match="has 2 names \\(a hard link"):
            attempt()


def test_pushes_stop_at_2_to_the_63_minus_1(directory):
    writer = directory.create_buffer("far", item_size=8, length=16)
    writer.close()
    with open(directory.ring_path("far"), "r+b") as ring:
        for offset in (F.OFF_PUBLISHED, F.OFF_CLAIMED_OVERWRITE):
            ring.seek(offset)
            ring.write((F.MAX_COUNT - 2).to_bytes(8, "little"))
    writer = directory.take_over("far")
    writer.push(1)
    writer.push(2)
    with pytest.raises(Corrupted, match="cannot take another push"):
        writer.push(3)
    with pytest.raises(Corrupted):
        writer.push_many([4, 5])
    writer.close()
    reader = directory.open_reader("far", start=F.MAX_COUNT - 2)
    assert reader.pop_many(10) == [1, 2]


def test_a_locked_registry_is_timed_out_not_sqlite(directory):
    directory.create_buffer("b", item_size=8, length=16).close()
    holder = sqlite3.connect(os.path.join(directory.path, "registry.sqlite"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        quick = cbuff.DataDirectory(directory.path, lock_timeout=0.2)
        with pytest.raises(TimedOut):
            quick.create_buffer("c", item_size=8, length=16)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_the_registry_is_built_whole_and_a_leftover_is_cleared(data_dir):
    path = os.path.join(data_dir, "d")
    os.makedirs(path, mode=0o700)
    with open(os.path.join(path, "registry.sqlite.new"), "wb") as leftover:
        leftover.write(b"a creator died here")
    directory = cbuff.DataDirectory(path)
    directory.create_buffer("b", item_size=8, length=16).close()
    assert sorted(os.listdir(path)) == ["b.ring", "registry.lock", "registry.sqlite"]
    db = sqlite3.connect(os.path.join(path, "registry.sqlite"))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [row[0] for row in db.execute("SELECT identifier FROM grdb_migrations")][-1] == "0005_ring_identity"
    db.close()


def test_remove_refuses_a_live_writer_and_never_follows_a_link(directory, data_dir):
    writer = directory.create_buffer("b", item_size=8, length=16)
    with pytest.raises(WriterBusy):
        directory.remove("b")
    writer.close()
    victim = os.path.join(data_dir, "victim")
    with open(victim, "w") as f:
        f.write("keep me")
    os.unlink(directory.ring_path("b"))
    os.symlink(victim, directory.ring_path("b"))
    directory.remove("b")
    assert open(victim).read() == "keep me" and not os.path.lexists(directory.ring_path("b"))
    with pytest.raises(NotFound):
        directory.open_reader("b")


def test_every_error_is_a_cbuff_error(directory, data_dir):
    """Files that are not what they should be never surface as sqlite3, OSError or ValueError."""
    directory.create_buffer("b", item_size=8, length=16).close()
    registry = os.path.join(directory.path, "registry.sqlite")
    os.unlink(registry)
    os.mkfifo(registry, 0o600)
    with pytest.raises(Corrupted):
        directory.open_reader("b")
    os.unlink(registry)
    os.symlink(os.path.join(data_dir, "nowhere"), registry)      # a dangling link
    with pytest.raises(Corrupted):
        directory.create_buffer("c", item_size=8, length=16)
    assert not os.path.exists(os.path.join(data_dir, "nowhere"))
    os.unlink(registry)
    with open(registry, "wb") as f:
        f.write(b"SQLite format 3\0" + bytes(84) + b"garbage" * 100)
    with pytest.raises(CBuffError):
        directory.open_reader("b")


def test_closed_standard_streams_are_never_taken_by_a_ring_lock_or_registry(data_dir):
    """A process started with fd 0 and 2 closed: none of cbuff's descriptors lands there."""
    status, out, err = run_child("""
        import os, sys
        os.close(0)
        os.close(2)
        import cbuff
        directory = cbuff.DataDirectory(sys.argv[1])
        writer = directory.create_buffer("t", item_size=8, length=16)
        writer.push(5)
        reader = directory.open_reader("t")
        value = reader.pop()
        messages = directory.create_buffer("m", messages=True, capacity=4096, max_message=16)
        messages.push_message(b"x")
        # SQLite itself parks /dev/null on a closed standard slot it meets (its unix VFS does so
        # that it never writes a database through fd 0-2): that is harmless; a cbuff file is not.
        taken = [os.readlink("/proc/self/fd/%d" % slot) for slot in (0, 2) if os.path.exists("/proc/self/fd/%d" % slot)]
        print(value, [path for path in taken if path != "/dev/null"], flush=True)
    """, os.path.join(data_dir, "d"))
    assert status == 0 and out.split() == ["5", "[]"], (status, out, err)


def test_a_wal_that_lost_committed_frames_is_corrupted_a_sound_one_is_read(directory):
    """The Swift side's WALCheck: SQLite would silently drop every commit after a damaged frame."""
    directory.create_buffer("b", item_size=8, length=16).close()
    registry = os.path.join(directory.path, "registry.sqlite")
    holder = sqlite3.connect(registry, isolation_level=None)       # kept open: the WAL stays
    holder.execute("PRAGMA wal_autocheckpoint = 0")
    for n in range(2):
        holder.execute("UPDATE buffers SET created_at = ? WHERE name = 'b'", (f"2026-12-07T06:0{n}:00.000Z",))
    try:
        wal = registry + "-wal"
        assert os.path.getsize(wal) > 32
        directory.open_reader("b").close()                          # a sound WAL is read as it is
        with open(wal, "r+b") as f:
            f.seek(32 + 24 + 100)                                    # inside frame 1's page
            byte = f.read(1)
            f.seek(32 + 24 + 100)
            f.write(bytes([byte[0] ^ 0xFF]))
        with pytest.raises(Corrupted, match="write-ahead log"):
            directory.open_reader("b")
    finally:
        holder.close()


def test_a_sparse_ring_file_is_allocated_when_opened_for_writing(directory):
    """A copy with holes: a write into a hole on a full disk would fault; the storage is
    reserved at open instead, as the Swift side does."""
    directory.create_buffer("b", item_size=8, length=1 << 16).close()
    path = directory.ring_path("b")
    with open(path, "rb") as f:
        data = f.read()
    os.unlink(path)
    with open(path, "wb") as f:
        f.write(data[:4096])
        f.truncate(len(data))                                   # a hole where the slots are
    os.chmod(path, 0o600)
    assert os.stat(path).st_blocks * 512 < len(data)
    directory.take_over("b").close()
    assert os.stat(path).st_blocks * 512 >= len(data)


def test_a_ring_file_dropped_without_close_stops_being_guarded(data_dir):
    """The guard forgets a mapping whose ring file was collected: a later mapping at the same
    address, someone else's, must not have its faults taken for a ring's."""
    import gc

    from cbuff import _ring, _system
    folder = os.path.join(data_dir, "g")
    os.makedirs(folder, mode=0o700)
    trust = _system.check_directory(folder)
    file = _ring.RingFile.create(trust, "x.ring", F.Layout.items(8, 16, F.POLICY_OVERWRITE))
    start, fd = file._guard, file.fd
    assert start in _system._guarded
    del file
    gc.collect()
    os.close(fd)
    assert start not in _system._guarded


def test_a_system_calls_errno_gives_the_code_the_swift_side_gives(data_dir, cbuff_cli):
    """The one errno table (Syscalls.swift's causes, CBuffFailure.words): a data directory
    under a regular file (ENOTDIR) is not found, for lookups and creators alike, as the cbuff
    tool says (66)."""
    plain = os.path.join(data_dir, "plain")
    with open(plain, "w") as f:
        f.write("not a directory")
    under = cbuff.DataDirectory(os.path.join(plain, "d"))
    with pytest.raises(NotFound):
        under.open_reader("b")
    with pytest.raises(NotFound):
        under.create_buffer("b", item_size=8, length=4)
    binary = swift_binary("cbuff")
    for arguments in (["list"], ["create", "b", "--item-size", "8", "--length", "4"]):
        done = subprocess.run([binary, "--dir", under.path, *arguments], capture_output=True, timeout=60)
        assert done.returncode == 66, done.stderr


LOCK_HOLDER = """
    import fcntl, os, sqlite3, sys
    path, kind = sys.argv[1], sys.argv[2]
    if kind == "flock":
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
    else:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.mark.parametrize("kind", ["flock", "sqlite"])
def test_a_lock_wait_that_times_out_names_the_holder_as_the_cbuff_tool_does(directory, kind):
    """The registry lock (registry.lock's flock, taken to create the registry) and SQLite's
    write lock (byte 120 of registry.sqlite-shm): the sentence names the holding process, found
    in /proc/*/fdinfo, the same sentence as the cbuff tool's."""
    if kind == "flock":
        os.makedirs(directory.path, mode=0o700)
        path, arguments = os.path.join(directory.path, "registry.lock"), ["create", "b", "--item-size", "8", "--length", "4"]
    else:
        directory.create_buffer("a", item_size=8, length=4).close()
        path, arguments = os.path.join(directory.path, "registry.sqlite"), ["rm", "a"]
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(LOCK_HOLDER), path, kind],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n"
        quick = cbuff.DataDirectory(directory.path, lock_timeout=0.25)
        with pytest.raises(TimedOut) as caught:
            if kind == "flock":
                quick.create_buffer("b", item_size=8, length=4)
            else:
                quick.remove("a")
        message = caught.value.message
        assert f"stayed locked by PID {holder.pid} (" in message and "for 0.25 s; if that process is stopped" in message, message
        done = subprocess.run([swift_binary("cbuff"), "--dir", directory.path, "--lock-timeout", "0.25", *arguments],
                              capture_output=True, timeout=60)
        assert done.returncode == 75
        said = done.stderr.decode()
        # The file, the holder, the wait: after "Cannot DOING: ", to the sentence's end.
        shape = message[message.index(": ") + 2:message.index("lock timeout.") + len("lock timeout.")]
        assert shape in said, (said, message)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def as_user(uid, groups, body):
    """``body()`` run in a forked child as user ``uid`` with groups ``groups`` (the first its
    primary): what it returned, or ``(code, message)`` of the cbuff error it raised. What the
    child would import lazily is imported first: the interpreter's own files may be where that
    user cannot read them."""
    _registry.migrations()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:        # pragma: no cover (the child)
        try:
            os.close(read)
            os.setgroups(groups)
            os.setgid(groups[0])
            os.setuid(uid)
            try:
                result = ("ok", body())
            except cbuff.CBuffError as error:
                result = (error.code, error.message)
            except BaseException as error:
                result = ("raised", repr(error))
            os.write(write, pickle.dumps(result))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to act as other users")
OWNER, MEMBER, OUTSIDER, GROUP = 61001, 61002, 61003, 61010


@needs_root
def test_a_directory_shared_with_a_group_is_used_by_its_members_as_the_swift_side_uses_it(data_dir):
    """SPEC §3: a data directory another user owns is refused unless group sharing was asked
    for (access="group", the tool's --group-access) and this user is in its group; created
    with group access it is 2770 and its files 0660, and members' files are trusted."""
    os.chmod(data_dir, 0o711)
    base = os.path.join(data_dir, "base")
    os.mkdir(base, 0o755)
    os.chown(base, OWNER, GROUP)
    path = os.path.join(base, "shared")

    def create_as_owner():
        writer = cbuff.DataDirectory(path, access="group").create_buffer("b", item_size=8, length=16)
        writer.push(7)
        writer.close()
        return oct(os.stat(path).st_mode & 0o7777), oct(os.stat(os.path.join(path, "b.ring")).st_mode & 0o777)
    assert as_user(OWNER, [GROUP], create_as_owner) == ("ok", ("0o2770", "0o660"))

    def use_as_member():
        directory = cbuff.DataDirectory(path, access="group")
        value = directory.open_reader("b").pop()
        writer = directory.create_buffer("c", item_size=8, length=16)
        writer.push(8)
        writer.close()
        info = os.stat(os.path.join(path, "c.ring"))
        return value, [s.name for s in directory.buffers()], (info.st_uid, info.st_gid, oct(info.st_mode & 0o777))
    assert as_user(MEMBER, [GROUP], use_as_member) == ("ok", (7, ["b", "c"], (MEMBER, GROUP, "0o660")))
    assert as_user(OWNER, [GROUP], lambda: cbuff.DataDirectory(path, access="group").open_reader("c").pop()) == ("ok", 8)

    code, message = as_user(MEMBER, [GROUP], lambda: cbuff.DataDirectory(path).open_reader("b").pop())
    assert code == "permissionDenied" and f"belongs to user {OWNER}, not to this user ({MEMBER}); pass access=\"group\"" in message
    code, message = as_user(OUTSIDER, [GROUP + 1], lambda: cbuff.DataDirectory(path, access="group").open_reader("b").pop())
    assert code == "permissionDenied" and f"it is not shared with a group this user belongs to (mode 2770, group {GROUP})" in message

    # The cbuff tool, as the same users, says the same (when that user may run it).
    binary = swift_binary("cbuff")

    def tool(*arguments):
        def run():
            if not os.access(binary, os.X_OK):
                return None
            done = subprocess.run([binary, "--dir", path, *arguments], capture_output=True, timeout=60)
            return done.returncode, done.stdout.decode().strip()
        return run
    for uid, groups, arguments, expected in ((MEMBER, [GROUP], ["--group-access", "pop", "b"], (0, "7")),
                                             (MEMBER, [GROUP], ["pop", "b"], (77, "")),
                                             (OUTSIDER, [GROUP + 1], ["--group-access", "pop", "b"], (77, ""))):
        said = as_user(uid, groups, tool(*arguments))[1]
        assert said in (None, expected)


@needs_root
@pytest.mark.parametrize("creator", ["python", "cbuff"])
def test_a_read_only_data_directory_is_read_as_the_cbuff_tool_reads_it(data_dir, creator):
    """A data directory on a read-only mount (a tmpfs remounted read-only): listing, inspecting
    and anonymous readers work, as the tool's list, inspect, pop and tail do; what must store
    (a named reader, a writer, creating) is PermissionDenied with the tool's "Read-only"
    sentence. With SQLite's -shm gone (every process closed the registry: Python's last close
    removes it) the registry is opened immutable, as the Swift side opens it; with -shm left
    behind (as the tool leaves it), normally."""
    path = os.path.join(data_dir, "d")
    os.mkdir(path, 0o700)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=700,size=8m", "cbuff-test", path], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        directory = cbuff.DataDirectory(path, lock_timeout=1)
        binary = swift_binary("cbuff")
        if creator == "python":
            with directory.create_buffer("b", item_size=8, length=16) as writer:
                writer.push_many([7, 8, 9])
            with directory.create_buffer("m", messages=True, capacity=4096, max_message=64) as writer:
                writer.push_message(b"hello")
        else:
            for arguments in (["create", "b", "--item-size", "8", "--length", "16"], ["push", "b", "7", "8", "9"],
                              ["create", "m", "--messages", "--capacity", "4096", "--max-message", "64"], ["push", "m", "hello"]):
                subprocess.run([binary, "--dir", path, *arguments], check=True, capture_output=True, timeout=60)
        shm = os.path.exists(os.path.join(path, "registry.sqlite-shm"))
        assert shm == (creator == "cbuff")
        subprocess.run(["mount", "-o", "remount,ro", path], check=True)

        assert [status.name for status in directory.buffers()] == ["b", "m"]
        assert directory.inspect("b").written == 3
        reader = directory.open_reader("b")
        assert reader.pop_many(2) == [7, 8]
        assert reader.pop(timeout=0.05) == 9
        assert reader.pop(timeout=0.05) is None      # a read-only mapping: it polls, stores nothing
        reader.close()
        messages = directory.open_reader("m")
        assert messages.pop_message().data == b"hello"
        assert messages.pop_message(timeout=0.05) is None
        messages.close()
        for refused in (lambda: directory.open_reader("b", reader="r"), lambda: directory.create_buffer("c", item_size=8, length=4)):
            with pytest.raises(cbuff.PermissionDenied) as caught:
                refused()
            assert caught.value.message.startswith("Read-only: cannot"), caught.value.message
        for arguments, expected in ((["list"], 0), (["pop", "b"], 0), (["pop", "b", "--reader", "r"], 77)):
            assert subprocess.run([binary, "--dir", path, *arguments], capture_output=True, timeout=60).returncode == expected
    finally:
        subprocess.run(["umount", "--lazy", path], check=True)


def test_a_data_directory_too_deep_for_sqlite_is_refused_before_anything_is_created(data_dir):
    """SQLite opens the registry by a path of at most 504 bytes: a deeper directory is
    InvalidArgument with the cbuff tool's sentence (64), and nothing is created in it."""
    path = data_dir
    while len(path) <= 504:
        path = os.path.join(path, "a" * 50)
    os.makedirs(path, mode=0o700)
    with pytest.raises(cbuff.InvalidArgument) as caught:
        cbuff.DataDirectory(path).create_buffer("b", item_size=8, length=4)
    assert os.listdir(path) == []
    done = subprocess.run([swift_binary("cbuff"), "--dir", path, "create", "b", "--item-size", "8", "--length", "4"],
                          capture_output=True, timeout=60)
    assert done.returncode == 64 and caught.value.message in done.stderr.decode()
    assert os.listdir(path) == []


@pytest.mark.parametrize("restart", ["first-frame-of-the-next-log", "torn-header"])
def test_a_wal_index_from_before_this_boot_says_nothing(directory, restart):
    """What a machine crash can leave of an index SQLite never syncs (issue 26, F5; the Swift
    side's WALRecoveryTests.anIndexFromBeforeThisBootSaysNothing): an old ``-shm`` counting a
    transaction that a checkpoint since copied into the registry, over a log restarted in place.
    SQLite discards that index and loses nothing; so does cbuff when the index was last changed
    before this boot. Changed during this boot, the same files are damage."""
    directory.create_buffer("b", item_size=8, length=16).close()
    registry = os.path.join(directory.path, "registry.sqlite")
    holder = sqlite3.connect(registry, isolation_level=None)
    holder.execute("PRAGMA wal_autocheckpoint = 0")
    holder.execute("UPDATE buffers SET created_at = '2026-12-07T06:00:00.000Z' WHERE name = 'b'")
    with open(registry + "-wal", "rb") as f:
        wal = bytearray(f.read())
    with open(registry + "-shm", "rb") as f:
        shm = f.read()
    holder.execute("PRAGMA wal_checkpoint(PASSIVE)")            # the change is in the file now
    holder.close()
    if restart == "first-frame-of-the-next-log":
        salt = struct.unpack_from(">I", wal, 16)[0]
        struct.pack_into(">II", wal, 32 + 8, (salt + 1) & 0xFFFFFFFF, 0x5EED)
    else:
        wal[0:4] = bytes(4)
    for name, data in (("-wal", wal), ("-shm", shm)):
        with open(registry + name, "wb") as f:
            f.write(data)
        os.chmod(registry + name, 0o600)
    copy = os.path.join(directory.path, "copy.sqlite")
    for name in ("", "-wal"):
        with open(registry + name, "rb") as src, open(copy + name, "wb") as dst:
            dst.write(src.read())
    sqlite_reads = sqlite3.connect(copy).execute("SELECT created_at FROM buffers WHERE name = 'b'").fetchone()[0]
    for name in ("", "-wal", "-shm"):
        if os.path.exists(copy + name):
            os.unlink(copy + name)
    assert sqlite_reads == "2026-12-07T06:00:00.000Z"            # SQLite loses nothing
    with pytest.raises(Corrupted, match="write-ahead log"):
        directory.open_reader("b")
    os.utime(registry + "-shm", (0, 0))                           # last changed before this boot
    directory.open_reader("b").close()
    assert directory.inspect("b").created_at == "2026-12-07T06:00:00.000Z"
