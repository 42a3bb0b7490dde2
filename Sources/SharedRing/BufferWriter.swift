// The hot path is inlinable into clients, so the modules its inlined code names are imported
// publicly; they declare nothing public, so clients still see none of them.
public import SharedRingProtocol
public import SharedRingSystem
internal import SharedRingCommon

/// The one writer of a buffer. It holds the buffer's writer lock for as long as it exists;
/// the kernel releases the lock if the process dies, so liveness never depends on a PID.
///
/// `BufferWriter` is non-copyable: "one writer per buffer" is a fact of the type system. Move
/// it where it is needed. Closing it (or letting it go out of scope) leaves the buffer and its
/// items in place, with no writer; ``DataDirectory/takeOver(_:)`` resumes it later.
///
/// ### Items
///
/// An item is `itemSize` bytes. ``push(_:)-(UInt64)`` stores an unsigned integer in those bytes,
/// **little-endian**, and refuses a value that needs more bytes than that (never truncating it).
/// ``push(bytes:)-(UnsafeRawBufferPointer)`` stores raw bytes, zero-padded up to the item size.
///
/// ### Cost
///
/// A push makes no system call, allocation or registry access: a few stores into the shared
/// mapping, and a futex wake only when a reader has said it is sleeping.
public struct BufferWriter: ~Copyable {
    /// The buffer's name.
    public let name: String
    /// Bytes per item.
    public let itemSize: Int
    /// Number of slots.
    public let length: Int
    /// What a push does when the ring is full.
    public let policy: OverflowPolicy
    /// The largest integer an item can hold.
    public let maxValue: UInt64
    /// Why the registry could not record this writer (a full disk, a read-only registry, its
    /// lock held too long), or nil. The writer works all the same: its ring file's header holds
    /// what liveness needs; only the registry's `writer_pid` columns are stale.
    public internal(set) var registryProblem: CBuffError?
    /// When this writer syncs on its own: the buffer's policy, chosen at creation (see
    /// ``SyncPolicy``).
    public let syncPolicy: SyncPolicy

    private let file: RingFile
    /// The syncer thread of policy ``SyncPolicy/interval(_:)``, nil under the others.
    private let syncer: IntervalSyncer?
    @usableFromInline var publisher: RingPublisher
    @usableFromInline var gate: SpaceGate
    /// Raised if another process cut the ring file short under this writer (see `Sys.Mapping`).
    @usableFromInline let cutShort: CutShortFlag

    /// The writer of `file`, whose writer lock this process holds and whose header names it
    /// (``RingFile/attachWriter()``).
    init(name: String, file: consuming RingFile) {
        let layout = file.layout
        self.name = name
        self.itemSize = layout.itemSize
        self.length = layout.length
        self.policy = OverflowPolicy(layout.policy)
        self.maxValue = layout.itemSize >= 8 ? .max : (1 << (8 * UInt64(layout.itemSize))) - 1
        self.publisher = file.publisher()
        self.gate = file.spaceGate()
        self.cutShort = file.cutShort
        let attached = WriterSync(file)
        self.syncPolicy = attached.policy
        self.syncer = attached.syncer
        self.publisher.syncDueAt = attached.firstDue
        self.file = file
    }

    deinit {
        WriterSync.close(file, syncer: syncer, policy: syncPolicy)
        file.detachWriter()
        // Then `file` closes the descriptor, which releases the writer lock.
    }

    /// Closes the writer: the buffer and its items stay, with no live writer. Under a sync
    /// policy other than ``SyncPolicy/none`` it syncs first (a failure is logged as a warning
    /// through the library's logger: call ``sync()`` before closing to have it thrown); under
    /// ``SyncPolicy/interval(_:)`` it stops and joins the syncer thread before that.
    public consuming func close() {}

    /// After a loud publish (see `PublicationCounters.quietBelow`): the sync the policy may ask
    /// for (`RingPublisher.syncIsDue`), after the check for a file cut short, which comes first
    /// as on every push. Tested right after the publish, so that the optimizer folds the test
    /// into the publish's own branch on quietness: a quiet push, policy `none`'s hot path,
    /// pays no instruction for it (tested after the cut-short check, it cost two a push:
    /// `Benchmarks/instructions.sh`).
    @usableFromInline @inline(never)
    mutating func afterLoudPublish() throws(CBuffError) {
        if cutShort.isRaised { throw cutShortError() }
        if publisher.syncIsDue(loud: true) { try syncByPolicy() }
    }

