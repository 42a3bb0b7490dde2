internal import SharedRingCommon
internal import SharedRingProtocol
internal import SharedRingRegistry

// Buffers of typed items: `TypedBufferWriter` and `TypedBufferReader` over the same buffers,
// whose item size is the type's stride, and buffers whose items have declared fields.
extension DataDirectory {
    /// Creates a buffer of `Item`s and returns its writer. The buffer records the item's size
    /// (`MemoryLayout<Item>.stride`), alignment and type name (ring file format version 3, and
    /// 4 with the check word every slot carries: see ``ItemIntegrity``) and, for a
    /// ``DescribedItem``, its fields; its slots are aligned for `Item`.
    ///
    /// - Throws: as ``createBuffer(_:itemSize:length:policy:)``; ``CBuffError/Code/invalidArgument``
    ///   for a ``DescribedItem`` whose declared fields do not describe it, or a type name longer
    ///   than 60 bytes.
    public func createBuffer<Item: BitwiseCopyable>(
        _ name: String, of type: Item.Type, length: Int, policy: OverflowPolicy = .overwrite
    ) throws(CBuffError) -> TypedBufferWriter<Item> {
        let itemType = try lifted { () throws(CBuffFailure) in try ItemType.of(Item.self) }
        return try TypedBufferWriter(try createBuffer(name, itemSize: MemoryLayout<Item>.stride, length: length,
                                                      policy: policy, itemType: itemType))
    }

    /// Creates a buffer whose items have the fields of `layout` (item size ``ItemLayout/size``),
    /// for programs that handle them as bytes or fields rather than as a Swift type: the CLI's
    /// `cbuff create --fields`, say.
    public func createBuffer(
        _ name: String, layout: ItemLayout, length: Int, policy: OverflowPolicy = .overwrite
    ) throws(CBuffError) -> BufferWriter {
        try createBuffer(name, layout: layout, length: length, policy: policy, tetherTimeout: .zero)
    }

    /// Creates a buffer whose items have the fields of `layout`, with a tether timeout and a
    /// sync policy (see ``createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)``).
    public func createBuffer(
        _ name: String, layout: ItemLayout, length: Int, policy: OverflowPolicy, tetherTimeout: Duration, sync: SyncPolicy = .none,
        integrity: ItemIntegrity = .automatic
    ) throws(CBuffError) -> BufferWriter {
        let (itemType, tether, syncing) = try lifted { () throws(CBuffFailure) in
            (try ItemType(alignment: layout.alignment, name: nil, fields: layout.storage), try Self.tetherNanos(tetherTimeout), try sync.recorded())
        }
        return try createBuffer(name, itemSize: layout.size, length: length, policy: policy, itemType: itemType, tetherNanos: tether,
                                syncPolicy: syncing, integrity: integrity)
    }

    /// Creates a buffer of `Item`s with a tether timeout and a sync policy (see
    /// ``createBuffer(_:of:length:policy:)`` and ``createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)``).
    public func createBuffer<Item: BitwiseCopyable>(
        _ name: String, of type: Item.Type, length: Int, policy: OverflowPolicy, tetherTimeout: Duration, sync: SyncPolicy = .none,
        integrity: ItemIntegrity = .automatic
    ) throws(CBuffError) -> TypedBufferWriter<Item> {
        let (itemType, tether, syncing) = try lifted { () throws(CBuffFailure) in
            (try ItemType.of(Item.self), try Self.tetherNanos(tetherTimeout), try sync.recorded())
        }
        return try TypedBufferWriter(try createBuffer(name, itemSize: MemoryLayout<Item>.stride, length: length,
                                                      policy: policy, itemType: itemType, tetherNanos: tether, syncPolicy: syncing,
                                                      integrity: integrity))
    }

    /// Takes over buffer `name` as a writer of `Item`s (see ``takeOver(_:)``), after checking
    /// that its items are `Item`s (see ``openReader(_:of:start:)``), so that a mismatch attaches
    /// nothing (and leaves a crashed buffer looking crashed). The typed writer checks again what
    /// it got, for a buffer removed and re-created in between.
    ///
    /// - Throws: as ``takeOver(_:)``; ``CBuffError/Code/typeMismatch`` naming both types.
    public func takeOver<Item: BitwiseCopyable>(_ name: String, of type: Item.Type) throws(CBuffError) -> TypedBufferWriter<Item> {
        try lifted { () throws(CBuffFailure) in try checkRecordedType(Item.self, of: lookUp(name).row) }
        return try TypedBufferWriter(try takeOver(name))
    }

