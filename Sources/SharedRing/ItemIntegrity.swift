internal import SharedRingProtocol

/// Whether each slot of a buffer of items carries a check word, chosen at creation.
///
/// A checked slot has an 8-byte word after its item: the low bits of the sequence it was written
/// under and a CRC32C of the item's bytes (ring file format version 4, `RingFileFormat.md`, "Item
/// slots of version 4"). A reader delivers an item only if its word vouches for it, so after a
/// machine crash or power loss (pages of the file written back in any order, or not at all) a
/// stale, torn or zeroed slot is counted as lost, never delivered; so is a slot damaged by hand
/// (the CRC is no MAC: whoever can write the file can forge a word). A ring holds at most 2^30
/// such items. An unchecked slot is the item alone (format version 2, or 3 for typed items and
/// field layouts): 8 bytes less a slot and fewer instructions a push and a pop, and after a
/// machine crash its readers may deliver what was never written under a sequence.
///
/// ``automatic``, the default, checks where a machine crash can tear the file and nothing else:
/// on a disk; not in memory (tmpfs or ramfs, as `/dev/shm` is), where a crash loses the file
/// whole, so that a buffer there keeps the unchecked layout's speed; nor a ring longer than
/// check words allow (2^30 items), which is made as before them rather than refused (its readers
/// say after a reboot that they cannot detect what a crash did).
public enum ItemIntegrity: String, Sendable, Hashable, CaseIterable {
    /// Checked on a disk, unchecked in memory (the data directory's file system decides) or
    /// beyond 2^30 items: the default.
    case automatic = "auto"
    /// A check word in every slot (format version 4), wherever the buffer lives.
    case checked
    /// No check word (format version 2 or 3), wherever the buffer lives.
    case unchecked

    /// Whether a new buffer of `length` items carries check words, its data directory being
    /// `inMemory`.
    func checksSlots(inMemory: Bool, length: Int) -> Bool {
        switch self {
        case .automatic: !inMemory && length <= RingLayout.maxCheckedLength
        case .checked: true
        case .unchecked: false
        }
    }
}
