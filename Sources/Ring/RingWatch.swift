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
/// # Being told, instead of looking every so often
///
/// Some news does not move `published`: the buffer was removed, or its writer closed. Whoever
/// does that wakes every sleeper of the ring (K3–K5 of `FutexSleep`: the futex word `notify`
/// changes, then the wake), after the fact: a closing writer after storing `closed`
/// (`markClosed`), a removal after unlinking the file (`DataDirectory.removeBuffer`, `cbuff rm`,
/// the Python package's `remove`). So a wait may also end when `notify` moved from the value
/// the waiter read before it last looked at the file (``Outcome/woken``), and the waiter then
/// looks (``isStillNamed()``): read `notify`, then look, then wait on "moved from that value".
/// A removal that unlinked before the look is seen by it; one after it bumps `notify` after
/// the value was read, which ends the wait (the futex value the sleep compares is `notify`
/// itself). What nobody announces (a plain `unlink` by a stranger, a writer killed after a
/// forced removal, a file cut short by another process) is found by the waiter's own look at
/// the end of its longest wait (`EventWatcher`'s removal check, 10 s).
///
/// `@unchecked Sendable`: it holds addresses in a ring's mapping and the ring's descriptor,
/// which their owner keeps mapped and open until every thread that waits on them has returned
/// (the event sequence joins its thread before the reader it owns is closed), and it only
/// loads from them, `fstat`s the descriptor, or wakes readers as any reader's wake-up does.
package struct RingWatch: @unchecked Sendable {
    let header: HeaderWords
    /// False for a ring mapped read-only: nothing may be stored to it, so the wait polls.
    let isWritable: Bool
    /// A named reader's registration: its removal is news (the next read throws).
    let registration: ReaderCommit?
    let cutShort: CutShortFlag
    /// The ring file's descriptor and full size, for ``isStillNamed()``.
    let descriptor: CInt
    let fileSize: Int
    /// The reader's coalescing delay (`FutexSleep`, C1), taken when the watch was made: the
    /// waiter sleeps it first (on a word of its own, so that it can be cut short), then waits.
    package let coalescingNanos: Int64

    package init(file: borrowing RingFile, registration: ReaderCommit?, coalescingNanos: Int64) {
        header = file.header
        isWritable = file.isWritable
        self.registration = registration
        cutShort = file.cutShort
        descriptor = file.descriptor
        fileSize = file.layout.fileSize
        self.coalescingNanos = coalescingNanos
    }

    /// The ring's `published` word now (acquire: what the reader then finds missing was
    /// published after it).
    package var marker: UInt64 {
        header.published.pointee.load(ordering: .acquiring)
    }

    /// The readers' futex word `notify` now (acquire: a removal or close announced by the bump
    /// it read happened before whatever the caller looks at next).
    package var wakeWord: UInt32 {
        header.notify.pointee.load(ordering: .acquiring)
    }

    /// Whether the header records an attached writer (acquire, after ``wakeWord``): false once
    /// a writer closed (it stores `closed` before it wakes the readers) or none ever attached.
    package var recordsAnAttachedWriter: Bool {
        header.writerState.pointee.load(ordering: .acquiring) == RecordedWriterState.attached.rawValue
    }

    /// Whether anything happened since `marker` that a reader must look at.
    package func hasNews(since marker: UInt64) -> Bool {
        self.marker != marker || (registration?.isRemoved ?? false) || cutShort.isRaised
    }

    /// Whether the ring file still has a name and its whole size (one `fstat`): false once it
    /// was removed, or cut short by another process, or cannot be looked at; the reader's own
    /// `canReceiveMore()` then says what it means (a live writer may still push into a removed
    /// file; a short file is `corrupted`).
    package func isStillNamed() -> Bool {
        guard case .success(let status) = Sys.fileStatus(descriptor) else { return false }
        return status.links > 0 && status.size >= fileSize && !cutShort.isRaised
    }

    /// How a ``wait(forNewsSince:orMoveOf:timeoutNanos:budget:stop:)`` ended.
    package enum Outcome: Equatable {
        /// ``hasNews(since:)``.
        case news
        /// No news, but `notify` moved: someone woke the ring's readers (a writer closing, a
        /// removal, another reader's wait cut short): look at the file.
        case woken
        /// The timeout passed, or `stop()` said so.
        case ended
    }

    /// Waits until ``hasNews(since:)``, or `notify` differs from `seen` (read before the caller
    /// last looked at the file), at most `timeoutNanos`, sleeping on the ring's futex word as a
    /// reader does (see `FutexSleep`: the same requests, the same barrier-free fast path after
    /// the first wake-up), but without its coalescing sleep, which nothing could cut short: the
    /// waiter sleeps ``coalescingNanos`` first itself, where it can be woken. A watch of a
    /// read-only mapping polls instead (see `BufferReader.wait(timeout:)`). Ends early once
    /// `stop()` says so (``wakeUp()`` makes it look).
    package func wait(forNewsSince marker: UInt64, orMoveOf seen: UInt32, timeoutNanos: Int64, budget: inout SpinBudget, stop: () -> Bool) -> Outcome {
        // `stop()` is asked with the news, not only after a wake-up: a stop stored before
        // ``wakeUp()``'s bump of the futex word (K4) is seen by a sleeper that read the bump (S1,
        // acquire) before it sleeps, and one that read an older value is woken (S5).
        let ready = { hasNews(since: marker) || stop() || wakeWord != seen }
        if isWritable {
            _ = FutexSleep.wait(until: ready, word: header.notify, address: header.notifyAddress,
                                request: header.waiters, acknowledged: true, budget: &budget,
                                timeoutNanos: timeoutNanos, stop: stop)
        } else {
            _ = Sys.poll(timeoutNanos: timeoutNanos, ready)
        }
        if hasNews(since: marker) { return .news }
        return !stop() && wakeWord != seen ? .woken : .ended
    }

    /// Ends a ``wait(forNewsSince:orMoveOf:timeoutNanos:budget:stop:)`` on another thread
    /// promptly, once its `stop()` says so: wakes every reader of the ring, as cancelling a
    /// reader's wait always did; each looks again and sleeps on.
    package func wakeUp() {
        if isWritable { header.wakeReaders() }
    }
}
