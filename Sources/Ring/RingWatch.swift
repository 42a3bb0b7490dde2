internal import Synchronization
package import SharedRingSystem

/// What a thread other than the reader's own waits on to learn that a reader may have
/// something new to read: the ring's `published` word moved, the named reader was removed, or
/// the mapping was cut short. It never touches the reader's cursor, which stays the reader's
/// (a reader's event sequence waits this way on a thread of its own while the task that owns
/// the reader drains what came: see `EventWatcher` in the SharedRing module).
///
/// A marker is `published` as the reader saw it before it looked for an item and found none:
/// every publish after that look stores a different value (W4 of `Publication.swift`, for
/// both kinds of ring: a count of items, or a position in the message area; both only grow,
/// and 2^64 publishes do not happen). `published` is the progress word (K1) of `FutexSleep`'s
/// argument, so a wait on "published differs from the marker" loses no wake-up for the same
/// reason a reader's own wait loses none: the predicate reads K1's word, after S2/S3 or
/// under the acknowledged fast path alike.
///
/// `@unchecked Sendable`: it holds addresses in a ring's mapping, which its owner keeps mapped
/// until every thread that waits on it has returned (the event sequence joins its thread
/// before the reader it owns is closed), and it only loads from them, or wakes readers as any
/// reader's wake-up does.
package struct RingWatch: @unchecked Sendable {
    let header: HeaderWords
    /// False for a ring mapped read-only: nothing may be stored to it, so the wait polls.
    let isWritable: Bool
    /// A named reader's registration: its removal is news (the next read throws).
    let registration: ReaderCommit?
    let cutShort: CutShortFlag
    /// The reader's coalescing delay (`FutexSleep`, C1), taken when the watch was made: the
    /// waiter sleeps it first (on a word of its own, so that it can be cut short), then waits.
    package let coalescingNanos: Int64

    package init(header: HeaderWords, isWritable: Bool, registration: ReaderCommit?, cutShort: CutShortFlag, coalescingNanos: Int64) {
        self.header = header
        self.isWritable = isWritable
        self.registration = registration
        self.cutShort = cutShort
        self.coalescingNanos = coalescingNanos
    }

    /// The ring's `published` word now (acquire: what the reader then finds missing was
    /// published after it).
    package var marker: UInt64 {
        header.published.pointee.load(ordering: .acquiring)
    }

    /// Whether anything happened since `marker` that a reader must look at.
    package func hasNews(since marker: UInt64) -> Bool {
        self.marker != marker || (registration?.isRemoved ?? false) || cutShort.isRaised
    }

    /// Waits until ``hasNews(since:)``, at most `timeoutNanos`, sleeping on the ring's futex
    /// word as a reader does (see `FutexSleep`: the same requests, the same barrier-free fast
    /// path after the first wake-up), but without its coalescing sleep, which nothing could cut
    /// short: the waiter sleeps ``coalescingNanos`` first itself, where it can be woken. A watch
    /// of a read-only mapping polls instead (see `BufferReader.wait(timeout:)`). Returns false on
    /// timeout, or early once `stop()` says so (``wakeUp()`` makes it look).
    package func wait(forNewsSince marker: UInt64, timeoutNanos: Int64, budget: inout SpinBudget, stop: () -> Bool) -> Bool {
        // `stop()` is asked with the news, not only after a wake-up: a stop stored before
        // ``wakeUp()``'s bump of the futex word (K4) is seen by a sleeper that read the bump (S1,
        // acquire) before it sleeps, and one that read an older value is woken (S5).
        guard isWritable else {
            return Sys.poll(timeoutNanos: timeoutNanos) { () -> Bool in hasNews(since: marker) || stop() } && hasNews(since: marker)
        }
        return FutexSleep.wait(until: { hasNews(since: marker) || stop() }, word: header.notify, address: header.notifyAddress,
                               request: header.waiters, acknowledged: true, budget: &budget,
                               timeoutNanos: timeoutNanos, stop: stop) && hasNews(since: marker)
    }

    /// Ends a ``wait(forNewsSince:timeoutNanos:budget:stop:)`` on another thread promptly, once
    /// its `stop()` says so: wakes every reader of the ring, as cancelling a reader's wait
    /// always did; each looks again and sleeps on.
    package func wakeUp() {
        if isWritable { header.wakeReaders() }
    }
}
