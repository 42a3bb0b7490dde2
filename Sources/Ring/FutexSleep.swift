internal import Synchronization
internal import SharedRingSystem

/// The one way either side of a ring sleeps until the other side makes progress: a reader
/// waiting for an item (word `notify`, sleeper count `waiters`, woken by the writer) and, under
/// the `block` policy, the writer waiting for room (word `space`, sleeper count `writerWaiting`,
/// woken by named readers).
///
/// It spins briefly first (a futex wake-up costs ~40 µs here, a spin round trip ~150 ns), then
/// sleeps. The waker publishes its progress and then loads the sleeper count, waking only if it
/// is non-zero, so its hot path has no system call. That is the classic store-load race: the
/// sleeper stores the count then checks the condition, the waker stores its progress then loads
/// the count, and without a full barrier on both sides each can miss the other's store. The
/// sleeper's RMW is a full barrier on its side; instead of making the waker pay a full fence on
/// every item, the sleeper asks the kernel to run one on the waker's CPU
/// (`membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, for which the waker's process registered).
/// After it returns, either the waker's progress is visible to the check below, or the waker's
/// later load of the count sees this sleeper and wakes it. A waker that could not register
/// fences instead. The futex value read *before* announcing the sleeper makes a wake-up between
/// the check and the sleep return at once (EAGAIN). Sleeps are capped at 50 ms, so even a kernel
/// that refuses all of this can only delay a wake-up, never lose it.
enum FutexSleep {
    /// How many times a waiter checks (with a CPU pause between) before it sleeps: about
    /// 100 µs here, long enough for a busy peer's next item, short against the ~40 µs a futex
    /// wake-up costs the waker and the sleeper each.
    static let spinsBeforeSleeping = 4096
    /// The longest single sleep: the bound on how late a wake-up can be if every barrier
    /// above were refused (a seccomp filter, an old kernel).
    static let longestSleepNanos: Int64 = 50_000_000

    /// Waits until `ready()` holds, at most `timeoutNanos` (negative: no limit). Returns false
    /// on timeout, or early once `stop()` says so after a wake-up.
    package static func wait(
        until ready: () -> Bool,
        word: UnsafeMutablePointer<Atomic<UInt32>>, address: UnsafeMutablePointer<UInt32>,
        sleepers: UnsafeMutablePointer<Atomic<UInt32>>,
        timeoutNanos: Int64, stop: () -> Bool = { false }
    ) -> Bool {
        if ready() { return true }
        for _ in 0..<spinsBeforeSleeping {
            Sys.cpuRelax()
            if ready() { return true }
        }
        let deadline = timeoutNanos < 0 ? Int64.max : Sys.monotonicNanos() &+ timeoutNanos
        while true {
            let observed = word.pointee.load(ordering: .acquiring)
            sleepers.pointee.add(1, ordering: .sequentiallyConsistent)
            Sys.globalBarrier()
            let isReady = ready()
            let remaining = deadline == Int64.max ? Int64.max : deadline &- Sys.monotonicNanos()
            if !isReady && remaining > 0 {
                Sys.futexWait(address, expected: observed, timeoutNanos: min(remaining, longestSleepNanos))
            }
            sleepers.pointee.subtract(1, ordering: .relaxed)
            if isReady || ready() { return true }
            if remaining <= 0 || stop() { return false }
        }
    }
}
