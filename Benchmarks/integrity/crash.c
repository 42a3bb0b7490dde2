/* A small power-loss simulator for the item-ring mechanisms of proto.c, to check the detection
 * table of README.md by experiment rather than by argument alone.
 *
 * A writer (in this process) pushes items through many laps of a ring, as a sequence of single
 * 8-byte stores in program order. After any store, with probability 1/P, the sector (or page) it
 * touched is snapshotted: a point-in-time version. With the same probability a *racing copy* is
 * also made: the sector copied word by word in ascending order while the writer goes on (words
 * below a random cut from the version of now, the rest from a version a few stores later), as a
 * write-back that reads a page while it is being written can see it. A crash image then gives
 * every sector one of its versions at random, or zeros (the header sector, holding `published`
 * and `claimed`, is one more sector). The reader of each mechanism then delivers what it would
 * (v3: every slot in [max(0, claimed - L), published) from the header; v4: every slot whose
 * check passes, as the sequence its check names), and every delivered item is compared with
 * what was really written under that sequence.
 *
 * Mechanisms (slot layouts as in proto.c, the check word first):
 *   v3            the item padded to 8; no check
 *   stamp         {stamp = seq + 1, item}; item stores, then the stamp
 *   stamp_seqlock {stamp, item}; stamp = 0, item stores, stamp = seq + 1
 *   crc1          {check = crc << 32 | 0x80000000 | seq mod 2^31, item}, crc = crc32c over the item
 *                 with the register initialised to ~(seq >> 31) (proto.c's crc1); item, then check
 *   crc1_seqlock  crc1 with check = 0 first
 *   side          version 3's slots (the item padded to 8, no word), and after them, from the
 *                 next page boundary, one check word per group of G = max(1, 64 / stride) slots:
 *                 crc1's word naming the last sequence q written into the group, its CRC a running
 *                 one over the group's items (each item's isize bytes, slot by slot) from the
 *                 group's first slot to q's, the register initialised to ~(f >> 31), f the
 *                 group's first sequence of that lap. Writer: claimed, the item, the group's word,
 *                 published. Reader: every group whose word names a sequence of one of its slots
 *                 and whose CRC matches delivers the items from its first slot to q's.
 *
 *   trailer       side's words and items in the same 512-byte block instead: each block holds nb
 *                 slots (version 3's stride, never straddling the block) from its start and the
 *                 words of its ceil(nb / G) groups at its end (nb the most that fit: 56 8-byte
 *                 items and 7 words; 18 24-byte items and 9 words; 10 40-byte items; 2 200-byte
 *                 items); the words as side's. A word and the items it covers share a sector.
 *
 * Besides the wrongly delivered items, every image counts its *intact* slots (the item's bytes
 * are what some sequence wrote into that slot) and how many of them the reader did not deliver
 * (`intact_lost`): the granularity of each mechanism's loss. For side, `uncovered` counts the
 * intact items lost only because their group's word already names a later lap (a group being
 * rewritten: the items after q are the previous lap's, which no word covers any more), and every
 * mechanism counts the items of the last lap (what the ring held at the end) it delivered right.
 *
 *   crash [ITEM_SIZE [SECTOR [IMAGES [norace|recent|norace,recent]]]]
 *         (defaults 24, 512, 3000; norace: point-in-time versions only; recent: instead of any
 *         version or zeros, each sector holds the newest version it had at a moment of its own
 *         drawn uniformly from the last lap's stores, as a write-back that visits every dirty
 *         page within a lap's time leaves it: the model for how much a crash *loses*, where the
 *         uniform one is the model for what it must never deliver) */
#include "crc32c.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;
#define L 512u          /* slots */
#define LAPS 24u
#define P 24u           /* a snapshot after 1 store in P, on average */
#define MAXV 4096       /* versions kept per sector */

enum mech { V3, STAMP, STAMP_SEQLOCK, CRC1, CRC1_SEQLOCK, SIDE, TRAILER, NMECH };
static const char *const mname[] = { "v3", "stamp", "stamp_seqlock", "crc1", "crc1_seqlock", "side", "trailer" };

static u64 rng = 0x243F6A8885A308D3ull;
static u64 next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static u64 truth(u64 seq, unsigned k) { u64 x = (seq + 1) * 0x9E3779B97F4A7C15ull ^ (k + 1) * 0xC2B2AE3D27D4EB4Full; x ^= x >> 29; x *= 0xBF58476D1CE4E5B9ull; return x ^ (x >> 32); }

