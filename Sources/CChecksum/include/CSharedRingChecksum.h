// CRC-32 (IEEE 802.3: zlib's `crc32`, reflected polynomial 0xEDB88320, register started at ~0
// and complemented at the end): the check of a message record of ring format version 4.
//
// Three forms, one result:
//  - PCLMULQDQ folding (Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ",
//    the constants of Linux's arch/x86/crypto/crc32-pclmul_asm.S, as measured in
//    Benchmarks/integrity/checksums/ieee.h) for x86-64 CPUs that have the instruction. The
//    carry-less multiply is inline assembly and everything else plain vector arithmetic of the
//    x86-64 baseline (SSE2), so these functions inline into a Swift caller built for the
//    baseline. Not `_mm_clmulepi64_si128` under `target("pclmul")`: LLVM will not inline such a
//    function into that caller (it becomes a call), and with `always_inline` Swift 6.3.1's LLVM
//    crashes compiling the caller (Benchmarks/integrity/crc32c.h).
//    PSHUFB (SSSE3, which every such CPU has) shifts the last partial block, also inline.
//  - the same with its four-lane loop on 256-bit registers (VPCLMULQDQ and AVX2, one inline
//    assembly block: `cbuff_fold_lanes_wide`) for CPUs that have those, wherever that loop runs
//    (messages of 104 bytes and more).
//  - slice-by-8 tables (crc32_tables.c) everywhere else, and for a message's last 1-7 bytes
//    when it has no full block.
//
// Which form the CPU can take is asked once (`cbuff_crc32_accelerated`) and passed in: no
// global state here. RingTests' CRC32Tests check every form this CPU has against zlib.
#ifndef CSHAREDRINGCHECKSUM_H
#define CSHAREDRINGCHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cbuff's ring files are little-endian, and so is this CRC's word at a time"
#endif

/// Table k: the CRC register's change for a byte followed by k zero bytes.
extern const uint32_t cbuff_crc32_table[8][256];

/// The raw register (no complements) after one little-endian 8-byte word.
static inline __attribute__((always_inline)) uint32_t cbuff_crc32_raw_word(uint32_t crc, uint64_t word) {
    uint64_t x = word ^ crc;
    return cbuff_crc32_table[7][x & 255] ^ cbuff_crc32_table[6][(x >> 8) & 255] ^ cbuff_crc32_table[5][(x >> 16) & 255] ^
           cbuff_crc32_table[4][(x >> 24) & 255] ^ cbuff_crc32_table[3][(x >> 32) & 255] ^
           cbuff_crc32_table[2][(x >> 40) & 255] ^ cbuff_crc32_table[1][(x >> 48) & 255] ^ cbuff_crc32_table[0][x >> 56];
}

/// The raw register after `len` bytes, by the tables.
static inline uint32_t cbuff_crc32_raw_table(uint32_t crc, const unsigned char *p, size_t len) {
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = cbuff_crc32_raw_word(crc, word);
    }
    for (; len; len--, p++) crc = cbuff_crc32_table[0][(crc ^ *p) & 255] ^ (crc >> 8);
    return crc;
}

/// The forms, as `cbuff_crc32_accelerated` names them and every function below takes them: each
/// level has the ones below it.
#define CBUFF_CRC32_TABLES 0
#define CBUFF_CRC32_PCLMUL 1
#define CBUFF_CRC32_VPCLMUL 2

#if defined(__x86_64__)
#include <cpuid.h>

typedef long long cbuff_v2di __attribute__((vector_size(16)));
typedef int cbuff_v4si __attribute__((vector_size(16)));

