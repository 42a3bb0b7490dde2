/* Prototypes of format version 4's integrity mechanisms: two processes (fork; writer pinned to
 * CPU 0, reader to CPU 1, like ../shared/anchors/ring.c) sharing a MAP_SHARED file in
 * $INTEGRITY_DIR (default /dev/shm), lossless (the reader's cursor `tail` holds the writer back).
 *
 * Item variants (8-byte items, 65,536 slots; a 4096-byte header page, then the slots):
 *   counter      version 3's shape: slot = the item (8 B). Writer: item store, release-store
 *                `head` (published). Reader: acquire-load `head` (cached until reached), copy.
 *   stamp        slot = {item, stamp} (16 B), stamp = sequence + 1 (0: never written). Writer:
 *                item, release-store stamp, release-store `head` (kept for attach and inspect).
 *                Reader: acquire-load the slot's stamp until it is its sequence + 1, copy; it
 *                never loads `head`.
 *   stamp_nohead as stamp, and the writer does not store `head` either.
 *   seqlock      stamp with the overwrite case's check: the writer stores stamp = 0 (relaxed)
 *                and a release fence before the item; the reader loads the stamp (acquire),
 *                copies, acquire fence, loads the stamp again: the copy counts if both equal.
 *   crc          slot = {item, check} (16 B), check = crc32c(sequence, item) << 32 |
 *                (uint32)(sequence + 1). Writer: crc, item, release-store check, release-store
 *                head. Reader: waits for the check's low half, copies, recomputes the CRC.
 *   crc_trust    crc's layout and writer; the reader checks the stamp half only (the CRC is
 *                for the recovery scan after a machine crash).
 *   counter_crc  version 3's counters with crc's slot: the writer also computes and stores the
 *                check word; the reader reads as `counter` and never looks at it.
 *   crc1         crc's slot with the check word README.md recommends, one instruction for an
 *                8-byte item: check = crc << 32 | 0x80000000 | (sequence mod 2^31), crc =
 *                ~crc32c_u64(~(uint32)(sequence >> 31), item) (crc32c(item, value: sequence >> 31)
 *                in the usual libraries' terms): bits 0-30 of the sequence are stored, bits 31-62
 *                are the CRC's initial value, so all of it is bound; bit 31 says "written", so
 *                0 (zeros, or a slot being rewritten) is never valid. The reader waits for the
 *                low half and recomputes the CRC.
 *   crc1_trust   crc1, the reader checking the low half only.
 *   crc1_seqlock crc1 with the overwrite case's protocol: the writer stores check = 0 and a
 *                release fence before the item; the reader loads the check word (acquire),
 *                copies, acquire fence, loads it again, and takes the copy if both are equal
 *                (no CRC: the live path; the CRC is for the recovery scan).
 *   line7        one check word per 64-byte line instead of per slot: a line holds the word and
 *                7 items (8 B each; 57,344 slots). The word is crc1's, naming the line's last
 *                written item, its CRC a running one over the line's items; the writer
 *                invalidates it (0, release fence) when it starts a line, then after each item
 *                (a batch: after the line's last item of the batch) stores it with release. The
 *                reader takes item c if the word names a sequence 0..6-pos(c) after c in the
 *                same line, copies, acquire fence, and re-checks the word (a batch: once, on
 *                its oldest line). 1.14 words per item instead of 2.
 *   commit       (batches only) slot = the item (8 B), and one commit word per group of 64
 *                slots in an array after the slots: crc32c(first sequence, 64 items) << 32 |
 *                (uint32)(group + 1), stored with release after the 64 items; the reader waits
 *                on the group's commit word, copies 64 items and checks the CRC.
 *   commit_trust commit, the reader checking the commit word's group half only.
 *   side         version 3's slots and live protocol exactly (`counter`), and beside them, in a
 *                region of its own after the slots, one check word per group of G = 8 slots
 *                (64 bytes of items), written only by the writer and read by nobody live (the
 *                recovery scan and `verify`): crc1's word naming the last sequence q written into
 *                the group, its CRC a running one over the group's items from its first slot to
 *                q, seeded with ~(u32)(f >> 31), f the group's first sequence of that lap. The
 *                writer keeps the register in a local (one crc32 per 8 bytes of item) and stores
 *                the word with release after the item, before `head`; a batch stores each
 *                group's word once. The writer takes room a group at a time (it begins a group
 *                only when the reader has released all of it: no unread item is ever left
 *                outside every word).
 *   side_itemroom  side with version 3's room check (an item at a time): how much the group-wise
 *                room costs (it leaves up to G - 1 unread items outside every word)
 *   side_nocrc, side_nostore  diagnostics of side's single push: the word stored with an xor in
 *                place of the crc32, and the CRC computed but the word not stored
 *   side_groupend  side storing a group's word only when the group is complete (a push of its last
 *                slot, a batch, or sync(): the newest <= G - 1 items are then covered only after
 *                the next sync); single pushes differ, batches are side's
 *   side_late    side storing the word after `head` (single pushes; batches are side's)
 *   side_item64_late  side_item64 storing the word after `head` (off the reader's latency path;
 *                a writer killed between the two leaves its newest item uncovered)
 *   trailer      side's words beside their items instead of after the slots: the ring is 512-byte
 *                blocks of 56 slots (bytes 0-447) and their 7 group words (G = 8; bytes 448-503,
 *                the block's last line, which no reader loads), so a word and the items it covers
 *                share a sector; version 3's live protocol; both sides keep their place as
 *                (block, slot) cursors, moved incrementally (no division on the path)
 *   counter_item64, side_item64   64-byte items (8,192 slots: the same 512 KiB of items as the
 *                8-byte rings), `counter` and `side` (G = 1: a word per item) at that size. The
 *                reader copies the 64 bytes and checks all of them.
 *
 * Message variants (a data area of 512 KiB; records of version 3 as MessageRing.swift writes
 * them: word 0 = length | kind << 32, sequence, time, body padded to 8; a padding record at the
 * wrap; positions in words; the writer publishes `head` per message, the reader stores `tail`):
 *   msg          version 3: a 24-byte header.
 *   msg_crc      a 32-byte header: the 4th word holds crc32c over the other 24 header bytes
 *                and the body (3 streams and PCLMULQDQ, crc32c.h) in its low half. The reader
 *                copies the record out and checks the copy's CRC.
 *   msg_crc_trust  msg_crc's layout and writer; the reader does not check.
 *
 * Commands (one result line each: bench=NAME metric=M value=V unit=U):
 *   proto transfer VARIANT N        N items one per push/pop           (transfer_items_per_s)
 *   proto batch VARIANT N           64 per push (one head store), the reader takes what it finds
 *   proto pingpong VARIANT N        N round trips of one item through two rings (rtt median, p99)
 *   proto message VARIANT SIZE N    N messages of SIZE bytes
 *   proto msgpingpong VARIANT SIZE N
 *   proto loops VARIANT N [batch|SIZE]  one process: N pushes, then N pops, in loops callgrind
 *                                   counts alone (push_loop_*, pop_loop_*)
 * Every transfer checks every item (order and value) and exits non-zero on any mismatch. */