    /// The sync a policy asks for, after a loud publish (see `RingPublisher.syncIsDue`) or a
    /// batch reached the due sequence: the items are published when it runs, and stay so if
    /// it throws. Out of line: it is a system call or two away from the hot path.
    @usableFromInline @inline(never)
    mutating func syncByPolicy() throws(CBuffError) {
        let through = try lifted { () throws(CBuffFailure) in try file.synchronize() }
        publisher.syncDueAt = WriterSync.due(after: through, syncPolicy)
    }

    /// The sequence number the next pushed item will get (= items ever published).
    @inlinable public var nextSequence: UInt64 { publisher.nextSequence }

    /// Items currently held by the ring (at most ``length``).
    public var usage: Int { Int(min(publisher.nextSequence, UInt64(length))) }

    /// How many times this writer stopped waiting for a named reader whose process was gone
    /// (the buffer's tether timeout; see ``DataDirectory/createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)``).
    public var untetheredReaders: Int { gate.untetherings }

    /// Makes every item pushed so far durable: when it returns, a machine crash or power loss
    /// no longer loses them from the disk (unless this writer overwrites them later), and the buffer's
    /// durable sequence (``durableSequence``, `cbuff inspect`) says so. Two system calls
    /// (`fsync` of the ring file, `msync` of its header page): milliseconds on a disk, nothing
    /// on tmpfs (`/dev/shm`), where a machine crash loses the whole file anyway. Returns the
    /// durable sequence: every item below it is on stable storage.
    ///
    /// - Throws: ``CBuffError/Code/systemFailure`` if the kernel could not write the file
    ///   back (EIO, ENOSPC, EDQUOT): what was pushed is then not known to be durable.
    @discardableResult
    public func sync() throws(CBuffError) -> UInt64 {
        try lifted { () throws(CBuffFailure) in try file.synchronize() }
    }

    /// The buffer's durable sequence: every item below it reached stable storage at a
    /// ``sync()`` (0 if no writer ever synced).
    public var durableSequence: UInt64 { file.durable }

    /// The last failure of the syncer thread (policy ``SyncPolicy/interval(_:)``) if it has not
    /// synced successfully since, else nil. It tries again at its next interval (rewriting every
    /// page first); ``sync()`` tries at once and throws what it meets.
    public var syncerFailure: CBuffError? { syncer?.failure.map(CBuffError.init) }

    /// Whether a ``sync()`` failed since one last succeeded (the next rewrites every page first).
    package var syncFailurePending: Bool { file.syncFailurePending }

    /// The path of the ring file.
    public var path: String { file.path }

    /// Whether the buffer was removed under this writer (`cbuff rm --force`, or
    /// ``DataDirectory/removeBuffer(_:force:)``), or removed and created again: its name then
    /// gives another ring file, or none, and what this writer pushes nobody can open. Two system
    /// calls: for a long-running writer's idle moments, not for the hot path.
    ///
    /// - Throws: ``CBuffError/Code/corrupted`` if another process truncated the ring file.
    public func isRemoved() throws(CBuffError) -> Bool {
        try lifted { () throws(CBuffFailure) in try !file.isStillAtItsPath() }
    }

    /// The fields of the buffer's items, if its creator declared them (see ``ItemLayout``).
    public var itemLayout: ItemLayout? { file.layout.itemType.fields.map(ItemLayout.init) }
    /// The name of the items' type, if its creator recorded one (a typed buffer's `Item`).
    public var itemTypeName: String? { file.layout.itemType.name }
    /// The alignment its creator recorded for the items, or nil.
    public var itemAlignment: Int? { file.layout.itemType.alignment }
    /// The ring file's geometry, for the typed faces' checks.
    var layout: RingLayout { file.layout }

    // MARK: Pushing