/// Which form this CPU takes: CBUFF_CRC32_TABLES, CBUFF_CRC32_PCLMUL (PCLMULQDQ and SSSE3's
/// PSHUFB: cpuid leaf 1, ECX bits 1 and 9; every CPU with the first has the second) or
/// CBUFF_CRC32_VPCLMUL (that, and VPCLMULQDQ and AVX2 on 256-bit registers the OS saves: leaf 7
/// ECX bit 10 and EBX bit 5, leaf 1 ECX bits 28 AVX and 27 OSXSAVE, and XCR0 bits 1 and 2).
static inline int cbuff_crc32_accelerated(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 1) & 1) || !((c >> 9) & 1)) return CBUFF_CRC32_TABLES;
    if (!((c >> 27) & 1) || !((c >> 28) & 1)) return CBUFF_CRC32_PCLMUL;
    unsigned xcr0, xcr0_high;
    __asm__("xgetbv" : "=a"(xcr0), "=d"(xcr0_high) : "c"(0));            // XCR0, readable under OSXSAVE:
    if ((xcr0 & 6) != 6) return CBUFF_CRC32_PCLMUL;                         // the OS saves xmm and ymm state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !((c >> 10) & 1) || !((b >> 5) & 1)) return CBUFF_CRC32_PCLMUL;
    return CBUFF_CRC32_VPCLMUL;
}

