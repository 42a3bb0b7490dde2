// The hot path is inlinable into clients, so the modules its inlined code names are imported
// publicly; they declare nothing public, so clients still see none of them.
public import SharedRingProtocol
public import SharedRingSystem
internal import SharedRingCommon

/// A reader of a buffer, with its own cursor: every reader sees every item (broadcast), and
/// readers never hold the writer back.
///
/// A reader that falls more than ``length`` items behind is *lapped*: the writer has overwritten
/// items it had not read. It then skips to the oldest item still present and adds what it
/// skipped to ``missedCount``; it never returns a torn or overwritten item.
///
/// Items are decoded as in ``BufferWriter``: unsigned integers, little-endian.
public struct BufferReader: ~Copyable {
    /// The buffer's name.
    public let name: String
    /// Bytes per item.
    public let itemSize: Int
    /// Number of slots.
    public let length: Int
    /// What the writer does when the ring is full.
    public let policy: OverflowPolicy
    /// For a named reader, why the registry's `readers` row could not be written (a full disk,
    /// a read-only registry), or nil. The reader is registered all the same: its record in the
    /// ring file is the truth, and its cursor lives there.
    public internal(set) var registryProblem: CBuffError?

    private let file: RingFile
    @usableFromInline var cursor: RingCursor
    /// For a named reader, its record in the ring file.
    @usableFromInline let record: NamedReaderRecord?
    /// What a read acknowledges into: the named reader's commit, unless ``commitsOnRead`` is
    /// false (or the reader is anonymous). An optional whose test is one comparison, so that the
    /// acknowledgement on every pop costs what it did before explicit commits existed.
    @usableFromInline var acknowledgement: ReaderCommit?
    /// For a named reader, the state word of its record: every read looks at it first, and stops
    /// once a forced removal freed the record (see `ReaderCommit.isRemoved`).
    @usableFromInline let registration: ReaderCommit?
    /// Raised if another process cut the ring file short under this reader (see `Sys.Mapping`).
    @usableFromInline let cutShort: CutShortFlag

    init(name: String, file: consuming RingFile, start: RingCursor.Start, record: NamedReaderRecord? = nil) {
        let layout = file.layout
        self.name = name
        self.itemSize = layout.itemSize
        self.length = layout.length
        self.policy = OverflowPolicy(layout.policy)
        self.cursor = file.cursor(start: start, record: record)
        self.record = record
        self.acknowledgement = record?.commit
        self.registration = record?.commit
        self.cutShort = file.cutShort
        file.warnIfCrashDamageIsUndetectable(bufferName: name)
        self.file = file
    }

    /// Counts `count` items as missed: those a replay asked for that were already gone when it
    /// registered.
    mutating func countAsMissed(_ count: UInt64) {
        cursor.missed &+= count
    }

    deinit {
        acknowledgement?.store(cursor.nextSequence)
    }

    /// Closes the reader; a named reader first commits every item it returned (unless
    /// ``commitsOnRead`` is false: then only what ``commit(upTo:)`` committed stays committed).
    public consuming func close() {}

    /// For a named reader: whether asking for the next item (and closing) commits the items
    /// returned before, as at-least-once delivery usually wants (the default). Set it to false
    /// to commit only explicitly, with ``commit()`` or ``commit(upTo:)``, after the items were
    /// really handled (written out, say): then a failure before that redelivers them. Committing
    /// every few dozen items this way is also the fastest lossless reading: the cursor the
    /// writer's gate looks at changes less often, so fewer of this reader's stores miss (about
    /// 1.1x the transfer rate at every 64 items; see the README's Speed section).
    public var commitsOnRead: Bool {
        get { acknowledgement != nil || record == nil }
        set { acknowledgement = newValue ? record?.commit : nil }
    }

