import Synchronization
internal import SharedRingProtocol
internal import SharedRingSystem

/// What a reader's asynchronous sequence delivers: an item, or the news that items were lost.
public enum BufferEvent: Sendable, Hashable {
    /// The item of sequence `sequence`, as an integer.
    case item(sequence: UInt64, value: UInt64)
    /// `count` items were overwritten before this reader got to them (``OverflowPolicy/overwrite``
    /// only). Delivered in order, just before the first item after the gap, so that a caller
    /// iterating the sequence has to handle it.
    case missed(count: UInt64)
}

extension BufferReader {
    /// The reader as an `AsyncSequence` of ``BufferEvent``s: `for try await event in reader.events()`.
    ///
    /// While the buffer is empty a thread of the sequence's own sleeps on the buffer's futex
    /// (the task is suspended, holding no Swift concurrency thread), and cancelling the task
    /// resumes it at once: the sequence then throws `CancellationError`. A waiting sequence
    /// wakes for nothing else: it costs no CPU while nothing happens, however many wait. The
    /// thread is joined when the sequence is released. A named reader acknowledges each item
    /// when the next one is requested, as with ``popItem()``. The sequence ends once the buffer
    /// has been removed and no writer can push into it any more (see
    /// ``BufferReader/canReceiveMore()``): at once after a removal by cbuff
    /// (``DataDirectory/removeBuffer(_:force:)``, `cbuff rm`, Python's `remove`) or the writer's
    /// close, within 10 s of what nobody announces (a plain `unlink`, a writer killed after a
    /// forced removal).
    ///
    /// ## Following a stream cheaply: iterate on the sequence's own thread
    ///
    /// An item wakes the sequence's thread (the writer's wake-up). A task that iterates on that
    /// thread, `Task(executorPreference: events.executor)`, pays nothing more, as a reader
    /// waiting in ``pop(timeout:)`` does: the cheapest way to follow a stream. A task anywhere
    /// else (`Task { for try await … }` on the global executor, or on an actor) must then be
    /// woken on its own executor's thread, which that thread does for every item: two thread
    /// wake-ups per item, about twice the CPU (following 1,000 items a second on a loaded
    /// 2-core host: 3.3–5.5 % of a core, against 1.8–2.1 % on the sequence's thread and
    /// 1.1–1.3 % in `pop(timeout:)`). No design avoids it: the item arrives on a thread that
    /// sleeps on the ring, which a Swift concurrency thread must never do. If a few
    /// milliseconds of latency are acceptable, ``wakeUpCoalescing`` divides either cost by the
    /// items a batch holds (5 ms at 1,000 items a second: 0.54–0.63 % on the sequence's thread).
    ///
    /// ```swift
    /// let events = try directory.openReader("ticks", named: "billing").events()
    /// let following = Task(executorPreference: events.executor) {   // on the sequence's thread
    ///     for try await event in events {
    ///         switch event {
    ///         case .item(let sequence, let value): handle(sequence, value)
    ///         case .missed(let count): log("lost \(count) items")
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// The body runs on that thread between its waits: work that blocks it (a long computation,
    /// a blocking call) delays the items that come meanwhile, as it would in a `pop` loop.
    public consuming func events() -> BufferEvents {
        BufferEvents(box: ReaderBox(self) { (reader: inout BufferReader) throws(CBuffError) in
            try reader.popItem().map { (reader.nextSequence - 1, $0) }
        })
    }
}

/// The asynchronous sequence of a reader's events (see ``BufferReader/events()``). Iterate it
/// once, from one task.
public struct BufferEvents: AsyncSequence {
    /// An item, or the news that items were lost.
    public typealias Element = BufferEvent

    let box: ReaderBox<BufferReader, UInt64>

    /// The iterator (make one, once).
    public func makeAsyncIterator() -> Iterator {
        Iterator(box: box)
    }

    /// The thread this sequence waits on, as an executor: a task that iterates the sequence
    /// with it as its preference, `Task(executorPreference: events.executor) { for try await
    /// event in events { … } }`, costs one thread wake-up per item instead of two (the least a
    /// follower of a slow stream can cost: see ``BufferReader/events()``).
    public var executor: any TaskExecutor { box.executor }

    /// Delivers the reader's events, waiting for each.
    public struct Iterator: AsyncIteratorProtocol {
        let box: ReaderBox<BufferReader, UInt64>