    /// Opens a reader of buffer `name` as `Item`s (see ``openReader(_:start:)``).
    ///
    /// The buffer's items must be `Item`'s stride, and its slots aligned for `Item`; when the
    /// buffer recorded more (format version 3), its alignment and type name must be `Item`'s,
    /// and, when both it and a ``DescribedItem`` declare fields, the same fields.
    ///
    /// - Throws: as ``openReader(_:start:)``; ``CBuffError/Code/typeMismatch`` naming both types.
    public func openReader<Item: BitwiseCopyable>(_ name: String, of type: Item.Type, start: ReadStart = .oldest) throws(CBuffError) -> TypedBufferReader<Item> {
        try lifted { () throws(CBuffFailure) in try checkRecordedType(Item.self, of: lookUp(name).row) }
        return try TypedBufferReader(try openReader(name, start: start))
    }

    /// Opens the named reader `readerName` of buffer `name` as `Item`s (see
    /// ``openReader(_:named:start:)`` and ``openReader(_:of:start:)``).
    ///
    /// - Throws: as ``openReader(_:named:start:)``; ``CBuffError/Code/typeMismatch`` naming
    ///   both types (before anything is registered).
    public func openReader<Item: BitwiseCopyable>(_ name: String, of type: Item.Type, named readerName: String,
                                                  start: ReadStart = .oldest) throws(CBuffError) -> TypedBufferReader<Item> {
        try lifted { () throws(CBuffFailure) in try checkRecordedType(Item.self, of: lookUp(name).row) }
        return try TypedBufferReader(try openReader(name, named: readerName, start: start))
    }

    /// The check of ``checkType(_:buffer:layout:)`` against what the registry row says, before
    /// the ring file is touched.
    private func checkRecordedType<Item: BitwiseCopyable>(_ type: Item.Type, of row: BufferRow) throws(CBuffFailure) {
        let layout = try RingLayout(itemSize: row.itemSize, length: row.length, policy: row.policy, itemType: row.itemType,
                                    checkedSlots: row.formatVersion >= 4)
        try Self.checkType(type, buffer: row.name, layout: layout)
    }

    /// Throws ``CBuffError/Code/typeMismatch`` unless buffer `buffer`, of geometry `layout`, holds
    /// `Item`s: the same stride, slots aligned for it, and no recorded alignment, type name or
    /// fields that say otherwise. Every typed writer and reader comes through here.
    static func checkType<Item: BitwiseCopyable>(_ type: Item.Type, buffer: String, layout: RingLayout) throws(CBuffFailure) {
        let mine = try ItemType.of(Item.self)
        let recorded = layout.itemType
        let alignment = MemoryLayout<Item>.alignment
        let agrees = layout.itemSize == MemoryLayout<Item>.stride
            && layout.slotStride % alignment == 0 && RingLayout.headerSize % alignment == 0
            && (recorded.alignment ?? alignment) == alignment
            && (recorded.name ?? mine.name) == mine.name
            && (recorded.fields == nil || mine.fields == nil || recorded.fields == mine.fields)
        guard !agrees else { return }
        throw CBuffFailure(.typeMismatch, "Buffer \"\(buffer)\" holds \(describe(recorded, size: layout.itemSize, slotStride: layout.slotStride)); \(Item.self) is \(describe(mine, size: MemoryLayout<Item>.stride, slotStride: nil)).")
    }

    /// "Tick items of 24 bytes aligned to 8 (fields time:u64,price:f64,qty:u32)".
    private static func describe(_ item: ItemType, size: Int, slotStride: Int?) -> String {
        var text = (item.name.map { "\($0) items" } ?? "items") + " of \(size) bytes"
        if let alignment = item.alignment {
            text += " aligned to \(alignment)"
        } else if let slotStride {
            text += " in slots of \(slotStride) bytes"
        }
        if let fields = item.fields { text += " (fields \(fields))" }
        return text
    }
}