    /// How long a waiting reader may leave an item unnoticed so that several items cost it one
    /// wake-up: zero, the default, wakes a reader waiting in ``wait(timeout:)`` (and
    /// ``pop(timeout:)``, ``events()``) as soon as an item is published, one wake-up per item.
    ///
    /// With a positive delay D, a wait first sleeps up to D without asking the writer to wake
    /// it, and looks then: the items published meanwhile are all there, each at most D late.
    /// Only if none came does it ask to be woken, so an item of a quiet stream still arrives at
    /// once. Following 1,000 items a second with 5 ms costs one wake-up per five items and
    /// spares the writer its wake calls; 10 items a second cost two wake-ups per item (the
    /// timer's, then the writer's), which is nothing. Nothing cuts the first sleep short (a
    /// cancelled ``events()`` ends up to D late). At most one second; `cbuff tail --follow`
    /// uses 5 ms unless told otherwise (`--coalesce`).
    public var wakeUpCoalescing: Duration {
        get { .nanoseconds(cursor.coalescingNanos) }
        set { cursor.coalescingNanos = WakeUpCoalescing.clamped(newValue.nanoseconds) }
    }

    /// The name this reader registered under, or nil for an anonymous reader.
    public var readerName: String? { record?.name }

    /// Whether opening this named reader registered it (false when it resumed an existing
    /// registration, and for anonymous readers): a caller that then fails before doing anything
    /// can remove it again, so that a failed first attempt leaves no reader behind.
    public var isNewlyRegistered: Bool { record?.isNew ?? false }

    /// Records, for a named reader, that every item returned so far was processed: after a
    /// restart it resumes after them. (Without it, a named reader acknowledges an item when it
    /// asks for the next one, and when it closes.) Does nothing for an anonymous reader.
    public func commit() {
        store(cursor: cursor.nextSequence)
    }

    /// For a named reader, commits the items before `sequence` (at most ``nextSequence``):
    /// after a restart it resumes at `sequence`. A sequence below what is committed already, or
    /// beyond what was returned, is refused.
    public func commit(upTo sequence: UInt64) throws(CBuffError) {
        guard let record else { return }
        let committed = record.committed
        guard sequence >= committed, sequence <= cursor.nextSequence else {
            throw CBuffError(.invalidArgument, "Named reader \"\(record.name)\" of buffer \"\(name)\" cannot commit up to \(sequence): it has committed up to \(committed) and returned items up to \(cursor.nextSequence).")
        }
        store(cursor: sequence)
        if wasRemoved { throw Self.removed(name, record.name) }
    }

    @usableFromInline @inline(never)
    static func removed(_ name: String, _ reader: String?) -> CBuffError {
        CBuffError.readerRemoved(name, reader: reader)
    }

    /// Whether a forced removal freed this named reader's record (false for an anonymous one).
    var wasRemoved: Bool {
        registration?.isRemoved ?? false
    }

    /// Stores a named reader's cursor; nothing for an anonymous reader.
    func store(cursor sequence: UInt64) {
        record?.commit.store(sequence)
    }

    /// The sequence number of the next item this reader will return.
    @inlinable public var nextSequence: UInt64 { cursor.nextSequence }

    /// How many items this reader missed because the writer overwrote them first.
    @inlinable public var missedCount: UInt64 { cursor.missed }

    /// Items waiting for this reader (at most ``length``).
    public var usage: Int { cursor.available }

    /// Whether a live process currently holds the writer lock.
    public var writerIsAlive: Bool { (try? file.writerIsAlive()) ?? false }

    /// The fields of the buffer's items, if its creator declared them (see ``ItemLayout``).
    public var itemLayout: ItemLayout? { file.layout.itemType.fields.map(ItemLayout.init) }
    /// The name of the items' type, if its creator recorded one (a typed buffer's `Item`).
    public var itemTypeName: String? { file.layout.itemType.name }
    /// The alignment its creator recorded for the items, or nil.
    public var itemAlignment: Int? { file.layout.itemType.alignment }
    /// The ring file's geometry, for the typed faces' checks.
    var layout: RingLayout { file.layout }

