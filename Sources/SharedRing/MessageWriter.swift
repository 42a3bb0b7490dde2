public import SharedRingProtocol
public import SharedRingSystem
internal import SharedRingCommon

/// The writer of a buffer of variable-size messages (0 … ``maxMessageSize`` bytes each), made by
/// ``DataDirectory/createMessageBuffer(_:capacity:maxMessageSize:policy:preciseTime:)`` or
/// ``DataDirectory/takeOverMessages(_:)``.
///
/// Each message gets the next sequence number and its publish time, and is stored in one piece
/// in the ring's data area of ``capacity`` bytes (32 bytes of header with its check word, 24 in a version-3 ring, then its bytes, padded to 8).
/// When the ring is full, the oldest messages are overwritten (``OverflowPolicy/overwrite``), or a
/// push waits until every named reader has consumed enough (``OverflowPolicy/block``). What
/// holds for items holds here: nothing is visible before the push returns, a writer killed in
/// the middle of a message publishes nothing, and a new writer continues the sequence.
///
/// ```swift
/// var logs = try directory.createMessageBuffer("logs", capacity: 1 << 26, maxMessageSize: 1 << 16)
/// try logs.push("service started")
/// try logs.push([0x01, 0x02, 0x03])
/// ```
///
/// A push makes no system call, allocation or registry access; it reads the clock once (the
/// vDSO's `clock_gettime`, not a system call) for the message's time: the coarse clock unless
/// the buffer was created with `preciseTime` (see
/// ``DataDirectory/createMessageBuffer(_:capacity:maxMessageSize:policy:preciseTime:)``).
public struct MessageWriter: ~Copyable {
    /// The buffer's name.
    public let name: String
    /// Bytes of the ring's data area.
    public let capacity: Int
    /// The largest message, in bytes.
    public let maxMessageSize: Int
    /// What a push does when the ring is full.
    public let policy: OverflowPolicy
    /// Whether messages are stamped with the precise clock (see
    /// ``DataDirectory/createMessageBuffer(_:capacity:maxMessageSize:policy:preciseTime:)``).
    public let preciseTime: Bool
    /// Why the registry could not record this writer, or nil (see ``BufferWriter/registryProblem``).
    public internal(set) var registryProblem: CBuffError?
    /// When this writer syncs on its own: the buffer's policy, chosen at creation (see
    /// ``SyncPolicy``; each message is a batch).
    public let syncPolicy: SyncPolicy

    private let file: RingFile
    /// The syncer thread of policy ``SyncPolicy/interval(_:)``, nil under the others.
    private let syncer: IntervalSyncer?
    /// The message sequence at which the policy's next sync is due (`.max`: never; see
    /// `WriterSync`). One comparison after each push: a message ring has no quiet bound to fold
    /// it into (see `PublicationCounters.syncDueAt` for rings of items).
    @usableFromInline var syncDueAt: UInt64
    @usableFromInline var publisher: MessagePublisher
    @usableFromInline var gate: SpaceGate
    @usableFromInline let cutShort: CutShortFlag

    /// The writer of `file`, which this process holds the writer lock of, attached at `state`
    /// (observed under that lock: see `RingFile.observeMessages()`).
    init(name: String, file: consuming RingFile, state: MessageRingState) {
        let geometry = file.layout.messages!
        self.name = name
        capacity = geometry.capacity
        maxMessageSize = geometry.maxMessage
        policy = OverflowPolicy(file.layout.policy)
        preciseTime = file.layout.preciseMessageTime
        publisher = file.messagePublisher(state)
        gate = file.spaceGate()
        cutShort = file.cutShort
        let attached = WriterSync(file)
        syncPolicy = attached.policy
        syncer = attached.syncer
        syncDueAt = attached.firstDue
        self.file = file
    }

    deinit {
        WriterSync.close(file, syncer: syncer, policy: syncPolicy)
        file.detachWriter()
    }

    /// Closes the writer: the buffer and its messages stay, with no live writer. Under a sync
    /// policy other than ``SyncPolicy/none`` it syncs first (see ``BufferWriter/close()``).
    public consuming func close() {}

    /// The sync a policy asks for once a push reached ``syncDueAt``: the message is published
    /// when it runs, and stays so if it throws.
    @usableFromInline @inline(never)
    mutating func syncByPolicy() throws(CBuffError) {
        let through = try lifted { () throws(CBuffFailure) in try file.synchronize() }
        syncDueAt = WriterSync.due(after: through, syncPolicy)
    }

    /// The last failure of the syncer thread, if it has not synced since (see
    /// ``BufferWriter/syncerFailure``).
    public var syncerFailure: CBuffError? { syncer?.failure.map(CBuffError.init) }