#define _GNU_SOURCE
#include "crc32c.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP 65536u
#define MASK (CAP - 1u)
#define BATCH 64u
#define GROUPS (CAP / BATCH)
#define LINES (CAP / 8)                 /* line7: lines of 64 bytes */
#define L7 (LINES * 7u)                 /* line7: slots */
#define CAPOF(v) ((v) == LINE7 ? (u64)L7 : IS_I64(v) ? (u64)CAP64 : (v) == TRAILER ? (u64)CAPT : (u64)CAP)
#define TB_SLOTS 56u                    /* trailer: 8-byte slots per 512-byte block (bytes 0-447) */
#define TB_BLOCKS 1170u                 /* trailer: blocks (585 KiB) */
#define CAPT (TB_SLOTS * TB_BLOCKS)     /* trailer: 65,520 slots */
#define SIDE_G 8u                       /* side: slots per check word, max(1, 64 / stride) */
#define CAP64 8192u                     /* 64-byte items: slots */
#define MASK64 (CAP64 - 1u)
#define IS_I64(v) ((v) == COUNTER_I64 || (v) == SIDE_I64 || (v) == SIDE_I64_LATE)
#define IS_SIDE8(v) ((v) == SIDE || (v) == SIDE_ITEMROOM || (v) == SIDE_NOCRC || (v) == SIDE_NOSTORE || (v) == SIDE_GROUPEND || (v) == SIDE_LATE)
#define HDR 4096u
#define MSG_WORDS CAP /* a message ring's data area: CAP words (512 KiB), the capacity wait_room knows */

typedef uint64_t u64;
typedef uint32_t u32;

enum variant { COUNTER, STAMP, STAMP_NOHEAD, SEQLOCK, CRC, CRC_TRUST, COUNTER_CRC, CRC1, CRC1_TRUST, CRC1_SEQLOCK,
               LINE7, COMMIT, COMMIT_TRUST, SIDE, SIDE_ITEMROOM, SIDE_NOCRC, SIDE_NOSTORE, SIDE_GROUPEND, SIDE_LATE, COUNTER_I64, SIDE_I64, SIDE_I64_LATE, TRAILER, MSG, MSG_CRC, MSG_CRC_TRUST, NVARIANTS };
static const char *const names[] = { "counter", "stamp", "stamp_nohead", "seqlock", "crc", "crc_trust",
                                     "counter_crc", "crc1", "crc1_trust", "crc1_seqlock", "line7", "commit", "commit_trust", "side", "side_itemroom", "side_nocrc", "side_nostore", "side_groupend", "side_late", "counter_item64", "side_item64", "side_item64_late", "trailer", "msg", "msg_crc", "msg_crc_trust" };
#define STRIDE(v) ((v) == COUNTER || (v) == COMMIT || (v) == COMMIT_TRUST || IS_SIDE8(v) ? 8u : IS_I64(v) ? 64u : 16u)

struct header {
    _Alignas(128) _Atomic u64 head; /* writer's line: published */
    _Alignas(128) _Atomic u64 tail; /* reader's line: its cursor */
    _Alignas(128) _Atomic u32 ready;
    _Atomic u32 done;
    u64 end_ns, sum, bad, count;
};
_Static_assert(sizeof(struct header) <= HDR, "header page");

struct slot16 { u64 item; _Atomic u64 stamp; };

struct ring {            /* one side's view: shared pointers and private cursors */
    struct header *h;
    unsigned char *data; /* HDR bytes after the header */
    _Atomic u64 *commit; /* GROUPS words after the slots (commit variants) */
    _Atomic u64 *side;   /* side: CAP / SIDE_G words after the 8-byte slots; side_item64: CAP64
                            words after the 64-byte slots (both at data + 512 KiB, page-aligned) */
    u64 pos, cached;     /* writer: head, cached tail; reader: tail, cached head */
    uint32_t lcrc;       /* line7 writer: the running CRC register of the current line */
    u64 tb, tp;          /* trailer: the cursor's block and slot in it */
};

static size_t ring_bytes(void) { return HDR + (size_t)CAP * 16 + GROUPS * 8; }

static inline u64 now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

static void pin(int cpu) {
    const char *e = getenv("INTEGRITY_PIN");
    if (e && !strcmp(e, "0")) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
}

static char path[4096];
static void *map_file(size_t len, int create) {
    int fd = open(path, create ? (O_RDWR | O_CREAT | O_TRUNC) : O_RDWR, 0600);
    if (fd < 0) { perror("open"); exit(1); }
    if (create && ftruncate(fd, (off_t)len) != 0) { perror("ftruncate"); exit(1); }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    close(fd);
    if (create) memset(p, 0, len);
    else { volatile u64 s = 0; for (size_t i = 0; i < len; i += 4096) s += ((volatile unsigned char *)p)[i]; (void)s; }
    return p;
}

static struct ring ring_at(void *base) {
    struct ring r = { base, (unsigned char *)base + HDR, (_Atomic u64 *)((unsigned char *)base + HDR + (size_t)CAP * 16),
                      (_Atomic u64 *)((unsigned char *)base + HDR + (size_t)CAP * 8), 0, 0, 0, 0, 0 };
    return r;
}

/* ---- items, one at a time ------------------------------------------------------------------ */
#define AI __attribute__((always_inline)) static inline

AI void wait_room_in(struct ring *w, u64 n, u64 cap) {
    if (w->pos + n - w->cached > cap) {
        do w->cached = atomic_load_explicit(&w->h->tail, memory_order_acquire);
        while (w->pos + n - w->cached > cap);
    }
}
AI void wait_room(struct ring *w, u64 n) { wait_room_in(w, n, CAP); }

AI u64 check_word(u64 seq, u64 item) { return (u64)crc32c_item8(seq, item) << 32 | (u32)(seq + 1); }
AI u32 crc1_of(u64 seq, u64 item) { return ~crc32c_step64(~(u32)(seq >> 31), item); }
AI u32 stamp1(u64 seq) { return 0x80000000u | ((u32)seq & 0x7FFFFFFFu); }
AI u64 check1_word(u64 seq, u64 item) { return (u64)crc1_of(seq, item) << 32 | stamp1(seq); }