// _mm_clmulepi64_si128(a, b, imm): imm bit 0 picks a's quadword, bit 4 b's. AT&T order: b, a.
#define CBUFF_CLMUL(name, imm)                                                                    \
    static inline __attribute__((always_inline)) cbuff_v2di name(cbuff_v2di a, cbuff_v2di b) {  \
        __asm__("pclmulqdq $" #imm ", %1, %0" : "+x"(a) : "x"(b));                                \
        return a;                                                                                 \
    }
CBUFF_CLMUL(cbuff_clmul00, 0x00)
CBUFF_CLMUL(cbuff_clmul01, 0x01)
CBUFF_CLMUL(cbuff_clmul10, 0x10)
CBUFF_CLMUL(cbuff_clmul11, 0x11)
#undef CBUFF_CLMUL

/// `v`'s bytes picked by `mask` (PSHUFB: a mask byte with its top bit set gives zero).
static inline __attribute__((always_inline)) cbuff_v2di cbuff_shuffle(cbuff_v2di v, cbuff_v2di mask) {
    __asm__("pshufb %1, %0" : "+x"(v) : "x"(mask));
    return v;
}

static inline __attribute__((always_inline)) cbuff_v2di cbuff_load16(const unsigned char *p) {
    cbuff_v2di v;
    memcpy(&v, p, 16);
    return v;
}

/// Folding constants by distance: entry d moves a 128-bit block d blocks along the stream
/// (x^(128d+32) and x^(128d-32) mod P, bit-reflected, 33 bits; entry 1 is Linux's R4R3 and
/// entry 4 its R2R1), for d = 1...15.
extern const unsigned long long cbuff_crc32_fold_constants[16][2];
/// PSHUFB masks: 16 bytes from entry 16 + t shift a register t bytes down (towards byte 0),
/// from entry t 16 - t bytes up; zeros come in.
extern const unsigned char cbuff_crc32_shift_masks[48];
/// AND masks: 16 bytes from entry t keep a register's top t bytes.
extern const unsigned char cbuff_crc32_top_masks[32];

static inline __attribute__((always_inline)) cbuff_v2di cbuff_fold_constant(size_t distance) {
    return (cbuff_v2di){(long long)cbuff_crc32_fold_constants[distance][0], (long long)cbuff_crc32_fold_constants[distance][1]};
}

/// Block `x` moved `k`'s distance along the stream (to be XORed into the block it lands on).
static inline __attribute__((always_inline)) cbuff_v2di cbuff_move(cbuff_v2di x, cbuff_v2di k) {
    return cbuff_clmul00(x, k) ^ cbuff_clmul11(x, k);
}

#define CBUFF_R5 ((cbuff_v2di){0x0000000163cd6124ll, 0})
#define CBUFF_RUPOLY ((cbuff_v2di){0x00000001DB710641ll, 0x00000001F7011641ll})
#define CBUFF_MASK32 ((cbuff_v2di){0xFFFFFFFFll, 0})

/// The raw 32-bit register of a 64-bit one (the value of the bits of `x1`'s low quadword and
/// what its high one holds): the last 32-bit fold, then Barrett's reduction from 64 to 32 bits.
static inline __attribute__((always_inline)) uint32_t cbuff_reduce64(cbuff_v2di x1) {
    cbuff_v2di x2 = (cbuff_v2di)__builtin_shufflevector((cbuff_v4si)x1, (cbuff_v4si){0, 0, 0, 0}, 1, 2, 3, 4);
    x1 = cbuff_clmul00(x1 & CBUFF_MASK32, CBUFF_R5) ^ x2;
    x2 = x1;
    x1 = cbuff_clmul10(x1 & CBUFF_MASK32, CBUFF_RUPOLY);
    x1 = cbuff_clmul00(x1 & CBUFF_MASK32, CBUFF_RUPOLY) ^ x2;
    return (uint32_t)((cbuff_v4si)x1)[1];
}

/// The raw 32-bit register of a folded 128-bit one.
static inline __attribute__((always_inline)) uint32_t cbuff_reduce128(cbuff_v2di x1) {
    cbuff_v2di t = cbuff_clmul01(cbuff_fold_constant(1), x1);              // R4 * x1.low
    return cbuff_reduce64((cbuff_v2di){x1[1], 0} ^ t);
}

/// The four-lane loop of `cbuff_crc32_raw_folding` on 256-bit registers (VPCLMULQDQ, AVX2): two
/// ymm registers hold the four lanes (a and b, then the two blocks at `p`), each step moves both
/// of a register's lanes 4 blocks along and adds the next 32 bytes, and the lanes come back as
/// four xmm registers for the folds after the loop. Twice the four-lane loop's work a multiply on
/// a CPU whose 256-bit VPCLMULQDQ costs what a 128-bit one does (AMD's family 25: measured in
/// `docs/format-v4-plan.md`, decision 1; eight lanes in four registers measured no faster).
/// `len` at least 96 (the two blocks at `p` and one step); `p` and `len` move past the bytes taken,
/// leaving 0-63.
///
/// One assembly block with its registers named (a clobbered xmm register is its whole ymm one),
/// so that it inlines into a caller built for the x86-64 baseline (see the top of this header).
/// It ends with VZEROUPPER: the code around it is legacy SSE, which Intel's CPUs slow down while a
/// ymm register's upper half is dirty. Not in code built for AVX, whose compiler may keep values
/// in upper halves this block does not clobber (and whose code is VEX, no transition to pay).
/// The bytes it reads are an input (the array of `len` bytes at `p`), so that the compiler keeps
/// every store to them before it.
static inline __attribute__((always_inline)) void cbuff_fold_lanes_wide(cbuff_v2di *a, cbuff_v2di *b, cbuff_v2di *c, cbuff_v2di *d,
                                                                        const unsigned char **p, size_t *len) {
    __asm__("vmovdqa %[a], %%xmm0\n\t"
            "vinserti128 $1, %[b], %%ymm0, %%ymm0\n\t"
            "vmovdqu (%[p]), %%ymm1\n\t"
            "vbroadcasti128 %[k4], %%ymm2\n\t"
            "add $32, %[p]\n\t"
            "sub $32, %[len]\n"
            "1:\n\t"
            "vpclmulqdq $0x00, %%ymm2, %%ymm0, %%ymm3\n\t"
            "vpclmulqdq $0x11, %%ymm2, %%ymm0, %%ymm0\n\t"
            "vpclmulqdq $0x00, %%ymm2, %%ymm1, %%ymm4\n\t"
            "vpclmulqdq $0x11, %%ymm2, %%ymm1, %%ymm1\n\t"
            "vpxor (%[p]), %%ymm3, %%ymm3\n\t"
            "vpxor 32(%[p]), %%ymm4, %%ymm4\n\t"
            "vpxor %%ymm3, %%ymm0, %%ymm0\n\t"
            "vpxor %%ymm4, %%ymm1, %%ymm1\n\t"
            "add $64, %[p]\n\t"
            "sub $64, %[len]\n\t"
            "cmp $64, %[len]\n\t"
            "jae 1b\n\t"
            "vmovdqa %%xmm0, %[a]\n\t"
            "vextracti128 $1, %%ymm0, %[b]\n\t"
            "vmovdqa %%xmm1, %[c]\n\t"
            "vextracti128 $1, %%ymm1, %[d]\n\t"
#if !defined(__AVX__)
            "vzeroupper"
#endif
            : [a] "+x"(*a), [b] "+x"(*b), [c] "=x"(*c), [d] "=x"(*d), [p] "+r"(*p), [len] "+r"(*len)
            : [k4] "m"(cbuff_crc32_fold_constants[4]), "m"(*(const unsigned char(*)[*len])*p)
            : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "cc");
}

/// The raw register after the stream whose first two 16-byte blocks are `a` and `b` (the
/// register's start already XORed into the first bytes; `a` may be zero: leading zeros change
/// nothing then) and which goes on with `len` bytes at `p`. The 8 bytes before `p` must be
/// readable (a tail of 8 bytes or more is loaded as the 16 bytes that end it).
///
/// Shaped for latency as much as for throughput, since most messages are short: the blocks
/// after the last lane fold are each moved to the last one by its own distance at once
/// (multiplies that do not wait for each other) rather than folded into the next one by one,
/// and the last 1-15 bytes are taken by one more fold of shifted registers rather than a
/// reduction and then tables. Long streams fold in four lanes (Linux's and Intel's loop; eight
/// measured slower here), on 256-bit registers where `level` says the CPU has them: faster at
/// every length that takes the loop, so no other threshold.
static inline uint32_t cbuff_crc32_raw_folding(cbuff_v2di a, cbuff_v2di b, const unsigned char *p, size_t len, int level) {
    cbuff_v2di x;
    size_t n = len / 16;
    if (n >= 6) {                                                           // four lanes
        cbuff_v2di y2, y3;
        if (level >= CBUFF_CRC32_VPCLMUL) {
            cbuff_fold_lanes_wide(&a, &b, &y2, &y3, &p, &len);
        } else {
            cbuff_v2di k4 = cbuff_fold_constant(4);
            y2 = cbuff_load16(p), y3 = cbuff_load16(p + 16);
            for (p += 32, len -= 32; len >= 64; p += 64, len -= 64) {
                a = cbuff_move(a, k4) ^ cbuff_load16(p);
                b = cbuff_move(b, k4) ^ cbuff_load16(p + 16);
                y2 = cbuff_move(y2, k4) ^ cbuff_load16(p + 32);
                y3 = cbuff_move(y3, k4) ^ cbuff_load16(p + 48);
            }
        }
        n = len / 16;                                                      // 0-3 blocks more
        x = cbuff_move(a, cbuff_fold_constant(3 + n)) ^ cbuff_move(b, cbuff_fold_constant(2 + n)) ^
            cbuff_move(y2, cbuff_fold_constant(1 + n));
        x ^= n ? cbuff_move(y3, cbuff_fold_constant(n)) ^ cbuff_load16(p + 16 * (n - 1)) : y3;
    } else if (n) {                                                         // a, b and 1-5 blocks
        x = cbuff_load16(p + 16 * (n - 1)) ^ cbuff_move(a, cbuff_fold_constant(n + 1)) ^ cbuff_move(b, cbuff_fold_constant(n));
    } else {
        x = b ^ cbuff_move(a, cbuff_fold_constant(1));
    }
    for (size_t j = 0; j + 1 < n; j++) x ^= cbuff_move(cbuff_load16(p + 16 * j), cbuff_fold_constant(n - 1 - j));
    p += 16 * n;
    len -= 16 * n;
    if (len == 0) return cbuff_reduce128(x);
    if (len >= 8 || n) {
        // The stream now ends with x's 16 bytes and len more: its last 16 bytes are x's last
        // 16 - len then the tail, and x's first len bytes, zeros before them, are one block
        // before those.
        cbuff_v2di tail = cbuff_load16(p + len - 16) & cbuff_load16(cbuff_crc32_top_masks + len);
        cbuff_v2di last = cbuff_shuffle(x, cbuff_load16(cbuff_crc32_shift_masks + 16 + len)) | tail;
        cbuff_v2di first = cbuff_shuffle(x, cbuff_load16(cbuff_crc32_shift_masks + len));
        return cbuff_reduce128(last ^ cbuff_move(first, cbuff_fold_constant(1)));
    }
    return cbuff_crc32_raw_table(cbuff_reduce128(x), p, len);
}
#else
static inline int cbuff_crc32_accelerated(void) { return CBUFF_CRC32_TABLES; }
#endif

/// zlib's `crc32(value, data, len)`: the CRC of `data` continuing one whose result was `value`
/// (0 to start). `accelerated`: what `cbuff_crc32_accelerated()` said (or a lower level).
static inline uint32_t cbuff_crc32(uint32_t value, const void *data, size_t len, int accelerated) {
    const unsigned char *p = (const unsigned char *)data;
    uint32_t crc = ~value;
#if defined(__x86_64__)
    if (accelerated && len >= 16) {
        return ~cbuff_crc32_raw_folding((cbuff_v2di){0, 0}, cbuff_load16(p) ^ (cbuff_v2di){(long long)crc, 0}, p + 16, len - 16, accelerated);
    }
#endif
    return ~cbuff_crc32_raw_table(crc, p, len);
}

/// The check of a message record of format version 4 whose header words are `first` (length
/// and kind), `sequence` and `time` and whose `length` bytes of message are at `body`: the
/// CRC-32 of the header's 24 bytes followed by the message, as one stream (bytes 0-15, then the
/// time word with the message's first 8 bytes, then the rest). A writer passes the words it is
/// about to store and the bytes it copies from, so that nothing is read back from lines its own
/// stores are still on their way to (a load spanning two pending stores waits until they reach
/// the cache: on a lapped ring, a whole cache miss a message).
static inline uint32_t cbuff_crc32_record_of(uint64_t first, uint64_t sequence, uint64_t time, const void *body,
                                             size_t length, int accelerated) {
    const unsigned char *b = (const unsigned char *)body;
#if defined(__x86_64__)
    if (accelerated && length >= 8) {
        uint64_t head;
        memcpy(&head, b, 8);
        return ~cbuff_crc32_raw_folding((cbuff_v2di){(long long)(first ^ 0xFFFFFFFFull), (long long)sequence},
                                        (cbuff_v2di){(long long)time, (long long)head}, b + 8, length - 8, accelerated);
    }
#endif
    uint32_t crc = cbuff_crc32_raw_word(cbuff_crc32_raw_word(cbuff_crc32_raw_word(~0u, first), sequence), time);
    return ~cbuff_crc32_raw_table(crc, b, length);
}

/// The check of the message record at `record` (a reader's: the header as it lies), whose
/// message is `length` bytes at byte 32. Equal to `crc32(crc32(0, record, 24), record + 32,
/// length)` in zlib's terms.
static inline uint32_t cbuff_crc32_record(const void *record, size_t length, int accelerated) {
    const unsigned char *r = (const unsigned char *)record;
#if defined(__x86_64__)
    if (accelerated && length >= 8) {
        uint64_t time, head;
        memcpy(&time, r + 16, 8);
        memcpy(&head, r + 32, 8);
        return ~cbuff_crc32_raw_folding(cbuff_load16(r) ^ (cbuff_v2di){0xFFFFFFFFll, 0}, (cbuff_v2di){(long long)time, (long long)head},
                                        r + 40, length - 8, accelerated);
    }
#endif
    uint64_t words[3];
    memcpy(words, r, 24);
    return cbuff_crc32_record_of(words[0], words[1], words[2], r + 32, length, accelerated);
}

// ---- CRC32C (Castagnoli: reflected polynomial 0x82F63B78, register started at ~0 and
// complemented at the end): the check of an item slot of ring format version 4. SSE4.2's `crc32`
// instruction, one per 8 bytes, where the CPU has it (inline assembly, so that it inlines into a
// Swift caller built for the x86-64 baseline); runs of 96 bytes and more as three independent
// streams joined with PCLMULQDQ (the instruction's latency is 3 cycles, its throughput 1); the
// slice-by-8 tables of crc32c_tables.c elsewhere. RingTests' CRC32CTests check every form this
// CPU has against a bitwise CRC32C. (Measured: Benchmarks/integrity/crc32c.h, README.md.)

/// Table k: the CRC32C register's change for a byte followed by k zero bytes.
extern const uint32_t cbuff_crc32c_table[8][256];

/// The forms `cbuff_crc32c_accelerated` names: each level has the ones below it.
#define CBUFF_CRC32C_TABLES 0
#define CBUFF_CRC32C_SSE42 1
#define CBUFF_CRC32C_SSE42_PCLMUL 2

/// The raw CRC32C register (no complements) after one little-endian 8-byte word, by the tables.
static inline __attribute__((always_inline)) uint32_t cbuff_crc32c_raw_word_table(uint32_t crc, uint64_t word) {
    uint64_t x = word ^ crc;
    return cbuff_crc32c_table[7][x & 255] ^ cbuff_crc32c_table[6][(x >> 8) & 255] ^ cbuff_crc32c_table[5][(x >> 16) & 255] ^
           cbuff_crc32c_table[4][(x >> 24) & 255] ^ cbuff_crc32c_table[3][(x >> 32) & 255] ^
           cbuff_crc32c_table[2][(x >> 40) & 255] ^ cbuff_crc32c_table[1][(x >> 48) & 255] ^ cbuff_crc32c_table[0][x >> 56];
}

/// The raw CRC32C register after `len` bytes, by the tables.
static inline uint32_t cbuff_crc32c_raw_table(uint32_t crc, const unsigned char *p, size_t len) {
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = cbuff_crc32c_raw_word_table(crc, word);
    }
    for (; len; len--, p++) crc = cbuff_crc32c_table[0][(crc ^ *p) & 255] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
/// Which form this CPU takes: CBUFF_CRC32C_TABLES, CBUFF_CRC32C_SSE42 (cpuid leaf 1, ECX bit 20)
/// or CBUFF_CRC32C_SSE42_PCLMUL (and ECX bit 1).
static inline int cbuff_crc32c_accelerated(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 20) & 1)) return CBUFF_CRC32C_TABLES;
    return (c >> 1) & 1 ? CBUFF_CRC32C_SSE42_PCLMUL : CBUFF_CRC32C_SSE42;
}

