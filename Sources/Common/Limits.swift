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
    /// The ring file's header, before its slots.
    package static let ringHeaderSize = 4096
    /// The largest value a counter of a ring file may hold: `published`, `claimed`, a named
    /// reader's cursor and, in a ring of messages, the tail, the last record's start, the count
    /// of messages, a committed sequence and every record's sequence. 2^63 − 1: every counter
    /// fits a signed 64-bit integer (SQLite's, a JSON reader's, Python's `struct` "q"), and a
    /// counter plus anything a ring adds to it at once (at most 2^32 positions) stays far from
    /// 2^64, so no arithmetic on counters wraps. A writer publishing a billion positions a second
    /// reaches it after 292 years: a counter beyond it is damage (refused as corrupted when the
    /// file is opened), and a push that would take `claimed` beyond it is refused (corrupted),
    /// never waited for.
    package static let maxCount = UInt64(Int64.max)
    /// The ring file format versions this library reads and writes (a registry row that names
    /// another is damaged, as is a ring file's header).
    package static let formatVersions: ClosedRange<UInt32> = 2...4
    /// The longest tether timeout a `block` buffer may record (30 days, in nanoseconds): beyond
    /// it a tether means nothing an operator would notice, and a header that says more is damage.
    package static let maxTetherNanos: UInt64 = 30 * 86_400 * 1_000_000_000
}