    /// Whether the buffer's slots carry check words (format version 4), so that what
    /// ``missedCount`` counts may include slots found damaged as well as overwritten ones.
    package var slotsCarryCheckWords: Bool { file.layout.checkWordOffset != nil }

    /// Whether the buffer was removed under this reader (``DataDirectory/removeBuffer(_:force:)``,
    /// `cbuff rm`), or removed and created again: its name then gives another ring file, or
    /// none, and this reader reads a file nobody else can open (a writer forcibly removed from
    /// under may still be pushing into it). Two system calls: for a follower's idle moments,
    /// not for the hot path.
    ///
    /// - Throws: ``CBuffError/Code/corrupted`` if another process truncated the ring file.
    public func isRemoved() throws(CBuffError) -> Bool {
        try lifted { () throws(CBuffFailure) in try !file.isStillAtItsPath() }
    }

    /// Whether more items can still arrive: false once the buffer has been removed (its ring
    /// file deleted) and no live writer holds the file any more. (A writer that was forcibly
    /// removed from under goes on pushing into the file it has, and this reader goes on reading
    /// them.) Two system calls: for a follower's idle moments, not for the hot path.
    ///
    /// - Throws: ``CBuffError/Code/corrupted`` if another process truncated the ring file.
    public func canReceiveMore() throws(CBuffError) -> Bool {
        try lifted { () throws(CBuffFailure) in
            if try file.isStillNamed() { return true }
            return try file.writerIsAlive()
        }
    }

    // MARK: Reading

    /// Returns the next item as an integer, or nil if there is none yet.
    ///
    /// - Throws: ``CBuffError/Code/valueDoesNotFit`` for an item of more than 8 bytes whose value
    ///   needs more than 64 bits; the item is then left unread (read it with ``popBytes()``);
    ///   ``CBuffError/Code/corrupted`` if another process truncated the ring file meanwhile.
    @inlinable @inline(__always)
    public mutating func popItem() throws(CBuffError) -> UInt64? {
        let size = itemSize
        // At-least-once delivery for named readers: asking for more means the items returned
        // before are done (acknowledged: a plain store to the reader's own cache line); the
        // items this call returns are acknowledged by the next call, `commit()` or closing. A
        // forced removal of the reader's record makes the pop throw `notFound`. Spelled out
        // over the reader's fields in every pop (see `ReaderCommit.acknowledge`).
        if ReaderCommit.acknowledge(cursor.nextSequence, into: acknowledgement, checking: registration) { throw Self.removed(name, record?.name) }
        #if _endian(little)
        if size == 8 {
            // The common case on its own: one load, nothing that can be too wide to refuse
            // (50 instructions a pop against 57; `acceptIf` is spelled out because the
            // defaulted closure allocated twice a pop in debug builds, which HotPathTests caught).
            let read = cursor.read({ $0.loadUnaligned(as: UInt64.self) }, acceptIf: { _ in true })
            if cutShort.isRaised { throw cutShortError() }
            return read
        }
        #endif
        let read = cursor.read({ Self.loadInteger(from: $0, size: size) }, acceptIf: { !$0.1 })
        if cutShort.isRaised { throw cutShortError() }
        guard let (value, wide) = read else { return nil }
        if wide {
            throw wideItemError()
        }
        return value
    }

