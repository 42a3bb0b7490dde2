internal import SharedRingCommon
internal import SharedRingRegistry

// Buffers of typed items: `TypedBufferWriter` and `TypedBufferReader` over the same buffers,
// whose item size is the type's stride, checked before anything is attached.
extension DataDirectory {
    /// Creates a buffer of `Item`s (item size `MemoryLayout<Item>.stride`) and returns its writer.
    ///
    /// - Throws: as ``createBuffer(_:itemSize:length:policy:)``; ``CBuffError/Code/typeMismatch``
    ///   for an `Item` aligned to more than 8 bytes.
    public func createBuffer<Item: BitwiseCopyable>(
        _ name: String, of type: Item.Type, length: Int, policy: OverflowPolicy = .overwrite
    ) throws(CBuffError) -> TypedBufferWriter<Item> {
        try lifted { () throws(CBuffFailure) in try Self.checkAlignment(Item.self) }
        return try TypedBufferWriter(try createBuffer(name, itemSize: MemoryLayout<Item>.stride, length: length, policy: policy))
    }

    /// Takes over buffer `name` as a writer of `Item`s (see ``takeOver(_:)``), after checking
    /// that its item size is `Item`'s stride, so that a mismatch attaches nothing (and leaves a
    /// crashed buffer looking crashed). The typed writer checks again what it got, for a buffer
    /// removed and re-created in between.
    ///
    /// - Throws: as ``takeOver(_:)``; ``CBuffError/Code/typeMismatch`` naming both sizes.
    public func takeOver<Item: BitwiseCopyable>(_ name: String, of type: Item.Type) throws(CBuffError) -> TypedBufferWriter<Item> {
        try lifted { () throws(CBuffFailure) in try checkType(Item.self, of: lookUp(name).row) }
        return try TypedBufferWriter(try takeOver(name))
    }

    /// Opens a reader of buffer `name` as `Item`s (see ``openReader(_:start:)``).
    ///
    /// - Throws: as ``openReader(_:start:)``; ``CBuffError/Code/typeMismatch`` naming both sizes.
    public func openReader<Item: BitwiseCopyable>(_ name: String, of type: Item.Type, start: ReadStart = .oldest) throws(CBuffError) -> TypedBufferReader<Item> {
        try lifted { () throws(CBuffFailure) in try checkType(Item.self, of: lookUp(name).row) }
        return try TypedBufferReader(try openReader(name, start: start))
    }

    /// Opens the named reader `readerName` of buffer `name` as `Item`s (see
    /// ``openReader(_:named:start:)``).
    ///
    /// - Throws: as ``openReader(_:named:start:)``; ``CBuffError/Code/typeMismatch`` naming
    ///   both sizes (before anything is registered).
    public func openReader<Item: BitwiseCopyable>(_ name: String, of type: Item.Type, named readerName: String,
                                                  start: ReadStart = .oldest) throws(CBuffError) -> TypedBufferReader<Item> {
        try lifted { () throws(CBuffFailure) in try checkType(Item.self, of: lookUp(name).row) }
        return try TypedBufferReader(try openReader(name, named: readerName, start: start))
    }

    private func checkType<Item>(_ type: Item.Type, of row: BufferRow) throws(CBuffFailure) {
        try Self.checkAlignment(type)
        guard row.itemSize == MemoryLayout<Item>.stride else { throw Self.typeMismatch(type, name: row.name, itemSize: row.itemSize) }
    }

    private static func checkAlignment<Item>(_ type: Item.Type) throws(CBuffFailure) {
        guard MemoryLayout<Item>.alignment <= 8 else {
            throw CBuffFailure(.typeMismatch, "\(Item.self) is aligned to \(MemoryLayout<Item>.alignment) bytes; buffer slots are aligned to 8 (format version 2).")
        }
    }

    static func typeMismatch<Item>(_ type: Item.Type, name: String, itemSize: Int) -> CBuffFailure {
        CBuffFailure(.typeMismatch, "Buffer \"\(name)\" holds items of \(itemSize) bytes; \(Item.self) takes \(MemoryLayout<Item>.stride) (its stride).")
    }
}