/// The raw register after one 8-byte word, by the instruction (the register kept in 64 bits:
/// the instruction clears the upper half, so a loop does not zero-extend it between steps).
static inline __attribute__((always_inline)) uint64_t cbuff_crc32c_step64(uint64_t crc, uint64_t word) {
    __asm__("crc32q %1, %0" : "+r"(crc) : "r"(word));
    return crc;
}

static inline __attribute__((always_inline)) uint32_t cbuff_crc32c_step8(uint32_t crc, uint8_t byte) {
    __asm__("crc32b %1, %0" : "+r"(crc) : "r"(byte));
    return crc;
}

/// One dependent instruction per 8 bytes.
static inline __attribute__((always_inline)) uint32_t cbuff_crc32c_raw_chained(uint32_t crc32, const unsigned char *p, size_t len) {
    uint64_t crc = crc32;
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = cbuff_crc32c_step64(crc, word);
    }
    uint32_t c = (uint32_t)crc;
    for (; len; len--, p++) c = cbuff_crc32c_step8(c, *p);
    return c;
}

/// `crc` (a raw register) multiplied by x^(8B) mod P, given `constant` = x^(8B-33) mod P: one
/// carry-less multiply, then one `crc32` of the 64-bit product (the instruction multiplies by
/// x^32 and reduces; the reflected product carries one more factor x).
static inline __attribute__((always_inline)) uint32_t cbuff_crc32c_shift(uint32_t crc, uint32_t constant) {
    cbuff_v2di product = cbuff_clmul00((cbuff_v2di){(long long)crc, 0}, (cbuff_v2di){(long long)constant, 0});
    return (uint32_t)cbuff_crc32c_step64(0, (uint64_t)product[0]);
}

