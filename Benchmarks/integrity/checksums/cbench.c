/* Per-call cost of 32-bit checks in C (gcc -O2): CRC32C with the crc32 instruction
 * (Benchmarks/integrity/crc32c.h), CRC-32 IEEE slice-by-8 and PCLMULQDQ, a multiply-xor hash.
 *
 *   ./cbench check                      self-test against bitwise CRCs
 *   ./cbench time ROUNDS N              ns per call, median over rounds (variants alternated)
 *   ./cbench run VARIANT N              one loop (for callgrind: instructions = diff of two N)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../crc32c.h"
#include "ieee.h"

uint32_t ieee_table[8][256];
void ieee_init_tables(void) {
    for (int b = 0; b < 256; b++) {
        uint32_t c = (uint32_t)b;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ ((c & 1) ? 0xEDB88320u : 0);
        ieee_table[0][b] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int b = 0; b < 256; b++) ieee_table[t][b] = (ieee_table[t - 1][b] >> 8) ^ ieee_table[0][ieee_table[t - 1][b] & 255];
}

static uint32_t bitwise(uint32_t poly, uint32_t value, const void *d, size_t n) {
    const unsigned char *p = d;
    uint32_t c = ~value;
    while (n--) { c ^= *p++; for (int k = 0; k < 8; k++) c = (c >> 1) ^ ((c & 1) ? poly : 0); }
    return ~c;
}

#define K0 0x9E3779B97F4A7C15ull
#define K1 0xBF58476D1CE4E5B9ull
#define K2 0x94D049BB133111EBull

static inline uint32_t mx_item(uint64_t s, uint64_t v) { return (uint32_t)(((((s ^ K0) * K1) ^ v) * K2) >> 32); }
static inline uint32_t mx_msg(uint64_t s, const void *d, size_t n) {
    const unsigned char *p = d;
    uint64_t h = (s ^ K0) * K1;
    for (; n >= 8; n -= 8, p += 8) { uint64_t w; memcpy(&w, p, 8); h = (h ^ w) * K2; h ^= h >> 29; }
    return (uint32_t)((h * K1) >> 32);
}

enum { NITEMS = 1024, NMSG = 64 };
static uint64_t items[NITEMS];
static unsigned char msgs[NMSG][1024] __attribute__((aligned(64)));
static volatile uint32_t sink;

#define ITEM_LOOP(name, expr) \
    static __attribute__((noinline)) void name(long n) { uint32_t acc = 0; \
        for (long i = 0; i < n; i++) { uint64_t seq = (uint64_t)i, item = items[i & (NITEMS - 1)]; acc ^= (expr); } sink = acc; }
/* latency: each call's input depends on the previous result (the writer's CRC before its publishing store) */
#define ITEM_LAT(name, attr, expr) \
    static __attribute__((noinline)) attr void name(long n) { uint32_t acc = 0; \
        for (long i = 0; i < n; i++) { uint64_t seq = (uint64_t)i, item = items[i & (NITEMS - 1)] ^ acc; acc = (expr); } sink = acc; }
#define TGT __attribute__((target("pclmul,sse4.1")))
#define ITEM_LOOP_T(name, expr) \
    static __attribute__((noinline)) TGT void name(long n) { uint32_t acc = 0; \
        for (long i = 0; i < n; i++) { uint64_t seq = (uint64_t)i, item = items[i & (NITEMS - 1)]; acc ^= (expr); } sink = acc; }
#define MSG_LOOP_T(name, len, expr) \
    static __attribute__((noinline)) TGT void name(long n) { uint32_t acc = 0; \
        for (long i = 0; i < n; i++) { uint64_t seq = (uint64_t)i; const unsigned char *p = msgs[i & (NMSG - 1)]; (void)p; acc ^= (expr); } sink = acc; }
#define MSG_LOOP(name, len, expr) \
    static __attribute__((noinline)) void name(long n) { uint32_t acc = 0; \
        for (long i = 0; i < n; i++) { uint64_t seq = (uint64_t)i; const unsigned char *p = msgs[i & (NMSG - 1)]; (void)p; acc ^= (expr); } sink = acc; }

