public import CSharedRingChecksum

/// The check word of a message record of format version 4: the CRC-32 of zlib's `crc32`
/// (IEEE 802.3; reflected polynomial 0xEDB88320, register started at ~0, complemented at the
/// end) over the record's bytes 0–23 (length and kind, sequence, time), then its `length` bytes
/// of message, which start at byte 32. Stored in the low 32 bits of the record's word 3 (bytes
/// 24–31), the high 32 bits zero.
///
/// PCLMULQDQ folding where the CPU has it (on 256-bit registers where it has VPCLMULQDQ; asked
/// once per process, when the first data area is made), tables elsewhere: `Sources/CChecksum`.
/// Every form is tested against zlib (RingTests, `CRC32Tests`).
@usableFromInline
package struct RecordCheck: Sendable {
    /// Which form the CPU takes: `cbuff_crc32_accelerated`'s level (C's int, as C takes it).
    @usableFromInline let accelerated: CInt

    /// What this CPU offers, asked once.
    package static let here = RecordCheck(accelerated: cbuff_crc32_accelerated())
    /// The table form, whatever the CPU: for tests.
    package static let tables = RecordCheck(accelerated: 0)

    /// The check of the record at `record` whose message is `length` bytes (plain loads).
    @inlinable
    func of(record: UnsafeRawPointer, length: Int) -> UInt32 {
        cbuff_crc32_record(record, length, accelerated)
    }

    /// The check of a record whose header words are `first` (length and kind), `sequence` and
    /// `time` and whose `length` bytes of message are at `body`: a writer's, from the values it
    /// stores and the bytes it copied, nothing read back from the ring.
    @inlinable
    func of(first: UInt64, sequence: UInt64, time: UInt64, body: UnsafeRawPointer, length: Int) -> UInt32 {
        cbuff_crc32_record_of(first, sequence, time, body, length, accelerated)
    }

    /// zlib's `crc32(value, bytes)`: the CRC-32 of `bytes`, continuing one that gave `value`
    /// (0 to start).
    package func crc32(_ bytes: UnsafeRawBufferPointer, continuing value: UInt32 = 0) -> UInt32 {
        cbuff_crc32(value, bytes.baseAddress, bytes.count, accelerated)
    }

    /// The check of a record whose bytes 0–23 are `header` and whose message is `body`: what a
    /// writer of another language computes (for tests and the format document's example).
    package func record(header: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) -> UInt32 {
        crc32(body, continuing: crc32(header))
    }
}
