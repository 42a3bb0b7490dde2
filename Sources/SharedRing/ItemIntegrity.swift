/// Whether each slot of a buffer of items carries a check word (chosen at creation).
///
/// ``checked``, the default, gives every slot an 8-byte word after its item: the low bits of the
/// sequence it was written under and a CRC32C of the item's bytes (ring file format version 4,
/// `RingFileFormat.md`, "Item slots of version 4"). A reader delivers an item only if its word
/// vouches for it, so after a machine crash or power loss (pages of the file written back in any
/// order, or not at all) a stale, torn or zeroed slot is counted as lost, never delivered, and
/// the same holds for a slot edited by hand. A ring holds at most 2^30 such items.
///
/// ``unchecked`` leaves the word out (format version 2, or 3 for typed items and field layouts):
/// 8 bytes less a slot and fewer instructions a push and a pop, for a buffer that no machine
/// crash can tear (under `/dev/shm`, whose files do not outlive a reboot) or whose readers accept
/// that one may hand them stale or torn items after it. Readers of such a buffer say that it
/// cannot detect a machine crash.
public enum ItemIntegrity: String, Sendable, Hashable, CaseIterable {
    /// A check word in every slot (format version 4): the default.
    case checked
    /// No check word (format version 2 or 3).
    case unchecked
}
