/* The C loops cbuff's push and pop are counted against (Benchmarks/instructions.sh): a ring of
 * 8-byte slots in a MAP_SHARED file, as ../shared/anchors/ring.c keeps it (head and tail on lines
 * of their own, acquire/release only), pushing N values into a ring nobody reads, or popping N
 * values from a ring filled with them, one at a time or 64 at a time (as ring.c's batches: one
 * head or tail store per 64); each loop a function of its own (push_loop, pop_loop,
 * push64_loop, pop64_loop), so that callgrind --toggle-collect counts only it.
 *
 *   callgrind-loops push|pop|push64|pop64 N FILE */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct ring {
    _Alignas(64) _Atomic uint64_t head;     /* next sequence to write: the writer's line */
    _Alignas(64) _Atomic uint64_t tail;     /* next sequence to read: the reader's line */
    _Alignas(64) uint64_t slots[];
};

__attribute__((noinline)) void push_loop(struct ring *ring, uint64_t length, uint64_t count) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    for (uint64_t value = 0; value < count; value++) {
        ring->slots[head % length] = value;
        atomic_store_explicit(&ring->head, ++head, memory_order_release);
    }
}

__attribute__((noinline)) uint64_t pop_loop(struct ring *ring, uint64_t length, uint64_t count) {
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed), sum = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (atomic_load_explicit(&ring->head, memory_order_acquire) == tail) break;
        sum += ring->slots[tail % length];
        atomic_store_explicit(&ring->tail, ++tail, memory_order_release);
    }
    return sum;
}

__attribute__((noinline)) void push64_loop(struct ring *ring, uint64_t length, uint64_t count) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    for (uint64_t value = 0; value < count; value += 64) {
        uint64_t chunk = count - value < 64 ? count - value : 64;
        for (uint64_t k = 0; k < chunk; k++) ring->slots[(head + k) % length] = value + k;
        head += chunk;
        atomic_store_explicit(&ring->head, head, memory_order_release);
    }
}

__attribute__((noinline)) uint64_t pop64_loop(struct ring *ring, uint64_t length, uint64_t count) {
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed), sum = 0, end = tail + count;
    while (tail < end) {
        uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
        if (head == tail) break;
        uint64_t stop = head - tail < 64 ? head : tail + 64;
        for (; tail < stop; tail++) sum += ring->slots[tail % length];
        atomic_store_explicit(&ring->tail, tail, memory_order_release);
    }
    return sum;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: callgrind-loops push|pop|push64|pop64 N FILE\n"); return 64; }
    uint64_t count = strtoull(argv[2], NULL, 10);
    int popping = strncmp(argv[1], "pop", 3) == 0, batched = strchr(argv[1], '6') != NULL;
    uint64_t length = popping ? (count > 1024 ? count : 1024) : 1024;
    size_t size = sizeof(struct ring) + length * sizeof(uint64_t);
    int fd = open(argv[3], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) { perror(argv[3]); return 1; }
    struct ring *ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) { perror("mmap"); return 1; }
    if (!popping) {
        (batched ? push64_loop : push_loop)(ring, length, count);
        printf("pushed %llu\n", (unsigned long long)atomic_load(&ring->head));
    } else {
        for (uint64_t value = 0; value < count; value++) ring->slots[value % length] = value;
        atomic_store(&ring->head, count);
        printf("sum=%llu\n", (unsigned long long)(batched ? pop64_loop : pop_loop)(ring, length, count));
    }
    unlink(argv[3]);
    return 0;
}