    /// Returns up to `maxCount` items, oldest first; fewer (possibly none) if fewer are waiting
    /// (never more than ``length`` in one call).
    public mutating func popMany(_ maxCount: Int) throws(CBuffError) -> [UInt64] {
        guard maxCount > 0 else { return [] }
        var items = [UInt64](repeating: 0, count: min(maxCount, length))
        let outcome: Result<Int, CBuffError> = items.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(CBuffError) in try popMany(into: buffer) }
        }
        items.removeLast(items.count - (try outcome.get()))
        return items
    }

    /// Copies up to `destination.count` items into `destination`, oldest first, without
    /// allocating; returns how many. A named reader acknowledges the batch with the next call.
    ///
    /// - Throws: ``CBuffError/Code/valueDoesNotFit`` if the first item is an integer wider than
    ///   64 bits (a later one ends the batch before it instead).
    public mutating func popMany(into destination: UnsafeMutableBufferPointer<UInt64>) throws(CBuffError) -> Int {
        if ReaderCommit.acknowledge(cursor.nextSequence, into: acknowledgement, checking: registration) { throw Self.removed(name, record?.name) }
        let size = itemSize
        guard size > 8 else {
            // Every item fits: copy the batch at once, checked once (see `RingCursor.read(upTo:)`).
            guard let target = destination.baseAddress else { return 0 }
            let count = cursor.read(upTo: destination.count) { [slots = cursor.slots] index, count, offset in
                Self.load(count: count, size: size, from: slots, at: index, into: target + offset)
            }
            if cutShort.isRaised { throw cutShortError() }
            return count
        }
        var count = 0
        while count < destination.count,
              let (value, wide) = cursor.read({ Self.loadInteger(from: $0, size: size) }, acceptIf: { !$0.1 }) {
            if wide {
                if count > 0 { break }
                throw wideItemError()
            }
            destination[count] = value
            count += 1
        }
        if cutShort.isRaised { throw cutShortError() }
        return count
    }

    /// Loads `count` integers of at most 8 bytes from consecutive slots from `index`: one copy
    /// when items are 8 bytes on a little-endian machine.
    @inlinable
    static func load(count: Int, size: Int, from slots: SlotArray, at index: Int, into target: UnsafeMutablePointer<UInt64>) {
        #if _endian(little)
        if size == 8, slots.stride == 8 {
            UnsafeMutableRawPointer(target).copyMemory(from: slots.payload(index), byteCount: count &* 8)
            return
        }
        #endif
        for i in 0..<count { target[i] = loadInteger(from: slots.payload(index &+ i), size: size).0 }
    }

    /// Waits up to `timeout` for the next item, sleeping (not spinning) once a short spin finds
    /// nothing; returns nil if none arrived in time.
    public mutating func pop(timeout: Duration) throws(CBuffError) -> UInt64? {
        if let item = try popItem() { return item }
        guard wait(timeout: timeout) else { return nil }
        return try popItem()
    }

    /// Waits up to `timeout` until an item can be read. Returns false on timeout.
    ///
    /// A reader of a read-only data directory has its ring mapped read-only: it cannot announce
    /// itself to the writer as a sleeper (a store), so it looks again after each short sleep
    /// instead (0.1 ms doubling up to 20 ms: a new item is seen at most that late).
    public mutating func wait(timeout: Duration) -> Bool {
        guard file.isWritable else {
            let ready = Sys.poll(timeoutNanos: timeout.nanoseconds) { () -> Bool in cursor.available > 0 || wasRemoved }
            return ready && (cursor.available > 0 || wasRemoved)
        }
        // A named reader removed under it (see `ReaderCommit.isRemoved`) ends its wait as an
        // item would: its next read throws. The remover wakes sleepers; a wait missing that
        // wake-up sees the removal after its current slice of sleep (at most 50 ms).
        guard let registration else { return cursor.wait(timeoutNanos: timeout.nanoseconds) }
        return cursor.wait(timeoutNanos: timeout.nanoseconds, orUntil: { registration.isRemoved })
    }

    /// What another thread waits on for this reader's next item (its event sequence's watcher).
    var watch: RingWatch {
        RingWatch(file: file, registration: registration, coalescingNanos: cursor.coalescingNanos)
    }

    /// Returns the next item's ``itemSize`` bytes, or nil if there is none yet.
    public mutating func popBytes() throws(CBuffError) -> [UInt8]? {
        try withNextItem { [UInt8]($0) }
    }

    /// Calls `body` with the next item's ``itemSize`` bytes where they lie in the ring, without
    /// copying them, and returns its result; nil if there is no item yet. (``popBytes()`` and
    /// ``pop(into:)`` are this with a copy as `body`.)
    ///
    /// `body` must only read the bytes and compute from them, and must not keep the pointer. For
    /// a named reader under ``OverflowPolicy/block`` the bytes cannot change while it runs. For
    /// any other reader the writer may lap it meanwhile and overwrite the slot: the result is
    /// then thrown away, the loss counted in ``missedCount``, and `body` called again on the
    /// oldest item still present. So `body` may see bytes that are being changed, and an item
    /// that is then not returned; whatever it returns was computed from an intact item.
    @inlinable
    public mutating func withNextItem<Result>(_ body: (UnsafeRawBufferPointer) -> Result) throws(CBuffError) -> Result? {
        let size = itemSize
        if ReaderCommit.acknowledge(cursor.nextSequence, into: acknowledgement, checking: registration) { throw Self.removed(name, record?.name) }
        let result = cursor.read { body(UnsafeRawBufferPointer(start: $0, count: size)) }
        if cutShort.isRaised { throw cutShortError() }
        return result
    }

    /// Copies the next item's bytes into `destination` (at least ``itemSize`` bytes) without
    /// allocating. Returns false if there is no item yet.
    @inlinable
    public mutating func pop(into destination: UnsafeMutableRawBufferPointer) throws(CBuffError) -> Bool {
        guard destination.count >= itemSize, let target = destination.baseAddress else {
            throw CBuffError(.invalidArgument, "The destination holds \(destination.count) bytes; items of buffer \"\(name)\" need \(itemSize).")
        }
        return try withNextItem { target.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } != nil
    }

    /// The error for an item too wide to return as an integer (out of line, like the other error
    /// messages, so that the pops it comes from stay small).
    @usableFromInline @inline(never)
    func wideItemError() -> CBuffError {
        CBuffError(.valueDoesNotFit, "Item \(cursor.nextSequence) of buffer \"\(name)\" holds an integer wider than 64 bits; read it as bytes.")
    }

    /// The error for a read that met a ring file cut short by another process: what it copied
    /// came from zero pages, not from the buffer (see `Sys.Mapping`). (The check itself is
    /// `cutShort.isRaised`, inline: a method call on `self` here made the optimizer copy the
    /// whole reader, 280 bytes, on every pop.)
    @usableFromInline @inline(never)
    func cutShortError() -> CBuffError {
        CBuffError(.corrupted, "The ring file of buffer \"\(name)\" was truncated by another process while this one was reading it; nothing more can be read from it.")
    }

    /// Decodes a little-endian unsigned integer; `wide` says bytes beyond the eighth are not all zero.
    @inlinable @inline(__always)
    static func loadInteger(from payload: UnsafeRawPointer, size: Int) -> (UInt64, Bool) {
        if size == 8 { return (UInt64(littleEndian: payload.load(as: UInt64.self)), false) }
        return loadOddSizedInteger(from: payload, size: size)
    }

    /// `loadInteger` for items other than 8 bytes, out of line so that the 8-byte pop stays small.
    @usableFromInline @inline(never)
    static func loadOddSizedInteger(from payload: UnsafeRawPointer, size: Int) -> (UInt64, Bool) {
        if size < 8 {
            var value: UInt64 = 0
            withUnsafeMutableBytes(of: &value) { $0.baseAddress!.copyMemory(from: payload, byteCount: size) }
            return (UInt64(littleEndian: value), false)
        }
        var wide = false
        for i in 8..<size where payload.load(fromByteOffset: i, as: UInt8.self) != 0 { wide = true; break }
        return (UInt64(littleEndian: payload.load(as: UInt64.self)), wide)
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to 0 below and to Int64.max above.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole.addingReportingOverflow(attoseconds / 1_000_000_000).overflow ? .max : whole + attoseconds / 1_000_000_000
    }
}