/* line7: the line of sequence q and its word; item k of a line is word + 1 + k */
AI _Atomic u64 *line_of(const struct ring *r, u64 q) { return (_Atomic u64 *)(r->data + ((q / 7) % LINES) * 64); }
/* Does word w vouch for sequence q (w names q or one of the <= 6 - q%7 after it in q's line)? */
AI int line_covers(u64 w, u64 q) { return (w & 0x80000000u) && ((((u32)w - stamp1(q)) & 0x7FFFFFFFu) <= 6 - q % 7); }
/* Stores item x as sequence q into its line, and its word if `publish`. */
AI void line_put(struct ring *w, u64 q, u64 x, int publish) {
    _Atomic u64 *ln = line_of(w, q);
    if (q % 7 == 0) {
        atomic_store_explicit(ln, 0, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        w->lcrc = ~(u32)(q >> 31);
    }
    ((u64 *)ln)[1 + q % 7] = x;
    w->lcrc = crc32c_step64(w->lcrc, x);
    if (publish) atomic_store_explicit(ln, (u64)(~w->lcrc) << 32 | stamp1(q), memory_order_release);
}

/* side: the word of the group holding sequence q, given the running register after q's item. */
AI u64 side_word(u32 reg, u64 q) { return (u64)(~reg) << 32 | stamp1(q); }
/* 64-byte items: word j of item x is x + j * 0x0101010101010101 (every byte of the item is
 * checked through their xor, so a reader must load all 8 words). */
#define I64K 0x0101010101010101ull
AI u64 i64_fold(u64 x) { u64 f = 0; for (u64 j = 0; j < 8; j++) f ^= x + j * I64K; return f; }
AI void i64_put(u64 *slot, u64 x) { for (u64 j = 0; j < 8; j++) slot[j] = x + j * I64K; }
/* Copies item at `slot`; returns its word 0, adds 1 to *bad unless all 8 words are right. */
AI u64 i64_get(const u64 *slot, u64 *bad) {
    u64 c[8], f = 0;
    memcpy(c, slot, 64);
    for (u64 j = 0; j < 8; j++) f ^= c[j];
    *bad += f != i64_fold(c[0]);
    return c[0];
}
/* 64-byte items, side (G = 1): the word of sequence q over item x's 8 words, computed from the
 * writer's own values (not loaded back from the map). */
AI u64 side64_word(u64 q, u64 x) {
    u32 c = ~(u32)(q >> 31);
    for (u64 j = 0; j < 8; j++) c = crc32c_step64(c, x + j * I64K);
    return side_word(c, q);
}

/* trailer: the cursor's slot, its group's word, and the step to the next slot */
AI u64 *tr_slot(const struct ring *r) { return (u64 *)(r->data + r->tb * 512) + r->tp; }
AI _Atomic u64 *tr_word(const struct ring *r) { return (_Atomic u64 *)(r->data + r->tb * 512 + 448) + r->tp / SIDE_G; }
AI void tr_step(struct ring *r) { if (++r->tp == TB_SLOTS) { r->tp = 0; if (++r->tb == TB_BLOCKS) r->tb = 0; } }
/* Stores item x as sequence w->pos at the writer's cursor and folds it into the group's register;
 * stores the group's word (release, after the item) if `word`. */
AI void tr_put(struct ring *w, u64 x, int word) {
    if (w->tp % SIDE_G == 0) w->lcrc = ~(u32)(w->pos >> 31);
    *tr_slot(w) = x;
    w->lcrc = crc32c_step64(w->lcrc, x);
    if (word || w->tp % SIDE_G == SIDE_G - 1) atomic_store_explicit(tr_word(w), side_word(w->lcrc, w->pos), memory_order_release);
    tr_step(w);
    w->pos++;
}

/* Stores item `x` as sequence w->pos and publishes it. */
AI void push1(struct ring *w, u64 x, const enum variant v) {
    /* line7 reuses a line as a whole (its word is invalidated at the line's first item): room for
     * the rest of the line */
    if (v == TRAILER) {   /* a group at a time; its own path: the cursor moves in tr_put */
        if (w->tp % SIDE_G == 0) wait_room_in(w, SIDE_G, CAPT);
        tr_put(w, x, 1);
        atomic_store_explicit(&w->h->head, w->pos, memory_order_release);
        return;
    }
    if (IS_SIDE8(v) && v != SIDE_ITEMROOM) { if (w->pos % SIDE_G == 0) wait_room(w, SIDE_G); }  /* a group at a time */
    else wait_room_in(w, v == LINE7 ? 7 - w->pos % 7 : 1, CAPOF(v));
    const u64 seq = w->pos, i = seq & MASK;
    if (v == LINE7) {
        line_put(w, seq, x, 1);
    } else if (IS_SIDE8(v)) {
        /* the item (version 3), then the group's word naming seq with release: whoever loads the
         * word with acquire sees every item it covers. Only the writer touches the word's line. */
        if (i % SIDE_G == 0) w->lcrc = ~(u32)(seq >> 31);
        ((u64 *)w->data)[i] = x;
        w->lcrc = v == SIDE_NOCRC ? w->lcrc ^ (u32)x : crc32c_step64(w->lcrc, x);
        if (v == SIDE_NOSTORE) __asm__ volatile("" : : "r"(side_word(w->lcrc, seq)));   /* computed, not stored */
        else if (v == SIDE_LATE) {}      /* below, after `head` */
        else if (v == SIDE_GROUPEND) {   /* the word once per group, at its last slot (sync() would store a partial group's) */
            if (i % SIDE_G == SIDE_G - 1) atomic_store_explicit(&w->side[i / SIDE_G], side_word(w->lcrc, seq), memory_order_release);
        }
        else atomic_store_explicit(&w->side[i / SIDE_G], side_word(w->lcrc, seq), memory_order_release);
    } else if (IS_I64(v)) {
        u64 *slot = (u64 *)w->data + (seq & MASK64) * 8;
        i64_put(slot, x);
        if (v == SIDE_I64) atomic_store_explicit(&w->side[seq & MASK64], side64_word(seq, x), memory_order_release);
    } else if (v == COUNTER) {
        ((u64 *)w->data)[i] = x;
    } else {
        struct slot16 *s = (struct slot16 *)w->data + i;
        if (v == STAMP || v == STAMP_NOHEAD) {
            s->item = x;
            atomic_store_explicit(&s->stamp, seq + 1, memory_order_release);
        } else if (v == SEQLOCK) {
            atomic_store_explicit(&s->stamp, 0, memory_order_relaxed);
            atomic_thread_fence(memory_order_release);
            s->item = x;
            atomic_store_explicit(&s->stamp, seq + 1, memory_order_release);
        } else if (v == CRC1 || v == CRC1_TRUST) {
            const u64 c = check1_word(seq, x);
            s->item = x;
            atomic_store_explicit(&s->stamp, c, memory_order_release);
        } else if (v == CRC1_SEQLOCK) {
            const u64 c = check1_word(seq, x);
            atomic_store_explicit(&s->stamp, 0, memory_order_relaxed);
            atomic_thread_fence(memory_order_release);
            s->item = x;
            atomic_store_explicit(&s->stamp, c, memory_order_release);
        } else { /* CRC, CRC_TRUST, COUNTER_CRC */
            const u64 c = check_word(seq, x);
            s->item = x;
            atomic_store_explicit(&s->stamp, c, memory_order_release);
        }
    }
    w->pos = seq + 1;
    if (v != STAMP_NOHEAD) atomic_store_explicit(&w->h->head, w->pos, memory_order_release);
    /* side_item64_late: the word after `published`, off the reader's latency path */
    if (v == SIDE_I64_LATE) atomic_store_explicit(&w->side[seq & MASK64], side64_word(seq, x), memory_order_release);
    if (v == SIDE_LATE) atomic_store_explicit(&w->side[(seq & MASK) / SIDE_G], side_word(w->lcrc, seq), memory_order_release);
}

/* Takes sequence r->pos; returns its item, adds 1 to *bad if it fails its check. */
AI u64 pop1(struct ring *r, u64 *bad, const enum variant v) {
    const u64 seq = r->pos, i = seq & MASK;
    u64 x;
    if (v == TRAILER) {
        if (seq == r->cached) {
            do r->cached = atomic_load_explicit(&r->h->head, memory_order_acquire);
            while (seq == r->cached);
        }
        x = *tr_slot(r);
        tr_step(r);
    } else if (v == LINE7) {
        _Atomic u64 *ln = line_of(r, seq);
        for (;;) {
            u64 c1 = atomic_load_explicit(ln, memory_order_acquire);
            if (!line_covers(c1, seq)) continue;
            x = ((u64 *)ln)[1 + seq % 7];
            atomic_thread_fence(memory_order_acquire);
            if (line_covers(atomic_load_explicit(ln, memory_order_relaxed), seq)) break;
        }
    } else if (v == COUNTER || v == COUNTER_CRC || IS_SIDE8(v) || IS_I64(v)) {
        if (seq == r->cached) {
            do r->cached = atomic_load_explicit(&r->h->head, memory_order_acquire);
            while (seq == r->cached);
        }
        x = IS_I64(v) ? i64_get((const u64 *)r->data + (seq & MASK64) * 8, bad)
          : v == COUNTER_CRC ? ((struct slot16 *)r->data)[i].item : ((u64 *)r->data)[i];
    } else {
        struct slot16 *s = (struct slot16 *)r->data + i;
        if (v == STAMP || v == STAMP_NOHEAD) {
            while (atomic_load_explicit(&s->stamp, memory_order_acquire) != seq + 1) {}
            x = s->item;
        } else if (v == SEQLOCK) {
            for (;;) {
                u64 s1 = atomic_load_explicit(&s->stamp, memory_order_acquire);
                if (s1 != seq + 1) continue;
                x = s->item;
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&s->stamp, memory_order_relaxed) == s1) break;
            }
        } else if (v == CRC1_SEQLOCK) {
            for (;;) {
                u64 c1 = atomic_load_explicit(&s->stamp, memory_order_acquire);
                if ((u32)c1 != stamp1(seq)) continue;
                x = s->item;
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&s->stamp, memory_order_relaxed) == c1) break;
            }
        } else { /* CRC, CRC_TRUST, CRC1, CRC1_TRUST */
            u64 c;
            const u32 want = v == CRC1 || v == CRC1_TRUST ? stamp1(seq) : (u32)(seq + 1);
            while ((u32)(c = atomic_load_explicit(&s->stamp, memory_order_acquire)) != want) {}
            x = s->item;
            if (v == CRC) *bad += crc32c_item8(seq, x) != (u32)(c >> 32);
            if (v == CRC1) *bad += crc1_of(seq, x) != (u32)(c >> 32);
        }
    }
    r->pos = seq + 1;
    atomic_store_explicit(&r->h->tail, r->pos, memory_order_release);
    return x;
}