    /// Makes every message pushed so far durable: when it returns, a machine crash or power loss
    /// no longer loses them from the disk (unless this writer overwrites them later), and the buffer's
    /// durable sequence (``durableSequence``, `cbuff inspect`) says so. Two system calls
    /// (`fsync` of the ring file, `msync` of its header page): milliseconds on a disk, nothing
    /// on tmpfs (`/dev/shm`), where a machine crash loses the whole file anyway. Returns the
    /// durable sequence: every message below it is on stable storage.
    ///
    /// - Throws: ``CBuffError/Code/systemFailure`` if the kernel could not write the file
    ///   back (EIO, ENOSPC, EDQUOT): what was pushed is then not known to be durable.
    @discardableResult
    public func sync() throws(CBuffError) -> UInt64 {
        try lifted { () throws(CBuffFailure) in try file.synchronize() }
    }

    /// The buffer's durable sequence: every message below it reached stable storage at a
    /// ``sync()`` (0 if no writer ever synced).
    public var durableSequence: UInt64 { file.durable }

    /// Whether a ``sync()`` failed since one last succeeded (the next rewrites every page first).
    package var syncFailurePending: Bool { file.syncFailurePending }

    /// The sequence number the next message gets (= messages ever published).
    @inlinable public var nextSequence: UInt64 { publisher.nextSequence }

    /// How many times this writer stopped waiting for a named reader whose process was gone
    /// (the buffer's tether timeout; see ``DataDirectory/createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)``).
    public var untetheredReaders: Int { gate.untetherings }

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

    // MARK: Pushing

    /// Pushes a message: a copy of `bytes`. Waits for room under ``OverflowPolicy/block``.
    ///
    /// - Throws: ``CBuffError/Code/valueDoesNotFit`` for more than ``maxMessageSize`` bytes.
    @inlinable
    public mutating func push(_ bytes: UnsafeRawBufferPointer) throws(CBuffError) {
        _ = try push(bytes, waitingNanos: -1)
    }

    /// Pushes a message if there is room now; false, pushing nothing, if the ring is full of
    /// messages a named reader has not consumed (``OverflowPolicy/block`` only).
    public mutating func tryPush(_ bytes: UnsafeRawBufferPointer) throws(CBuffError) -> Bool {
        try push(bytes, waitingNanos: 0)
    }

    /// Pushes a message, waiting up to `timeout` for room; false, pushing nothing, on timeout.
    public mutating func push(_ bytes: UnsafeRawBufferPointer, timeout: Duration) throws(CBuffError) -> Bool {
        try push(bytes, waitingNanos: timeout.nanoseconds)
    }

    /// Pushes the bytes of any collection (an array, `Data`, a slice) as one message.
    public mutating func push(_ bytes: some Collection<UInt8>) throws(CBuffError) {
        _ = try push(bytes, waitingNanos: -1)
    }

    /// Pushes the bytes of a collection if there is room now (see ``tryPush(_:)-(UnsafeRawBufferPointer)``).
    public mutating func tryPush(_ bytes: some Collection<UInt8>) throws(CBuffError) -> Bool {
        try push(bytes, waitingNanos: 0)
    }

    /// Pushes the bytes of a collection, waiting up to `timeout` for room; false on timeout.
    public mutating func push(_ bytes: some Collection<UInt8>, timeout: Duration) throws(CBuffError) -> Bool {
        try push(bytes, waitingNanos: timeout.nanoseconds)
    }

    mutating func push(_ bytes: some Collection<UInt8>, waitingNanos: Int64) throws(CBuffError) -> Bool {
        let count = bytes.count
        guard count <= maxMessageSize else { throw Self.tooLong(name, count, maxMessageSize) }
        return try pushInPlace(upTo: count, waitingNanos: waitingNanos) { buffer in
            buffer.copyBytes(from: bytes)
            return count
        }
    }

    /// Pushes a string's UTF-8 bytes as one message (no terminator).
    public mutating func push(_ text: String) throws(CBuffError) {
        var text = text
        let outcome = text.withUTF8 { utf8 in Result { () throws(CBuffError) in try push(UnsafeRawBufferPointer(utf8)) } }
        try outcome.get()
    }

    @inlinable
    mutating func push(_ bytes: UnsafeRawBufferPointer, waitingNanos: Int64) throws(CBuffError) -> Bool {
        let count = bytes.count
        guard count <= maxMessageSize else { throw Self.tooLong(name, count, maxMessageSize) }
        return try pushInPlace(upTo: count, waitingNanos: waitingNanos) { buffer in
            if let source = bytes.baseAddress { buffer.baseAddress!.copyMemory(from: source, byteCount: count) }
            return count
        }
    }

    // MARK: Writing in place