static unsigned isize, iwords, stride, sector, nsect;
static unsigned group;            /* side: slots per check word */
static size_t sideoff;            /* side: the check words' offset in the file */
static uint32_t sidecrc;          /* side: the writer's running register of the current group */
static unsigned nb, gpb;          /* trailer: slots per 512-byte block, groups (words) per block */
#define GROUPED(m) ((m) == SIDE || (m) == TRAILER)
/* where slot k's item is, which group holds slot k, a group's slots [first, end), its word */
static size_t item_at(enum mech m, u64 k) {
    if (m == TRAILER) return 4096 + (size_t)(k / nb) * 512 + (size_t)(k % nb) * stride;
    return 4096 + (size_t)k * stride + (m == V3 || m == SIDE ? 0 : 8);
}
static u64 group_of(enum mech m, u64 k) { return m == TRAILER ? k / nb * gpb + k % nb / group : k / group; }
static u64 group_first(enum mech m, u64 g) { return m == TRAILER ? g / gpb * nb + g % gpb * group : g * group; }
static u64 group_end(enum mech m, u64 g) {
    u64 e = m == TRAILER ? g / gpb * nb + (g % gpb * group + group < nb ? g % gpb * group + group : nb) : g * group + group;
    return e < L ? e : L;
}
static u64 ngroups(enum mech m) { return m == TRAILER ? (L + nb - 1) / nb * gpb : (L + group - 1) / group; }
static size_t word_at(enum mech m, u64 g) {
    return m == TRAILER ? 4096 + (size_t)(g / gpb) * 512 + 512 - 8 * gpb + (size_t)(g % gpb) * 8 : sideoff + (size_t)g * 8;
}
static unsigned char *mem;        /* the live file: header sector, then slots */
static unsigned char **ver;       /* [sector][version][sector bytes] */
static unsigned *nver;
static size_t fsize;

static u64 nstores;               /* stores so far: the time of a version */
static u64 **vtime;               /* [sector][version]: when it was taken */
static void snap_raw(unsigned s, const unsigned char *bytes) {
    if (nver[s] == MAXV) { fprintf(stderr, "sector %u: more than %d versions\n", s, MAXV); exit(1); }
    vtime[s][nver[s]] = nstores;
    memcpy(ver[s] + (size_t)nver[s]++ * sector, bytes, sector);
}
/* racing copies wait here until `lag` more stores have happened */
struct pending { unsigned s, cut, lag; unsigned char *low; } pend[64];
static int npend, racing = 1, recent = 0;

static void store(enum mech m, size_t off, u64 v) {
    (void)m;
    memcpy(mem + off, &v, 8);
    nstores++;
    for (int i = 0; i < npend; i++) if (--pend[i].lag == 0) {   /* finish a racing copy */
        unsigned char *b = malloc(sector);
        memcpy(b, pend[i].low, pend[i].cut);
        memcpy(b + pend[i].cut, mem + (size_t)pend[i].s * sector + pend[i].cut, sector - pend[i].cut);
        snap_raw(pend[i].s, b);
        free(b); free(pend[i].low);
        pend[i--] = pend[--npend];
    }
    unsigned s = (unsigned)(off / sector);
    if (next() % P == 0) snap_raw(s, mem + (size_t)s * sector);
    if (racing && next() % P == 0 && npend < 64) {
        struct pending *q = &pend[npend++];
        q->s = s; q->cut = (unsigned)(next() % (sector / 8)) * 8; q->lag = 1 + (unsigned)(next() % 6);
        q->low = malloc(sector); memcpy(q->low, mem + (size_t)s * sector, sector);
    }
}

static u64 crc1(u64 seq, const u64 *item) { return (uint32_t)~crc32c_raw(~(uint32_t)(seq >> 31), item, isize); }
static u64 stamp1(u64 seq) { return 0x80000000u | (seq & 0x7FFFFFFFu); }

static void push(enum mech m, u64 seq) {
    size_t slot = 4096 + (size_t)(seq % L) * stride, item = item_at(m, seq % L);
    u64 w[64];
    for (unsigned k = 0; k < iwords; k++) w[k] = truth(seq, k);
    if (isize % 8) w[iwords - 1] &= (1ull << (8 * (isize % 8))) - 1;   /* padding is zero */
    if (m == V3 || GROUPED(m)) store(m, 8, seq + 1);                      /* claimed (header) */
    if (m == STAMP_SEQLOCK || m == CRC1_SEQLOCK) store(m, slot, 0);
    for (unsigned k = 0; k < iwords; k++) store(m, item + 8 * k, w[k]);
    if (m == STAMP || m == STAMP_SEQLOCK) store(m, slot, seq + 1);
    if (m == CRC1 || m == CRC1_SEQLOCK) store(m, slot, crc1(seq, w) << 32 | stamp1(seq));
    if (GROUPED(m)) {   /* the group's word after the item: names seq, covers the group up to it */
        u64 g = group_of(m, seq % L);
        if (seq % L == group_first(m, g)) sidecrc = ~(uint32_t)(seq >> 31);
        sidecrc = crc32c_raw(sidecrc, w, isize);
        store(m, word_at(m, g), (u64)(uint32_t)~sidecrc << 32 | stamp1(seq));
    }
    store(m, 0, seq + 1);                                                /* published (header) */
}

