import GRDB

/// A buffer's row in the registry's `buffers` table (see `docs/registry.md`).
public struct BufferRecord: Sendable, Equatable {
    /// The buffer's name.
    public let name: String
    /// Bytes per item.
    public let itemSize: Int
    /// Number of slots: the ring holds the `length` most recent items.
    public let length: Int
    /// What a push does when the ring is full.
    public let policy: OverflowPolicy
    /// The ring file, relative to the data directory.
    public let file: String
    /// The ring file's format version.
    public let formatVersion: Int
    /// When the buffer was created (UTC, ISO 8601).
    public let createdAt: String
    /// The last process that became the writer (nil if none ever did). Whether it is alive is
    /// decided by the lock it holds on the ring file, not by this number.
    public let writerPID: Int32?
    /// That process's start time in clock ticks after boot, which tells a reused PID apart.
    public let writerStartTime: UInt64?
    /// When that writer attached (UTC, ISO 8601).
    public let writerSince: String?

    init(name: String, itemSize: Int, length: Int, policy: OverflowPolicy, file: String) {
        self.name = name
        self.itemSize = itemSize
        self.length = length
        self.policy = policy
        self.file = file
        self.formatVersion = Int(RingLayout.formatVersion)
        self.createdAt = ""
        self.writerPID = nil
        self.writerStartTime = nil
        self.writerSince = nil
    }

    init(row: Row) throws {
        name = row["name"]
        itemSize = row["item_size"]
        length = row["length"]
        let policyName: String = row["policy"]
        guard let policy = OverflowPolicy(policyName) else {
            throw CBuffError(.corrupted, "The registry row of buffer \"\(name)\" has an unknown policy \"\(policyName)\".")
        }
        self.policy = policy
        file = row["file"]
        formatVersion = row["format_version"]
        createdAt = row["created_at"]
        writerPID = row["writer_pid"]
        writerStartTime = (row["writer_start_time"] as Int64?).map { UInt64(bitPattern: $0) }
        writerSince = row["writer_since"]
    }

    static func fetch(_ db: Database, name: String) throws -> BufferRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM buffers WHERE name = ?", arguments: [name]).map(BufferRecord.init(row:))
    }

    static func fetchAll(_ db: Database) throws -> [BufferRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM buffers ORDER BY name").map(BufferRecord.init(row:))
    }

    /// Inserts the row of a new buffer, its writer already attached.
    func insert(_ db: Database, writerPID pid: Int32, writerStartTime startTime: UInt64?) throws {
        try db.execute(
            sql: """
                INSERT INTO buffers (name, item_size, length, policy, file, format_version,
                                     writer_pid, writer_start_time, writer_since)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                """,
            arguments: [name, itemSize, length, policy.description, file, formatVersion,
                        pid, startTime.map { Int64(bitPattern: $0) }])
    }

    static func delete(_ db: Database, name: String) throws {
        try db.execute(sql: "DELETE FROM buffers WHERE name = ?", arguments: [name])
    }
}