        /// The next event, waiting for it; nil once no item can arrive any more (the buffer was
        /// removed and its writer is gone).
        ///
        /// - Throws: `CancellationError` when the task is cancelled; a ``CBuffError`` when the
        ///   ring file was damaged.
        public mutating func next() async throws -> BufferEvent? {
            switch try await box.next() {
            case .item(let sequence, let value)?: .item(sequence: sequence, value: value)
            case .missed(let count)?: .missed(count: count)
            case nil: nil
            }
        }
    }
}

@available(*, unavailable, message: "Iterate a reader's events from one task.")
extension BufferEvents: Sendable {}

/// What a ``ReaderBox`` delivers: an item of type `Value`, or a gap.
enum ReaderEvent<Value> {
    case item(UInt64, Value)
    case missed(UInt64)
}

/// What a ``ReaderBox`` needs of a reader: its gap count, what another thread may wait on for
/// its next item, and whether items can still arrive.
protocol EventSource: ~Copyable, SendableMetatype {
    var missedCount: UInt64 { get }
    var watch: RingWatch { get }
    func canReceiveMore() throws(CBuffError) -> Bool
}

extension BufferReader: EventSource {}

/// Owns the reader behind a `BufferEvents`, `TypedBufferEvents` or `MessageEvents`, and takes
/// its next item with `decode` (an integer, a typed item, a message), with its sequence.
///
/// The reader is used only by the task iterating the sequence (one at a time: the sequences
/// are not `Sendable`); while it waits, an ``EventWatcher`` waits for it on a thread of its own.
final class ReaderBox<Reader: EventSource & ~Copyable, Value>: @unchecked Sendable {
    private var reader: Reader
    private let decode: (inout Reader) throws(CBuffError) -> (UInt64, Value)?
    private var reportedMissed: UInt64
    private var pending: ReaderEvent<Value>?
    private let watcher: EventWatcher

    init(_ reader: consuming Reader, decode: @escaping (inout Reader) throws(CBuffError) -> (UInt64, Value)?) {
        reportedMissed = reader.missedCount
        watcher = EventWatcher(reader.watch)
        self.decode = decode
        self.reader = reader
    }

    deinit {
        // Before the reader unmaps its ring (stored properties go after this body).
        watcher.stop()
    }

    /// The watcher's thread as an executor (see ``EventWatcher``).
    var executor: any TaskExecutor { watcher }

    /// The next event, waiting for it; nil once no item can arrive any more.
    func next() async throws -> ReaderEvent<Value>? {
        while true {
            try Task.checkCancellation()
            // Read before looking: an item this look misses was published after it.
            let marker = watcher.watch.marker
            if let event = try nextEvent() { return event }
            switch try await watcher.news(since: marker) {
            case .news: continue
            case .fileChanged: if try !reader.canReceiveMore() { return try nextEvent() }
            case .cancelled: throw CancellationError()
            }
        }
    }

    /// The next event if one is ready: a gap first, then the item that followed it.
    private func nextEvent() throws(CBuffError) -> ReaderEvent<Value>? {
        if let event = pending {
            pending = nil
            return event
        }
        guard let (sequence, value) = try decode(&reader) else { return nil }
        let item = ReaderEvent.item(sequence, value)
        let missed = reader.missedCount
        guard missed > reportedMissed else { return item }
        defer { reportedMissed = missed }
        pending = item
        return .missed(missed - reportedMissed)
    }
}

enum ReaderBoxTiming {
    /// How long a watch that found nothing goes before the watcher looks at the file itself:
    /// the bound on noticing what nobody announces (a plain `unlink` by a stranger, a writer
    /// killed after a forced removal, a file cut short by another process). A removal by
    /// cbuff (`removeBuffer`, `cbuff rm`, Python's `remove`) and a writer's close wake the
    /// watcher, which looks then (see ``EventWatcher``, "Nothing periodic"). A look is one
    /// `fstat`, on the watcher's thread; the task hears of it only when the file is gone.
    static let removalCheckInterval: Duration = .seconds(10)
    /// The longest single sleep of an ``EventWatcher`` with nothing to watch (it is woken when
    /// there is, under the lock that decided it: no wake-up is lost): only a bound.
    static let idleSliceNanos: Int64 = removalCheckInterval.nanoseconds
}

