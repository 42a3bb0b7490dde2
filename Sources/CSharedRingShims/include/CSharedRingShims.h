// System calls Swift cannot reach directly. futex(2) and membarrier(2) exist only behind the
// variadic syscall(2), which Swift cannot call; the F_OFD_* lock commands are hidden behind
// _GNU_SOURCE. Each wrapper returns a non-negative result or -errno, read right at the failure.
#ifndef CSHAREDRINGSHIMS_H
#define CSHAREDRINGSHIMS_H

#ifdef __linux__

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <linux/membarrier.h>

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

/// Sleeps while `*word == expected`, at most `timeout_ns` (negative: no limit).
/// The ring is MAP_SHARED across processes: never add FUTEX_PRIVATE_FLAG.
/// Returns 0 when woken, -EAGAIN when the word already differed, -ETIMEDOUT, -EINTR.
static inline int csr_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tsp = 0;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000LL);
        ts.tv_nsec = (long)(timeout_ns % 1000000000LL);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, (uint32_t *)0, 0);
    return r == -1 ? -errno : (int)r;
}

/// Wakes up to `count` processes sleeping on `word`. Returns how many woke, or -errno.
static inline int csr_futex_wake(uint32_t *word, int32_t count) {
    long r = syscall(SYS_futex, word, FUTEX_WAKE, count, (void *)0, (uint32_t *)0, 0);
    return r == -1 ? -errno : (int)r;
}

/// How many tasks (of any process) sleep in FUTEX_WAIT on `word` right now, or -errno.
/// FUTEX_REQUEUE moves up to `val2` waiters of the first word to the second after waking `val`
/// of them, and returns how many it woke or moved: from the word to itself, waking none, it
/// moves nobody anywhere and counts them all.
static inline int csr_futex_count_waiters(uint32_t *word) {
    long r = syscall(SYS_futex, word, FUTEX_REQUEUE, 0, (void *)(long)INT_MAX, word, 0);
    return r == -1 ? -errno : (int)r;
}

/// The writer registers once so that a reader about to sleep can force a full memory barrier
/// on it (see Sources/Ring/FutexSleep.swift). Returns 0 or -errno.
/// Whether open file `fd` lives in memory (tmpfs or ramfs: `fstatfs`'s type): 1 yes, 0 no,
/// -1 with errno set if it cannot be asked. (`statfs` is not in Swift's Glibc module.)
static inline int csr_is_in_memory(int fd) {
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return -1;
    return st.f_type == 0x01021994 || st.f_type == (typeof(st.f_type))0x858458f6;   /* TMPFS_MAGIC, RAMFS_MAGIC */
}

static inline int csr_membarrier_register_global_expedited(void) {
    long r = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0);
    return r == -1 ? -errno : (int)r;
}

/// Executes a memory barrier on every running thread of every registered process.
static inline int csr_membarrier_global_expedited(void) {
    long r = syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
    return r == -1 ? -errno : (int)r;
}

/// The lock description for bytes [start, start+len) of a file.
static inline struct flock csr_ofd_range(short type, int64_t start, int64_t len) {
    struct flock fl = {0};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)start;
    fl.l_len = (off_t)len;
    fl.l_pid = 0;   /* required by F_OFD_* */
    return fl;
}

/// Takes (exclusive != 0: write, else read) or, with unlock != 0, releases an open-file-description
/// lock on bytes [start, start+len) without waiting. The kernel drops it when the last descriptor
/// of that open file description closes, which includes the death of the process.
/// Returns 0, or -EAGAIN when another open file description holds a conflicting lock.
static inline int csr_ofd_setlk(int fd, int64_t start, int64_t len, int exclusive, int unlock) {
    struct flock fl = csr_ofd_range(unlock ? F_UNLCK : (exclusive ? F_WRLCK : F_RDLCK), start, len);
    int r = fcntl(fd, F_OFD_SETLK, &fl);
    return r == -1 ? -errno : 0;
}

/// Takes a write lock on [start, start+len), waiting for it. Returns 0 or -errno (-EINTR).
static inline int csr_ofd_setlkw(int fd, int64_t start, int64_t len) {
    struct flock fl = csr_ofd_range(F_WRLCK, start, len);
    int r = fcntl(fd, F_OFD_SETLKW, &fl);
    return r == -1 ? -errno : 0;
}

/// Tests, without taking anything, whether a write lock on [start, start+len) would conflict
/// with a lock held through another open file description. Returns 1 (held), 0 (free) or -errno.
static inline int csr_ofd_is_locked(int fd, int64_t start, int64_t len) {
    struct flock fl = csr_ofd_range(F_WRLCK, start, len);
    int r = fcntl(fd, F_OFD_GETLK, &fl);
    if (r == -1) return -errno;
    return fl.l_type == F_UNLCK ? 0 : 1;
}

/// A spin-wait hint for the CPU (x86 `pause`): polite to the sibling hyper-thread, and it
/// keeps a spinning reader from flooding the writer's cache line with speculative loads.
static inline void csr_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// For the spawner (Sources/Spawning; Spawn.c): GNU extensions that the Glibc module, built
/// without _GNU_SOURCE, does not declare. Each returns 0 or an errno value.
/// Closes every descriptor from `from` up in the child, without listing any directory (glibc 2.34).
int csr_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from);
/// A pipe whose two ends have close-on-exec set from the start: `ends[0]` reads, `ends[1]` writes.
int csr_pipe_cloexec(int ends[2]);

/// The SIGBUS guard (SigbusGuard.c): installs the handler once per process; 0 or -errno.
int csr_sigbus_guard_install(void);
/// Guards the mapping [start, start+length); returns its slot, or -1 when every slot is taken.
int csr_sigbus_guard_add(void *start, size_t length);
/// Stops guarding a slot; call before unmapping.
void csr_sigbus_guard_remove(int slot);
/// The slot's flag: set to 1 (release) once a fault replaced the mapping with zero pages; for
/// slot -1, a flag that stays 0.
int *csr_sigbus_guard_flag(int slot);

/// Test-only fault injection (FaultInjection.c), consulted by the System layer in debug builds.
/// How many call names a thread's log keeps.
#define CSR_FAULT_NAMES 4096
/// Arms this thread: its system calls are counted and named from now on, and the `nth` (1-based;
/// 0: none) fails with `error`.
void csr_fault_arm(long nth, int error);
/// Stops counting and injecting on this thread.
void csr_fault_disarm(void);
/// How many calls this thread made since it was armed.
long csr_fault_calls(void);
/// Whether this thread's armed failure was injected.
int csr_fault_fired(void);
/// The name of this thread's `index`-th call (0-based) since it was armed, or NULL.
const char *csr_fault_call_name(long index);
/// Arms the whole process: the `nth` call of any thread fails with `error`.
void csr_fault_arm_process(long nth, int error);
/// Called before each system call: 0, or the errno the call must fail with.
int csr_fault_take(const char *call);

#endif /* __linux__ */
#endif /* CSHAREDRINGSHIMS_H */
