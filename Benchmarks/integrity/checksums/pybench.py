"""Per-call cost of 32-bit checks over (sequence, payload) in CPython, beside today's cbuff push/pop.

    VENV/bin/python Benchmarks/integrity/checksums/pybench.py [ROUNDS]

Every candidate is a timeit statement whose names are locals (LOAD_FAST), i.e. the cost the code
would have written inline in push_word / MessagePublisher.publish. Each round runs every
candidate once (the order rotated every round); the figure is the median over rounds of ns/call.
Today's push/pop are timed in the same rounds on a real buffer in /dev/shm.
"""
import os
import shutil
import statistics
import struct
import sys
import tempfile
import timeit
import zlib

import cbuff

try:
    import crc32c as crc32c_pkg
except ImportError:
    crc32c_pkg = None

M32, M64 = 0xFFFFFFFF, (1 << 64) - 1

# ---- CRC32C tables (reflected 0x82F63B78), slice-by-8 and 16-bit slices -------------------------
def make_tables(poly):
    t0 = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ (poly if c & 1 else 0)
        t0.append(c)
    ts = [t0]
    for _ in range(7):
        prev = ts[-1]
        ts.append([(prev[b] >> 8) ^ t0[prev[b] & 255] for b in range(256)])
    return ts          # ts[k][b]: byte b followed by k zero bytes


T = make_tables(0x82F63B78)
T0, T1, T2, T3, T4, T5, T6, T7 = T
# 16-bit slices: chunk j (bytes 2j, 2j+1 of the word) -> U[3-j]
U = [[T[7 - 2 * j][w & 255] ^ T[6 - 2 * j][w >> 8] for w in range(65536)] for j in range(4)]
U3, U2, U1, U0 = U      # U3 for bytes 0-1 (lowest), U0 for bytes 6-7


def crc32c_bitwise(data, value=0):
    c = value ^ M32
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    return c ^ M32


def crc32c_word8(data, value=0):
    """Pure-Python CRC32C, slice-by-8 over 64-bit words (len % 8 tail byte-at-a-time)."""
    c = value ^ M32
    n = len(data) & ~7
    for x in memoryview(data)[:n].cast("Q"):
        x ^= c
        c = (T7[x & 255] ^ T6[x >> 8 & 255] ^ T5[x >> 16 & 255] ^ T4[x >> 24 & 255]
             ^ T3[x >> 32 & 255] ^ T2[x >> 40 & 255] ^ T1[x >> 48 & 255] ^ T0[x >> 56])
    for b in data[n:]:
        c = T0[(c ^ b) & 255] ^ (c >> 8)
    return c ^ M32


def crc32c_word16(data, value=0):
    c = value ^ M32
    n = len(data) & ~7
    for x in memoryview(data)[:n].cast("Q"):
        x ^= c
        c = U3[x & 0xFFFF] ^ U2[x >> 16 & 0xFFFF] ^ U1[x >> 32 & 0xFFFF] ^ U0[x >> 48]
    for b in data[n:]:
        c = T0[(c ^ b) & 255] ^ (c >> 8)
    return c ^ M32


def crc32c_byte(data, value=0):
    c = value ^ M32
    for b in data:
        c = T0[(c ^ b) & 255] ^ (c >> 8)
    return c ^ M32


# ---- multiply-xor over 64-bit words ----------------------------------------------------------
K0, K1, K2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def mx_words(data, seq):
    h = (seq ^ K0) * K1 & M64
    for w in memoryview(data).cast("Q"):
        h = ((h ^ w) * K2 & M64)
        h ^= h >> 29
    return (h * K1 & M64) >> 32