/// Whole blocks of 3·`block` bytes from `*p` as three streams a, b, c of `block` bytes each,
/// joined as a·x^(16·block) + b·x^(8·block) + c, given x^(8·block-33) and x^(16·block-33) mod P;
/// moves `*p` and `*len` past them.
static inline __attribute__((always_inline)) uint32_t cbuff_crc32c_raw_blocks(uint32_t crc, const unsigned char **p, size_t *len,
                                                                               size_t block, uint32_t shift1, uint32_t shift2) {
    while (*len >= 3 * block) {
        const unsigned char *q = *p;
        uint64_t c0 = crc, c1 = 0, c2 = 0;
        for (size_t i = 0; i < block; i += 8) {
            uint64_t w0, w1, w2;
            memcpy(&w0, q + i, 8);
            memcpy(&w1, q + block + i, 8);
            memcpy(&w2, q + 2 * block + i, 8);
            c0 = cbuff_crc32c_step64(c0, w0);
            c1 = cbuff_crc32c_step64(c1, w1);
            c2 = cbuff_crc32c_step64(c2, w2);
        }
        crc = cbuff_crc32c_shift((uint32_t)c0, shift2) ^ cbuff_crc32c_shift((uint32_t)c1, shift1) ^ (uint32_t)c2;
        *p += 3 * block;
        *len -= 3 * block;
    }
    return crc;
}

