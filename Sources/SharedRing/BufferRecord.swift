internal import SharedRingRegistry
internal import SharedRingCommon

/// A buffer's row in the registry's `buffers` table (see `docs/registry.md`), as read and
/// validated: every value was checked for type and range before it got here.
public struct BufferRecord: Sendable, Equatable {
    /// The buffer's name.
    public let name: String
    /// Bytes per item.
    public let itemSize: Int
    /// Number of slots: the ring holds the `length` most recent items.
    public let length: Int
    /// What a push does when the ring is full.
    public let policy: OverflowPolicy
    /// The ring file, relative to the data directory (always `NAME.ring`).
    public let file: String
    /// The ring file's format version.
    public let formatVersion: Int
    /// The alignment its creator recorded for the items (column `item_alignment`), or nil.
    public let itemAlignment: Int?
    /// The name of the items' type (column `type_name`), or nil.
    public let itemTypeName: String?
    /// The items' fields (column `fields`), or nil.
    public let itemLayout: ItemLayout?
    /// For a buffer of variable-size messages, the bytes of its data area (column `capacity`);
    /// nil for a buffer of items. ``itemSize`` and ``length`` are then 8 and `capacity / 8`.
    public let messageCapacity: Int?
    /// For a buffer of messages, the largest message in bytes (column `max_message`).
    public let maxMessageSize: Int?
    /// Whether it holds variable-size messages (column `kind` = `messages`) rather than items.
    public var holdsMessages: Bool { messageCapacity != nil }
    /// When the buffer was created (UTC, ISO 8601).
    public let createdAt: String
    /// The last process that became the writer (nil if none ever did). Whether it is alive is
    /// decided by the lock it holds on the ring file, not by this number.
    public let writerPID: Int32?
    /// That process's start time in clock ticks after boot, which tells a reused PID apart.
    public let writerStartTime: UInt64?
    /// When that writer attached (UTC, ISO 8601).
    public let writerSince: String?

    init(_ row: BufferRow) {
        name = row.name
        itemSize = row.itemSize
        length = row.length
        policy = OverflowPolicy(row.policy)
        file = row.file
        formatVersion = row.formatVersion
        itemAlignment = row.itemType.alignment
        itemTypeName = row.itemType.name
        itemLayout = row.itemType.fields.map(ItemLayout.init)
        messageCapacity = row.messages?.capacity
        maxMessageSize = row.messages?.maxMessage
        createdAt = row.createdAt
        writerPID = row.writerPID
        writerStartTime = row.writerStartTime
        writerSince = row.writerSince
    }
}
