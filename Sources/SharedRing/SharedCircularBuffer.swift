/// A named, persistent circular buffer shared between processes: the seed library's
/// `SharedCircularBuffer`, in Swift.
///
/// The instance that creates the buffer is its writer; every other instance is a reader with
/// its own cursor, opened by name alone:
///
/// ```swift
/// let writer = try SharedCircularBuffer(name: "shared_buffer_a", create: true, length: 5)
/// let reader = try SharedCircularBuffer(name: "shared_buffer_a")
/// for value in [50, 10, 20, 30] { try writer.push(UInt64(value)) }
/// try reader.popItem()      // 50
/// try reader.popMany(3)     // [10, 20, 30]
/// ```
///
/// For more control (taking over a buffer whose writer is gone, starting at the latest item,
/// raw bytes, blocking reads) use ``DataDirectory``, ``BufferWriter`` and ``BufferReader``,
/// which this class wraps.
public final class SharedCircularBuffer {
    /// The buffer's name.
    public let name: String
    /// Bytes per item.
    public let itemSize: Int
    /// Number of slots: the ring holds the `length` most recent items.
    public let length: Int
    /// The data directory the buffer lives in.
    public let directory: DataDirectory

    private var writer: BufferWriter?
    private var reader: BufferReader?

    /// Creates a buffer (`create: true`) and becomes its writer, or opens an existing one as a reader.
    ///
    /// - Parameters:
    ///   - name: the buffer's name (letters, digits and `. _ - : @ +`).
    ///   - create: create the buffer and become its writer.
    ///   - itemSize: bytes per item; a creator that gives none gets 1, as in the seed. A reader
    ///     need not give it; if it does, it must match the registry.
    ///   - length: number of slots; a creator that gives none gets 2. Same rule for readers.
    ///   - directory: the data directory; by default `$CBUFF_DIR`, else the per-user default.
    /// - Throws: ``CBuffError`` with code ``CBuffError/Code/bufferAlreadyCreated``,
    ///   ``CBuffError/Code/notFound``, ``CBuffError/Code/invalidArgument``, …
    public init(
        name: String, create: Bool = false, itemSize: Int? = nil, length: Int? = nil,
        directory: DataDirectory = .resolve()
    ) throws(CBuffError) {
        self.name = name
        self.directory = directory
        if create {
            let writer = try directory.createBuffer(name, itemSize: itemSize ?? 1, length: length ?? 2)
            self.itemSize = writer.itemSize
            self.length = writer.length
            self.writer = .some(writer)
        } else {
            if let length, length < 2 {
                throw CBuffError(.invalidArgument, "Length \(length) is out of range: a buffer holds at least 2 items.")
            }
            let reader = try directory.openReader(name)
            for (given, actual, what) in [(itemSize, reader.itemSize, "item size"), (length, reader.length, "length")] {
                if let given, given != actual {
                    throw CBuffError(.invalidArgument, "Buffer \"\(name)\" has \(what) \(actual), not \(given); a reader can omit it.")
                }
            }
            self.itemSize = reader.itemSize
            self.length = reader.length
            self.reader = .some(reader)
        }
    }

    /// Whether this instance is the buffer's writer.
    public var isWriter: Bool { writer != nil }

    /// Pushes an integer (writer only). When the ring is full the oldest item is overwritten.
    ///
    /// - Throws: ``CBuffError/Code/writeOperationsForbidden`` on a reader;
    ///   ``CBuffError/Code/valueDoesNotFit`` if the value needs more than ``itemSize`` bytes.
    public func push(_ value: UInt64) throws(CBuffError) {
        guard writer != nil else { throw forbidden(write: true) }
        try writer!.push(value)
    }

    /// Pushes any integer that fits: negative or too-large values are refused, never truncated.
    public func push(_ value: some BinaryInteger) throws(CBuffError) {
        guard writer != nil else { throw forbidden(write: true) }
        try writer!.push(value)
    }

    /// Pops the next item, or nil if there is none (reader only).
    ///
    /// - Throws: ``CBuffError/Code/readOperationsForbidden`` on the writer.
    public func popItem() throws(CBuffError) -> UInt64? {
        guard reader != nil else { throw forbidden(write: false) }
        return try reader!.popItem()
    }

    /// Pops up to `maxCount` items, oldest first (reader only).
    public func popMany(_ maxCount: Int) throws(CBuffError) -> [UInt64] {
        guard reader != nil else { throw forbidden(write: false) }
        return try reader!.popMany(maxCount)
    }

    /// Waits up to `timeout` for the next item (reader only).
    public func pop(timeout: Duration) throws(CBuffError) -> UInt64? {
        guard reader != nil else { throw forbidden(write: false) }
        return try reader!.pop(timeout: timeout)
    }

    /// For a reader, the items waiting for it; for the writer, the items the ring holds.
    public var usage: Int {
        switch reader {
        case .some(let reader): return reader.usage
        case .none: break
        }
        switch writer {
        case .some(let writer): return writer.usage
        case .none: return 0
        }
    }

    /// Items a reader missed because the writer overwrote them before it read them (0 for the writer).
    public var missedCount: UInt64 {
        switch reader {
        case .some(let reader): reader.missedCount
        case .none: 0
        }
    }

    /// Detaches from the buffer. The buffer and its items stay; a closed writer leaves the
    /// buffer with no live writer. Further operations throw ``CBuffError/Code/closed``.
    public func close() {
        writer = nil
        reader = nil
        closed = true
    }

    /// Deletes a buffer's ring file and registry row (refused while a live writer holds it,
    /// unless `force`).
    public static func remove(name: String, force: Bool = false, directory: DataDirectory = .resolve()) throws(CBuffError) {
        try directory.removeBuffer(name, force: force)
    }

    private var closed = false

    private func forbidden(write: Bool) -> CBuffError {
        if closed { return CBuffError(.closed, "Buffer \"\(name)\" was closed by this instance.") }
        return write
            ? CBuffError(.writeOperationsForbidden, "Buffer \"\(name)\" was opened as a reader: it cannot be written to.")
            : CBuffError(.readOperationsForbidden, "Buffer \"\(name)\" was opened as its writer: it cannot be read from.")
    }
}

extension SharedCircularBuffer: CustomStringConvertible {
    /// As the seed library prints it: `SharedCircularBuffer (NAME)`, and for a reader how full
    /// the ring is ("(40.00% full)").
    public var description: String {
        // "%.2f" of the percentage, without Foundation.
        let hundredths = Int((Double(usage) / Double(length) * 10_000).rounded())
        let fraction = hundredths % 100
        let percent = "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
        return "SharedCircularBuffer (\(name))" + (isWriter ? "" : " (\(percent)% full)")
    }
}

@available(*, unavailable, message: "A SharedCircularBuffer holds a cursor or the writer lock: use it from one task at a time.")
extension SharedCircularBuffer: Sendable {}
