#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H

/// Whether this build counts (not under a sanitizer, whose runtime owns malloc).
int cbuff_allocations_are_counted(void);

/// Heap allocations (malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign) made by
/// this process so far.
unsigned long long cbuff_allocation_count(void);

#endif