/// Waits for a reader's news on a thread of its own, for the task that iterates the reader's
/// events, so that the task never blocks a Swift concurrency thread; and is a `TaskExecutor`
/// on that thread, for a task that wants each item to cost one thread wake-up.
///
/// # One hand-over per wake-up, and the thread runs ahead
///
/// Following a slow stream, every hand-over between threads is a context switch, which is what
/// a follower costs (a futex wake-up is tens of microseconds on a loaded host). A wait handed
/// to a Dispatch worker cost three per item: waking the worker, the writer waking it, and the
/// worker resuming the task. The watcher keeps its thread for the sequence's life and waits on
/// the ring *ahead* of the task: after it resumes the task, it goes straight back to waiting
/// for the next publish (on the `published` value it saw), so the task that finds nothing
/// more parks its continuation without waking anyone, and the next item costs the writer's
/// wake-up of the watcher and the watcher's resumption of the task: two. A coalescing reader
/// (`wakeUpCoalescing`) pays them once per batch.
///
/// # One, when the task runs on the watcher's thread
///
/// A task started with the watcher as its executor preference (`Task(executorPreference:
/// events.executor)`) runs its jobs here, between the watcher's waits: the watcher resumes the
/// parked continuation, the resumed job is enqueued on this same thread (no wake-up), runs the
/// task's loop body until it parks again, and the watcher goes back to the ring. The writer's
/// wake-up is then the only one per item, as for a reader that waits in `pop(timeout:)`. A job
/// enqueued from another thread (a timer, another actor's answer) wakes the watcher: from its
/// sleep on `demand`, or from the ring with a wake-up of the ring's readers (each looks again
/// and sleeps on). Once the sequence is released, jobs still enqueued here go to the global
/// concurrent executor, so a task that outlives the sequence goes on running.
///
/// # Never waking for a busy task
///
/// News that comes while the task is not parked (it is draining, or doing something else)
/// is kept (`pending`) and the watcher stops watching: it sleeps on its own futex word
/// (`demand`) until the task parks, so a busy consumer of a fast stream costs the writer no
/// wake-up calls and the watcher no CPU. A task that parks with news pending takes it at once
/// if the ring moved past the task's marker, else parks. Whoever gives the watcher something
/// to do (a park, a job, the stop) wakes it if it sleeps on `demand`: the watcher's decision
/// to sleep and the other's change both happen under the lock, and the watcher reads `demand`
/// there, so the bump after the lock either comes before the watcher's `futex_wait` (which then
/// returns at once) or wakes it. A watcher on the ring is ended by a job or the stop through
/// its `stop` predicate, stored before the ring's wake-up (see ``RingWatch``).
///
/// # No wake-up lost, none spurious for long
///
/// The task reads the marker (`published`, acquire) before it looks for an item, and parks
/// on it: anything it missed was published after, so `published` differs (see ``RingWatch``).
/// The watcher watches the parked task's marker; running ahead, its own (older) one, and when
/// that fires for items the task already took, it sees no news since the task's marker and
/// watches that instead of resuming the task for nothing.
///
/// # Nothing periodic
///
/// A watcher whose task waits and whose ring is quiet sleeps on the ring until something
/// happens (`FutexSleep`'s long slices: no wake-up can be lost, so none is needed) and costs
/// nothing, however many sequences wait. What does not move `published` is announced with a
/// wake of the ring's readers: a writer that closes (after storing `closed`), a removal (after
/// unlinking the file), a named reader's removal, another sequence's stop. A watch therefore
/// also ends when the ring's futex word moved (``RingWatch/Outcome/woken``), and the watcher
/// then looks at the file (``RingWatch/isStillNamed()``: one `fstat`); the task hears of it
/// (`.fileChanged`, and checks ``BufferReader/canReceiveMore()``) only if the file is gone or
/// cut short. Each watch reads the futex word before that look and waits on "moved from it"
/// (see ``RingWatch``), and looks first unless its previous watch ended with news while the
/// header records an attached writer: a writer's close, and a removal after it, then moved the
/// word after the value the watch read, or stored `closed` before it. So an announced end is
/// seen at once; one nobody announces at the end of ``ReaderBoxTiming/removalCheckInterval``
/// without news, when the watcher looks by itself (and the same deadline, per marker, holds
/// however often other wake-ups cut the watch short). A file found gone is reported to the
/// task once; after that only a wake-up or the deadline reports it again (a writer still alive
/// in a removed file keeps the sequence going, and its close or death is what ends it).
///
/// # Lifetime
///
/// The thread starts when first needed and is joined when the sequence is released (its box
/// calls ``stop()`` first thing in its `deinit`, before the reader it owns unmaps the ring: a
/// class's stored properties are destroyed after its `deinit` body), after a stop and a
/// wake-up, which end every sleep of the watcher at once: the ring wait (its `stop` predicate),
/// the sleep on `demand`, and the reader's coalescing sleep, which the watcher sleeps on
/// `demand` for that reason (`FutexSleep`'s own C1 is a plain sleep nothing cuts short, which
/// held a release, and every job of this executor, for up to the delay). Only a job running on
/// the thread at that moment (another task's, on this executor) makes the release wait for it.
/// Released on the watcher's own thread (by a task running here), the thread is detached
/// instead and ends when the job that released it returns. A job enqueued from another thread
/// wakes a watcher on the ring under the lock: after it, `stop()` may have unmapped the ring.
final class EventWatcher: TaskExecutor, @unchecked Sendable {
    /// What a parked task is resumed with.
    enum Signal {
        /// The ring moved on (or the named reader was removed, or the file cut short): look.
        case news
        /// The ring file lost its name or was cut short: see whether items can still come.
        case fileChanged
        /// The task was cancelled.
        case cancelled
    }

