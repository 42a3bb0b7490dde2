/// The geometry of a ring of variable-size messages: its data area and its largest message.
package struct MessageGeometry: Sendable, Equatable {
    /// Bytes of the data area: a power of two from 4 KiB to 32 GiB.
    package let capacity: Int
    /// The largest message, in bytes: at most `capacity / 2 -` the record header's size, so
    /// that a record and the padding before it always fit in a ring that named readers have emptied.
    package let maxMessage: Int
    /// How its records are laid out (its format version's: see ``MessageRecordFormat``).
    package let records: MessageRecordFormat

    package static let minCapacity = 4096
    package static let maxCapacity = 1 << 35

    package init(capacity: Int, maxMessage: Int, records: MessageRecordFormat = .newest) throws(CBuffFailure) {
        guard capacity >= Self.minCapacity, capacity <= Self.maxCapacity, capacity & (capacity - 1) == 0 else {
            throw CBuffFailure(.invalidArgument, "Message capacity \(capacity) is not a power of two from 4 KiB to 32 GiB.")
        }
        let largest = capacity / 2 - records.headerSize
        guard maxMessage >= 0, maxMessage <= largest else {
            throw CBuffFailure(.invalidArgument, "Largest message \(maxMessage) is out of range: a ring of \(capacity) bytes carries messages of at most \(largest) bytes (half its capacity, less a \(records.headerSize)-byte header).")
        }
        self.capacity = capacity
        self.maxMessage = maxMessage
        self.records = records
    }
}