/// Blocks of 768 bytes, then of 96, as three streams; the last bytes chained. The constants are
/// x^(8B-33) and x^(16B-33) mod P for B = 256 and 32 (RingTests recompute them bitwise).
static inline uint32_t cbuff_crc32c_raw_streams(uint32_t crc, const unsigned char *p, size_t len) {
    crc = cbuff_crc32c_raw_blocks(crc, &p, &len, 256, 0xB9E02B86u, 0xDD7E3B0Cu);
    crc = cbuff_crc32c_raw_blocks(crc, &p, &len, 32, 0xBA4FC28Eu, 0x9E4ADDF8u);
    return cbuff_crc32c_raw_chained(crc, p, len);
}
#else
static inline int cbuff_crc32c_accelerated(void) { return CBUFF_CRC32C_TABLES; }
#endif

/// CRC32C of `data` continuing one whose result was `value` (0 to start): the running-value form
/// of the usual libraries (Python's `crc32c.crc32c(data, value)`, Go's `crc32.Update`).
/// `accelerated`: what `cbuff_crc32c_accelerated()` said (or a lower level).
static inline __attribute__((always_inline)) uint32_t cbuff_crc32c(uint32_t value, const void *data, size_t len, int accelerated) {
    const unsigned char *p = (const unsigned char *)data;
#if defined(__x86_64__)
    if (accelerated >= CBUFF_CRC32C_SSE42_PCLMUL && len >= 96) return ~cbuff_crc32c_raw_streams(~value, p, len);
    if (accelerated) return ~cbuff_crc32c_raw_chained(~value, p, len);
#endif
    return ~cbuff_crc32c_raw_table(~value, p, len);
}