    /// Pushes an unsigned integer, stored little-endian in ``itemSize`` bytes. When the ring is
    /// full, the oldest item is overwritten (policy ``OverflowPolicy/overwrite``), or the push
    /// waits, without limit, until every named reader has consumed enough
    /// (``OverflowPolicy/block``; see ``push(_:timeout:)`` and ``tryPush(_:)``).
    ///
    /// - Throws: ``CBuffError/Code/valueDoesNotFit`` if `value` needs more than ``itemSize`` bytes.
    @inlinable @inline(__always)
    public mutating func push(_ value: UInt64) throws(CBuffError) {
        _ = try push(value, waitingNanos: -1)
    }

    /// Pushes `value` if there is room now; returns false, pushing nothing, if the ring is full
    /// of items a named reader has not consumed (``OverflowPolicy/block`` only: under
    /// ``OverflowPolicy/overwrite`` there is always room).
    public mutating func tryPush(_ value: UInt64) throws(CBuffError) -> Bool {
        try push(value, waitingNanos: 0)
    }

    /// Pushes `value`, waiting up to `timeout` for room under ``OverflowPolicy/block`` (sleeping,
    /// not spinning, after a short spin). Returns false, pushing nothing, on timeout.
    public mutating func push(_ value: UInt64, timeout: Duration) throws(CBuffError) -> Bool {
        try push(value, waitingNanos: timeout.nanoseconds)
    }

    /// The one push of an integer: check it fits, wait for room (negative: no limit; 0: no
    /// wait), publish it. Returns false, pushing nothing, if no room came in time.
    @inlinable @inline(__always)
    mutating func push(_ value: UInt64, waitingNanos: Int64) throws(CBuffError) -> Bool {
        guard value <= maxValue else { throw doesNotFit(value) }
        guard try makeSpace(timeoutNanos: waitingNanos) else { return false }
        let loud = pushUnchecked(value)
        if loud { try afterLoudPublish() }
        if cutShort.isRaised { throw cutShortError() }
        return true
    }

    /// The error for a push that met a ring file cut short by another process: what it wrote
    /// went to zero pages, not to the buffer (see `Sys.Mapping`). (The check itself is
    /// `cutShort.isRaised`, inline: a method call on `self` here made the optimizer copy the
    /// whole writer on every push.)
    @usableFromInline @inline(never)
    func cutShortError() -> CBuffError {
        CBuffError(.corrupted, "The ring file of buffer \"\(name)\" was truncated by another process while this one was writing it; what was pushed since is lost and nothing more can be pushed.")
    }

    /// Whether the next sequence may be written, after waiting up to `timeoutNanos` (negative:
    /// no limit; 0: no wait). Always true under the overwrite policy, until the end of the
    /// sequence space (`Limits.maxCount`), which throws instead of waiting for room that
    /// cannot come.
    @inlinable
    mutating func makeSpace(timeoutNanos: Int64) throws(CBuffError) -> Bool {
        let sequence = publisher.nextSequence
        if gate.hasKnownSpace(for: sequence) { return true }
        if sequence >= gate.end { throw Self.countsExhausted(name, sequence) }
        if gate.makeRoom(for: sequence, timeoutNanos: timeoutNanos) { return true }
        if let damage = gate.tableDamage { throw Self.tableDamaged(name, damage) }
        return false
    }

    /// The refusal of a push whose gate found the named-reader table contradictory (see
    /// `SpaceGate.tableDamage`): nothing is written on its strength, and nothing waits for it.
    @usableFromInline @inline(never)
    static func tableDamaged(_ name: String, _ damage: String) -> CBuffError {
        CBuffError(.corrupted, "The ring file of buffer \"\(name)\" is damaged: \(damage)")
    }

    /// The refusal of a push at the end of the sequence space (out of line: it never happens
    /// to a buffer whose header was not damaged).
    @usableFromInline @inline(never)
    static func countsExhausted(_ name: String, _ position: UInt64) -> CBuffError {
        CBuffError.countsExhausted(name, at: position)
    }

    /// Pushes any integer that fits: a negative value or one above ``maxValue`` is refused.
    public mutating func push(_ value: some BinaryInteger) throws(CBuffError) {
        guard let unsigned = UInt64(exactly: value) else {
            throw CBuffError(.valueDoesNotFit, "Value \(value) cannot be pushed to buffer \"\(name)\": items are unsigned integers of at most \(itemSize * 8) bits.")
        }
        try push(unsigned)
    }

