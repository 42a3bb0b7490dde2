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
    else:
        w = d.create_buffer("i", item_size=8, length=1 << 10)
        r = d.open_reader("i")
        push, pop = w.push, r.pop
        for v in range(n):
            push(v)
            pop()
finally:
    shutil.rmtree(folder)