    /// Writes a message of exactly `length` bytes where it lies in the ring and publishes it
    /// when `fill` returns (see ``BufferWriter/pushInPlace(_:)``: nothing is visible before, a
    /// writer killed inside publishes nothing, and if `fill` throws nothing is published).
    ///
    /// - Throws: what `fill` throws; ``CBuffError/Code/valueDoesNotFit`` for a `length` above
    ///   ``maxMessageSize``.
    public mutating func pushInPlace(length: Int, _ fill: (UnsafeMutableRawBufferPointer) throws(CBuffError) -> Void) throws(CBuffError) {
        guard length >= 0, length <= maxMessageSize else { throw Self.tooLong(name, length, maxMessageSize) }
        _ = try pushInPlace(upTo: length, waitingNanos: -1) { (buffer) throws(CBuffError) -> Int in
            try fill(buffer)
            return length
        }
    }

    /// Writes a message of at most `maxLength` bytes where it lies, as Aeron's `tryClaim` does:
    /// `fill` gets `maxLength` bytes of the ring and returns how many it used (a serialiser that
    /// does not know the size beforehand, say); the message is that long.
    ///
    /// - Throws: what `fill` throws; ``CBuffError/Code/valueDoesNotFit`` for a `maxLength`
    ///   above ``maxMessageSize``, or if `fill` returns more than `maxLength` (nothing is
    ///   published then).
    public mutating func pushInPlace(upTo maxLength: Int, _ fill: (UnsafeMutableRawBufferPointer) throws(CBuffError) -> Int) throws(CBuffError) {
        guard maxLength >= 0, maxLength <= maxMessageSize else { throw Self.tooLong(name, maxLength, maxMessageSize) }
        _ = try pushInPlace(upTo: maxLength, waitingNanos: -1) { (buffer) throws(CBuffError) -> Int in
            let used = try fill(buffer)
            guard used >= 0, used <= maxLength else {
                throw CBuffError(.valueDoesNotFit, "A message written in place in \(maxLength) bytes said it used \(used); nothing was published.")
            }
            return used
        }
    }

    /// The one push: wait for room for `reserved` bytes (negative: no limit; 0: no wait), then
    /// publish what `fill` writes. False, calling nothing, if no room came in time.
    ///
    /// - Throws: ``CBuffError/Code/corrupted`` if the ring's counters have reached the most a
    ///   ring file counts, or the records this push would overwrite are damaged (nothing is
    ///   pushed; see `MessageInvariants.swift`).
    @inlinable
    mutating func pushInPlace(upTo reserved: Int, waitingNanos: Int64,
                              _ fill: (UnsafeMutableRawBufferPointer) throws(CBuffError) -> Int) throws(CBuffError) -> Bool {
        let last = publisher.end(ofMessage: reserved) &- 1
        if !gate.hasSpace(for: last) {
            try Self.checkCount(name, last: last, position: publisher.position)
            if let damage = gate.tableDamage { throw BufferWriter.tableDamaged(name, damage) }
            guard waitingNanos != 0, gate.waitForSpace(for: last, timeoutNanos: waitingNanos) else {
                if let damage = gate.tableDamage { throw BufferWriter.tableDamaged(name, damage) }
                return false
            }
        }
        let published = try publisher.publish(reserving: reserved, time: preciseTime ? Sys.realtimeNanos() : Sys.coarseRealtimeNanos()) { (payload) throws(CBuffError) -> Int in
            try fill(UnsafeMutableRawBufferPointer(start: payload, count: reserved))
        }
        guard published else { throw Self.damaged(name, publisher.damage) }
        if cutShort.isRaised { throw Self.cutShortError(name) }
        if publisher.nextSequence >= syncDueAt { try syncByPolicy() }
        return true
    }

    // Static, taking what they need: a method on `self` made the optimizer copy the writer.

    @usableFromInline @inline(never)
    static func tooLong(_ name: String, _ count: Int, _ limit: Int) -> CBuffError {
        CBuffError(.valueDoesNotFit, "A message of \(count) bytes cannot be pushed to buffer \"\(name)\": its messages are at most \(limit) bytes.")
    }

    @usableFromInline @inline(never)
    static func cutShortError(_ name: String) -> CBuffError {
        CBuffError(.corrupted, "The ring file of buffer \"\(name)\" was truncated by another process while this one was writing it; what was pushed since is lost and nothing more can be pushed.")
    }

    @usableFromInline @inline(never)
    static func damaged(_ name: String, _ damage: MessageDamage?) -> CBuffError {
        CBuffError(.corrupted, "The ring file of buffer \"\(name)\" is damaged: \(damage.map { "\($0)" } ?? "a record it would overwrite cannot be accounted for"); nothing was pushed, and nothing will be over what cannot be accounted for. Remove the buffer and create it again.")
    }

    /// Throws if position `last` is beyond the most a ring file counts (see `Limits.maxCount`):
    /// the end of the sequence space, where no room will ever come.
    @usableFromInline @inline(never)
    static func checkCount(_ name: String, last: UInt64, position: UInt64) throws(CBuffError) {
        if last >= Limits.maxCount { throw CBuffError.countsExhausted(name, at: position) }
    }
}
