#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H

/// Heap allocations (malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign) made by
/// this process so far.
unsigned long long cbuff_allocation_count(void);

#endif
