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
/// after a wait that ended during the spin, or within 250 µs of going to sleep right after
/// another quick one, the next one spins in full, 4,096 looks; after one that did not, half as
/// long as the last, down to 16 (a lone quick sleep among slow ones, the jitter of a slow
/// stream, changes nothing). A follower of a slow stream settles at 16 looks (well under a
/// microsecond) before each sleep after a dozen items; a busy peer spins in full again after
/// its first answer within the spin (or its second quick sleep in a row), so a few preemptions
/// of the peer (which this loaded host has) cost it a few shorter spins, not its speed.
/// (Halving and doubling alike, a ping-pong on this host under load lost its spin to a run of
/// preemptions and slept on every round trip: 3x slower.)
///
/// # Coalescing, when the waiter asked for it
///
/// A wait given a coalescing delay D > 0 (``BufferReader/wakeUpCoalescing``, `cbuff tail
/// --follow`'s `--coalesce`) first sleeps up to D *without* asking to be woken (C1 below): the
/// writer makes no wake call for it, and the items published meanwhile are all there when it
/// looks again, at most D after the first of them arrived. Only if none came does it ask to be
/// woken and sleep as below, so an item of a slow stream is delivered as soon as it arrives.
/// At 1,000 items a second and D = 5 ms that is one wake-up per five items instead of one per
/// item, and no wake call at all for the writer; at 10 items a second, two wake-ups per item
/// (the timer's, then the writer's). The latency it adds is bounded by D, and only a waiter
/// that chose a D pays it.
///
/// # Sleeping without losing a wake-up, and without a dead sleeper costing anything
///
/// The waker publishes its progress, then loads the request word, and makes a system call only
/// if it is non-zero, so its hot path has none. A sleeper (each slice of its sleep: at most
/// 10 s, or 50 ms after a refused barrier; see ``longestOrderedSleepNanos``):
///
///     C1  (coalescing only, once per wait) if !ready(): sleep(≤ D)   -- a plain timed sleep
///     S1  o = word.load(acquire)                      -- the futex value it will sleep on
///     S2a r = request.load(acquire)                   -- acknowledged already? (readers only)
///     S2  if r lacks REQUESTED or ACKNOWLEDGED:
///             request.fetchOr(REQUESTED, seq_cst)     -- "wake me"
///     S3      membarrier(GLOBAL_EXPEDITED)            -- see below
///     S4  if ready(): return
///     S5  futex_wait(word, o, ≤ the slice)            -- returns at once if word ≠ o
///
/// and a waker, after storing its progress P (W4 of `Publication.swift`, a named reader's
/// cursor):
///
///     K1  P
///     K2  if request.load(relaxed) ≠ 0:               -- the only cost while nobody sleeps
///     K3      request.fetchAnd(~(REQUESTED | ACKNOWLEDGED), acq_rel)   -- clear the request first,
///     K4      word.add(1, release)                                      -- then change the futex value,
///     K5      n = futex_wake(word, all)                                 -- then wake every sleeper,
///     K6      if n > 0 and the waker is the writer:                     -- and, if one slept,
///                 request.fetchOr(REQUESTED | ACKNOWLEDGED, acq_rel)    -- keep asking for it
///
/// (The writer does K6 before K5 when K3 found ACKNOWLEDGED, that is when its last answer woke
/// someone, who is most likely asleep again: a reader the kernel runs at once, on the writer's
/// CPU before the writer returns from K5, then finds the bits set. If that K5 wakes nobody,
/// the writer withdraws them with K3–K5 again: two wake calls, once.)
///
/// Nothing is ever subtracted: the request is cleared by the waker that answers it, and set
/// again by a live sleeper (S2) or by the writer for the sleepers it just woke (K6). So a
/// sleeper killed in its sleep leaves at most the two bits set, which the next waker clears
/// with one wake call that wakes nobody (two, if the writer had acknowledged them and set them
/// again early), and does not set again: after that, nobody pays for it. (A count of
/// sleepers, incremented before the sleep and decremented after, was what this was before: a
/// sleeper killed in between left its increment for good, and the writer made a wake call on
/// every push from then on.)
///
/// Why no wake-up is lost, first on the slow path (S2, S3). S2 then S4 against K1 then K2 is
/// the classic store-load race: without a full barrier on both sides each can miss the other's
/// store. The sleeper's RMW is a full barrier on its side; instead of making the waker pay a
/// full fence on every item, the sleeper asks the kernel to run one on every CPU that runs a
/// registered process (S3; writers and named readers register). After it returns, either K1 is
/// visible to S4 (the sleeper does not sleep), or K2 comes after the barrier and sees S2 or a
/// later value of the request word. A later value is another sleeper's S2 or the writer's K6
/// (the bit is still set) or some waker's K3. Either way some waker clears the request after
/// S2 (K2 seeing it set leads to K3). Take the first K3 after S2 in the word's modification
/// order: every change of the word is a read-modify-write, so that K3 reads S2's value or a
/// later one of S2's release sequence, and S2 (release) synchronises with it (acquire): S1
/// happens before K3, hence before K4. So the futex value S1 read is older than K4's, and
/// FUTEX_WAIT, which compares under the kernel's bucket lock, either finds the value changed
/// and returns at once, or queues the sleeper before K4, and K5 then wakes it. So a clear never
/// swallows a request it does not answer: a request made before it is answered by its own K4
/// and K5, one made after it stays set for the next waker. A waker that could not register for
/// membarrier fences before K2 instead; if the kernel refuses the barrier to the sleeper (whose
/// waker may have registered and not fence), its sleep is cut into 50 ms slices, which bound
/// how late a wake-up can be then: never lost, only late. A sleep whose barrier ran needs no
/// slice, and takes long ones (10 s), so that waiting costs nothing while nothing happens.
///
/// # The fast path of a follower: no barrier, no read-modify-write
///
/// The barrier (S3) is the dearest step of a sleep: a system call that interrupts every CPU
/// running a registered process, which made a follower of 1,000 items a second cost as much
/// again as the wake-ups themselves. A reader skips S2 and S3 when S2a finds both bits set:
/// REQUESTED, and ACKNOWLEDGED, which only the writer sets, and only at K6, after its K2 *read*
/// the word non-zero (and its K5 woke someone, or, early, its previous K5 did: the argument
/// below needs only the read and the order). That is what a follower of a slow stream finds
/// after every wake-up but the first of a run: one membarrier when it starts following, then
/// none. Why that is safe, for any publish P (K1, K2) whose item S4 does not see:
///
/// - Let A be the K6 that set the ACKNOWLEDGED bit S2a saw (the last one before that value in
///   the word's modification order; no K3 lies between them, as K3 clears the bit).
/// - If P's K2 comes after A in the writer's program order, K2 reads A's value or a later one
///   (read-after-write coherence). If no clear lies between, the value is non-zero and P wakes:
///   its K4 follows K1. Either S1 read a value older than that K4, and the futex wait returns
///   (as above), or S1 (acquire) read that K4's value or a later one (every change of the futex
///   word is a read-modify-write, so a release sequence): then K1 happens before S4, which
///   therefore sees P's item, against the assumption. If a clear C (some waker's K3) lies
///   between, C comes after the value S2a read (by the choice of A), and C's waker bumps the
///   futex word (K4) and wakes (K5) after it. S1 cannot have read that bump or a later value:
///   it would synchronise with it, so C would happen before S2a, which would then read C or a
///   later value. So S1's value is older than C's K4, and the wait returns or is woken by C's K5.
/// - If P's K2 comes before A in the writer's program order, so does P's K1. A is a release
///   read-modify-write and S2a (acquire) read A's value or a later one of its release sequence:
///   K1 happens before S2a, hence before S4, which sees P's item, against the assumption.
///
/// A writer that takes over from a dead one inherits its A: the kernel's lock hand-over orders
/// the dead writer's steps before the new one's, so the argument holds across writers. Only
/// the writer acknowledges: the request word of the writer's sleep for room (`writerWaiting`)
/// has several wakers (every named reader), none of which can speak for the others, so the
/// writer's sleep always takes the slow path.
///
/// # Old versions sharing the word
///
/// REQUESTED is bit 31 of the word, ACKNOWLEDGED bit 30. Processes of earlier versions counted
/// sleepers in the same word (+1 before a sleep, −1 after), which stays in the low bits, exact
/// while they live: a waker of this version wakes whenever the word is non-zero and clears only
/// bits 30 and 31, so an earlier reader sleeping beside current ones is woken as before. An
/// earlier waker (and today's Python writer) clears only bit 31: an ACKNOWLEDGED a current
/// writer left stays set, so that waker finds the word non-zero and wakes on every push
/// (correct, at the old cost of a system call per push) until a current waker clears it; a
/// reader that finds both bits meanwhile and sleeps without the barrier is right too, as the
/// argument above holds with A the current writer's K6 that set the bit, passed on by the
/// lock hand-over, and no clear without a bump and a wake after it. (Earlier Python writers also set and reset their `writer waiting`
/// with plain stores: their 1 sits in the low bits, which current readers leave alone.)
/// RingFileFormat.md, "Waiting", says the same.
enum FutexSleep {
    /// Bit 31 of a request word: some sleeper asked to be woken since the last wake-up.
    static let wakeRequested: UInt32 = 0x8000_0000
    /// Bit 30 of the readers' request word: the writer read the request after its last clear
    /// and woke someone for it (K6), so its next publishes see a non-zero word until a waker
    /// clears it, which bumps the futex word and wakes after: a reader finding this bit and
    /// ``wakeRequested`` sleeps without S2 and S3.
    static let wakeAcknowledged: UInt32 = 0x4000_0000
    /// Both bits: what a waker clears (K3), and what the writer sets again (K6).
    static let requestBits: UInt32 = wakeRequested | wakeAcknowledged
    /// The longest single sleep after a barrier the kernel refused (a seccomp filter, an old
    /// kernel): the bound on how late a wake-up can be then.
    static let longestSleepNanos: Int64 = testSleepSliceNanos ?? 50_000_000
    /// The longest single sleep otherwise (the barrier ran, or the acknowledged fast path
    /// needed none): no wake-up can be lost (see above), so a sleeper has no reason to look
    /// before its deadline, and a waiter with nothing to wait for (an idle follower, hundreds
    /// of idle event sequences) costs nothing. The slice only bounds what a waker that breaks
    /// the protocol (one that neither registered for the barrier nor fences, as the format
    /// requires) can cost a sleeper: a wake-up at most this late, never lost. (With 50 ms
    /// slices here too, 300 idle event sequences cost 6,000 wake-ups and barriers a second,
    /// 11 % of a core.)
    static let longestOrderedSleepNanos: Int64 = testSleepSliceNanos ?? 10_000_000_000
    /// The longest coalescing delay (see ``WakeUpCoalescing``).
    static let longestCoalescingNanos = WakeUpCoalescing.longestNanos

