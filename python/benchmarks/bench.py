"""The Python package's speed, in one process, printed as cbuff-bench prints (bench=NAME
metric=M value=V unit=U): pushes and pops of 8-byte items one at a time (the seed's own figures
are 2.1 M pushes/s and 1.5 M pops/s), batches, numpy batches, 64-byte items, 64-byte messages.

    python3 python/benchmarks/bench.py [ITEMS]        (default 1000000; data in /dev/shm)
"""
import os
import shutil
import sys
import tempfile
import time

import cbuff


def emit(name, metric, value, unit):
    print(f"bench={name} metric={metric} value={value:.6g} unit={unit}", flush=True)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    folder = tempfile.mkdtemp(prefix="cbuff-py-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        directory = cbuff.DataDirectory(os.path.join(folder, "d"))
        writer = directory.create_buffer("ints", item_size=8, length=1 << 21)
        reader = directory.open_reader("ints")
        start = time.perf_counter()
        push = writer.push
        for value in range(count):
            push(value)
        emit("python_push", "items_per_s", count / (time.perf_counter() - start), "items/s")
        start = time.perf_counter()
        pop = reader.pop
        for _ in range(count):
            pop()
        emit("python_pop", "items_per_s", count / (time.perf_counter() - start), "items/s")
        start = time.perf_counter()
        for first in range(0, count, 1000):
            writer.push_many(range(first, first + 1000))
        emit("python_push_many1000", "items_per_s", count / (time.perf_counter() - start), "items/s")
        start = time.perf_counter()
        while reader.pop_many(1000):
            pass
        emit("python_pop_many1000", "items_per_s", count / (time.perf_counter() - start), "items/s")
        try:
            import numpy  # noqa: F401
            big = directory.create_buffer("array", item_size=8, length=1 << 24)
            big.push_many(range(1 << 20))
            for _round in range(3):
                array_reader = directory.open_reader("array")
                start = time.perf_counter()
                values = array_reader.pop_array(1 << 24)
                elapsed = time.perf_counter() - start
            assert len(values) == 1 << 20 and values[-1] == (1 << 20) - 1
            emit("python_pop_array", "items_per_s", len(values) / elapsed, "items/s")
        except ImportError:
            pass
        wide = directory.create_buffer("wide", item_size=64, length=1 << 16)
        wide_reader = directory.open_reader("wide")
        payload = bytes(range(64))
        start = time.perf_counter()
        push = wide.push
        for _ in range(count // 4):
            push(payload)
        emit("python_push_item64B", "items_per_s", (count // 4) / (time.perf_counter() - start), "items/s")
        start = time.perf_counter()
        pop = wide_reader.pop
        while pop() is not None:
            pass
        emit("python_pop_item64B", "items_per_s", min(count // 4, 1 << 16) / (time.perf_counter() - start), "items/s")
        messages = directory.create_buffer("logs", messages=True, capacity=1 << 24, max_message=64)
        message_reader = directory.open_reader("logs")
        payload = bytes(64)
        start = time.perf_counter()
        for _ in range(count // 4):
            messages.push_message(payload)
        emit("python_push_message64B", "items_per_s", (count // 4) / (time.perf_counter() - start), "items/s")
        start = time.perf_counter()
        while message_reader.pop_message() is not None:
            pass
        emit("python_pop_message64B", "items_per_s", (count // 4) / (time.perf_counter() - start), "items/s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
