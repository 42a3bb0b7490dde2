"""The power-loss simulator of the Swift suite (``PowerLossTests``), with Python's readers and
writer: a Swift writer process pushes many laps into a ring of items while a thread of this
process copies the file's 512-byte sectors as they are; each crash image takes, for every
sector, its newest version, an older one or zeros, as a machine crash may leave them. Python
must deliver from a ring with check words only items that are exactly what was written under
their sequence, and a Python writer taking the image over must too; the same images of a ring
without them show that the simulator finds such damage where nothing checks it."""
import os
import random
import subprocess
import threading

import pytest
from test_interop import item_bytes

from cbuff.errors import Corrupted

from conftest import swift_binary

SECTOR = 512


EARLIER_BOOT = {"CBUFF_TEST_BOOT_ID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}


def collect_versions(path, rounds, writer):
    """Runs ``rounds`` writer processes one after the other (``writer()`` starts one) while a
    thread copies the sectors of ``path`` over and over, one at a time in a random order, and
    copies every sector between rounds too (so that each has a version a round however the
    host schedules the two): every distinct version of each sector, oldest first."""
    versions = [[] for _ in range(os.path.getsize(path) // SECTOR)]
    seen = [set() for _ in versions]
    lock, done = threading.Lock(), threading.Event()

    def copy(fd, indices):
        for index in indices:
            version = os.pread(fd, SECTOR, index * SECTOR)
            with lock:
                if version not in seen[index]:
                    seen[index].add(version)
                    versions[index].append(version)

    def copier(fd):
        rng = random.Random(0xC0)
        while not done.is_set():
            copy(fd, rng.sample(range(len(versions)), len(versions)))

    fd = os.open(path, os.O_RDONLY)
    try:
        thread = threading.Thread(target=copier, args=(fd,))
        thread.start()
        for _ in range(rounds):
            assert writer().wait(timeout=120) == 0
            copy(fd, range(len(versions)))
        done.set()
        thread.join()
    finally:
        os.close(fd)
    return versions


@pytest.mark.parametrize("integrity", ["checked", "unchecked"])
@pytest.mark.parametrize("size", [8, 24])
def test_no_python_reader_delivers_an_item_not_written_under_its_sequence(directory, size, integrity):
    seed = 0x0F0F_CAFE_0000 + size
    rng = random.Random(seed)
    length, laps, images = 256, 40, 100
    directory.create_buffer("crash", item_size=size, length=length, integrity=integrity).close()
    path = directory.ring_path("crash")
    # Writers of an earlier boot (a debug agent takes its boot from CBUFF_TEST_BOOT_ID): the
    # images are read after a restart, as a crash's are; each pushes one lap and a half.
    versions = collect_versions(path, laps, lambda: subprocess.Popen(
        [swift_binary("cbuff-test-agent"), "write", directory.path, "crash", str(length * 3 // 2)],
        stdout=subprocess.DEVNULL, env=dict(os.environ, **EARLIER_BOOT)))
    with open(path, "rb") as ring:
        original = ring.read()

    delivered, wrong, refused = 0, [], 0
    for image in range(images):
        parts = []
        for candidates in versions:
            draw = rng.randrange(16)     # zeros 1 in 16, an older version 1 in 4, else the newest
            parts.append(bytes(SECTOR) if draw == 0 else rng.choice(candidates) if draw < 5 else candidates[-1])
        with open(path, "r+b") as ring:
            ring.write(b"".join(parts) + original[len(parts) * SECTOR:])
        try:
            with directory.open_reader("crash") as reader:
                read = 0
                while (item := reader.pop()) is not None:
                    sequence = reader.next_sequence - 1
                    got = item.to_bytes(8, "little") if size == 8 else item
                    if got != item_bytes(sequence, size):
                        wrong.append((image, sequence, got))
                    read += 1
                    assert read <= length, f"image {image}: more than {length} items delivered"
                delivered += read
            with directory.take_over("crash") as taken, directory.open_reader("crash", "latest") as latest:
                first = taken.next_sequence
                for sequence in range(first, first + 3):
                    taken.push(int.from_bytes(item_bytes(sequence, size), "little") if size == 8 else item_bytes(sequence, size))
                for sequence in range(first, first + 3):
                    item = latest.pop()
                    got = item.to_bytes(8, "little") if size == 8 and item is not None else item
                    if got != item_bytes(sequence, size):
                        wrong.append((image, sequence, got, "after a take-over"))
                if (ahead := latest.pop()) is not None:      # nothing of the image ahead of the new writer
                    wrong.append((image, latest.next_sequence - 1, ahead, "ahead of a take-over"))
        except Corrupted:
            refused += 1
    summary = f"{size}-byte items, {integrity}: {delivered} delivered over {images} images, {len(wrong)} wrong, {refused} refused (seed {seed:#x})"
    if integrity == "checked":
        assert not wrong and delivered > images * length // 16, (summary, wrong[:5])
    else:
        assert len(wrong) > 10, f"{summary}: the simulator should find damage in a ring without check words"