    /// Debug builds only: `CBUFF_TEST_SLEEP_SLICE_MS` replaces both slices, so that a test
    /// can make a lost wake-up a hang it detects instead of a 50 ms delay it cannot tell from a
    /// preemption (`LostWakeUpTests`).
    private static let testSleepSliceNanos: Int64? = {
        #if DEBUG
        if let text = Sys.environment("CBUFF_TEST_SLEEP_SLICE_MS"), let milliseconds = Int64(text), milliseconds > 0 {
            return milliseconds * 1_000_000
        }
        #endif
        return nil
    }()

    /// Waits until `ready()` holds, at most `timeoutNanos` (negative: no limit), spinning as
    /// `budget` says first. Returns false on timeout, or early once `stop()` says so after a
    /// wake-up. `lookAt()` is a moment (monotonic nanoseconds) at which `ready()` must be asked
    /// again although nobody wakes the sleeper (the `block` writer's tether deadline): a slice of
    /// sleep that would pass it ends there; one already past does not shorten the slices.
    ///
    /// - Parameters:
    ///   - acknowledged: whether the one waker of this request word acknowledges requests (K6):
    ///     true for readers (the writer wakes them), false for the writer's sleep for room.
    ///   - coalescingNanos: if positive, first sleep up to this long without asking to be woken
    ///     (C1): the longest an item that arrives during the wait waits for the waiter to look.
    package static func wait(
        until ready: () -> Bool,
        word: UnsafeMutablePointer<Atomic<UInt32>>, address: UnsafeMutablePointer<UInt32>,
        request: UnsafeMutablePointer<Atomic<UInt32>>, acknowledged: Bool = false, budget: inout SpinBudget,
        timeoutNanos: Int64, coalescingNanos: Int64 = 0, stop: () -> Bool = { false }, lookAt: () -> Int64 = { .max }
    ) -> Bool {
        if ready() { return true }
        if coalescingNanos <= 0, budget.spin(until: ready) { return true }
        let sleptAt = Sys.monotonicNanos()
        let deadline = timeoutNanos < 0 ? Int64.max : sleptAt &+ timeoutNanos
        if coalescingNanos > 0 {
            // C1: a plain sleep, not one on the futex word: a sleeper there would count as woken
            // in the writer's K5 (if another reader's request made it wake), which would then
            // ask again on its behalf (K6) and wake it at the next item, ending the batch. So
            // nothing cuts C1 short, a `RingWatch.wakeUp()` included: it is bounded by D (at most
            // ``longestCoalescingNanos``).
            let slice = min(coalescingNanos, deadline == Int64.max ? Int64.max : deadline &- sleptAt, longestCoalescingNanos)
            if slice > 0 && !ready() { Sys.sleep(nanoseconds: slice) }
            if ready() {
                budget.slept(nanoseconds: .max)     // a coalescing waiter never spins long
                return true
            }
            if stop() || (deadline != Int64.max && Sys.monotonicNanos() >= deadline) {
                budget.slept(nanoseconds: .max)
                return false
            }
        }
        while true {
            let observed = word.pointee.load(ordering: .acquiring)                             // S1
            let asked = request.pointee.load(ordering: .acquiring)                             // S2a
            var ordered = true      // S2 and S3 done, or not needed: no wake-up can be lost
            if !acknowledged || asked & requestBits != requestBits {
                request.pointee.bitwiseOr(wakeRequested, ordering: .sequentiallyConsistent)    // S2
                ordered = Sys.globalBarrier()                                                  // S3
            }
            let isReady = ready()                                                              // S4
            let now = Sys.monotonicNanos()
            let remaining = deadline == Int64.max ? Int64.max : deadline &- now
            if !isReady && remaining > 0 {
                var slice = min(remaining, ordered ? longestOrderedSleepNanos : longestSleepNanos)
                let look = lookAt()
                if look != .max, look > now { slice = min(slice, look &- now) }
                Sys.futexWait(address, expected: observed, timeoutNanos: slice)            // S5
            }
            if isReady || ready() {
                budget.slept(nanoseconds: coalescingNanos > 0 ? .max : Sys.monotonicNanos() &- sleptAt)
                return true
            }
            if remaining <= 0 || stop() {
                budget.slept(nanoseconds: .max)
                return false
            }
        }
    }

