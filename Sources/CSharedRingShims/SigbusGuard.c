// The SIGBUS guard: a ring file that another process truncates while this one has it mapped
// raises SIGBUS on the next access beyond the new end of file, which would kill the process.
// The handler below turns that into an error the library can report: when the faulting address
// lies in a guarded mapping, it replaces the whole mapping with private zero pages (so the access
// that faulted, and every later one, touches memory that exists), raises the mapping's flag, and
// returns. The library checks the flag after each read and write and throws "corrupted".
// Faults anywhere else go to the handler that was installed before, or kill the process as usual.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "CSharedRingShims.h"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#define CSR_GUARD_SLOTS 4096

// Slot i guards [start, start + length). `used` reserves a slot; the handler trusts a slot only
// once `start` (stored last) is non-zero. Everything is accessed with atomic builtins, since the
// handler may run on any thread at any instant.
static struct {
    uintptr_t start;
    size_t length;
    int used;
} guarded[CSR_GUARD_SLOTS];
static int faulted[CSR_GUARD_SLOTS];
static struct sigaction previous;
static int installed;   // 0 not yet, 1 being installed, 2 installed

static void on_sigbus(int signal_number, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < CSR_GUARD_SLOTS; i++) {
        uintptr_t start = __atomic_load_n(&guarded[i].start, __ATOMIC_ACQUIRE);
        if (start == 0 || address < start) continue;
        size_t length = __atomic_load_n(&guarded[i].length, __ATOMIC_RELAXED);
        if (address - start >= length) continue;
        // mmap is async-signal-safe in practice on Linux (a plain system call).
        void *replaced = mmap((void *)start, length, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (replaced == MAP_FAILED) break;
        __atomic_store_n(&faulted[i], 1, __ATOMIC_RELEASE);
        return;
    }
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction) { previous.sa_sigaction(signal_number, info, context); return; }
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(signal_number);
        return;
    }
    // Returning re-executes the access, which now kills the process as it would have anyway.
    signal(SIGBUS, SIG_DFL);
}

int csr_sigbus_guard_install(void) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&installed, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&installed, __ATOMIC_ACQUIRE) == 1) {}
        return 0;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    int result = sigaction(SIGBUS, &action, &previous) == 0 ? 0 : -errno;
    __atomic_store_n(&installed, result == 0 ? 2 : 0, __ATOMIC_RELEASE);
    return result;
}

int csr_sigbus_guard_add(void *start, size_t length) {
    for (int i = 0; i < CSR_GUARD_SLOTS; i++) {
        int free_slot = 0;
        if (!__atomic_compare_exchange_n(&guarded[i].used, &free_slot, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) continue;
        __atomic_store_n(&faulted[i], 0, __ATOMIC_RELAXED);
        __atomic_store_n(&guarded[i].length, length, __ATOMIC_RELAXED);
        __atomic_store_n(&guarded[i].start, (uintptr_t)start, __ATOMIC_RELEASE);
        return i;
    }
    return -1;
}

void csr_sigbus_guard_remove(int slot) {
    if (slot < 0 || slot >= CSR_GUARD_SLOTS) return;
    __atomic_store_n(&guarded[slot].start, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&guarded[slot].used, 0, __ATOMIC_RELEASE);
}

int *csr_sigbus_guard_flag(int slot) {
    static int never = 0;   // the flag of an unguarded mapping
    return slot >= 0 && slot < CSR_GUARD_SLOTS ? &faulted[slot] : &never;
}