    private struct State {
        /// The task's continuation while it waits, and the marker it waits on. Unsafe (no
        /// allocation per park, which a checked one makes): each is resumed exactly once, by
        /// whoever takes it out of here under the lock (the watcher, the cancellation handler).
        var parked: UnsafeContinuation<Signal, Never>?
        var marker: UInt64 = 0
        /// News the task has not taken (it was not parked when it came).
        var pending = false
        var cancelled = false
        var stopping = false
        /// Jobs of tasks that run on this executor, in order.
        var jobs: [UnownedJob] = []
        /// The watcher sleeps on `demand` (or is about to): whoever gives it work wakes it.
        var watcherAsleep = false
        /// The watcher sleeps its coalescing delay on `demand`: a job or the stop wakes it, a
        /// task that parks does not (that sleep is what batches the task's items).
        var watcherCoalescing = false
        /// The watcher waits on the ring (or is about to): a job ends that wait.
        var watcherOnRing = false
        var thread: Sys.StartedThread?
    }

    let watch: RingWatch
    private let state = Mutex(State())
    /// Set when the watcher must stop waiting on the ring: the sequence was released, or a job came.
    private let interrupted = Atomic<Bool>(false)
    /// The futex word the watcher sleeps on while it has nothing to watch.
    private let demand = PrivateFutexWord()

    init(_ watch: RingWatch) {
        self.watch = watch
    }

    /// Ends the thread and waits for it: the owner of the mapping calls this before unmapping.
    func stop() {
        let thread = state.withLock { state in
            state.stopping = true
            defer { state.thread = nil }
            return state.thread
        }
        guard let thread else { return }
        interrupted.store(true, ordering: .releasing)
        wakeWatcher()
        watch.wakeUp()
        Sys.join(thread)
    }

