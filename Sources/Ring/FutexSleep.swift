internal import Synchronization
internal import SharedRingSystem

/// The one way either side of a ring sleeps until the other side makes progress: a reader
/// waiting for an item (futex word `notify`, wake-up request in `waiters`, woken by the writer)
/// and, under the `block` policy, the writer waiting for room (word `space`, request in
/// `writerWaiting`, woken by named readers).
///
/// # Spinning, and only while it pays
///
/// A wait first looks at its condition a number of times with a CPU pause between (a look and
/// a pause take about 25 ns here), then sleeps. A futex wake-up costs each side tens of
/// microseconds, so for a peer that answers within a few microseconds (the two-process
/// transfer, a ping-pong) spinning is both faster and cheaper; for a stream of a thousand
/// items a second it is pure waste: 4,096 looks before each of 1,000 sleeps a second was a
/// tenth of a core. So each waiter keeps a ``SpinBudget``, learnt from its own recent waits:
/// after a wait that ended quickly (during the spin, or within 250 µs of going to sleep) the
/// next one spins in full, 4,096 looks; after one that did not, half as long as the last, down
/// to 16. A follower of a slow stream settles at 16 looks (well under a microsecond) before
/// each sleep after a dozen items; a busy peer spins in full again after its first quick
/// answer, so a few preemptions of the peer (which this loaded host has) cost it a few
/// shorter spins, not its speed. (Halving and doubling alike, a ping-pong on this host under
/// load lost its spin to a run of preemptions and slept on every round trip: 3x slower.)
///
/// # Sleeping without losing a wake-up, and without a dead sleeper costing anything
///
/// The waker publishes its progress, then loads the request word, and makes a system call only
/// if it is non-zero, so its hot path has none. A sleeper (each slice of its sleep, at most
/// 50 ms):
///
///     S1  o = word.load(acquire)                      -- the futex value it will sleep on
///     S2  request.fetchOr(wakeRequested, seq_cst)     -- "wake me"
///     S3  membarrier(GLOBAL_EXPEDITED)                -- see below
///     S4  if ready(): return
///     S5  futex_wait(word, o, ≤ 50 ms)                -- returns at once if word ≠ o
///
/// and a waker, after storing its progress P (W4 of `Publication.swift`, a named reader's
/// cursor):
///
///     K1  P
///     K2  if request.load(relaxed) ≠ 0:               -- the only cost while nobody sleeps
///     K3      request.fetchAnd(~wakeRequested, acq_rel)   -- clear the request first,
///     K4      word.add(1, release)                        -- then change the futex value,
///     K5      futex_wake(word, all)                       -- then wake every sleeper
///
/// Nothing is ever subtracted: the request is cleared by the waker that answers it, and every
/// live sleeper sets it again (S2) before every slice of sleep. So a sleeper killed in its
/// sleep leaves at most one set bit, which the next waker clears with one wake call: after
/// that, nobody pays for it. (A count of sleepers, incremented before the sleep and decremented
/// after, was what this was before: a sleeper killed in between left its increment for good,
/// and the writer made a wake call on every push from then on.)
///
/// Why no wake-up is lost. S2 then S4 against K1 then K2 is the classic store-load race:
/// without a full barrier on both sides each can miss the other's store. The sleeper's RMW is
/// a full barrier on its side; instead of making the waker pay a full fence on every item,
/// the sleeper asks the kernel to run one on every CPU that runs a registered process (S3;
/// writers and named readers register). After it returns, either K1 is visible to S4 (the
/// sleeper does not sleep), or K2 comes after the barrier and sees S2 or a later value of the
/// request word. A later value is another sleeper's S2 (the bit is still set) or some waker's
/// K3. Either way some waker clears the request after S2 (K2 seeing it set leads to K3). Take
/// the first K3 after S2 in the word's modification order: every change of the word is a
/// read-modify-write, so that K3 reads S2's value or a later one of S2's release sequence, and
/// S2 (release) synchronises with it (acquire): S1 happens before K3, hence before K4. So the
/// futex value S1 read is older than K4's, and FUTEX_WAIT, which compares under the kernel's
/// bucket lock, either finds the value changed and returns at once, or queues the sleeper
/// before K4, and K5 then wakes it. So a clear never swallows a request it does not answer: a
/// request made before it is answered by its own K4 and K5, one made after it stays set for
/// the next waker. A waker that could not register for membarrier
/// fences before K2 instead; if the kernel refuses the barrier to the sleeper as well, the
/// 50 ms slices still bound how late a wake-up can be: never lost, only late.
///
/// # Old versions sharing the word
///
/// The request is bit 31 of the word. Processes of earlier versions counted sleepers in the
/// same word (+1 before a sleep, −1 after), which stays in bits 0–30, exact while they live:
/// a waker of this version wakes whenever the word is non-zero and clears only bit 31, so an
/// earlier reader sleeping beside current ones is woken as before. An earlier waker never
/// clears bit 31: once a current sleeper has slept, it wakes on every item (correct, at the
/// old cost of a system call per push) until a current waker clears it. (Earlier Python
/// writers also set and reset their `writer waiting` with plain stores: their 1 sits in bits
/// 0–30, which current readers leave alone.) RingFileFormat.md, "Waiting", says the same.
enum FutexSleep {
    /// Bit 31 of a request word: some sleeper asked to be woken since the last wake-up.
    static let wakeRequested: UInt32 = 0x8000_0000
    /// The longest single sleep: the bound on how late a wake-up can be if every barrier
    /// above were refused (a seccomp filter, an old kernel).
    static let longestSleepNanos: Int64 = 50_000_000

