// The floor under Benchmarks/idle-cpu.sh's figures on this host: a writer process that sleeps
// until each item's deadline (absolute, as cbuff-bench paced-writer) and then wakes a follower
// process through a futex, and a follower that does nothing but sleep on that futex and be
// woken. With "membarrier" as the second argument the follower also issues
// membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) before each sleep, as cbuff's sleepers do (see
// Sources/Ring/FutexSleep.swift), the writer having registered for it. Prints each process's
// share of one core (utime + stime from /proc over SECONDS) in cbuff-bench's line format.
//
//   cc -O2 -o futex-floor Benchmarks/futex-floor.c && ./futex-floor RATE [plain|membarrier] [SECONDS]
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEMBARRIER_CMD_GLOBAL_EXPEDITED 2
#define MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED 4

/// utime + stime of process `pid`, in clock ticks (fields 14 and 15 of /proc/PID/stat).
static long ticks(pid_t pid) {
    char path[64], text[1024] = {0};
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *file = fopen(path, "r");
    if (!file || fread(text, 1, sizeof text - 1, file) == 0) { perror(path); exit(1); }
    fclose(file);
    char *field = strrchr(text, ')') + 2;       // field 3
    for (int i = 3; i < 14; i++) field = strchr(field, ' ') + 1;
    long user = 0, system = 0;
    sscanf(field, "%ld %ld", &user, &system);
    return user + system;
}

int main(int argc, char **argv) {
    int rate = argc > 1 ? atoi(argv[1]) : 0;
    int barrier = argc > 2 && strcmp(argv[2], "membarrier") == 0;
    int seconds = argc > 3 ? atoi(argv[3]) : 5;
    if (rate <= 0 || seconds <= 0) { fprintf(stderr, "usage: futex-floor RATE [plain|membarrier] [SECONDS]\n"); return 64; }
    uint32_t *word = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t follower = fork();
    if (follower == 0) {
        uint32_t seen = 0;
        for (;;) {
            while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == seen) {
                if (barrier) syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
                syscall(SYS_futex, word, FUTEX_WAIT, seen, 0, 0, 0);
            }
            seen = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        }
    }
    pid_t writer = fork();
    if (writer == 0) {
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0);
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        for (;;) {
            deadline.tv_nsec += 1000000000L / rate;
            if (deadline.tv_nsec >= 1000000000L) { deadline.tv_nsec -= 1000000000L; deadline.tv_sec++; }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, 0);
            __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
            syscall(SYS_futex, word, FUTEX_WAKE, 1, 0, 0, 0);
        }
    }
    sleep(1);
    long hz = sysconf(_SC_CLK_TCK), f0 = ticks(follower), w0 = ticks(writer);
    sleep(seconds);
    long f1 = ticks(follower), w1 = ticks(writer);
    const char *kind = barrier ? "_membarrier" : "";
    printf("bench=idle-cpu metric=c_floor_follower%s_at_%d value=%.3f unit=percent\n", kind, rate, 100.0 * (f1 - f0) / hz / seconds);
    printf("bench=idle-cpu metric=c_floor_writer%s_at_%d value=%.3f unit=percent\n", kind, rate, 100.0 * (w1 - w0) / hz / seconds);
    kill(follower, SIGKILL);
    kill(writer, SIGKILL);
    waitpid(follower, 0, 0);
    waitpid(writer, 0, 0);
    return 0;
}