    /// Pushes several integers, announcing them to readers once per run of at most ``length``
    /// (far cheaper than one push each). Either every value fits and all are pushed, or none is.
    /// Under ``OverflowPolicy/block`` it waits for room as ``push(_:)-(UInt64)`` does, publishing
    /// what fits each time.
    public mutating func push(contentsOf values: UnsafeBufferPointer<UInt64>) throws(CBuffError) {
        if maxValue != .max, let tooLarge = values.first(where: { $0 > maxValue }) { throw doesNotFit(tooLarge) }
        guard let source = values.baseAddress else { return }
        try push(count: values.count) { [slots = publisher.slots, size = itemSize] index, count, offset in
            Self.store(source + offset, count: count, size: size, into: slots, at: index)
        }
        if cutShort.isRaised { throw cutShortError() }
    }

    /// Pushes several integers, announcing them to readers once. Either all are pushed, or none is.
    public mutating func push(contentsOf values: [UInt64]) throws(CBuffError) {
        let outcome: Result<Void, CBuffError> = values.withUnsafeBufferPointer { buffer in
            Result { () throws(CBuffError) in try push(contentsOf: buffer) }
        }
        try outcome.get()
    }

    /// Pushes several integers, announcing them to readers once per run of at most ``length``.
    /// Either all are pushed, or none is. Values go straight from the collection into the ring,
    /// so a computed collection (`first ..< first + 64`, a lazy map) costs no intermediate copy.
    @inlinable
    public mutating func push<Values: Collection<UInt64>>(contentsOf values: Values) throws(CBuffError) {
        if maxValue != .max, let tooLarge = values.first(where: { $0 > maxValue }) { throw doesNotFit(tooLarge) }
        // `next` is copied into a local for each run and back after it: a captured variable
        // lives in memory, and the optimizer must reload it after every store into a slot (raw
        // pointers may alias it). Whenever this closure was not inlined into its caller, that
        // reload behind each slot's store made 64-item batches 3× slower between two processes
        // (`Benchmarks/ab.sh 79b95c5 --only batch64`: 0.33, and 0.96 with the local copy).
        var next = values.startIndex
        try push(count: values.count) { [slots = publisher.slots, size = itemSize] index, count, _ in
            if size == 8 {
                // The common case on its own: consecutive 8-byte stores, one address step each
                // (the general loop below recomputes each slot's address and dispatches on the
                // size for every item; 64-item batches cost 15.2 instructions an item through it,
                // 12.3 through this, `Benchmarks/instructions.sh`).
                let first = slots.payload(index), stride = slots.stride
                var offset = 0, at = next
                for _ in 0..<count {
                    first.storeBytes(of: values[at].littleEndian, toByteOffset: offset, as: UInt64.self)
                    offset &+= stride
                    values.formIndex(after: &at)
                }
                next = at
                return
            }
            var at = next
            for i in 0..<count {
                Self.store(values[at], size: size, at: slots.payload(index &+ i))
                values.formIndex(after: &at)
            }
            next = at
        }
        if cutShort.isRaised { throw cutShortError() }
    }

    /// Pushes the values there is room for within `timeout`, in order, and returns how many
    /// (all of them under ``OverflowPolicy/overwrite``; under ``OverflowPolicy/block``, fewer
    /// when named readers did not consume enough in time). Either every value fits in the item
    /// size and the pushed ones are a prefix of `values`, or none is pushed.
    public mutating func push(contentsOf values: UnsafeBufferPointer<UInt64>, timeout: Duration) throws(CBuffError) -> Int {
        if maxValue != .max, let tooLarge = values.first(where: { $0 > maxValue }) { throw doesNotFit(tooLarge) }
        guard let source = values.baseAddress else { return 0 }
        let pushed = try push(count: values.count, timeoutNanos: timeout.nanoseconds) { [slots = publisher.slots, size = itemSize] index, count, offset in
            Self.store(source + offset, count: count, size: size, into: slots, at: index)
        }
        if cutShort.isRaised { throw cutShortError() }
        return pushed
    }

