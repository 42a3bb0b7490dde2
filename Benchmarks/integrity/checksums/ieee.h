/* CRC-32 (IEEE 802.3, reflected 0xEDB88320, zlib's crc32) in two forms:
 *  - slice-by-8 tables (portable; the table is an extern array defined once in a .c file);
 *  - PCLMULQDQ folding (Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ",
 *    the constants and steps of Linux's arch/x86/crypto/crc32-pclmul_asm.S), for lengths >= 16
 *    and multiple of 16; the CRC register is passed raw (no complement).
 * Conventions of ieee_* (the public ones): zlib's, crc32(data, value). */
#ifndef CKSUM_IEEE_H
#define CKSUM_IEEE_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <immintrin.h>

extern uint32_t ieee_table[8][256];
void ieee_init_tables(void);

static inline uint32_t ieee_raw_word(uint32_t crc, uint64_t w) { /* raw register over 8 bytes (LE word) */
    uint64_t x = w ^ crc;
    return ieee_table[7][x & 255] ^ ieee_table[6][(x >> 8) & 255] ^ ieee_table[5][(x >> 16) & 255] ^
           ieee_table[4][(x >> 24) & 255] ^ ieee_table[3][(x >> 32) & 255] ^ ieee_table[2][(x >> 40) & 255] ^
           ieee_table[1][(x >> 48) & 255] ^ ieee_table[0][x >> 56];
}

static inline uint32_t ieee_raw_slice8(uint32_t crc, const void *data, size_t len) {
    const unsigned char *p = data;
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        crc = ieee_raw_word(crc, w);
    }
    for (; len; len--, p++) crc = ieee_table[0][(crc ^ *p) & 255] ^ (crc >> 8);
    return crc;
}

static inline uint32_t ieee_slice8(uint32_t value, const void *data, size_t len) { return ~ieee_raw_slice8(~value, data, len); }

/* ---- PCLMULQDQ ---- */
#define IEEE_K(hi, lo) _mm_set_epi64x((long long)(hi), (long long)(lo))
static inline __attribute__((always_inline, target("pclmul,sse4.1")))
__m128i ieee_fold(__m128i x, __m128i next, __m128i k) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

/* 128-bit register (the message so far, folded) -> raw 32-bit CRC register. */
static inline __attribute__((always_inline, target("pclmul,sse4.1")))
uint32_t ieee_reduce128(__m128i x1) {
    const __m128i r4r3 = IEEE_K(0x00000000ccaa009eull, 0x00000001751997d0ull);
    const __m128i r5 = IEEE_K(0, 0x0000000163cd6124ull);
    const __m128i rupoly = IEEE_K(0x00000001F7011641ull, 0x00000001DB710641ull);
    const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
    __m128i t = _mm_clmulepi64_si128(r4r3, x1, 0x01);           /* R4 * x1.low */
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
    __m128i x2 = _mm_srli_si128(x1, 4);                          /* final 32-bit fold */
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), r5, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    x2 = x1;                                                     /* Barrett 64 -> 32 */
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), rupoly, 0x10);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), rupoly, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

/* raw register over len bytes, len >= 16 and len % 16 == 0 */
static inline __attribute__((target("pclmul,sse4.1")))
uint32_t ieee_raw_pclmul(uint32_t crc, const void *data, size_t len) {
    const unsigned char *p = data;
    const __m128i r2r1 = IEEE_K(0x00000001c6e41596ull, 0x0000000154442bd4ull);
    const __m128i r4r3 = IEEE_K(0x00000000ccaa009eull, 0x00000001751997d0ull);
    __m128i x1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)crc));
    if (len >= 64) {
        __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 16)), x3 = _mm_loadu_si128((const __m128i *)(p + 32)),
                x4 = _mm_loadu_si128((const __m128i *)(p + 48));
        p += 64; len -= 64;
        while (len >= 64) {
            x1 = ieee_fold(x1, _mm_loadu_si128((const __m128i *)p), r2r1);
            x2 = ieee_fold(x2, _mm_loadu_si128((const __m128i *)(p + 16)), r2r1);
            x3 = ieee_fold(x3, _mm_loadu_si128((const __m128i *)(p + 32)), r2r1);
            x4 = ieee_fold(x4, _mm_loadu_si128((const __m128i *)(p + 48)), r2r1);
            p += 64; len -= 64;
        }
        x1 = ieee_fold(x1, x2, r4r3);
        x1 = ieee_fold(x1, x3, r4r3);
        x1 = ieee_fold(x1, x4, r4r3);
    } else {
        p += 16; len -= 16;
    }
    while (len >= 16) {
        x1 = ieee_fold(x1, _mm_loadu_si128((const __m128i *)p), r4r3);
        p += 16; len -= 16;
    }
    return ieee_reduce128(x1);
}

/* 8 bytes with a seed (format v4's item shape): the register xored into the word, then the
 * final 32-bit fold and the Barrett reduction only: 3 clmul */
static inline __attribute__((always_inline, target("pclmul,sse4.1")))
uint32_t ieee_pclmul_word(uint32_t value, uint64_t item) {
    const __m128i r5 = IEEE_K(0, 0x0000000163cd6124ull);
    const __m128i rupoly = IEEE_K(0x00000001F7011641ull, 0x00000001DB710641ull);
    const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
    __m128i x1 = _mm_cvtsi64_si128((long long)(item ^ (uint32_t)~value));
    __m128i x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), r5, 0x00), x2);
    x2 = x1;
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), rupoly, 0x10);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), rupoly, 0x00);
    return ~(uint32_t)_mm_extract_epi32(_mm_xor_si128(x1, x2), 1);
}

/* (seq, item): 16 bytes, one 128-bit register, reduced: 4 clmul */
static inline __attribute__((always_inline, target("pclmul,sse4.1")))
uint32_t ieee_pclmul_item16(uint64_t seq, uint64_t item) {
    __m128i x = _mm_set_epi64x((long long)item, (long long)seq);
    x = _mm_xor_si128(x, _mm_cvtsi32_si128(-1));
    return ~ieee_reduce128(x);
}
#endif