    /// Waits until the ring has news since `marker` (the task's look found nothing after it),
    /// until its file is found removed or cut short, or until the task is cancelled.
    ///
    /// - Throws: a ``CBuffError`` if the watcher's thread cannot be started.
    func news(since marker: UInt64) async throws -> Signal {
        try startIfNeeded()
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Signal, Never>) in
                let (signal, wake) = state.withLock { state -> (Signal?, Bool) in
                    if state.cancelled { return (.cancelled, false) }
                    if state.pending {
                        state.pending = false
                        if watch.hasNews(since: marker) { return (.news, false) }
                    }
                    state.parked = continuation
                    state.marker = marker
                    defer { state.watcherAsleep = false }
                    return (nil, state.watcherAsleep)
                }
                if let signal { continuation.resume(returning: signal) }
                if wake { wakeWatcher() }
            }
        } onCancel: {
            let parked = state.withLock { state in
                state.cancelled = true
                defer { state.parked = nil }
                return state.parked
            }
            parked?.resume(returning: .cancelled)
        }
    }

    /// Runs `job` on the watcher's thread, between its waits (see above).
    func enqueue(_ job: UnownedJob) {
        enum Route { case here(wakeFromDemand: Bool), elsewhere }
        let route = state.withLock { state -> Route in
            guard !state.stopping, state.thread != nil || (try? start(&state)) != nil else { return .elsewhere }
            state.jobs.append(job)
            let isWatcher = state.thread?.isCurrent ?? false
            if state.watcherOnRing && !isWatcher {
                // Under the lock: the ring stays mapped until `stop()`, which sets `stopping`
                // under it first; after the lock, the owner may have unmapped it.
                interrupted.store(true, ordering: .releasing)
                watch.wakeUp()
            }
            defer { state.watcherAsleep = false; state.watcherCoalescing = false }
            return .here(wakeFromDemand: (state.watcherAsleep || state.watcherCoalescing) && !isWatcher)
        }
        switch route {
        case .elsewhere: globalConcurrentExecutor.enqueue(job)
        case .here(let fromDemand): if fromDemand { wakeWatcher() }
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        enqueue(UnownedJob(job))
    }

    private func startIfNeeded() throws(CBuffError) {
        try state.withLock { state throws(CBuffError) in
            if state.thread == nil && !state.stopping { try start(&state) }
        }
    }

    /// Starts the thread (under the lock). It holds the watcher until it ends.
    private func start(_ state: inout State) throws(CBuffError) {
        switch Sys.startThread({ self.run() }) {
        case .success(let thread): state.thread = thread
        case .failure(let failure):
            throw CBuffError(.systemFailure, "cannot start the thread that waits for a reader's next item (\(failure)).", cause: failure)
        }
    }

    private func wakeWatcher() {
        demand.bump()
    }

    /// What the watcher does next, decided under the lock.
    private enum Step {
        case stop(leftover: [UnownedJob])
        case run([UnownedJob])
        /// The reader's coalescing sleep before it watches `marker` (C1 of `FutexSleep`, on
        /// `demand`, so that a job or the stop cuts it short).
        case coalesce(before: UInt64, demand: UInt32)
        case watch(since: UInt64)
        case sleep(demand: UInt32)
    }

    /// The watcher's thread: runs jobs, watches for the parked task or ahead of it, or sleeps
    /// until there is something to do.
    ///
    /// The removal check's bound is a deadline per marker, not a timeout per wait: jobs and
    /// wake-ups that cut the ring wait short (a task on this executor awaiting a timer, other
    /// sequences stopping) do not put it off.
    private func run() {
        var budget = SpinBudget()
        var ahead: UInt64?                                  // the marker to watch ahead of the task; nil: sleep until it parks
        var coalesced: UInt64?                              // the marker the coalescing sleep was last slept for
        var removalCheck: (marker: UInt64, deadline: Int64)?  // when watching a marker without news ends in a look at the file
        var previous: RingWatch.Outcome?                    // how the last watch ended (nil: none yet)
        var reportedGone = false                            // the task was told that the file is gone
        let interval = ReaderBoxTiming.removalCheckInterval.nanoseconds
        while true {
            let step = state.withLock { state -> Step in
                if state.stopping {
                    defer { state.jobs = [] }
                    return .stop(leftover: state.jobs)
                }
                if !state.jobs.isEmpty {
                    defer { state.jobs = [] }
                    return .run(state.jobs)
                }
                let target = state.parked != nil ? state.marker : state.pending ? nil : ahead
                guard let target else {
                    state.watcherAsleep = true
                    return .sleep(demand: demand.value)
                }
                if watch.coalescingNanos > 0, coalesced != target, !watch.hasNews(since: target) {
                    state.watcherCoalescing = true
                    return .coalesce(before: target, demand: demand.value)
                }
                interrupted.store(false, ordering: .relaxed)
                state.watcherOnRing = true
                return .watch(since: target)
            }
            switch step {
            case .stop(let leftover):
                for job in leftover { globalConcurrentExecutor.enqueue(job) }
                return
            case .run(let jobs):
                for job in jobs { job.runSynchronously(on: asUnownedTaskExecutor()) }
            case .sleep(let seen):
                demand.wait(whileItIs: seen, timeoutNanos: ReaderBoxTiming.idleSliceNanos)
                state.withLock { $0.watcherAsleep = false }
            case .coalesce(let marker, let seen):
                // Not on the ring, so the writer makes no wake call for it (see `FutexSleep`, C1).
                demand.wait(whileItIs: seen, timeoutNanos: watch.coalescingNanos)
                state.withLock { $0.watcherCoalescing = false }
                coalesced = marker
            case .watch(let marker):
                let now = Sys.monotonicNanos()
                if removalCheck?.marker != marker { removalCheck = (marker, now &+ interval) }
                // The futex word before the look (see "Nothing periodic" above).
                let seen = watch.wakeWord
                let looksFirst = !reportedGone && (previous != .news || !watch.recordsAnAttachedWriter)
                var gone = looksFirst && !watch.isStillNamed()
                let outcome = gone ? .woken : watch.wait(forNewsSince: marker, orMoveOf: seen,
                                                          timeoutNanos: max(0, (removalCheck?.deadline ?? now) &- now),
                                                          budget: &budget, stop: { interrupted.load(ordering: .acquiring) })
                let deadlinePassed = outcome == .ended && !interrupted.load(ordering: .acquiring)
                if outcome == .woken || deadlinePassed { gone = gone || !watch.isStillNamed() }
                if deadlinePassed { removalCheck = nil }    // looked: the next watch has a deadline of its own
                previous = outcome
                ahead = watch.marker
                let resumed = state.withLock { state -> (UnsafeContinuation<Signal, Never>, Signal)? in
                    state.watcherOnRing = false
                    guard let parked = state.parked else {
                        // The task is busy: keep the news for it and stop watching until it parks.
                        // (A file found gone is found again by the first watch after it parks.)
                        if outcome == .news || gone { state.pending = true }
                        return nil
                    }
                    if outcome == .news {
                        // News the task already took (it parked after it, on a newer marker): watch on.
                        if !watch.hasNews(since: state.marker) { return nil }
                        state.parked = nil
                        return (parked, .news)
                    }
                    // A job or the stop ended the wait, or a wake-up or the deadline found the
                    // file as it was: watch on.
                    guard gone else { return nil }
                    state.parked = nil
                    return (parked, .fileChanged)
                }
                if let (parked, signal) = resumed {
                    if signal == .fileChanged { reportedGone = true }
                    parked.resume(returning: signal)
                }
            }
        }
    }
}