/* ---- items, 64 per push -------------------------------------------------------------------- */
/* Publishes items x .. x+63 as sequences w->pos .. w->pos+63 (w->pos a multiple of 64). */
AI void push64(struct ring *w, u64 x, const enum variant v) {
    if (v == TRAILER) {   /* groups do not line up with batches (56 slots a block): each group's word
                           * at its last slot and at the batch's last item */
        wait_room_in(w, BATCH + SIDE_G, CAPT);
        for (u64 k = 0; k < BATCH;) {   /* a group (or what of it the batch holds) at a time */
            const u64 run = BATCH - k < SIDE_G - w->tp % SIDE_G ? BATCH - k : SIDE_G - w->tp % SIDE_G;
            u64 *d = tr_slot(w);
            u32 c = w->tp % SIDE_G == 0 ? ~(u32)(w->pos >> 31) : w->lcrc;
            for (u64 j = 0; j < run; j++) { d[j] = x + k + j; c = crc32c_step64(c, x + k + j); }
            w->lcrc = c;
            w->pos += run;
            atomic_store_explicit(tr_word(w), side_word(c, w->pos - 1), memory_order_release);
            k += run;
            w->tp += run;
            if (w->tp == TB_SLOTS) { w->tp = 0; if (++w->tb == TB_BLOCKS) w->tb = 0; }
        }
        atomic_store_explicit(&w->h->head, w->pos, memory_order_release);
        return;
    }
    wait_room_in(w, v == LINE7 ? (w->pos + BATCH + 6) / 7 * 7 - w->pos : BATCH, CAPOF(v));
    const u64 seq = w->pos, i = seq & MASK;
    if (v == LINE7) {
        for (u64 k = 0; k < BATCH; k++) line_put(w, seq + k, x + k, (seq + k) % 7 == 6 || k == BATCH - 1);
    } else if (IS_SIDE8(v)) {
        /* BATCH is a multiple of SIDE_G and seq one of BATCH: whole groups; each group's register
         * is its own chain, so the out-of-order core overlaps the groups' crc32 latencies */
        u64 *d = (u64 *)w->data + i;
        for (u64 g = 0; g < BATCH; g += SIDE_G) {
            u32 c = ~(u32)((seq + g) >> 31);
            for (u64 k = g; k < g + SIDE_G; k++) { d[k] = x + k; c = crc32c_step64(c, x + k); }
            atomic_store_explicit(&w->side[(i + g) / SIDE_G], side_word(c, seq + g + SIDE_G - 1), memory_order_release);
        }
    } else if (IS_I64(v)) {
        for (u64 k = 0; k < BATCH; k++) {
            u64 *slot = (u64 *)w->data + ((seq + k) & MASK64) * 8;
            i64_put(slot, x + k);
            if (v == SIDE_I64) atomic_store_explicit(&w->side[(seq + k) & MASK64], side64_word(seq + k, x + k), memory_order_release);
        }
    } else if (v == COUNTER) {
        u64 *d = (u64 *)w->data + i;
        for (u64 k = 0; k < BATCH; k++) d[k] = x + k;
    } else if (v == COMMIT || v == COMMIT_TRUST) {
        u64 *d = (u64 *)w->data + i;
        u32 c = crc32c_step64(~0u, seq);
        for (u64 k = 0; k < BATCH; k++) d[k] = x + k;
        c = ~crc32c_raw(c, d, BATCH * 8); /* over what it stored: the writer's own lines */
        atomic_store_explicit(&w->commit[(seq / BATCH) % GROUPS], (u64)c << 32 | (u32)(seq / BATCH + 1), memory_order_release);
    } else {
        struct slot16 *s = (struct slot16 *)w->data + i;
        for (u64 k = 0; k < BATCH; k++) {
            if (v == STAMP || v == STAMP_NOHEAD) {
                s[k].item = x + k;
                atomic_store_explicit(&s[k].stamp, seq + k + 1, memory_order_release);
            } else if (v == SEQLOCK) {
                atomic_store_explicit(&s[k].stamp, 0, memory_order_relaxed);
                atomic_thread_fence(memory_order_release);
                s[k].item = x + k;
                atomic_store_explicit(&s[k].stamp, seq + k + 1, memory_order_release);
            } else if (v == CRC1 || v == CRC1_TRUST) {
                s[k].item = x + k;
                atomic_store_explicit(&s[k].stamp, check1_word(seq + k, x + k), memory_order_release);
            } else if (v == CRC1_SEQLOCK) {
                const u64 c = check1_word(seq + k, x + k);
                atomic_store_explicit(&s[k].stamp, 0, memory_order_relaxed);
                atomic_thread_fence(memory_order_release);
                s[k].item = x + k;
                atomic_store_explicit(&s[k].stamp, c, memory_order_release);
            } else {
                s[k].item = x + k;
                atomic_store_explicit(&s[k].stamp, check_word(seq + k, x + k), memory_order_release);
            }
        }
    }
    w->pos = seq + BATCH;
    if (v != STAMP_NOHEAD) atomic_store_explicit(&w->h->head, w->pos, memory_order_release);
    if (v == SIDE_I64_LATE)
        for (u64 k = 0; k < BATCH; k++) atomic_store_explicit(&w->side[(seq + k) & MASK64], side64_word(seq + k, x + k), memory_order_release);
}

