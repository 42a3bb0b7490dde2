internal import SharedRingProtocol
internal import SharedRingSystem
internal import SharedRingCommon

/// The writer of a buffer of typed items: each item is one `Item`, a fixed-size trivially
/// copyable value (a struct of numbers, say), stored in its slot as its bytes (native byte
/// order: little-endian on every machine cbuff runs on). ``BufferWriter`` with `UInt64` is the
/// case of 8-byte integers.
///
/// ```swift
/// struct Tick: BitwiseCopyable { var time: UInt64; var price: Double; var qty: UInt32 }
/// var ticks = try directory.createBuffer("ticks", of: Tick.self, length: 4096)
/// try ticks.push(Tick(time: 1, price: 2.5, qty: 3))
/// ```
///
/// The buffer's item size is `MemoryLayout<Item>.stride` (24 for `Tick`: C's `sizeof`). Opening
/// it as a type of another stride, alignment or name (or other declared fields) is a
/// ``CBuffError/Code/typeMismatch`` error naming both.
/// The buffer records the type's alignment and name (ring file format version 3), and its fields
/// for a ``DescribedItem``; its slots are aligned for the type (up to 4096 bytes).
public struct TypedBufferWriter<Item: BitwiseCopyable>: ~Copyable {
    @usableFromInline var writer: BufferWriter

    /// The typed face of `writer`, whose items must be `Item`'s stride: checked here, the one
    /// place every typed writer comes through, since a store of more bytes than a slot holds
    /// would write into the next one.
    init(_ writer: consuming BufferWriter) throws(CBuffError) {
        try lifted { () throws(CBuffFailure) in try DataDirectory.checkType(Item.self, buffer: writer.name, layout: writer.layout) }
        self.writer = writer
    }

    /// The buffer's name.
    public var name: String { writer.name }
    /// Number of slots.
    public var length: Int { writer.length }
    /// What a push does when the ring is full.
    public var policy: OverflowPolicy { writer.policy }
    /// The sequence number the next pushed item will get.
    public var nextSequence: UInt64 { writer.nextSequence }
    /// Why the registry could not record this writer, or nil (see ``BufferWriter/registryProblem``).
    public var registryProblem: CBuffError? { writer.registryProblem }
    /// Makes every item pushed so far durable (see ``BufferWriter/sync()``).
    @discardableResult
    public func sync() throws(CBuffError) -> UInt64 { try writer.sync() }
    /// Every item below it reached stable storage at a sync (see ``BufferWriter/durableSequence``).
    public var durableSequence: UInt64 { writer.durableSequence }
    /// When this writer syncs on its own (see ``BufferWriter/syncPolicy``).
    public var syncPolicy: SyncPolicy { writer.syncPolicy }

    /// Pushes `item`, written straight into its slot (padding bytes zeroed). Waits for room
    /// under ``OverflowPolicy/block`` as ``BufferWriter/push(_:)-(UInt64)`` does.
    @inlinable
    public mutating func push(_ item: Item) throws(CBuffError) {
        _ = try writer.pushInPlace(waitingNanos: -1) { Self.store(item, into: $0) }
    }

    /// Pushes `item` if there is room now; false, pushing nothing, if the ring is full of items a
    /// named reader has not consumed (``OverflowPolicy/block`` only).
    public mutating func tryPush(_ item: Item) throws(CBuffError) -> Bool {
        try writer.pushInPlace(waitingNanos: 0) { Self.store(item, into: $0) }
    }

    /// Pushes `item`, waiting up to `timeout` for room; false, pushing nothing, on timeout.
    public mutating func push(_ item: Item, timeout: Duration) throws(CBuffError) -> Bool {
        try writer.pushInPlace(waitingNanos: timeout.nanoseconds) { Self.store(item, into: $0) }
    }

    /// Pushes every item of `items`, in order, announcing them to readers once per run of at
    /// most ``length``.
    public mutating func push(contentsOf items: UnsafeBufferPointer<Item>) throws(CBuffError) {
        guard let source = items.baseAddress else { return }
        let stride = MemoryLayout<Item>.stride
        try writer.push(count: items.count) { [slots = writer.publisher.slots] index, count, offset in
            if slots.stride == stride {
                slots.payload(index).copyMemory(from: source + offset, byteCount: count &* stride)
            } else {
                for i in 0..<count { Self.store(source[offset &+ i], into: UnsafeMutableRawBufferPointer(start: slots.payload(index &+ i), count: stride)) }
            }
        }
        if writer.cutShort.isRaised { throw writer.cutShortError() }
    }

    /// Writes the next item where it lies (see ``BufferWriter/pushInPlace(_:)``): for an item
    /// built field by field, with no copy.
    public mutating func pushInPlace(_ fill: (UnsafeMutableRawBufferPointer) throws(CBuffError) -> Void) throws(CBuffError) {
        try writer.pushInPlace(fill)
    }

    /// Closes the writer: the buffer and its items stay, with no live writer.
    public consuming func close() {}

