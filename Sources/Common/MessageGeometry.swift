/// The geometry of a ring of variable-size messages: its data area and its largest message.
package struct MessageGeometry: Sendable, Equatable {
    /// Bytes of the data area: a power of two from 4 KiB to 32 GiB.
    package let capacity: Int
    /// The largest message, in bytes: at most `capacity / 2 - recordHeaderSize`, so that a
    /// record and the padding before it always fit in a ring that named readers have emptied.
    package let maxMessage: Int

    package static let minCapacity = 4096
    package static let maxCapacity = 1 << 35
    /// Bytes before a message's own bytes: its length and kind, its sequence, its time.
    package static let recordHeaderSize = 24

    package init(capacity: Int, maxMessage: Int) throws(CBuffFailure) {
        guard capacity >= Self.minCapacity, capacity <= Self.maxCapacity, capacity & (capacity - 1) == 0 else {
            throw CBuffFailure(.invalidArgument, "Message capacity \(capacity) is not a power of two from 4 KiB to 32 GiB.")
        }
        let largest = capacity / 2 - Self.recordHeaderSize
        guard maxMessage >= 0, maxMessage <= largest else {
            throw CBuffFailure(.invalidArgument, "Largest message \(maxMessage) is out of range: a ring of \(capacity) bytes carries messages of at most \(largest) bytes (half its capacity, less a \(Self.recordHeaderSize)-byte header).")
        }
        self.capacity = capacity
        self.maxMessage = maxMessage
    }
}