    /// Waits until `ready()` holds, at most `timeoutNanos` (negative: no limit), spinning as
    /// `budget` says first. Returns false on timeout, or early once `stop()` says so after a
    /// wake-up. `lookAt()` is a moment (monotonic nanoseconds) at which `ready()` must be asked
    /// again although nobody wakes the sleeper (the `block` writer's tether deadline): a slice of
    /// sleep that would pass it ends there; one already past does not shorten the slices.
    package static func wait(
        until ready: () -> Bool,
        word: UnsafeMutablePointer<Atomic<UInt32>>, address: UnsafeMutablePointer<UInt32>,
        request: UnsafeMutablePointer<Atomic<UInt32>>, budget: inout SpinBudget,
        timeoutNanos: Int64, stop: () -> Bool = { false }, lookAt: () -> Int64 = { .max }
    ) -> Bool {
        if ready() { return true }
        if budget.spin(until: ready) { return true }
        let sleptAt = Sys.monotonicNanos()
        let deadline = timeoutNanos < 0 ? Int64.max : sleptAt &+ timeoutNanos
        while true {
            let observed = word.pointee.load(ordering: .acquiring)                         // S1
            request.pointee.bitwiseOr(wakeRequested, ordering: .sequentiallyConsistent)    // S2
            Sys.globalBarrier()                                                            // S3
            let isReady = ready()                                                          // S4
            let now = Sys.monotonicNanos()
            let remaining = deadline == Int64.max ? Int64.max : deadline &- now
            if !isReady && remaining > 0 {
                var slice = min(remaining, longestSleepNanos)
                let look = lookAt()
                if look != .max, look > now { slice = min(slice, look &- now) }
                Sys.futexWait(address, expected: observed, timeoutNanos: slice)            // S5
            }
            if isReady || ready() {
                budget.slept(nanoseconds: Sys.monotonicNanos() &- sleptAt)
                return true
            }
            if remaining <= 0 || stop() {
                budget.slept(nanoseconds: .max)
                return false
            }
        }
    }

    /// K3–K5: answers every sleeper's request (see above). The waker has stored its progress
    /// and seen the request word non-zero.
    static func wake(word: UnsafeMutablePointer<Atomic<UInt32>>, address: UnsafeMutablePointer<UInt32>,
                     request: UnsafeMutablePointer<Atomic<UInt32>>) {
        request.pointee.bitwiseAnd(~wakeRequested, ordering: .acquiringAndReleasing)       // K3
        word.pointee.wrappingAdd(1, ordering: .releasing)                                  // K4 (wraps: the file is input)
        Sys.futexWakeAll(address)                                                          // K5
    }
}

/// How many times a waiter looks at its condition before it sleeps, learnt from its own recent
/// waits (see ``FutexSleep``). Each reader cursor and each writer's gate has one.
package struct SpinBudget: Sendable {
    /// The most looks: about 100 µs here, a little over what one futex wake-up costs the waker
    /// and the sleeper together.
    static let most = 4096
    /// The fewest: well under a microsecond, nothing against a sleep.
    static let least = 16
    /// A sleep that ended within this long ended quickly: the peer is busy, and the next wait
    /// should spin in full. Well over this host's wake-up latency even when it is loaded (the
    /// sleep's length includes it), well under the gap of a stream of 1,000 items a second.
    static let quickSleepNanos: Int64 = 250_000

    /// Starts at the most, as a busy peer wants: a slow one costs a few halvings.
    var looks = most

    package init() {}

    /// Looks up to ``looks`` times; true if `ready()` came to hold (then the next wait spins in
    /// full).
    mutating func spin(until ready: () -> Bool) -> Bool {
        for _ in 0..<looks {
            Sys.cpuRelax()
            if ready() {
                looks = Self.most
                return true
            }
        }
        return false
    }

    /// After a wait that slept: quick if it ended within ``quickSleepNanos`` (the next wait
    /// spins in full), else the next one spins half as long.
    mutating func slept(nanoseconds: Int64) {
        looks = nanoseconds <= Self.quickSleepNanos ? Self.most : max(Self.least, looks / 2)
    }
}