    /// Stores `item`'s bytes, and zeroes the padding after them up to the stride.
    @inlinable @inline(__always)
    static func store(_ item: Item, into slot: UnsafeMutableRawBufferPointer) {
        slot.baseAddress!.storeBytes(of: item, as: Item.self)
        let size = MemoryLayout<Item>.size, stride = MemoryLayout<Item>.stride
        if size < stride { (slot.baseAddress! + size).initializeMemory(as: UInt8.self, repeating: 0, count: stride &- size) }
    }
}

/// A reader of a buffer of typed items (see ``TypedBufferWriter``), with its own cursor.
///
/// A pop copies the item's bytes out of the ring, checks that the writer did not overwrite them
/// meanwhile, and only then makes an `Item` of them: a value is never built from torn bytes, so
/// a `Bool` or an enum field always holds one of its values.
public struct TypedBufferReader<Item: BitwiseCopyable>: ~Copyable {
    @usableFromInline var reader: BufferReader

    /// The typed face of `reader`, whose items must be `Item`'s stride: checked here, the one
    /// place every typed reader comes through, since a copy of more bytes than a slot holds
    /// would read past it (past the end of the mapping, for the last slot).
    init(_ reader: consuming BufferReader) throws(CBuffError) {
        try lifted { () throws(CBuffFailure) in try DataDirectory.checkType(Item.self, buffer: reader.name, layout: reader.layout) }
        self.reader = reader
    }

    /// How long a waiting reader may leave an item unnoticed so that several items cost it one
    /// wake-up: see ``BufferReader/wakeUpCoalescing``.
    public var wakeUpCoalescing: Duration {
        get { reader.wakeUpCoalescing }
        set { reader.wakeUpCoalescing = newValue }
    }

    /// The buffer's name.
    public var name: String { reader.name }
    /// Number of slots.
    public var length: Int { reader.length }
    /// The sequence number of the next item this reader will return.
    public var nextSequence: UInt64 { reader.nextSequence }
    /// How many items this reader missed because the writer overwrote them first.
    public var missedCount: UInt64 { reader.missedCount }
    /// Items waiting for this reader (at most ``length``).
    public var usage: Int { reader.usage }

    /// The next item, or nil if there is none yet.
    @inlinable
    public mutating func pop() throws(CBuffError) -> Item? {
        try Self.pop(from: &reader)
    }

    /// A typed pop from an untyped reader of this type's items.
    @inlinable
    static func pop(from reader: inout BufferReader) throws(CBuffError) -> Item? {
        try withUnsafeTemporaryAllocation(byteCount: MemoryLayout<Item>.stride, alignment: MemoryLayout<Item>.alignment) { (copy) throws(CBuffError) -> Item? in
            let copied: Void? = try reader.withNextItem { item in
                copy.baseAddress!.copyMemory(from: item.baseAddress!, byteCount: MemoryLayout<Item>.size)
            }
            // Built only now, from bytes the check accepted.
            return copied == nil ? nil : copy.baseAddress!.load(as: Item.self)
        }
    }

    /// Waits up to `timeout` for the next item; nil if none arrived in time.
    public mutating func pop(timeout: Duration) throws(CBuffError) -> Item? {
        if let item = try pop() { return item }
        guard reader.wait(timeout: timeout) else { return nil }
        return try pop()
    }

    /// Copies up to `destination.count` items into `destination`, oldest first, without
    /// allocating, and returns how many. Only the first (returned) count hold items: a copy the
    /// writer overwrote meanwhile is discarded and copied again before it counts.
    public mutating func popMany(into destination: UnsafeMutableBufferPointer<Item>) throws(CBuffError) -> Int {
        guard let target = destination.baseAddress else { return 0 }
        if ReaderCommit.acknowledge(reader.cursor.nextSequence, into: reader.acknowledgement, checking: reader.registration) {
            throw BufferReader.removed(reader.name, reader.readerName)
        }
        let stride = MemoryLayout<Item>.stride, size = MemoryLayout<Item>.size
        let raw = UnsafeMutableRawPointer(target)
        let count = reader.cursor.read(upTo: destination.count) { [slots = reader.cursor.slots] index, count, offset in
            if slots.stride == stride {
                (raw + offset &* stride).copyMemory(from: slots.payload(index), byteCount: count &* stride)
            } else {
                for i in 0..<count { (raw + (offset &+ i) &* stride).copyMemory(from: slots.payload(index &+ i), byteCount: size) }
            }
        }
        if reader.cutShort.isRaised { throw reader.cutShortError() }
        return count
    }

    /// Waits up to `timeout` until an item can be read; false on timeout.
    public mutating func wait(timeout: Duration) -> Bool {
        reader.wait(timeout: timeout)
    }

    /// For a named reader, records that every item returned so far was processed.
    public func commit() {
        reader.commit()
    }

    /// Closes the reader (a named reader first commits what it returned).
    public consuming func close() {}
}

@available(*, unavailable, message: "A TypedBufferWriter is its buffer's only writer: move it, don't share it.")
extension TypedBufferWriter: Sendable {}
