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


def copy_sectors_while(path, writer, versions):
    """Copies every sector of ``path``, in a random order, until ``writer`` exits (and at least 4
    times): each distinct version of each sector, oldest first."""
    rng = random.Random(0xC0)
    seen = [set() for _ in versions]
    copies = 0
    with open(path, "rb", buffering=0) as ring:
        while writer.poll() is None or copies < 4:
            for index in rng.sample(range(len(versions)), len(versions)):
                version = os.pread(ring.fileno(), SECTOR, index * SECTOR)
                if version not in seen[index]:
                    seen[index].add(version)
                    versions[index].append(version)
            copies += 1


@pytest.mark.parametrize("integrity", ["checked", "unchecked"])
@pytest.mark.parametrize("size", [8, 24])
def test_no_python_reader_delivers_an_item_not_written_under_its_sequence(directory, size, integrity):
    seed = 0x0F0F_CAFE_0000 + size
    rng = random.Random(seed)
    length, laps, images = 256, 40, 100
    directory.create_buffer("crash", item_size=size, length=length, integrity=integrity).close()
    path = directory.ring_path("crash")
    versions = [[] for _ in range(os.path.getsize(path) // SECTOR)]
    writer = subprocess.Popen([swift_binary("cbuff-test-agent"), "write", directory.path, "crash", str(length * laps)],
                              stdout=subprocess.DEVNULL)
    copier = threading.Thread(target=copy_sectors_while, args=(path, writer, versions))
    copier.start()
    assert writer.wait(timeout=120) == 0
    copier.join()
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
        except Corrupted:
            refused += 1
    summary = f"{size}-byte items, {integrity}: {delivered} delivered over {images} images, {len(wrong)} wrong, {refused} refused (seed {seed:#x})"
    if integrity == "checked":
        assert not wrong and delivered > images * length // 4, (summary, wrong[:5])
    else:
        assert len(wrong) > 10, f"{summary}: the simulator should find damage in a ring without check words"
