/* CRC32C (Castagnoli, the polynomial of iSCSI, ext4, Kafka and SQLite's WAL checksum's successor
 * in most stores) with the SSE4.2 `crc32` instruction, header-only so that C and Swift (through a
 * module map, see swift/) both inline it.
 *
 * Two ways to reach the instruction without compiling the whole program for SSE4.2:
 *  - INTEGRITY_CRC_ASM (default): inline assembly. The assembler accepts `crc32q` whatever the
 *    compiler's target features are, so the function inlines into any caller, a Swift one
 *    included; the caller must have checked the CPU once (crc32c_hardware_available()).
 *  - otherwise __builtin_ia32_crc32di under __attribute__((target("sse4.2"))). LLVM will not
 *    inline such a function into a caller built without SSE4.2 (the callee's features are not a
 *    subset of the caller's), so from a Swift caller built for baseline x86-64 it is a call.
 *
 * Conventions are the standard CRC32C's: initial value ~0, final complement, reflected
 * polynomial 0x82F63B78; crc32c_bytes("123456789") = 0xE3069283. */
#ifndef INTEGRITY_CRC32C_H
#define INTEGRITY_CRC32C_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cpuid.h>

#ifndef INTEGRITY_CRC_BUILTIN
/* The register kept in 64 bits (the instruction clears the upper half), so that a loop does not
 * zero-extend it between steps. */
static inline __attribute__((always_inline)) uint64_t crc32c_step64q(uint64_t crc, uint64_t value) {
    __asm__("crc32q %1, %0" : "+r"(crc) : "r"(value));
    return crc;
}
static inline __attribute__((always_inline)) uint32_t crc32c_step64(uint32_t crc, uint64_t value) {
    uint64_t c = crc;
    __asm__("crc32q %1, %0" : "+r"(c) : "r"(value)); /* "r": with "rm" clang spills the operand to the stack */
    return (uint32_t)c;
}
static inline __attribute__((always_inline)) uint32_t crc32c_step8(uint32_t crc, uint8_t value) {
    __asm__("crc32b %1, %0" : "+r"(crc) : "r"(value));
    return crc;
}
#else
static inline __attribute__((always_inline, target("sse4.2"))) uint64_t crc32c_step64q(uint64_t crc, uint64_t value) {
    return __builtin_ia32_crc32di(crc, value);
}
static inline __attribute__((always_inline, target("sse4.2"))) uint32_t crc32c_step64(uint32_t crc, uint64_t value) {
    return (uint32_t)__builtin_ia32_crc32di(crc, value);
}
static inline __attribute__((always_inline, target("sse4.2"))) uint32_t crc32c_step8(uint32_t crc, uint8_t value) {
    return __builtin_ia32_crc32qi(crc, value);
}
#endif

/* cpuid leaf 1: ECX bit 20 SSE4.2, bit 1 PCLMULQDQ. */
static inline int crc32c_hardware_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c >> 20) & 1;
}

/* The check of one 8-byte item: CRC32C over its 64-bit sequence and its 8 bytes (both
 * little-endian): two instructions. */
static inline __attribute__((always_inline)) uint32_t crc32c_item8(uint64_t sequence, uint64_t item) {
    return ~crc32c_step64(crc32c_step64(~0u, sequence), item);
}

/* Raw register update over `len` bytes, one dependent instruction per 8 bytes (3 cycles each:
 * the instruction's latency). */
static inline uint32_t crc32c_raw_chained(uint32_t crc32, const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t crc = crc32;
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        crc = crc32c_step64q(crc, w);
    }
    uint32_t c = (uint32_t)crc;
    for (; len; len--, p++) c = crc32c_step8(c, *p);
    return c;
}

/* ---- three streams at once, joined with a carry-less multiply ----------------------------
 * The instruction's latency is 3 cycles and its throughput 1 per cycle, so three independent
 * streams run three times as fast as one. A block of 3*B bytes is split into a, b, c of B bytes;
 * the register over the whole block is a * x^(16B) + b * x^(8B) + c (mod P), and multiplying a
 * 32-bit register by x^(8B) mod P is one PCLMULQDQ by the constant x^(8B-33) mod P followed by one
 * crc32 of the 64-bit product (the instruction multiplies by x^32 and reduces; the reflected
 * product carries one more factor x). Constants for B = 256 and B = 32 (blocks of 768 and 96
 * bytes); the last < 96 bytes go through the chained loop. The constants are literals (a static
 * array in a header is not importable into Swift: it links as an undefined symbol);
 * crc32c_init() recomputes them with crc32c_xpow and checks the whole against a bitwise CRC. */
