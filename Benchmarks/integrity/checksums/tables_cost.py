"""Import-time cost of pure-Python CRC32C tables: build time and memory (tracemalloc)."""
import time, tracemalloc
tracemalloc.start()
t = time.perf_counter()
P = 0x82F63B78
t0 = []
for b in range(256):
    c = b
    for _ in range(8):
        c = (c >> 1) ^ (P if c & 1 else 0)
    t0.append(c)
T = [t0]
for _ in range(7):
    T.append([(p >> 8) ^ t0[p & 255] for p in T[-1]])
t8 = time.perf_counter() - t; m8 = tracemalloc.get_traced_memory()[0]
U = [[T[7 - 2 * j][w & 255] ^ T[6 - 2 * j][w >> 8] for w in range(65536)] for j in range(4)]
t16 = time.perf_counter() - t; m16 = tracemalloc.get_traced_memory()[0]
print(f"slice-by-8 tables (8x256): {t8*1e3:.1f} ms, {m8/1e3:.0f} kB; + 16-bit tables (4x65536): {t16*1e3:.1f} ms total, {m16/1e6:.1f} MB")