# ---- self-checks -----------------------------------------------------------------------------
def self_check():
    import random
    rnd = random.Random(7)
    assert crc32c_bitwise(b"123456789") == 0xE3069283
    for n in list(range(0, 40)) + [64, 1024, 1031]:
        d = bytes(rnd.randrange(256) for _ in range(n))
        v = rnd.randrange(1 << 32)
        ref = crc32c_bitwise(d, v)
        assert crc32c_word8(d, v) == ref and crc32c_word16(d, v) == ref and crc32c_byte(d, v) == ref, n
        if crc32c_pkg:
            assert crc32c_pkg.crc32c(d, v) == ref
    s, v = rnd.randrange(1 << 63), rnd.randrange(1 << 64)
    ref = crc32c_bitwise(struct.pack("<QQ", s, v))
    x = s ^ M32
    c = T7[x & 255] ^ T6[x >> 8 & 255] ^ T5[x >> 16 & 255] ^ T4[x >> 24 & 255] ^ T3[x >> 32 & 255] ^ T2[x >> 40 & 255] ^ T1[x >> 48 & 255] ^ T0[x >> 56]
    x = v ^ c
    c = T7[x & 255] ^ T6[x >> 8 & 255] ^ T5[x >> 16 & 255] ^ T4[x >> 24 & 255] ^ T3[x >> 32 & 255] ^ T2[x >> 40 & 255] ^ T1[x >> 48 & 255] ^ T0[x >> 56]
    assert c ^ M32 == ref
    x = s ^ M32
    c = U3[x & 0xFFFF] ^ U2[x >> 16 & 0xFFFF] ^ U1[x >> 32 & 0xFFFF] ^ U0[x >> 48]
    x = v ^ c
    c = U3[x & 0xFFFF] ^ U2[x >> 16 & 0xFFFF] ^ U1[x >> 32 & 0xFFFF] ^ U0[x >> 48]
    assert c ^ M32 == ref
    # the format-v4 item word's CRC: crc32c(item bytes, value = q >> 31) (README's example)
    item = int.from_bytes(bytes(range(1, 9)), "little")
    assert crc32c_bitwise(item.to_bytes(8, "little"), 0) == 0x46891F81
    assert zlib.crc32(struct.pack("<QQ", s, v)) == zlib.crc32(v.to_bytes(8, "little"), zlib.crc32(s.to_bytes(8, "little")))
    # zero weakness: neither CRC of n zero bytes is 0 (n >= 1); the bare multiply-xor of zeros from seed 0 is.
    for n in range(1, 4097):
        assert zlib.crc32(bytes(n)) != 0
    for n in range(1, 4097, 8):
        assert crc32c_word8(bytes(n)) != 0
    print("self-check ok", file=sys.stderr)


SETUP_ITEM = """
s = 1234567890123; v = 0x0123456789ABCDEF
"""
TABLES = dict(T0=T0, T1=T1, T2=T2, T3=T3, T4=T4, T5=T5, T6=T6, T7=T7, U0=U0, U1=U1, U2=U2, U3=U3)
SL8 = "T7[x & 255] ^ T6[x >> 8 & 255] ^ T5[x >> 16 & 255] ^ T4[x >> 24 & 255] ^ T3[x >> 32 & 255] ^ T2[x >> 40 & 255] ^ T1[x >> 48 & 255] ^ T0[x >> 56]"
SL16 = "U3[x & 0xFFFF] ^ U2[x >> 16 & 0xFFFF] ^ U1[x >> 32 & 0xFFFF] ^ U0[x >> 48]"


def item_candidates():
    g = dict(zlib=zlib, struct=struct, crc32c_pkg=crc32c_pkg, TT=dict(TABLES, K0=K0, K1=K1, K2=K2, M64=M64))
    loc = "crc32 = zlib.crc32; pack = struct.Struct('<QQ').pack; pack8 = struct.Struct('<Q').pack; "
    loc += "st = struct.Struct('<QQ'); buf = bytearray(16); pack_into = st.pack_into; "
    loc += "; ".join(f"{k} = TT['{k}']" for k in list(TABLES) + ["K0", "K1", "K2", "M64"]) + "; "
    loc += "C = crc32c_pkg.crc32c if crc32c_pkg else None; "
    c = {
        "empty statement (timeit floor)": "pass",
        "a1 zlib crc32(struct pack('<QQ'))": "crc32(pack(s, v))",
        "a2 zlib crc32((v<<64|s).to_bytes(16))": "crc32((v << 64 | s).to_bytes(16, 'little'))",
        "a3 zlib pack_into(bytearray)+crc32": "pack_into(buf, 0, s, v); crc32(buf)",
        "a4 zlib chained crc32(v.to_bytes, crc32(s.to_bytes))": "crc32(v.to_bytes(8, 'little'), crc32(s.to_bytes(8, 'little')))",
        "a5 zlib v4 shape crc32(v.to_bytes(8), s>>31)": "crc32(v.to_bytes(8, 'little'), s >> 31)",
        "a6 zlib v4 shape crc32(pack8(v), s>>31)": "crc32(pack8(v), s >> 31)",
        "a7 zlib chained crc32(pack8(v), crc32(pack8(s)))": "crc32(pack8(v), crc32(pack8(s)))",
        "b1 pure CRC32C slice-by-8, 16 B (s,v) as ints": f"x = s ^ 0xFFFFFFFF; c = {SL8}; x = v ^ c; c = ({SL8}) ^ 0xFFFFFFFF",
        "b2 pure CRC32C slice-by-8, v4 shape (1 word)": f"x = v ^ (~(s >> 31) & 0xFFFFFFFF); c = ({SL8}) ^ 0xFFFFFFFF",
        "b3 pure CRC32C 16-bit slices, 16 B (s,v)": f"x = s ^ 0xFFFFFFFF; c = {SL16}; x = v ^ c; c = ({SL16}) ^ 0xFFFFFFFF",
        "b4 pure CRC32C 16-bit slices, v4 shape (1 word)": f"x = v ^ (~(s >> 31) & 0xFFFFFFFF); c = ({SL16}) ^ 0xFFFFFFFF",
        "c1 multiply-xor (s,v) -> 32 bits": "h = (((s ^ K0) * K1 & M64) ^ v) * K2 & M64; r = h >> 32",
        "c2 multiply-xor + xorshift finish": "h = (((s ^ K0) * K1 & M64) ^ v) * K2 & M64; h ^= h >> 29; r = (h * K1 & M64) >> 32",
    }
    if crc32c_pkg:
        c["d1 crc32c pkg crc32c(pack(s,v))"] = "C(pack(s, v))"
        c["d2 crc32c pkg v4 shape C(v.to_bytes(8), s>>31)"] = "C(v.to_bytes(8, 'little'), s >> 31)"
    return [(k, timeit.Timer(stmt, setup=loc + SETUP_ITEM, globals=g)) for k, stmt in c.items()]