ITEM_LOOP(item_crc32c_16, crc32c_item8(seq, item))
ITEM_LOOP(item_crc32c_v4, ~crc32c_step64(~(uint32_t)(seq >> 31), item))
ITEM_LOOP(item_ieee_slice8_16, ~ieee_raw_word(ieee_raw_word(~0u, seq), item))
ITEM_LOOP(item_ieee_slice8_v4, ~ieee_raw_word(~(uint32_t)(seq >> 31), item))
ITEM_LOOP_T(item_ieee_pclmul_16, ieee_pclmul_item16(seq, item))
ITEM_LOOP_T(item_ieee_pclmul_v4, ieee_pclmul_word((uint32_t)(seq >> 31), item))
ITEM_LAT(lat_none, , (uint32_t)(seq ^ item))
ITEM_LAT(lat_crc32c_v4, , ~crc32c_step64(~(uint32_t)(seq >> 31), item))
ITEM_LAT(lat_ieee_slice8_v4, , ~ieee_raw_word(~(uint32_t)(seq >> 31), item))
ITEM_LAT(lat_ieee_pclmul_v4, TGT, ieee_pclmul_word((uint32_t)(seq >> 31), item))
ITEM_LAT(lat_mx, , mx_item(seq, item))
ITEM_LOOP(item_mx, mx_item(seq, item))
ITEM_LOOP(item_none, (uint32_t)(seq ^ item))
#define MSGS(len) \
MSG_LOOP(msg##len##_crc32c, len, ~crc32c_raw(crc32c_step64(~0u, seq), p, len)) \
MSG_LOOP(msg##len##_ieee_slice8, len, ~ieee_raw_slice8(ieee_raw_word(~0u, seq), p, len)) \
MSG_LOOP_T(msg##len##_ieee_pclmul, len, ~ieee_raw_pclmul(ieee_raw_word(~0u, seq), p, len)) \
MSG_LOOP(msg##len##_mx, len, mx_msg(seq, p, len))
MSGS(64)
MSGS(1024)

struct variant { const char *name; void (*f)(long); long scale; } variants[] = {
    {"item_none", item_none, 1},
    {"item_crc32c_16", item_crc32c_16, 1}, {"item_crc32c_v4", item_crc32c_v4, 1},
    {"item_ieee_slice8_16", item_ieee_slice8_16, 1}, {"item_ieee_slice8_v4", item_ieee_slice8_v4, 1},
    {"item_ieee_pclmul_16", item_ieee_pclmul_16, 1}, {"item_ieee_pclmul_v4", item_ieee_pclmul_v4, 1}, {"item_mx", item_mx, 1},
    {"lat_none", lat_none, 1}, {"lat_crc32c_v4", lat_crc32c_v4, 1}, {"lat_ieee_slice8_v4", lat_ieee_slice8_v4, 1},
    {"lat_ieee_pclmul_v4", lat_ieee_pclmul_v4, 1}, {"lat_mx", lat_mx, 1},
    {"msg64_crc32c", msg64_crc32c, 4}, {"msg64_ieee_slice8", msg64_ieee_slice8, 4},
    {"msg64_ieee_pclmul", msg64_ieee_pclmul, 4}, {"msg64_mx", msg64_mx, 4},
    {"msg1024_crc32c", msg1024_crc32c, 40}, {"msg1024_ieee_slice8", msg1024_ieee_slice8, 40},
    {"msg1024_ieee_pclmul", msg1024_ieee_pclmul, 40}, {"msg1024_mx", msg1024_mx, 40},
};
enum { NV = sizeof variants / sizeof variants[0] };

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

static TGT int check(void) {
    int bad = 0;
    if (crc32c_init() != 0) { puts("crc32c.h self-test failed"); bad = 1; }
    unsigned char buf[1040];
    for (int t = 0; t < 200; t++) {
        uint64_t seq = ((uint64_t)rand() << 33) ^ (uint64_t)rand(), item = ((uint64_t)rand() << 40) ^ ((uint64_t)rand() << 20) ^ (uint64_t)rand();
        unsigned char two[16];
        memcpy(two, &seq, 8); memcpy(two + 8, &item, 8);
        uint32_t ref = bitwise(0xEDB88320u, 0, two, 16);
        if (ref != ~ieee_raw_word(ieee_raw_word(~0u, seq), item) || ref != ieee_pclmul_item16(seq, item)) { printf("ieee item16 mismatch\n"); bad = 1; }
        if (bitwise(0xEDB88320u, (uint32_t)(seq >> 31), &item, 8) != ~ieee_raw_word(~(uint32_t)(seq >> 31), item) ||
            bitwise(0xEDB88320u, (uint32_t)(seq >> 31), &item, 8) != ieee_pclmul_word((uint32_t)(seq >> 31), item)) { printf("ieee v4 mismatch\n"); bad = 1; }
        if (bitwise(0x82F63B78u, (uint32_t)(seq >> 31), &item, 8) != ~crc32c_step64(~(uint32_t)(seq >> 31), item)) { printf("crc32c v4 mismatch\n"); bad = 1; }
        for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)rand();
        for (size_t len = 16; len <= 1024; len += 16) {
            uint32_t v = (uint32_t)rand(), r = bitwise(0xEDB88320u, v, buf, len);
            if (r != ieee_slice8(v, buf, len) || r != ~ieee_raw_pclmul(~v, buf, len)) { printf("ieee len %zu mismatch\n", len); bad = 1; break; }
        }
    }
    puts(bad ? "check FAILED" : "check ok: crc32c.h, CRC-32 slice-by-8 and PCLMULQDQ agree with bitwise CRCs");
    return bad;
}

int main(int argc, char **argv) {
    ieee_init_tables();
    for (int i = 0; i < NITEMS; i++) items[i] = (uint64_t)i * K0 ^ K2;
    for (int m = 0; m < NMSG; m++) for (int i = 0; i < 1024; i++) msgs[m][i] = (unsigned char)(m * 131 + i * 7 + (i >> 5));
    if (argc >= 2 && !strcmp(argv[1], "check")) return check();
    if (argc >= 4 && !strcmp(argv[1], "run")) {
        for (int v = 0; v < NV; v++) if (!strcmp(variants[v].name, argv[2])) { variants[v].f(atol(argv[3])); return 0; }
        return 2;
    }
    if (argc >= 4 && !strcmp(argv[1], "time")) {
        int rounds = atoi(argv[2]);
        long n = atol(argv[3]);
        double *r = calloc((size_t)rounds * NV, sizeof *r);
        for (int k = 0; k < rounds; k++)
            for (int j = 0; j < NV; j++) {
                int v = (k & 1) ? NV - 1 - j : j;
                long m = n / variants[v].scale;
                double t0 = now();
                variants[v].f(m);
                r[v * rounds + k] = (now() - t0) / m * 1e9;
            }
        for (int v = 0; v < NV; v++) {
            qsort(r + v * rounds, (size_t)rounds, sizeof *r, cmp);
            printf("%-22s ns_per_call median=%.2f min=%.2f max=%.2f\n", variants[v].name, r[v * rounds + rounds / 2], r[v * rounds], r[v * rounds + rounds - 1]);
        }
        return 0;
    }
    fprintf(stderr, "usage: cbench check | time ROUNDS N | run VARIANT N\n");
    return 64;
}
