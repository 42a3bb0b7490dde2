internal import Synchronization
package import SharedRingSystem
package import SharedRingCommon

/// How a ring file is made durable (`fsync`, the durable word, `msync` of the header page), by
/// the writer's thread (`sync()`, the policies `eachBatch` and `everyN`) and by its syncer
/// thread (policy `interval`, ``IntervalSyncer``), which may run at the same moment.
///
/// ### Two threads, one durable word
///
/// Every sync of the file runs under one process-private mutex, so syncs of the two threads
/// never overlap; the mutex's lock and unlock order each sync after the last (happens-before).
/// That is what keeps the three rules of a sync true with two syncers:
///
/// - The durable word only grows: a sync stores the sequence it made durable only if it is
///   above the word (the only stores to the word are these, under the mutex; no other process
///   stores it: it is the writer's, and the writer lock admits one writer process).
/// - It never vouches for what is not on stable storage: `through` is loaded (acquire) before
///   the `fsync`, so every store of an item below it happened before the call, and the kernel
///   marked its page dirty at the store (a write fault on a clean page of a shared mapping);
///   `fsync` writes back every page dirty when it starts.
/// - A failed `fsync` poisons the next sync, whichever thread makes it: the flag that says so
///   lives here, read and written under the mutex, and the next sync (of either thread) first
///   dirties every page again (``rewriteEveryPage()``).
///
/// `@unchecked Sendable`: the mapping's address and descriptor outlive every use (the writer
/// stops and joins its syncer before it closes the file), the flag is read and written under
/// the mutex only, and every access to shared memory is atomic or, for the page rewrite, a
/// compare-and-exchange of a value with itself (see ``rewriteEveryPage()``).
package final class FileSync: @unchecked Sendable {
    private let descriptor: CInt
    private let header: HeaderWords
    private let slotsOffset: Int
    private let fileSize: Int
    /// Whether the ring is one of messages (its durable word counts messages, not positions).
    package let countsMessages: Bool
    private let path: String
    /// Whether a sync failed since one last succeeded (under the mutex).
    private let failed = Locked(false)

    package init(descriptor: CInt, header: HeaderWords, slotsOffset: Int, fileSize: Int, countsMessages: Bool, path: String) {
        self.descriptor = descriptor
        self.header = header
        self.slotsOffset = slotsOffset
        self.fileSize = fileSize
        self.countsMessages = countsMessages
        self.path = path
    }

    /// Items or messages published so far (acquire: every store of what is below it happened
    /// before, by the writer's W4 release, whichever thread loads it).
    package var published: UInt64 {
        countsMessages ? header.publishedMessages.pointee.load(ordering: .acquiring)
                       : header.published.pointee.load(ordering: .acquiring)
    }

    /// The durable word.
    package var durable: UInt64 { header.durable.pointee.load(ordering: .acquiring) }

    /// Whether a sync failed since one last succeeded: the next one rewrites every page first.
    package var failurePending: Bool { failed.withLock { $0 } }

    /// Makes everything published so far durable, then records it (see `RingFile.synchronize`
    /// for the order within one sync, and the type's comment for two threads). Returns the
    /// durable sequence.
    package func synchronize() throws(CBuffFailure) -> UInt64 {
        let outcome: Result<UInt64, CBuffFailure> = failed.withLock { failed in
            let through = published
            if failed { rewriteEveryPage() }
            failed = true
            if case .failure(let failure) = Sys.synchronize(descriptor) {
                return .failure(.system(failure, "make the ring file \(path) durable"))
            }
            failed = false
            let word = header.durable
            let before = word.pointee.load(ordering: .relaxed)
            if through > before {
                word.pointee.store(through, ordering: .releasing)                 // after the counts it vouches for (see `snapshot`)
            }
            if case .failure(let failure) = Sys.synchronizeMapped(header.base, count: RingLayout.headerSize) {
                return .failure(.system(failure, "make the header of ring file \(path) durable"))
            }
            return .success(max(through, before))
        }
        return try outcome.get()
    }

    /// Dirties every page of the file again (see `RingFile.synchronize`): a compare-and-exchange
    /// of the first word of each page with the value it holds. Not a plain store of that value:
    /// the syncer thread runs it while the writer's thread may be storing an item in the same
    /// word, and a plain load-then-store would put the older value back over the item. A
    /// compare-and-exchange either finds the value it loaded and writes it back (x86's locked
    /// `cmpxchg` writes in every case), or finds another one, which the writer stored after
    /// the load, hence after the failed sync: that store dirtied the page.
    private func rewriteEveryPage() {
        func touch(_ address: UnsafeMutableRawPointer) {
            let word = address.assumingMemoryBound(to: Atomic<UInt64>.self)
            let value = word.pointee.load(ordering: .relaxed)
            _ = word.pointee.compareExchange(expected: value, desired: value, ordering: .relaxed)
        }
        touch(UnsafeMutableRawPointer(header.durable))
        var offset = slotsOffset
        while offset < fileSize {
            touch(header.base + offset)
            offset += 4096                                                        // the smallest page: every page gets a store
        }
    }
}