    /// Publishes up to `total` items in runs of at most ``length``, each as soon as there is
    /// room for it, waiting at most `timeoutNanos` in all (negative: no limit) under
    /// ``OverflowPolicy/block``: `fill(index, count, offset)` writes items `offset ..< offset +
    /// count` of the whole into the consecutive slots from `index`, in order. Returns how many
    /// were published.
    /// Throws, pushing nothing, if the batch would take the counters beyond the end of the
    /// sequence space (`Limits.maxCount`).
    @inlinable @discardableResult
    mutating func push(count total: Int, timeoutNanos: Int64 = -1, _ fill: (_ index: Int, _ count: Int, _ offset: Int) -> Void) throws(CBuffError) -> Int {
        // `nextSequence` never exceeds `gate.end` (checked when the file was opened, kept by
        // every push), so the difference does not wrap.
        guard UInt64(total) <= gate.end &- publisher.nextSequence else { throw Self.countsExhausted(name, publisher.nextSequence) }
        var done = 0
        let deadline = timeoutNanos < 0 ? Int64.max : Sys.monotonicNanos() &+ timeoutNanos
        while done < total {
            let room = gate.room(at: publisher.nextSequence)
            if room == 0 {
                let remaining = deadline == .max ? -1 : max(0, deadline &- Sys.monotonicNanos())
                guard remaining != 0, gate.waitForSpace(for: publisher.nextSequence, timeoutNanos: remaining) else {
                    if let damage = gate.tableDamage { throw Self.tableDamaged(name, damage) }
                    break
                }
                continue
            }
            let count = Int(min(UInt64(total - done), UInt64(length), room))
            publisher.publish(count: count) { index, count, offset in fill(index, count, done &+ offset) }
            done += count
        }
        // One batch, one sync (`eachBatch`), or the count reached (`everyN`): after every run
        // of it is published.
        if done > 0 && publisher.nextSequence >= publisher.syncDueAt { try syncByPolicy() }
        return done
    }

    /// Pushes raw bytes, zero-padded up to ``itemSize``.
    ///
    /// - Throws: ``CBuffError/Code/valueDoesNotFit`` if there are more than ``itemSize`` bytes.
    @inlinable
    public mutating func push(bytes: UnsafeRawBufferPointer) throws(CBuffError) {
        _ = try push(bytes: bytes, waitingNanos: -1)
    }

    /// Pushes raw bytes as ``push(bytes:)-(UnsafeRawBufferPointer)`` does, waiting up to
    /// `timeout` for room under ``OverflowPolicy/block``. Returns false, pushing nothing, on
    /// timeout.
    public mutating func push(bytes: UnsafeRawBufferPointer, timeout: Duration) throws(CBuffError) -> Bool {
        try push(bytes: bytes, waitingNanos: timeout.nanoseconds)
    }

    /// The one push of raw bytes: check they fit, wait for room (negative: no limit; 0: no
    /// wait), publish them. Returns false, pushing nothing, if no room came in time.
    @inlinable
    mutating func push(bytes: UnsafeRawBufferPointer, waitingNanos: Int64) throws(CBuffError) -> Bool {
        guard bytes.count <= itemSize else {
            throw CBuffError(.valueDoesNotFit, "\(bytes.count) bytes cannot be pushed to buffer \"\(name)\", whose items are \(itemSize) bytes.")
        }
        let size = itemSize
        guard try makeSpace(timeoutNanos: waitingNanos) else { return false }
        let loud = publisher.publish { payload in
            if let source = bytes.baseAddress { payload.copyMemory(from: source, byteCount: bytes.count) }
            if bytes.count < size { (payload + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: size - bytes.count) }
        }
        if loud { try afterLoudPublish() }
        if cutShort.isRaised { throw cutShortError() }
        return true
    }

    // MARK: Writing in place

    /// Fills the next slot where it lies and publishes it when `fill` returns: no copy, as
    /// Aeron's `tryClaim` and iceoryx2's `loan` do. Waits for room as ``push(_:)-(UInt64)``
    /// does.
    ///
    /// `fill` receives the slot's ``itemSize`` bytes, which still hold an older item: write
    /// every byte readers will look at. Nothing is visible to readers until `fill` returns, and
    /// a writer killed inside `fill` publishes nothing (readers count that slot as overwritten).
    /// If `fill` throws, nothing is published and its error is rethrown; the slot it may have
    /// half written is treated as overwritten, so in a full ring the oldest item is lost, just
    /// as if the writer had died there.
    ///
    /// ```swift
    /// try writer.pushInPlace { slot in
    ///     slot.storeBytes(of: sequence, toByteOffset: 0, as: UInt64.self)
    ///     render(into: UnsafeMutableRawBufferPointer(rebasing: slot[8...]))
    /// }
    /// ```
    ///
    /// - Throws: what `fill` throws; ``CBuffError/Code/corrupted`` if another process truncated
    ///   the ring file while `fill` ran (what it wrote went to zero pages, not to the buffer).
    @inlinable
    public mutating func pushInPlace(_ fill: (UnsafeMutableRawBufferPointer) throws(CBuffError) -> Void) throws(CBuffError) {
        _ = try pushInPlace(waitingNanos: -1, fill)
    }

