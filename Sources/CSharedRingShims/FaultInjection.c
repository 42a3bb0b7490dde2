// Test-only fault injection: makes the Nth system call of the System layer fail with a chosen
// errno, so that tests can drive every failure path of create, push, pop, take-over and remove
// (Tests/SharedRingTests/FaultInjectionTests.swift). The Swift side consults it only in debug
// builds (`#if DEBUG` in Sources/System/Syscalls.swift): a release build never calls in here.
//
// Two scopes. A thread arms itself (csr_fault_arm): its own calls are counted and named, and the
// Nth fails; other threads (tests running in parallel in the same process) are not touched. A
// process is armed through the environment (CBUFF_FAULT=N:ERRNO, read by the Swift side once):
// the Nth call of any thread fails, for driving the cbuff binary from outside.
#include "CSharedRingShims.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local int thread_counting;
static _Thread_local long thread_nth;
static _Thread_local int thread_error;
static _Thread_local long thread_calls;
static _Thread_local int thread_fired;
static _Thread_local const char **thread_names;

static atomic_long process_nth;
static atomic_int process_error;
static atomic_long process_calls;

void csr_fault_arm(long nth, int error) {
    if (thread_names == 0) thread_names = calloc(CSR_FAULT_NAMES, sizeof(const char *));
    thread_counting = 1;
    thread_nth = nth;
    thread_error = error;
    thread_calls = 0;
    thread_fired = 0;
}

void csr_fault_disarm(void) {
    thread_counting = 0;
    thread_nth = 0;
}

long csr_fault_calls(void) { return thread_calls; }

int csr_fault_fired(void) { return thread_fired; }

const char *csr_fault_call_name(long index) {
    if (thread_names == 0 || index < 0 || index >= CSR_FAULT_NAMES || index >= thread_calls) return 0;
    return thread_names[index];
}

// Says on standard error which call of the process failed, so that a test driving a binary
// from outside knows whether (and where) its fault was injected; a test that counts up N until
// no line appears has gone through every call of the run. One write(2), whatever the stream is.
static void say_injected(long nth, const char *call, int error) {
    char line[160];
    int length = snprintf(line, sizeof line, "cbuff fault injection: system call %ld (%s) fails with errno %d\n", nth, call, error);
    if (length > 0) (void)!write(2, line, (size_t)(length < (int)sizeof line ? length : (int)sizeof line - 1));
}

void csr_fault_arm_process(long nth, int error) {
    atomic_store(&process_error, error);
    atomic_store(&process_calls, 0);
    atomic_store(&process_nth, nth);
}

int csr_fault_take(const char *call) {
    if (thread_counting) {
        if (thread_names != 0 && thread_calls < CSR_FAULT_NAMES) thread_names[thread_calls] = call;
        thread_calls += 1;
        if (thread_calls == thread_nth) {
            thread_fired = 1;
            return thread_error;
        }
    }
    long nth = atomic_load_explicit(&process_nth, memory_order_relaxed);
    if (nth > 0 && atomic_fetch_add(&process_calls, 1) + 1 == nth) {
        int error = atomic_load(&process_error);
        say_injected(nth, call, error);
        return error;
    }
    return 0;
}