/// The syncer thread of a writer whose buffer's policy is `interval(d)`: the one thread cbuff
/// starts for a writer (a reader's `events()` may start another, see `EventWatcher`). It syncs
/// when something was published since its last sync, at most d (plus the sync's own duration
/// and a wake-up's tens of microseconds) after it was published, and does nothing while
/// nothing is published.
///
/// It waits as a reader of the ring does (`FutexSleep`, with the writer's acknowledgement): the
/// writer's publishes already check the ring's request word (W5), so the writer's hot path is
/// unchanged, and a syncer with nothing to do sleeps in the futex until the next publish (in
/// slices of 10 s, the readers' longest). The loop:
///
///     1. sleep in the futex until something beyond `synced` is published (or stop)
///     2. sleep d, without asking to be woken (the stop word cuts it short)
///     3. sync: `synced` = what it made durable; if more was published meanwhile, go to 2, else 1
///
/// So an item published at t is durable by t + d + one sync: at 2 if it woke the syncer (or came
/// during 2), at the next 2 if it came during 3. At most one sync per d, however fast the
/// writer pushes. While it sleeps in the futex it counts among the ring's sleeping readers.
package final class IntervalSyncer: @unchecked Sendable {
    private let sync: FileSync
    private let header: HeaderWords
    private let intervalNanos: Int64
    /// 1 once the writer asked it to stop; also the futex word of step 2's sleep.
    private let stopWord = PrivateFutexWord()
    /// Set once, before ``stop()`` can run (by ``start(_:header:intervalNanos:)``).
    private var thread: Sys.StartedThread?
    /// The last failure of a sync of this thread, until one succeeds (logged once each).
    private let lastFailure = Locked<CBuffFailure?>(nil)

    private init(sync: FileSync, header: HeaderWords, intervalNanos: Int64) {
        self.sync = sync
        self.header = header
        self.intervalNanos = intervalNanos
    }

    /// Starts the syncer of a writer's file, or returns why it could not (`pthread_create`).
    package static func start(_ sync: FileSync, header: HeaderWords, intervalNanos: UInt64) -> Result<IntervalSyncer, SystemCallFailure> {
        let syncer = IntervalSyncer(sync: sync, header: header, intervalNanos: Int64(clamping: intervalNanos))
        switch Sys.startThread({ syncer.run() }) {
        case .success(let thread):
            syncer.thread = thread
            return .success(syncer)
        case .failure(let failure):
            return .failure(failure)
        }
    }

    private var stopping: Bool { stopWord.value != 0 }


    /// The last failed sync of the syncer, if none succeeded since.
    package var failure: CBuffFailure? { lastFailure.withLock { $0 } }

    /// Positions published (the counter W4 stores, before W5 wakes): for a ring of items, the
    /// items published.
    private var positions: UInt64 { header.published.pointee.load(ordering: .acquiring) }

    private func run() {
        var synced = sync.durable
        var syncedPositions = positions
        var budget = SpinBudget()
        var justSynced = false
        while true {
            // 1: as a reader waits for an item (the writer's W5 wakes it). The wake-up protocol
            // guarantees that W4's `published` is seen, not the message count a message writer
            // stores after W5: so a message is "new" when either counter moved past what the
            // last sync saw, and after a sync of a message ring the first wait is bounded by
            // the interval, for a message the sync's count missed although its position was
            // loaded after (a writer between its W5 and its count store then): it is synced at
            // the next round. An idle message writer costs one look an interval after its last
            // sync, then nothing.
            _ = FutexSleep.wait(until: { self.stopping || self.sync.published > synced || self.positions > syncedPositions },
                                word: header.notify, address: header.notifyAddress, request: header.waiters,
                                acknowledged: true, budget: &budget,
                                timeoutNanos: justSynced && sync.countsMessages ? intervalNanos : -1, stop: { self.stopping })
            justSynced = false
            if !stopping && sync.published <= synced && positions <= syncedPositions { continue }   // the bounded look found nothing
            repeat {
                // 2
                let deadline = Sys.monotonicNanos() &+ intervalNanos
                while !stopping {
                    let left = deadline &- Sys.monotonicNanos()
                    if left <= 0 { break }
                    stopWord.wait(whileItIs: 0, timeoutNanos: left)
                }
                if stopping { return }      // the writer's close syncs what is left
                // 3
                do {
                    synced = try sync.synchronize()
                    syncedPositions = positions                                     // loaded after the sync's count (see 1)
                    justSynced = true
                    lastFailure.withLock { $0 = nil }
                } catch {
                    let first = lastFailure.withLock { last in
                        defer { last = error }
                        return last == nil
                    }
                    if first { Diagnostics.warn(.writer, "the interval syncer could not sync: \(error); it tries again (every page rewritten first) in \(intervalNanos / 1_000_000) ms") }
                }
            } while (sync.published > synced || positions > syncedPositions) && !stopping
            if stopping { return }
        }
    }

    /// Stops the thread and waits for it to end (the writer's close, before its own last sync).
    package func stop() {
        stopWord.store(1)
        header.wakeReaders()        // cuts step 1 short (the readers woken look and sleep again)
        if let thread { Sys.join(thread) }
    }
}
