// Counts every heap allocation of the process it is linked into, by defining malloc and its
// relatives in the executable (the dynamic linker resolves them here before libc, for the
// Swift runtime and Foundation too) and forwarding to glibc's own entry points. Only the
// test agent links it, so that a test can assert that a steady-state push/pop loop allocates
// nothing.
#include "AllocationCounter.h"

#include <errno.h>
#include <stddef.h>

// Under a sanitizer the runtime owns malloc (it intercepts it to track memory); defining it here
// as well would crash the process, so nothing is counted there.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define CBUFF_NOT_COUNTING 1
#endif
#endif

#ifdef CBUFF_NOT_COUNTING

int cbuff_allocations_are_counted(void) { return 0; }
unsigned long long cbuff_allocation_count(void) { return 0; }

#else

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static unsigned long long allocations;

static void counted(void) { __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); }

int cbuff_allocations_are_counted(void) { return 1; }
unsigned long long cbuff_allocation_count(void) { return __atomic_load_n(&allocations, __ATOMIC_RELAXED); }

void *malloc(size_t size) { counted(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { counted(); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { counted(); return __libc_realloc(pointer, size); }
void free(void *pointer) { __libc_free(pointer); }
void *memalign(size_t alignment, size_t size) { counted(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { counted(); return __libc_memalign(alignment, size); }
int posix_memalign(void **result, size_t alignment, size_t size) {
    counted();
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer) return ENOMEM;
    *result = pointer;
    return 0;
}

#endif