int main(int argc, char **argv) {
    isize = argc > 1 ? (unsigned)atoi(argv[1]) : 24;
    sector = argc > 2 ? (unsigned)atoi(argv[2]) : 512;
    unsigned images = argc > 3 ? (unsigned)atoi(argv[3]) : 3000;
    racing = !(argc > 4 && strstr(argv[4], "norace"));
    recent = argc > 4 && strstr(argv[4], "recent");
    if (crc32c_init() != 0 || isize < 1 || isize > 512 || sector < 64 || 4096 % sector) { fprintf(stderr, "bad arguments\n"); return 2; }
    iwords = (isize + 7) / 8;
    for (int m = 0; m < NMECH; m++) {
        stride = 8 * iwords + (m == V3 || GROUPED(m) ? 0 : 8);
        group = stride >= 64 ? 1 : 64 / stride;
        for (nb = 1; (nb + 1) * stride + 8 * ((nb + 1 + group - 1) / group) <= 512; nb++) {}
        gpb = (nb + group - 1) / group;
        if (m == TRAILER && nb * stride + 8 * gpb > 512) { printf("bench=crash_trailer_item%uB: an item does not fit a 512-byte block with its word\n", isize); continue; }
        sideoff = (4096 + (size_t)L * stride + 4095) / 4096 * 4096;
        fsize = 4096 + (size_t)L * stride;
        if (m == SIDE) fsize = sideoff + (size_t)(L + group - 1) / group * 8;
        if (m == TRAILER) fsize = 4096 + (size_t)(L + nb - 1) / nb * 512;
        fsize = (fsize + 4095) / 4096 * 4096;
        nsect = (unsigned)(fsize / sector);
        mem = calloc(1, fsize);
        ver = malloc(nsect * sizeof *ver); nver = calloc(nsect, sizeof *nver); vtime = malloc(nsect * sizeof *vtime);
        nstores = 0;
        for (unsigned s = 0; s < nsect; s++) { ver[s] = malloc((size_t)MAXV * sector); vtime[s] = malloc(MAXV * sizeof **vtime); snap_raw(s, mem + (size_t)s * sector); }
        npend = 0;
        for (u64 seq = 0; seq < (u64)LAPS * L; seq++) push((enum mech)m, seq);
        for (unsigned s = 0; s < nsect; s++) snap_raw(s, mem + (size_t)s * sector);   /* the last version */
        u64 delivered = 0, wrong = 0, images_wrong = 0, straddling = 0, intact = 0, intact_lost = 0, uncovered = 0, newest = 0;
        u64 sseq[L];            /* side: the sequence each slot is delivered as, or ~0 */
        int isintact[L];
        for (unsigned k = 0; k < L; k++) {
            size_t a0 = m == TRAILER ? item_at((enum mech)m, k) : 4096 + (size_t)k * stride;
            straddling += a0 / sector != (a0 + stride - 1) / sector;
        }
        unsigned char *img = malloc(fsize);
        for (unsigned im = 0; im < images; im++) {
            for (unsigned s = 0; s < nsect; s++) {       /* one version per sector, or zeros */
                if (recent) {   /* the newest version no later than a moment in the last lap */
                    u64 lap = nstores / LAPS, at = nstores - next() % lap;
                    unsigned v = nver[s] - 1;
                    while (v > 0 && vtime[s][v] > at) v--;
                    memcpy(img + (size_t)s * sector, ver[s] + (size_t)v * sector, sector);
                } else if (next() % 16 == 0) memset(img + (size_t)s * sector, 0, sector);
                else memcpy(img + (size_t)s * sector, ver[s] + (size_t)(next() % nver[s]) * sector, sector);
            }
            u64 bad_here = 0;
            for (unsigned k = 0; k < L; k++) {      /* intact: the bytes some sequence wrote there */
                u64 item[64];
                memcpy(item, img + item_at((enum mech)m, k), 8 * iwords);
                isintact[k] = 0;
                for (u64 s = k; s < (u64)LAPS * L && !isintact[k]; s += L) {
                    int ok = 1;
                    for (unsigned w = 0; w < iwords && ok; w++) {
                        u64 t = truth(s, w);
                        if (w == iwords - 1 && isize % 8) t &= (1ull << (8 * (isize % 8))) - 1;
                        ok = item[w] == t;
                    }
                    isintact[k] = ok;
                }
                intact += isintact[k];
            }
            if (GROUPED(m)) {
                const enum mech mm = (enum mech)m;
                for (unsigned k = 0; k < L; k++) sseq[k] = ~0ull;
                for (u64 g = 0; g < ngroups(mm); g++) {
                    u64 c, g0 = group_first(mm, g), g1 = group_end(mm, g);
                    if (g0 >= L) continue;
                    memcpy(&c, img + word_at(mm, g), 8);
                    uint32_t lo = (uint32_t)c;            /* seq >> 31 is 0 here, as for crc1 */
                    if (!(lo & 0x80000000u)) continue;
                    u64 q = lo & 0x7FFFFFFFu, at = q % L;
                    if (at < g0 || at >= g1) continue;    /* names a slot outside its group */
                    u64 f = q - (at - g0);
                    uint32_t r = ~(uint32_t)(f >> 31);
                    for (u64 t = g0; t <= at; t++) r = crc32c_raw(r, img + item_at(mm, t), isize);
                    if ((uint32_t)(c >> 32) != (uint32_t)~r) continue;
                    for (u64 t = g0; t <= at; t++) sseq[t] = f + (t - g0);
                    for (u64 t = at + 1; t < g1; t++) uncovered += isintact[t];
                }
            }
            for (unsigned k = 0; k < L; k++) {
                size_t slot = 4096 + (size_t)k * stride;
                u64 seq, item[64];
                if (GROUPED(m)) {
                    if (sseq[k] == ~0ull) { intact_lost += isintact[k]; continue; }
                    seq = sseq[k];
                    memcpy(item, img + item_at((enum mech)m, k), 8 * iwords);
                } else if (m == V3) {
                    u64 pub, cl;
                    memcpy(&pub, img, 8); memcpy(&cl, img + 8, 8);
                    u64 lo = cl > L ? cl - L : 0;
                    if (pub <= lo) continue;                      /* nothing published */
                    /* the sequence of slot k within [lo, pub), if any */
                    seq = lo + ((k + L - lo % L) % L);
                    if (seq >= pub) continue;
                    memcpy(item, img + slot, 8 * iwords);
                } else {
                    u64 c;
                    memcpy(&c, img + slot, 8);
                    memcpy(item, img + slot + 8, 8 * iwords);
                    if (m == STAMP || m == STAMP_SEQLOCK) {
                        if (c == 0 || (c - 1) % L != k) continue;
                        seq = c - 1;
                    } else {
                        uint32_t lo = (uint32_t)c;                /* seq >> 31 is 0: fewer than 2^31 items here */
                        if (!(lo & 0x80000000u) || (lo & 0x7FFFFFFFu) % L != k) continue;
                        seq = lo & 0x7FFFFFFFu;
                        if ((uint32_t)(c >> 32) != (uint32_t)crc1(seq, item)) continue;
                    }
                }
                delivered++;
                int ok = 1;
                for (unsigned w = 0; w < iwords; w++) {
                    u64 t = truth(seq, w);
                    if (w == iwords - 1 && isize % 8) t &= (1ull << (8 * (isize % 8))) - 1;
                    ok &= item[w] == t;
                }
                if (!ok) bad_here++;
                else { isintact[k] = 2; newest += seq >= (u64)(LAPS - 1) * L; }   /* delivered, and right */
            }
            if (!GROUPED(m)) for (unsigned k = 0; k < L; k++) intact_lost += isintact[k] == 1;
            wrong += bad_here;
            images_wrong += bad_here != 0;
        }
        printf("bench=crash_%s_item%uB_sector%u%s metric=wrong_items value=%llu unit=items delivered=%llu images_with_wrong=%llu of=%u slot_stride=%u straddling_slots=%llu"
               " intact_per_image=%.1f intact_lost_per_image=%.2f last_lap_delivered_per_image=%.1f",
               mname[m], isize, sector, recent ? (racing ? "_recent" : "_recent_pointintime") : racing ? "" : "_pointintime", (unsigned long long)wrong, (unsigned long long)delivered,
               (unsigned long long)images_wrong, images, stride, (unsigned long long)straddling,
               (double)intact / images, (double)intact_lost / images, (double)newest / images);
        if (GROUPED(m)) printf(" group=%u uncovered_per_image=%.2f", group, (double)uncovered / images);
        printf("\n");
        for (unsigned s = 0; s < nsect; s++) { free(ver[s]); free(vtime[s]); }
        free(ver); free(vtime); free(nver); free(mem); free(img);
        for (int i = 0; i < npend; i++) free(pend[i].low);
    }
    return 0;
}
