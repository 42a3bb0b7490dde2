// CRC-32 (IEEE 802.3: zlib's `crc32`, reflected polynomial 0xEDB88320, register started at ~0
// and complemented at the end): the check of a message record of ring format version 4.
//
// Two forms, one result:
//  - PCLMULQDQ folding (Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ",
//    the constants of Linux's arch/x86/crypto/crc32-pclmul_asm.S, as measured in
//    Benchmarks/integrity/checksums/ieee.h) for x86-64 CPUs that have the instruction. The
//    carry-less multiply is inline assembly and everything else plain vector arithmetic of the
//    x86-64 baseline (SSE2), so these functions inline into a Swift caller built for the
//    baseline. Not `_mm_clmulepi64_si128` under `target("pclmul")`: LLVM will not inline such a
//    function into that caller (it becomes a call), and with `always_inline` Swift 6.3.1's LLVM
//    crashes compiling the caller (Benchmarks/integrity/crc32c.h).
//  - slice-by-8 tables (crc32_tables.c) everywhere else, and for the bytes the folding leaves.
//
// Whether the CPU has the instruction is asked once (`cbuff_crc32_accelerated`) and passed in:
// no global state here. RingTests' CRC32Tests check both forms against zlib.
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

#if defined(__x86_64__)
#include <cpuid.h>

typedef long long cbuff_v2di __attribute__((vector_size(16)));
typedef int cbuff_v4si __attribute__((vector_size(16)));

/// Whether this CPU has PCLMULQDQ (cpuid leaf 1, ECX bit 1).
static inline int cbuff_crc32_accelerated(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c >> 1) & 1;
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

static inline __attribute__((always_inline)) cbuff_v2di cbuff_load16(const unsigned char *p) {
    cbuff_v2di v;
    memcpy(&v, p, 16);
    return v;
}

// x^(4*128+64), x^(4*128) (folding four registers at once) and x^(128+64), x^128 (one), mod P,
// then x^64 and the Barrett constants (mu, P): Linux's .Lconstant_R2R1, R4R3, R5, RUpoly.
#define CBUFF_R2R1 ((cbuff_v2di){0x0000000154442bd4ll, 0x00000001c6e41596ll})
#define CBUFF_R4R3 ((cbuff_v2di){0x00000001751997d0ll, 0x00000000ccaa009ell})
#define CBUFF_R5 ((cbuff_v2di){0x0000000163cd6124ll, 0})
#define CBUFF_RUPOLY ((cbuff_v2di){0x00000001DB710641ll, 0x00000001F7011641ll})
#define CBUFF_MASK32 ((cbuff_v2di){0xFFFFFFFFll, 0})

/// `x` moved 128 (R4R3) or 512 (R2R1) bits along, plus the block that follows.
static inline __attribute__((always_inline)) cbuff_v2di cbuff_fold(cbuff_v2di x, cbuff_v2di next, cbuff_v2di k) {
    return cbuff_clmul00(x, k) ^ cbuff_clmul11(x, k) ^ next;
}

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
    cbuff_v2di t = cbuff_clmul01(CBUFF_R4R3, x1);                         // R4 * x1.low
    return cbuff_reduce64((cbuff_v2di){x1[1], 0} ^ t);
}

/// The raw register after one more little-endian 8-byte word: 3 carry-less multiplies, where
/// the tables take 8 loads (Benchmarks/integrity/checksums/ieee.h, `ieee_pclmul_word`).
static inline __attribute__((always_inline)) uint32_t cbuff_crc32_raw_word_folding(uint32_t crc, uint64_t word) {
    return cbuff_reduce64((cbuff_v2di){(long long)(word ^ crc), 0});
}

/// The raw register after the bytes `x` holds folded (everything before `p`) and `len` more.
static inline uint32_t cbuff_crc32_raw_folding(cbuff_v2di x1, const unsigned char *p, size_t len) {
    if (len >= 64) {
        x1 = cbuff_fold(x1, cbuff_load16(p), CBUFF_R4R3);
        cbuff_v2di x2 = cbuff_load16(p + 16), x3 = cbuff_load16(p + 32), x4 = cbuff_load16(p + 48);
        p += 64;
        len -= 64;
        while (len >= 64) {
            x1 = cbuff_fold(x1, cbuff_load16(p), CBUFF_R2R1);
            x2 = cbuff_fold(x2, cbuff_load16(p + 16), CBUFF_R2R1);
            x3 = cbuff_fold(x3, cbuff_load16(p + 32), CBUFF_R2R1);
            x4 = cbuff_fold(x4, cbuff_load16(p + 48), CBUFF_R2R1);
            p += 64;
            len -= 64;
        }
        x1 = cbuff_fold(x1, x2, CBUFF_R4R3);
        x1 = cbuff_fold(x1, x3, CBUFF_R4R3);
        x1 = cbuff_fold(x1, x4, CBUFF_R4R3);
    }
    for (; len >= 16; len -= 16, p += 16) x1 = cbuff_fold(x1, cbuff_load16(p), CBUFF_R4R3);
    uint32_t crc = cbuff_reduce128(x1);
    if (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = cbuff_crc32_raw_word_folding(crc, word);
        p += 8;
        len -= 8;
    }
    return cbuff_crc32_raw_table(crc, p, len);
}
#else
static inline int cbuff_crc32_accelerated(void) { return 0; }
#endif

/// zlib's `crc32(value, data, len)`: the CRC of `data` continuing one whose result was `value`
/// (0 to start). `accelerated`: what `cbuff_crc32_accelerated()` said.
static inline uint32_t cbuff_crc32(uint32_t value, const void *data, size_t len, int accelerated) {
    const unsigned char *p = (const unsigned char *)data;
    uint32_t crc = ~value;
#if defined(__x86_64__)
    if (accelerated && len >= 16) {
        return ~cbuff_crc32_raw_folding(cbuff_load16(p) ^ (cbuff_v2di){(long long)crc, 0}, p + 16, len - 16);
    }
#endif
    return ~cbuff_crc32_raw_table(crc, p, len);
}

/// The check of a message record of format version 4: the CRC-32 of its bytes 0-23 (length and
/// kind, sequence, time) followed by its `length` bytes of message, which start at byte 32.
/// Equal to `crc32(crc32(0, record, 24), record + 32, length)` in zlib's terms, computed as one
/// stream: bytes 0-15, then the time word with the message's first 8 bytes, then the rest.
static inline uint32_t cbuff_crc32_record(const void *record, size_t length, int accelerated) {
    const unsigned char *r = (const unsigned char *)record, *body = r + 32;
#if defined(__x86_64__)
    if (accelerated && length >= 8) {
        uint64_t time, first;
        memcpy(&time, r + 16, 8);
        memcpy(&first, body, 8);
        cbuff_v2di x = cbuff_load16(r) ^ (cbuff_v2di){0xFFFFFFFFll, 0};
        x = cbuff_fold(x, (cbuff_v2di){(long long)time, (long long)first}, CBUFF_R4R3);
        return ~cbuff_crc32_raw_folding(x, body + 8, length - 8);
    }
#endif
    return ~cbuff_crc32_raw_table(cbuff_crc32_raw_table(~0u, r, 24), body, length);
}

#endif