def message_candidates(size):
    g = dict(zlib=zlib, struct=struct, crc32c_pkg=crc32c_pkg, crc32c_word8=crc32c_word8, crc32c_word16=crc32c_word16,
             crc32c_byte=crc32c_byte, mx_words=mx_words, os=os, size=size)
    loc = "crc32 = zlib.crc32; pack8 = struct.Struct('<Q').pack; p = os.urandom(size); s = 1234567890123; "
    loc += "C = crc32c_pkg.crc32c if crc32c_pkg else None; P = 0xE7A1C5B3F92D8E4B | 1; "
    c = {
        "a  zlib crc32(p, crc32(pack8(s)))": "crc32(p, crc32(pack8(s)))",
        "a' zlib crc32(pack8(s) + p)": "crc32(pack8(s) + p)",
        "b1 pure CRC32C slice-by-8 words": "crc32c_word8(p, crc32c_word8(pack8(s)))",
        "b2 pure CRC32C 16-bit slices": "crc32c_word16(p, crc32c_word16(pack8(s)))",
        "b3 pure CRC32C byte-at-a-time": "crc32c_byte(p, crc32c_byte(pack8(s)))",
        "c  multiply-xor words": "mx_words(p, s)",
        "e  bigint (s, p) mod 64-bit odd P": "(int.from_bytes(p, 'little') << 64 | s) % P",
    }
    if crc32c_pkg:
        c["d  crc32c pkg C(p, C(pack8(s)))"] = "C(p, C(pack8(s)))"
    return [(f"{k} [{size} B]", timeit.Timer(stmt, setup=loc, globals=g)) for k, stmt in c.items()]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    self_check()
    folder = tempfile.mkdtemp(prefix="cksum-", dir="/dev/shm")
    try:
        d = cbuff.DataDirectory(os.path.join(folder, "d"))
        w = d.create_buffer("ints", item_size=8, length=1 << 22)
        r = d.open_reader("ints")
        m64 = d.create_buffer("m64", messages=True, capacity=1 << 25, max_message=1024)
        r64 = d.open_reader("m64")
        m1k = d.create_buffer("m1k", messages=True, capacity=1 << 26, max_message=1024)
        r1k = d.open_reader("m1k")
        p64, p1k = os.urandom(64), os.urandom(1024)

        def ring_pair(name, push, pop, arg, n):
            # push n then pop n: one timed loop each (the ring is big enough for n)
            tp = timeit.Timer("push(a)", setup="", globals={})
            tp = timeit.Timer("push(a)", globals={"push": push, "a": arg})
            to = timeit.Timer("pop()", globals={"pop": pop})
            def run():
                a = tp.timeit(n) / n
                b = to.timeit(n) / n
                return {f"today {name} push": a, f"today {name} pop": b}
            return run
        rings = [ring_pair("push_word/pop_word 8 B", w.push, r.pop, 0x0123456789ABCDEF, 100_000),
                 ring_pair("push_message/pop_message 64 B", m64.push_message, r64.pop_message, p64, 50_000),
                 ring_pair("push_message/pop_message 1 KiB", m1k.push_message, r1k.pop_message, p1k, 20_000)]
        cands = item_candidates() + message_candidates(64) + message_candidates(1024)
        numbers = {}
        for name, t in cands:   # calibrate: ~40 ms per measurement
            n, _ = t.autorange()
            numbers[name] = max(1, n * 2 // 5 if n >= 5 else n)
        results = {}
        jobs = [(name, (lambda t=t, name=name: {name: t.timeit(numbers[name]) / numbers[name]})) for name, t in cands]
        jobs += [(None, run) for run in rings]
        for k in range(rounds):
            order = jobs[k % len(jobs):] + jobs[:k % len(jobs)]
            if k % 2:
                order = order[::-1]
            for _, job in order:
                for key, val in job().items():
                    results.setdefault(key, []).append(val * 1e9)
            print(f"round {k + 1}/{rounds} done", file=sys.stderr, flush=True)
        for key, vals in results.items():
            vals.sort()
            print(f"{key}\tmedian_ns={statistics.median(vals):.1f}\tmin={vals[0]:.1f}\tmax={vals[-1]:.1f}\tn={len(vals)}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