#define CRC32C_X_8x256_33 0xB9E02B86u  /* x^(8*256-33) mod P */
#define CRC32C_X_16x256_33 0xDD7E3B0Cu /* x^(16*256-33) mod P */
#define CRC32C_X_8x32_33 0xBA4FC28Eu   /* x^(8*32-33) mod P */
#define CRC32C_X_16x32_33 0x9E4ADDF8u  /* x^(16*32-33) mod P */

static inline uint32_t crc32c_xpow(size_t k) { /* x^k mod P, reflected */
    uint32_t r = 0x80000000u;
    while (k--) r = (r >> 1) ^ ((r & 1) ? 0x82F63B78u : 0);
    return r;
}

static inline __attribute__((always_inline, target("pclmul,sse4.2")))
uint32_t crc32c_shift_by(uint32_t crc, uint32_t constant) {
    typedef long long v2di __attribute__((vector_size(16)));
    v2di a = { (long long)crc, 0 }, k = { (long long)constant, 0 };
    v2di p = __builtin_ia32_pclmulqdq128(a, k, 0x00);
    return (uint32_t)__builtin_ia32_crc32di(0, (uint64_t)p[0]);
}

static inline __attribute__((target("pclmul,sse4.2")))
uint32_t crc32c_raw_long(uint32_t crc, const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    for (int s = 0; s < 2; s++) {
        const size_t B = s == 0 ? 256 : 32;
        const uint32_t k1 = s == 0 ? CRC32C_X_8x256_33 : CRC32C_X_8x32_33, k2 = s == 0 ? CRC32C_X_16x256_33 : CRC32C_X_16x32_33;
        while (len >= 3 * B) {
            uint64_t c0 = crc, c1 = 0, c2 = 0;
            for (size_t i = 0; i < B; i += 8) {
                uint64_t w0, w1, w2;
                memcpy(&w0, p + i, 8);
                memcpy(&w1, p + B + i, 8);
                memcpy(&w2, p + 2 * B + i, 8);
                c0 = crc32c_step64q(c0, w0);
                c1 = crc32c_step64q(c1, w1);
                c2 = crc32c_step64q(c2, w2);
            }
            crc = crc32c_shift_by((uint32_t)c0, k2) ^ crc32c_shift_by((uint32_t)c1, k1) ^ (uint32_t)c2;
            p += 3 * B;
            len -= 3 * B;
        }
    }
    return crc32c_raw_chained(crc, p, len);
}

/* Short runs inline and chained (no three-stream set-up, no call), long ones three streams. */
static inline __attribute__((always_inline)) uint32_t crc32c_raw(uint32_t crc, const void *data, size_t len) {
    return len < 96 ? crc32c_raw_chained(crc, data, len) : crc32c_raw_long(crc, data, len);
}

static inline uint32_t crc32c_bytes(const void *data, size_t len) { return ~crc32c_raw(~0u, data, len); }

/* Returns 0 if the hardware, the constants and the three-stream loop agree with a bitwise
 * software CRC32C (and the check value of "123456789"), -1 otherwise. */
static inline int crc32c_init(void) {
    if (crc32c_xpow(8 * 256 - 33) != CRC32C_X_8x256_33 || crc32c_xpow(16 * 256 - 33) != CRC32C_X_16x256_33 ||
        crc32c_xpow(8 * 32 - 33) != CRC32C_X_8x32_33 || crc32c_xpow(16 * 32 - 33) != CRC32C_X_16x32_33) return -1;
    if (crc32c_bytes("123456789", 9) != 0xE3069283u) return -1;
    unsigned char buf[2400];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof buf; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; buf[i] = (unsigned char)x; }
    for (size_t len = 0; len <= sizeof buf; len += (len < 200 ? 1 : 37)) {
        uint32_t soft = ~0u;
        for (size_t i = 0; i < len; i++) {
            soft ^= buf[i];
            for (int b = 0; b < 8; b++) soft = (soft >> 1) ^ ((soft & 1) ? 0x82F63B78u : 0);
        }
        if (~soft != crc32c_bytes(buf, len) || ~soft != ~crc32c_raw_chained(~0u, buf, len)) return -1;
    }
    uint64_t seq = 123456789, item = 0xDEADBEEFCAFEF00Dull;
    unsigned char two[16];
    memcpy(two, &seq, 8);
    memcpy(two + 8, &item, 8);
    if (crc32c_item8(seq, item) != crc32c_bytes(two, 16)) return -1;
    return 0;
}
#endif