/* Takes every item it finds published from r->pos on (at most 1024, whole groups for commit),
 * adding each to *sum and counting mismatches against the expected value (sequence + 1) and
 * failed checks in *bad; stores the cursor once. Returns how many it took (0: none yet). */
AI u64 pop_some(struct ring *r, u64 *sum, u64 *bad, const enum variant v) {
    const u64 seq = r->pos;
    u64 n = 0;
    if (v == LINE7) {
        u64 cw = 0;
        for (; n < 1024; n++) {
            const u64 t = seq + n;
            _Atomic u64 *ln = line_of(r, t);
            if (n == 0 || t % 7 == 0) cw = atomic_load_explicit(ln, memory_order_acquire);
            if (!line_covers(cw, t)) break;
            u64 x = ((u64 *)ln)[1 + t % 7];
            *bad += x != t + 1;
            *sum += x;
        }
        if (n) {   /* the oldest line is the first a writer would rewrite */
            atomic_thread_fence(memory_order_acquire);
            *bad += !line_covers(atomic_load_explicit(line_of(r, seq), memory_order_relaxed), seq);
        }
    } else if (v == TRAILER) {
        if (seq == r->cached) {
            r->cached = atomic_load_explicit(&r->h->head, memory_order_acquire);
            if (seq == r->cached) return 0;
        }
        n = r->cached - seq > 1024 ? 1024 : r->cached - seq;
        for (u64 t = seq, left = n; left;) {   /* a run of slots within one block at a time */
            const u64 run = left < TB_SLOTS - r->tp ? left : TB_SLOTS - r->tp;
            const u64 *d = tr_slot(r);
            for (u64 k = 0; k < run; k++, t++) { *bad += d[k] != t + 1; *sum += d[k]; }
            left -= run;
            r->tp += run;
            if (r->tp == TB_SLOTS) { r->tp = 0; if (++r->tb == TB_BLOCKS) r->tb = 0; }
        }
    } else if (v == COUNTER || v == COUNTER_CRC || IS_SIDE8(v) || IS_I64(v)) {
        if (seq == r->cached) {
            r->cached = atomic_load_explicit(&r->h->head, memory_order_acquire);
            if (seq == r->cached) return 0;
        }
        u64 end = r->cached - seq > 1024 ? seq + 1024 : r->cached;
        for (u64 t = seq; t < end; t++) {
            u64 x = IS_I64(v) ? i64_get((const u64 *)r->data + (t & MASK64) * 8, bad)
                  : v == COUNTER_CRC ? ((struct slot16 *)r->data)[t & MASK].item : ((u64 *)r->data)[t & MASK];
            *bad += x != t + 1;
            *sum += x;
        }
        n = end - seq;
    } else if (v == COMMIT || v == COMMIT_TRUST) {
        for (; n < 1024; n += BATCH) {
            const u64 g = (seq + n) / BATCH, cw = atomic_load_explicit(&r->commit[g % GROUPS], memory_order_acquire);
            if ((u32)cw != (u32)(g + 1)) break;
            const u64 *d = (const u64 *)r->data + ((seq + n) & MASK);
            u64 copy[BATCH];
            memcpy(copy, d, sizeof copy);
            if (v == COMMIT) *bad += ~crc32c_raw(crc32c_step64(~0u, seq + n), copy, sizeof copy) != (u32)(cw >> 32);
            for (u64 k = 0; k < BATCH; k++) { *bad += copy[k] != seq + n + k + 1; *sum += copy[k]; }
        }
    } else {
        for (; n < 1024; n++) {
            const u64 t = seq + n;
            struct slot16 *s = (struct slot16 *)r->data + (t & MASK);
            u64 x, c = atomic_load_explicit(&s->stamp, memory_order_acquire);
            if (v == STAMP || v == STAMP_NOHEAD) {
                if (c != t + 1) break;
                x = s->item;
            } else if (v == SEQLOCK) {
                if (c != t + 1) break;
                x = s->item;
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&s->stamp, memory_order_relaxed) != c) break;
            } else if (v == CRC1_SEQLOCK) {
                if ((u32)c != stamp1(t)) break;
                x = s->item;
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&s->stamp, memory_order_relaxed) != c) break;
            } else {
                if ((u32)c != (v == CRC1 || v == CRC1_TRUST ? stamp1(t) : (u32)(t + 1))) break;
                x = s->item;
                if (v == CRC) *bad += crc32c_item8(t, x) != (u32)(c >> 32);
                if (v == CRC1) *bad += crc1_of(t, x) != (u32)(c >> 32);
            }
            *bad += x != t + 1;
            *sum += x;
        }
    }
    if (n) {
        r->pos = seq + n;
        atomic_store_explicit(&r->h->tail, r->pos, memory_order_release);
    }
    return n;
}

/* ---- messages ------------------------------------------------------------------------------ */
/* Word position p lives at data + 8 * (p % MSG_WORDS). A record: word 0 = length | kind << 32
 * (kind 1 message, 2 padding), word 1 sequence, word 2 time, [word 3 crc (msg_crc)], body. */
#define HWORDS(v) ((v) == MSG ? 3u : 4u)

/* The body of message `seq`: every word seq * 1000003 + k, so the reader can check it. */
static void fill_body(u64 *body, size_t size, u64 seq) {
    for (size_t k = 0; k < (size + 7) / 8; k++) body[k] = seq * 1000003u + k;
}

AI void push_msg(struct ring *w, u64 *local, size_t size, u64 seq, const enum variant v) {
    const u64 hw = HWORDS(v), words = hw + (size + 7) / 8;
    u64 *d = (u64 *)w->data;
    u64 at = w->pos % MSG_WORDS, pad = at + words > MSG_WORDS ? MSG_WORDS - at : 0;
    wait_room(w, pad + words);
    u64 *rec = d + (at + pad) % MSG_WORDS;
    local[0] = (u64)size | 1ull << 32;
    local[1] = seq;
    local[2] = seq * 3; /* stands for the time (the same in every variant) */
    fill_body(local + hw, size, seq);
    if (v != MSG) local[3] = ~crc32c_raw(crc32c_raw(~0u, local, 24), local + 4, size);
    if (pad) d[at] = pad | 2ull << 32;
    memcpy(rec, local, words * 8);
    w->pos += pad + words;
    atomic_store_explicit(&w->h->head, w->pos, memory_order_release);
}

