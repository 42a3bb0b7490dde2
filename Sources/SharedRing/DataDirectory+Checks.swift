internal import SharedRingCommon
internal import SharedRingProtocol

// What creating a buffer checks about its arguments, without creating anything: for a program
// that is told a geometry long before it creates the buffer (the relay's `in`, told --length
// before the first message says what its items are), so that a bad argument is refused before
// the program does anything it cannot undo, by the very checks creating applies.
extension DataDirectory {
    /// Throws what ``createBuffer(_:itemSize:length:policy:)`` throws for `name`: a name is 1 to
    /// 200 bytes of `A–Z a–z 0–9 . _ - : @ +`, not starting with a dot.
    ///
    /// - Throws: ``CBuffError/Code/invalidArgument``, saying why.
    public static func checkBufferName(_ name: String) throws(CBuffError) {
        try lifted { () throws(CBuffFailure) in try BufferName.validate(name) }
    }

    /// Throws what opening named reader `name` throws for its name.
    ///
    /// - Throws: ``CBuffError/Code/invalidArgument``, saying why.
    public static func checkReaderName(_ name: String) throws(CBuffError) {
        try lifted { () throws(CBuffFailure) in try ReaderTable.validate(name) }
    }

    /// Throws what ``createBuffer(_:itemSize:length:policy:)`` throws for a ring of `length`
    /// items of `itemSize` bytes: 1 byte to 16 MiB items, 2 to 2^32 of them, in a file of at
    /// most 1 TiB.
    ///
    /// - Throws: ``CBuffError/Code/invalidArgument``, saying why.
    public static func checkGeometry(itemSize: Int, length: Int) throws(CBuffError) {
        _ = try lifted { () throws(CBuffFailure) in try RingLayout(itemSize: itemSize, length: length, policy: .overwrite) }
    }

    /// Throws what ``createMessageBuffer(_:capacity:maxMessageSize:policy:preciseTime:)`` throws for a ring
    /// of messages of `capacity` bytes carrying messages of at most `maxMessageSize`.
    ///
    /// - Throws: ``CBuffError/Code/invalidArgument``, saying why.
    public static func checkMessageGeometry(capacity: Int, maxMessageSize: Int) throws(CBuffError) {
        _ = try lifted { () throws(CBuffFailure) in try MessageGeometry(capacity: capacity, maxMessage: maxMessageSize) }
    }
}