    /// K3–K5: answers every sleeper's request (see above), without acknowledging it: how a
    /// reader's wait is cut short from another thread, how a closing writer wakes its readers,
    /// and how named readers wake the writer. The waker has stored its progress and seen the
    /// request word non-zero (or wakes regardless).
    static func wake(word: UnsafeMutablePointer<Atomic<UInt32>>, address: UnsafeMutablePointer<UInt32>,
                     request: UnsafeMutablePointer<Atomic<UInt32>>) {
        request.pointee.bitwiseAnd(~requestBits, ordering: .acquiringAndReleasing)        // K3
        word.pointee.wrappingAdd(1, ordering: .releasing)                                  // K4 (wraps: the file is input)
        _ = Sys.futexWakeAll(address)                                                      // K5
    }

    /// K3–K6: the writer's answer to its readers' requests after a publish: as ``wake(word:address:request:)``,
    /// then, if someone was asleep, the request is set again and acknowledged (K6), so that the
    /// readers it woke sleep next time without a barrier (see above).
    static func answer(word: UnsafeMutablePointer<Atomic<UInt32>>, address: UnsafeMutablePointer<UInt32>,
                       request: UnsafeMutablePointer<Atomic<UInt32>>) {
        let asked = request.pointee.bitwiseAnd(~requestBits, ordering: .acquiringAndReleasing).oldValue   // K3
        word.pointee.wrappingAdd(1, ordering: .releasing)                                  // K4
        // A request this writer acknowledged before comes from readers it woke last time,
        // which are most likely asleep again: acknowledge it ahead of the wake-up, so that a
        // reader the kernel runs at once (on this CPU, before this thread returns) finds it.
        let again = asked & wakeAcknowledged != 0
        if again { request.pointee.bitwiseOr(requestBits, ordering: .acquiringAndReleasing) }       // K6, early
        if Sys.futexWakeAll(address) > 0 {                                                 // K5
            if !again { request.pointee.bitwiseOr(requestBits, ordering: .acquiringAndReleasing) }  // K6
        } else if again {
            // Nobody was asleep after all (they died, or stopped following): withdraw the
            // acknowledgement as any waker does, K3–K5, so that it costs no more wake calls.
            wake(word: word, address: address, request: request)
        }
    }
}