/* Copies message r->pos out into `local`; returns 0 if none is published yet, else 1, adding
 * 1 to *bad for a wrong sequence, body word or CRC. */
AI int pop_msg(struct ring *r, u64 *local, u64 expect, u64 *bad, const enum variant v) {
    if (r->pos == r->cached) {
        r->cached = atomic_load_explicit(&r->h->head, memory_order_acquire);
        if (r->pos == r->cached) return 0;
    }
    const u64 *d = (const u64 *)r->data;
    u64 at = r->pos % MSG_WORDS, w0 = d[at];
    if (w0 >> 32 == 2) { r->pos += (u32)w0; at = 0; w0 = d[0]; }
    const u64 hw = HWORDS(v), size = (u32)w0, words = hw + (size + 7) / 8;
    memcpy(local, d + at, words * 8);
    *bad += local[1] != expect || local[hw] != expect * 1000003u || local[words - 1] != expect * 1000003u + (words - hw - 1);
    if (v == MSG_CRC) *bad += (u32)local[3] != ~crc32c_raw(crc32c_raw(~0u, local, 24), local + 4, size);
    r->pos += words;
    atomic_store_explicit(&r->h->tail, r->pos, memory_order_release);
    return 1;
}

/* ---- two processes ------------------------------------------------------------------------- */
static int fail(const char *what, struct header *h, u64 expect_sum, u64 n) {
    fprintf(stderr, "%s: CHECK FAILED sum=%llu expected=%llu bad=%llu count=%llu of %llu\n", what,
            (unsigned long long)h->sum, (unsigned long long)expect_sum, (unsigned long long)h->bad,
            (unsigned long long)h->count, (unsigned long long)n);
    return 1;
}

static void emit(const char *name, const char *suffix, const char *metric, double value, const char *unit) {
    printf("bench=%s%s metric=%s value=%.6g unit=%s\n", name, suffix, metric, value, unit);
    fflush(stdout);
}

/* kind 0: single items, 1: batches of 64, 2: messages of `size` bytes */
#define DISPATCH(v, call) switch (v) { \
    case COUNTER: call(COUNTER); break; case STAMP: call(STAMP); break; case STAMP_NOHEAD: call(STAMP_NOHEAD); break; \
    case SEQLOCK: call(SEQLOCK); break; case CRC: call(CRC); break; case CRC_TRUST: call(CRC_TRUST); break; \
    case COUNTER_CRC: call(COUNTER_CRC); break; case CRC1: call(CRC1); break; case CRC1_TRUST: call(CRC1_TRUST); break; \
    case CRC1_SEQLOCK: call(CRC1_SEQLOCK); break; case LINE7: call(LINE7); break; case COMMIT: call(COMMIT); break; case COMMIT_TRUST: call(COMMIT_TRUST); break; \
    case SIDE: call(SIDE); break; case SIDE_ITEMROOM: call(SIDE_ITEMROOM); break; case SIDE_NOCRC: call(SIDE_NOCRC); break; case SIDE_NOSTORE: call(SIDE_NOSTORE); break; case SIDE_GROUPEND: call(SIDE_GROUPEND); break; case SIDE_LATE: call(SIDE_LATE); break; case COUNTER_I64: call(COUNTER_I64); break; case SIDE_I64: call(SIDE_I64); break; case SIDE_I64_LATE: call(SIDE_I64_LATE); break; case TRAILER: call(TRAILER); break; \
    case MSG: call(MSG); break; case MSG_CRC: call(MSG_CRC); break; case MSG_CRC_TRUST: call(MSG_CRC_TRUST); break; default: abort(); }

/* The reader's side of each transfer: fills h->sum, bad, count. */
AI void read_items(struct ring *r, u64 n, const enum variant v) {
    u64 sum = 0, bad = 0;
    for (u64 t = 0; t < n; t++) {
        u64 x = pop1(r, &bad, v);
        bad += x != t + 1;
        sum += x;
    }
    r->h->sum = sum; r->h->bad = bad; r->h->count = r->pos;
}
AI void read_batches(struct ring *r, u64 n, const enum variant v) {
    u64 sum = 0, bad = 0;
    while (r->pos < n) pop_some(r, &sum, &bad, v);
    r->h->sum = sum; r->h->bad = bad; r->h->count = r->pos;
}
AI void read_msgs(struct ring *r, u64 n, const enum variant v) {
    u64 local[(1 << 16) / 8], bad = 0, m = 0;
    while (m < n) m += pop_msg(r, local, m, &bad, v);
    r->h->sum = m; r->h->bad = bad; r->h->count = m;
}
AI void write_items(struct ring *w, u64 n, const enum variant v) { for (u64 x = 1; x <= n; x++) push1(w, x, v); }
AI void write_batches(struct ring *w, u64 n, const enum variant v) { for (u64 x = 1; x <= n; x += BATCH) push64(w, x, v); }
AI void write_msgs(struct ring *w, u64 n, size_t size, const enum variant v) {
    u64 local[(1 << 16) / 8];
    for (u64 m = 0; m < n; m++) push_msg(w, local, size, m, v);
}

static u64 g_n; static size_t g_size;
#define R_ITEMS(V) read_items(&r, g_n, V)
#define R_BATCH(V) read_batches(&r, g_n, V)
#define R_MSGS(V) read_msgs(&r, g_n, V)
#define W_ITEMS(V) write_items(&w, g_n, V)
#define W_BATCH(V) write_batches(&w, g_n, V)
#define W_MSGS(V) write_msgs(&w, g_n, g_size, V)

static int transfer(enum variant v, int kind, u64 n, size_t size) {
    g_n = n; g_size = size;
    void *base = map_file(ring_bytes(), 1);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        pin(1);
        void *m = map_file(ring_bytes(), 0);
        struct ring r = ring_at(m);
        atomic_store_explicit(&r.h->ready, 1, memory_order_release);
        if (kind == 0) { DISPATCH(v, R_ITEMS) } else if (kind == 1) { DISPATCH(v, R_BATCH) } else { DISPATCH(v, R_MSGS) }
        r.h->end_ns = now_ns();
        _exit(0);
    }
    pin(0);
    struct ring w = ring_at(base);
    while (!atomic_load_explicit(&w.h->ready, memory_order_acquire)) {}
    unlink(path);
    u64 t0 = now_ns();
    if (kind == 0) { DISPATCH(v, W_ITEMS) } else if (kind == 1) { DISPATCH(v, W_BATCH) } else { DISPATCH(v, W_MSGS) }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) { fprintf(stderr, "reader failed\n"); return 1; }
    struct header *h = w.h;
    u64 expect = kind == 2 ? n : (n % 2 ? n * ((n + 1) / 2) : (n / 2) * (n + 1));
    char sfx[32] = "";
    if (kind == 1) strcpy(sfx, "_batch64");
    if (kind == 2) snprintf(sfx, sizeof sfx, "_%zuB", size);
    if (h->sum != expect || h->bad || h->count != n) return fail(names[v], h, expect, n);
    emit(names[v], sfx, "transfer_items_per_s", (double)n / ((double)(h->end_ns - t0) / 1e9), "items/s");
    munmap(base, ring_bytes());
    return 0;
}

