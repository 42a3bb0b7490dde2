"""N pushes and pops in one process, for counting instructions (callgrind): ``items`` (one
8-byte item each), ``messages`` (64 bytes each), ``batches`` (push_many of an array('Q') of
1,000 and pop_many) or ``arrays`` (push_many of a numpy uint64 array of 1,000 and pop_array).

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python3 python/benchmarks/hot_loop.py N MODE
"""
import array
import os
import shutil
import sys
import tempfile

import cbuff

n, what = int(sys.argv[1]), sys.argv[2]
folder = tempfile.mkdtemp(dir="/dev/shm")
try:
    d = cbuff.DataDirectory(os.path.join(folder, "d"))
    if what == "messages":
        w = d.create_buffer("m", messages=True, capacity=1 << 16, max_message=64)
        r = d.open_reader("m")
        push, pop, payload = w.push_message, r.pop_message, bytes(64)
        for _ in range(n):
            push(payload)
            pop()
    elif what in ("batches", "arrays"):
        w = d.create_buffer("b", item_size=8, length=1 << 12)
        r = d.open_reader("b")
        if what == "arrays":
            import numpy
            batch, pop = numpy.arange(1000, dtype=numpy.uint64), r.pop_array
        else:
            batch, pop = array.array("Q", range(1000)), r.pop_many
        push_many = w.push_many
        for _ in range(n):
            push_many(batch)
            pop(1000)
    else:
        w = d.create_buffer("i", item_size=8, length=1 << 10)
        r = d.open_reader("i")
        push, pop = w.push, r.pop
        for v in range(n):
            push(v)
            pop()
finally:
    shutil.rmtree(folder)