    /// Fills and publishes the next slot in place (see ``pushInPlace(_:)``) if there is room
    /// now; returns false, calling nothing, if the ring is full of items a named reader has not
    /// consumed (``OverflowPolicy/block`` only).
    public mutating func tryPushInPlace(_ fill: (UnsafeMutableRawBufferPointer) throws(CBuffError) -> Void) throws(CBuffError) -> Bool {
        try pushInPlace(waitingNanos: 0, fill)
    }

    /// Fills and publishes the next slot in place (see ``pushInPlace(_:)``), waiting up to
    /// `timeout` for room; returns false, calling nothing, on timeout.
    public mutating func pushInPlace(timeout: Duration, _ fill: (UnsafeMutableRawBufferPointer) throws(CBuffError) -> Void) throws(CBuffError) -> Bool {
        try pushInPlace(waitingNanos: timeout.nanoseconds, fill)
    }

    @inlinable
    mutating func pushInPlace(waitingNanos: Int64, _ fill: (UnsafeMutableRawBufferPointer) throws(CBuffError) -> Void) throws(CBuffError) -> Bool {
        guard try makeSpace(timeoutNanos: waitingNanos) else { return false }
        let size = itemSize
        let loud = try publisher.publishInPlace { (payload) throws(CBuffError) in
            try fill(UnsafeMutableRawBufferPointer(start: payload, count: size))
        }
        if loud { try afterLoudPublish() }
        if cutShort.isRaised { throw cutShortError() }
        return true
    }

    /// Pushes raw bytes, zero-padded up to ``itemSize``.
    public mutating func push(bytes: [UInt8]) throws(CBuffError) {
        let outcome: Result<Void, CBuffError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(CBuffError) in try push(bytes: buffer) }
        }
        try outcome.get()
    }

    /// Publishes `value` (it fits, and there is room); returns whether the publish was loud.
    @inlinable @inline(__always)
    mutating func pushUnchecked(_ value: UInt64) -> Bool {
        let size = itemSize
        return publisher.publish { Self.store(value, size: size, at: $0) }
    }

    /// Stores `count` integers into consecutive slots from `index`: one copy when items are
    /// 8 bytes on a little-endian machine, since the slots are then exactly the values' bytes.
    @inlinable
    static func store(_ values: UnsafePointer<UInt64>, count: Int, size: Int, into slots: SlotArray, at index: Int) {
        #if _endian(little)
        if size == 8, slots.stride == 8 {
            slots.payload(index).copyMemory(from: values, byteCount: count &* 8)
            return
        }
        #endif
        for i in 0..<count { store(values[i], size: size, at: slots.payload(index &+ i)) }
    }

    @inlinable @inline(__always)
    static func store(_ value: UInt64, size: Int, at payload: UnsafeMutableRawPointer) {
        if size == 8 {
            payload.storeBytes(of: value.littleEndian, as: UInt64.self)
        } else if size < 8 {
            withUnsafeBytes(of: value.littleEndian) { payload.copyMemory(from: $0.baseAddress!, byteCount: size) }
        } else {
            payload.storeBytes(of: value.littleEndian, as: UInt64.self)
            (payload + 8).initializeMemory(as: UInt8.self, repeating: 0, count: size - 8)
        }
    }

    @usableFromInline
    func doesNotFit(_ value: UInt64) -> CBuffError {
        CBuffError(.valueDoesNotFit, "Value \(value) does not fit in the \(itemSize)-byte items of buffer \"\(name)\" (the largest is \(maxValue)); it was not pushed.")
    }
}

@available(*, unavailable, message: "A BufferWriter is its buffer's only writer: move it, don't share it.")
extension BufferWriter: Sendable {}