/* Ping-pong: two rings in one file; the parent pushes i and pops the echo. */
AI void echo(struct ring *in, struct ring *out, u64 total, size_t size, const enum variant v) {
    u64 bad = 0, local[(1 << 16) / 8];
    if (v >= MSG) {
        for (u64 m = 0; m < total; m++) { while (!pop_msg(in, local, m, &bad, v)) {} push_msg(out, local, size, m, v); }
    } else {
        for (u64 i = 1; i <= total; i++) push1(out, pop1(in, &bad, v), v);
    }
}
AI u64 ping(struct ring *out, struct ring *in, u64 total, u64 warm, size_t size, u64 *lat, const enum variant v) {
    u64 bad = 0, local[(1 << 16) / 8];
    for (u64 i = 1; i <= total; i++) {
        u64 t0 = now_ns();
        if (v >= MSG) { push_msg(out, local, size, i - 1, v); while (!pop_msg(in, local, i - 1, &bad, v)) {} }
        else bad += pop1((push1(out, i, v), in), &bad, v) != i;
        u64 t1 = now_ns();
        if (i > warm) lat[i - warm - 1] = t1 - t0;
    }
    return bad;
}
static int cmp_u64(const void *a, const void *b) { u64 x = *(const u64 *)a, y = *(const u64 *)b; return x < y ? -1 : x > y; }

static int pingpong(enum variant v, u64 n, size_t size) {
    const u64 warm = 20000, total = warm + n;
    void *base = map_file(2 * ring_bytes(), 1);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        pin(1);
        unsigned char *m = map_file(2 * ring_bytes(), 0);
        struct ring in = ring_at(m), out = ring_at(m + ring_bytes());
        atomic_store_explicit(&in.h->ready, 1, memory_order_release);
#define ECHO(V) echo(&in, &out, total, size, V)
        DISPATCH(v, ECHO)
        _exit(0);
    }
    pin(0);
    struct ring out = ring_at(base), in = ring_at((unsigned char *)base + ring_bytes());
    while (!atomic_load_explicit(&out.h->ready, memory_order_acquire)) {}
    unlink(path);
    u64 *lat = malloc(n * sizeof *lat), bad = 0;
#define PING(V) bad = ping(&out, &in, total, warm, size, lat, V)
    DISPATCH(v, PING)
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) || bad) { fprintf(stderr, "%s pingpong failed (%llu bad)\n", names[v], (unsigned long long)bad); return 1; }
    qsort(lat, n, sizeof *lat, cmp_u64);
    char sfx[32] = "";
    if (v >= MSG) snprintf(sfx, sizeof sfx, "_%zuB", size);
    emit(names[v], sfx, "pingpong_rtt_median", (double)lat[n / 2], "ns");
    emit(names[v], sfx, "pingpong_rtt_p99", (double)lat[(size_t)(0.99 * (double)(n - 1) + 0.5)], "ns");
    free(lat);
    munmap(base, 2 * ring_bytes());
    return 0;
}

/* ---- callgrind loops: each a function of its own, so --toggle-collect counts it alone -------- */
#define LOOPS(V, name) \
    __attribute__((noinline)) void push_loop_##name(struct ring *w, u64 from, u64 count) { for (u64 x = from; x < from + count; x++) push1(w, x, V); } \
    __attribute__((noinline)) u64 pop_loop_##name(struct ring *r, u64 count) { u64 bad = 0, s = 0; for (u64 i = 0; i < count; i++) s += pop1(r, &bad, V); return s + bad; } \
    __attribute__((noinline)) void push64_loop_##name(struct ring *w, u64 from, u64 count) { for (u64 x = from; x < from + count; x += BATCH) push64(w, x, V); } \
    __attribute__((noinline)) u64 pop64_loop_##name(struct ring *r, u64 count) { u64 bad = 0, s = 0, n = 0; while (n < count) n += pop_some(r, &s, &bad, V); return s + bad; }
LOOPS(COUNTER, counter) LOOPS(STAMP, stamp) LOOPS(STAMP_NOHEAD, stamp_nohead) LOOPS(SEQLOCK, seqlock)
LOOPS(CRC, crc) LOOPS(CRC_TRUST, crc_trust) LOOPS(COUNTER_CRC, counter_crc)
LOOPS(CRC1, crc1) LOOPS(CRC1_TRUST, crc1_trust) LOOPS(CRC1_SEQLOCK, crc1_seqlock) LOOPS(LINE7, line7)
LOOPS(SIDE, side) LOOPS(SIDE_GROUPEND, side_groupend) LOOPS(SIDE_LATE, side_late) LOOPS(COUNTER_I64, counter_item64) LOOPS(SIDE_I64, side_item64) LOOPS(SIDE_I64_LATE, side_item64_late) LOOPS(TRAILER, trailer)
__attribute__((noinline)) void push64_loop_commit(struct ring *w, u64 from, u64 count) { for (u64 x = from; x < from + count; x += BATCH) push64(w, x, COMMIT); }
__attribute__((noinline)) u64 pop64_loop_commit(struct ring *r, u64 count) { u64 bad = 0, s = 0, n = 0; while (n < count) n += pop_some(r, &s, &bad, COMMIT); return s + bad; }
__attribute__((noinline)) void push64_loop_commit_trust(struct ring *w, u64 from, u64 count) { for (u64 x = from; x < from + count; x += BATCH) push64(w, x, COMMIT_TRUST); }
__attribute__((noinline)) u64 pop64_loop_commit_trust(struct ring *r, u64 count) { u64 bad = 0, s = 0, n = 0; while (n < count) n += pop_some(r, &s, &bad, COMMIT_TRUST); return s + bad; }
#define MLOOPS(V, name) \
    __attribute__((noinline)) void push_loop_##name(struct ring *w, u64 *local, size_t size, u64 from, u64 count) { for (u64 m = from; m < from + count; m++) push_msg(w, local, size, m, V); } \
    __attribute__((noinline)) u64 pop_loop_##name(struct ring *r, u64 *local, u64 from, u64 count) { u64 bad = 0; for (u64 m = from; m < from + count; m++) pop_msg(r, local, m, &bad, V); return bad; }
MLOOPS(MSG, msg) MLOOPS(MSG_CRC, msg_crc) MLOOPS(MSG_CRC_TRUST, msg_crc_trust)