/// What a typed reader's asynchronous sequence delivers: an item, or the news that items were lost.
public enum TypedBufferEvent<Item: BitwiseCopyable> {
    /// The item of sequence `sequence`.
    case item(sequence: UInt64, value: Item)
    /// `count` items were overwritten before this reader got to them; delivered just before the
    /// first item after the gap.
    case missed(count: UInt64)
}

extension TypedBufferEvent: Sendable where Item: Sendable {}

extension TypedBufferReader {
    /// The reader as an `AsyncSequence` of ``TypedBufferEvent``s, with everything
    /// ``BufferReader/events()`` does: sleeping while the buffer is empty, prompt on
    /// cancellation, ending once the buffer is gone for good. Iterate it in
    /// `Task(executorPreference: events.executor)` to follow a stream cheaply (one thread
    /// wake-up per item instead of two: see ``BufferReader/events()``).
    public consuming func events() -> TypedBufferEvents<Item> {
        TypedBufferEvents(box: ReaderBox(reader) { (reader: inout BufferReader) throws(CBuffError) in
            try Self.pop(from: &reader).map { (reader.nextSequence - 1, $0) }
        })
    }
}

/// The asynchronous sequence of a typed reader's events (see ``TypedBufferReader/events()``).
/// Iterate it once, from one task.
public struct TypedBufferEvents<Item: BitwiseCopyable>: AsyncSequence {
    /// An item, or the news that items were lost.
    public typealias Element = TypedBufferEvent<Item>

    let box: ReaderBox<BufferReader, Item>

    /// The iterator (make one, once).
    public func makeAsyncIterator() -> Iterator {
        Iterator(box: box)
    }

    /// The thread this sequence waits on, as an executor (see ``BufferEvents/executor``).
    public var executor: any TaskExecutor { box.executor }

    /// Delivers the reader's events, waiting for each.
    public struct Iterator: AsyncIteratorProtocol {
        let box: ReaderBox<BufferReader, Item>

        /// The next event, waiting for it; nil once no item can arrive any more.
        ///
        /// - Throws: `CancellationError` when the task is cancelled; a ``CBuffError`` when the
        ///   ring file was damaged.
        public mutating func next() async throws -> TypedBufferEvent<Item>? {
            switch try await box.next() {
            case .item(let sequence, let value)?: .item(sequence: sequence, value: value)
            case .missed(let count)?: .missed(count: count)
            case nil: nil
            }
        }
    }
}

@available(*, unavailable, message: "Iterate a reader's events from one task.")
extension TypedBufferEvents: Sendable {}