/// The coalescing delay a reader may choose (`BufferReader.wakeUpCoalescing`; see ``FutexSleep``).
package enum WakeUpCoalescing {
    /// The longest: one second (a longer one is cut to it).
    package static let longestNanos: Int64 = 1_000_000_000

    /// A delay as a waiter may use it: from 0 to ``longestNanos``.
    package static func clamped(_ nanoseconds: Int64) -> Int64 {
        min(max(nanoseconds, 0), longestNanos)
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
    /// Whether the last wait ended quickly (its spin found the condition, or its sleep was quick).
    var lastWasQuick = true

    package init() {}

    /// Looks up to ``looks`` times; true if `ready()` came to hold (then the next wait spins in
    /// full).
    mutating func spin(until ready: () -> Bool) -> Bool {
        for _ in 0..<looks {
            Sys.cpuRelax()
            if ready() {
                looks = Self.most
                lastWasQuick = true
                return true
            }
        }
        return false
    }

    /// After a wait that slept: quick if it ended within ``quickSleepNanos``, else the next
    /// wait spins half as long. A quick sleep right after another quick wait means a busy peer:
    /// the next wait spins in full. A lone quick sleep among slow ones is the jitter of a slow
    /// stream (two items a timer tick apart after a late one, a writer preempted and catching
    /// up) and changes nothing: restoring the full spin there cost a follower of 1,000 items a
    /// second 4,096 + 2,048 + … + 16 looks each time, 57 looks a wait on average instead of 16
    /// on this host (`Sys.cpuRelax` was 6 % of an events follower's samples). A busy peer
    /// loses nothing: its waits end in the spin, which restores it in full at once, and a run
    /// of quick sleeps does after its second.
    mutating func slept(nanoseconds: Int64) {
        let quick = nanoseconds <= Self.quickSleepNanos
        looks = quick ? (lastWasQuick ? Self.most : looks) : max(Self.least, looks / 2)
        lastWasQuick = quick
    }
}