/* N pushes then N pops, CAP/2 (items) or what fits half the ring (messages) at a time. */
static int loops(enum variant v, u64 n, const char *arg) {
    void *base = map_file(ring_bytes(), 1);
    unlink(path);
    struct ring w = ring_at(base), r = ring_at(base);
    int batch = arg && !strcmp(arg, "batch");
    u64 chunk = CAPOF(v) / 2 / BATCH * BATCH, bad = 0, s = 0;
    if (v >= MSG) {
        size_t size = arg ? (size_t)atoi(arg) : 64;
        u64 *local = malloc(65536);
        chunk = (MSG_WORDS / 2) / (HWORDS(v) + (size + 7) / 8);
        for (u64 done = 0; done < n; done += chunk) {
            u64 c = n - done < chunk ? n - done : chunk;
#define MRUN(V, name) if (v == V) { push_loop_##name(&w, local, size, done, c); bad += pop_loop_##name(&r, local, done, c); }
            MRUN(MSG, msg) MRUN(MSG_CRC, msg_crc) MRUN(MSG_CRC_TRUST, msg_crc_trust)
        }
        free(local);
    } else {
        for (u64 done = 0; done < n; done += chunk) {
            u64 c = n - done < chunk ? n - done : chunk;
#define RUN(V, name) if (v == V) { if (batch) { push64_loop_##name(&w, done + 1, c); s += pop64_loop_##name(&r, c); } \
                                   else { push_loop_##name(&w, done + 1, c); s += pop_loop_##name(&r, c); } }
            RUN(COUNTER, counter) RUN(STAMP, stamp) RUN(STAMP_NOHEAD, stamp_nohead) RUN(SEQLOCK, seqlock)
            RUN(CRC, crc) RUN(CRC_TRUST, crc_trust) RUN(COUNTER_CRC, counter_crc)
            RUN(CRC1, crc1) RUN(CRC1_TRUST, crc1_trust) RUN(CRC1_SEQLOCK, crc1_seqlock) RUN(LINE7, line7)
            RUN(SIDE, side) RUN(SIDE_GROUPEND, side_groupend) RUN(SIDE_LATE, side_late) RUN(COUNTER_I64, counter_item64) RUN(SIDE_I64, side_item64) RUN(SIDE_I64_LATE, side_item64_late) RUN(TRAILER, trailer)
            if (v == COMMIT || v == COMMIT_TRUST) {
                if (!batch) { fprintf(stderr, "commit variants are batch only\n"); return 2; }
                if (v == COMMIT) { push64_loop_commit(&w, done + 1, c); s += pop64_loop_commit(&r, c); }
                else { push64_loop_commit_trust(&w, done + 1, c); s += pop64_loop_commit_trust(&r, c); }
            }
        }
    }
    if (v == SIDE || v == SIDE_GROUPEND || v == SIDE_LATE || v == SIDE_I64 || v == SIDE_I64_LATE) {   /* the recovery scan's check of every group word the loops left */
        const u64 g = IS_I64(v) ? 1 : SIDE_G, per = IS_I64(v) ? 8 : 1, cap = CAPOF(v);
        u64 groups = 0, wrong = 0;
        for (u64 k = 0; k < cap / g; k++) {
            u64 word = atomic_load_explicit(&w.side[k], memory_order_acquire);
            if (!(word & 0x80000000u)) continue;
            /* fewer than 2^31 items: the sequence is the stamp; q's slot must be in group k */
            u64 q = word & 0x7FFFFFFFu, at = q % cap, f = q - (at - k * g);
            if (at / g != k) { wrong++; continue; }
            u32 c = ~(u32)(f >> 31);
            for (u64 t = k * g; t <= at; t++) for (u64 j = 0; j < per; j++) c = crc32c_step64(c, ((u64 *)w.data)[t * per + j]);
            groups++;
            wrong += (u32)(word >> 32) != (u32)~c;
        }
        printf("side words: %llu groups checked, %llu wrong\n", (unsigned long long)groups, (unsigned long long)wrong);
        if (wrong || !groups) return 1;
    }
    if (v == TRAILER) {   /* every word of every block: names a sequence of one of its group's slots, CRC over them */
        u64 groups = 0, wrong = 0;
        for (u64 b = 0; b < TB_BLOCKS; b++) for (u64 j = 0; j < TB_SLOTS / SIDE_G; j++) {
            u64 word = atomic_load_explicit((_Atomic u64 *)(w.data + b * 512 + 448) + j, memory_order_acquire);
            if (!(word & 0x80000000u)) continue;
            u64 q = word & 0x7FFFFFFFu, at = q % CAPT, first = b * TB_SLOTS + j * SIDE_G;
            if (at < first || at >= first + SIDE_G) { wrong++; continue; }
            u32 c = ~(u32)((q - (at - first)) >> 31);
            for (u64 t = first; t <= at; t++) c = crc32c_step64(c, ((u64 *)(w.data + b * 512))[t - b * TB_SLOTS]);
            groups++;
            wrong += (u32)(word >> 32) != (u32)~c;
        }
        printf("trailer words: %llu groups checked, %llu wrong\n", (unsigned long long)groups, (unsigned long long)wrong);
        if (wrong || !groups) return 1;
    }
    printf("loops %s n=%llu ok (%llu)\n", names[v], (unsigned long long)n, (unsigned long long)(s + bad));
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s transfer|batch|pingpong VARIANT N | message|msgpingpong VARIANT SIZE N | loops VARIANT N [batch|SIZE]\n", argv[0]);
        return 2;
    }
    if (!crc32c_hardware_available() || crc32c_init() != 0) { fprintf(stderr, "CRC32C self-test failed\n"); return 1; }
    enum variant v = NVARIANTS;
    for (int i = 0; i < NVARIANTS; i++) if (!strcmp(argv[2], names[i])) v = (enum variant)i;
    if (v == NVARIANTS) { fprintf(stderr, "unknown variant %s\n", argv[2]); return 2; }
    const char *dir = getenv("INTEGRITY_DIR");
    snprintf(path, sizeof path, "%s/integrity-proto-%d.bin", dir && *dir ? dir : "/dev/shm", (int)getpid());
    int msg = v >= MSG, rc = 2;
    if (!strcmp(argv[1], "transfer") && !msg && v != COMMIT && v != COMMIT_TRUST) rc = transfer(v, 0, strtoull(argv[3], 0, 10), 0);
    else if (!strcmp(argv[1], "batch") && !msg) {
        u64 n = strtoull(argv[3], 0, 10) / BATCH * BATCH;
        rc = transfer(v, 1, n, 0);
    } else if (!strcmp(argv[1], "pingpong") && !msg && v != COMMIT && v != COMMIT_TRUST) rc = pingpong(v, strtoull(argv[3], 0, 10), 0);
    else if (!strcmp(argv[1], "message") && msg && argc >= 5) rc = transfer(v, 2, strtoull(argv[4], 0, 10), (size_t)atoi(argv[3]));
    else if (!strcmp(argv[1], "msgpingpong") && msg && argc >= 5) rc = pingpong(v, strtoull(argv[4], 0, 10), (size_t)atoi(argv[3]));
    else if (!strcmp(argv[1], "loops")) rc = loops(v, strtoull(argv[3], 0, 10), argc > 4 ? argv[4] : NULL);
    else fprintf(stderr, "%s does not apply to %s\n", argv[1], argv[2]);
    unlink(path);
    return rc;
}
