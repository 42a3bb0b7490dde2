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
}
