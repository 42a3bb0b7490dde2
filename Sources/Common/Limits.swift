/// The bounds on a buffer's geometry, shared by the ring format (which refuses a header outside
/// them) and the registry (which refuses a row outside them): they keep every size computation
/// far from overflow, and a typo from asking for a terabyte of disk.
package enum Limits {
    /// The largest item, in bytes (16 MiB).
    package static let maxItemSize = 1 << 24
    /// The most items a ring holds.
    package static let maxLength = 1 << 32
    /// The largest ring file, header included (1 TiB).
    package static let maxFileSize = 1 << 40
    /// The highest position (`published`, `claimed`: items, or a message ring's words) a ring
    /// file may record. Positions never wrap: a writer at 2^63 needs 2^63 more items (290 years
    /// at a billion a second) to reach 2^64, so a file that records more is damaged, and one
    /// that was trusted would let its writer wrap to 0 and publish what no reader ever sees.
    package static let maxPosition: UInt64 = 1 << 63
}