/// The check word of an item slot of format version 4 holding the `size` bytes at `item` under
/// sequence `sequence` (< 2^63): bits 0-30 the sequence's low 31 bits, bit 31 set ("written"),
/// bits 32-63 the CRC32C of the item continuing the value `sequence >> 31`. Never 0.
static inline __attribute__((always_inline)) uint64_t cbuff_slot_word(uint64_t sequence, const void *item, size_t size, int accelerated) {
    uint64_t check = cbuff_crc32c((uint32_t)(sequence >> 31), item, size, accelerated);
    return check << 32 | (sequence & 0x7FFFFFFFull) | 0x80000000ull;
}

/// `cbuff_slot_word` of an 8-byte item whose bytes, loaded little-endian, are `item`, on a CPU
/// with SSE4.2 (`accelerated` at least CBUFF_CRC32C_SSE42): one `crc32q`, no length to walk, the
/// common item's form (the general one costs some 30 instructions more a word).
static inline __attribute__((always_inline)) uint64_t cbuff_slot_word8(uint64_t sequence, uint64_t item) {
#if defined(__x86_64__)
    uint32_t check = ~(uint32_t)cbuff_crc32c_step64((uint64_t)(uint32_t)~(uint32_t)(sequence >> 31), item);
    return (uint64_t)check << 32 | (sequence & 0x7FFFFFFFull) | 0x80000000ull;
#else
    return cbuff_slot_word(sequence, &item, 8, 0);
#endif
}

#endif
