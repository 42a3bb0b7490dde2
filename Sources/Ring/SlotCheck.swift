public import CSharedRingChecksum

/// The check word of an item slot of format version 4 (a ring whose slots carry one): bits
/// 0–30 the sequence's low 31 bits, bit 31 set ("written": a word of 0 is "never written, or
/// being rewritten" and never valid), bits 32–63 the CRC32C (Castagnoli) of the item's bytes
/// continuing the value `sequence >> 31`, so that the whole sequence is vouched for although
/// only 31 bits of it are stored. Little-endian, in the 8 bytes after the item rounded up to a
/// word (`RingFileFormat.md`, "Item slots of version 4").
///
/// SSE4.2's `crc32` where the CPU has it (one instruction per 8 bytes; three streams joined
/// with PCLMULQDQ from 96 bytes), tables elsewhere: `Sources/CChecksum`. Every form is tested
/// against a bitwise CRC32C (RingTests, `CRC32CTests`).
@usableFromInline
package struct SlotCheck: Sendable {
    /// Which form the CPU takes: `cbuff_crc32c_accelerated`'s level (C's int, as C takes it).
    @usableFromInline let accelerated: CInt

    @usableFromInline
    init(accelerated: CInt) {
        self.accelerated = accelerated
    }

    /// What this CPU offers, asked once.
    package static let here = SlotCheck(accelerated: cbuff_crc32c_accelerated())
    /// The table form, whatever the CPU: for tests.
    package static let tables = SlotCheck(accelerated: 0)

    /// The word of the `size` bytes at `item` under `sequence` (below 2^63): 8-byte items on a
    /// CPU with SSE4.2 in one instruction (`cbuff_slot_word8`), the rest through the general form.
    @inlinable
    package func word(sequence: UInt64, item: UnsafeRawPointer, size: Int) -> UInt64 {
        #if arch(x86_64)
        if size == 8 && accelerated >= CBUFF_CRC32C_SSE42 {
            return cbuff_slot_word8(sequence, UInt64(littleEndian: item.loadUnaligned(as: UInt64.self)))
        }
        #endif
        return cbuff_slot_word(sequence, item, size, accelerated)
    }

    /// The stamp half a word of `sequence` carries (bits 0–31: the low 31 bits and "written").
    @inlinable
    package static func stamp(_ sequence: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: sequence & 0x7FFF_FFFF) | 0x8000_0000
    }

    /// CRC32C of `bytes` continuing one that gave `value` (0 to start).
    package func crc32c(_ bytes: UnsafeRawBufferPointer, continuing value: UInt32 = 0) -> UInt32 {
        cbuff_crc32c(value, bytes.baseAddress, bytes.count, accelerated)
    }
}
