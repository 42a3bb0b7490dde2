"""A second implementation of cbuff's registry procedures and ring format, written from
docs/registry.md and Sources/SharedRing/SharedRing.docc/RingFileFormat.md alone, for the test that checks those documents are
enough: it creates a buffer that cbuff must then use, and reads a buffer cbuff wrote.

    python3 second_implementation.py create DIR NAME ITEM_SIZE LENGTH
    python3 second_implementation.py read DIR NAME      # prints published items, one per line
"""
import fcntl, os, random, sqlite3, struct, sys, time

F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def start_time(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return int(stat[stat.rindex(b")") + 1:].split()[19])


def create(directory, name, item_size, length):
    stride = (item_size + 7) // 8 * 8
    file_size = 4096 + stride * length
    header = bytearray(128)
    header[0:8] = b"CBUFRING"
    struct.pack_into("<IIQQIIIIQ", header, 8, 2, 4096, item_size, length, stride, 0, 24, 0x01020304, file_size)
    struct.pack_into("<Q", header, 56, fnv1a64(header[0:56]))
    struct.pack_into("<Q", header, 64, time.time_ns())
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.{random.getrandbits(32)}.tmp")
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    os.posix_fallocate(fd, 0, file_size)
    os.pwrite(fd, bytes(header), 0)
    fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hhqqih", fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0, 0))   # writer lock
    pid = os.getpid()
    os.pwrite(fd, struct.pack("<I", pid), 144)
    os.pwrite(fd, struct.pack("<Q", start_time(pid)), 152)
    os.pwrite(fd, struct.pack("<Q", 1), 160)   # generation
    os.pwrite(fd, struct.pack("<I", 1), 148)   # attached
    db = sqlite3.connect(os.path.join(directory, "registry.sqlite"), isolation_level=None, timeout=5)
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("SELECT count(*) FROM buffers WHERE name = ?", (name,)).fetchone()[0]:
            raise SystemExit("exists")
        os.rename(temporary, os.path.join(directory, name + ".ring"))
        db.execute("""INSERT INTO buffers (name, item_size, length, policy, file, format_version,
                                           writer_pid, writer_start_time, writer_since)
                      VALUES (?, ?, ?, 'overwrite', ? || '.ring', 2, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))""",
                   (name, item_size, length, name, pid, start_time(pid)))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        os.unlink(temporary)
        raise
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # Close the writer: time, state closed, then the descriptor (which drops the lock).
    os.pwrite(fd, struct.pack("<Q", time.time_ns()), 136)
    os.pwrite(fd, struct.pack("<I", 2), 148)
    os.close(fd)


def read(directory, name):
    db = sqlite3.connect(os.path.join(directory, "registry.sqlite"))
    item_size, length, file = db.execute("SELECT item_size, length, file FROM buffers WHERE name = ?", (name,)).fetchone()
    with open(os.path.join(directory, file), "rb") as f:
        data = f.read()
    stride = struct.unpack_from("<I", data, 32)[0]
    published, claimed = struct.unpack_from("<Q", data, 128)[0], struct.unpack_from("<Q", data, 176)[0]
    oldest = min(max(0, claimed - length), published)
    for sequence in range(oldest, published):
        slot = 4096 + (sequence % length) * stride
        print(int.from_bytes(data[slot:slot + item_size], "little"))


if __name__ == "__main__":
    command, directory, name = sys.argv[1:4]
    if command == "create":
        create(directory, name, int(sys.argv[4]), int(sys.argv[5]))
    else:
        read(directory, name)
