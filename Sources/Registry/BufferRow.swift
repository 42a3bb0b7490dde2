internal import GRDB
package import SharedRingCommon

/// A buffer's row in the registry's `buffers` table (see `docs/registry.md`), validated. The
/// public API shows it as `BufferRecord`.
package struct BufferRow: Sendable, Equatable {
    /// The buffer's name.
    package let name: String
    /// Bytes per item.
    package let itemSize: Int
    /// Number of slots: the ring holds the `length` most recent items.
    package let length: Int
    /// What a push does when the ring is full.
    package let policy: Policy
    /// The ring file, relative to the data directory.
    package let file: String
    /// The ring file's format version.
    package let formatVersion: Int
    /// What the items are beyond their size (columns `item_alignment`, `type_name`, `fields`).
    package let itemType: ItemType
    /// For a buffer of messages, its data area and largest message (columns `kind`, `capacity`,
    /// `max_message`); nil for a buffer of items. Its `itemSize` and `length` are then 8 and
    /// `capacity / 8`, as in its ring file's line 0.
    package let messages: MessageGeometry?
    /// When the buffer was created (UTC, ISO 8601).
    package let createdAt: String
    /// The last process that became the writer (nil if none ever did). Whether it is alive is
    /// decided by the lock it holds on the ring file, not by this number.
    package let writerPID: Int32?
    /// That process's start time in clock ticks after boot, which tells a reused PID apart.
    package let writerStartTime: UInt64?
    /// When that writer attached (UTC, ISO 8601).
    package let writerSince: String?
    /// When its ring file was created, in nanoseconds since the Unix epoch, as the file's header
    /// says (offset 64): which file is this buffer's, beyond its name. Nil for a buffer created
    /// before registry schema 5, whose file is then not tied to its row.
    package let ringCreatedNanos: UInt64?

    /// The row of a new buffer, before it is inserted.
    package init(name: String, itemSize: Int, length: Int, policy: Policy, formatVersion: Int, itemType: ItemType = .plain,
                 messages: MessageGeometry? = nil, ringCreatedNanos: UInt64? = nil) {
        self.name = name
        self.itemSize = itemSize
        self.length = length
        self.policy = policy
        self.file = Self.fileName(of: name)
        self.formatVersion = formatVersion
        self.itemType = itemType
        self.messages = messages
        self.createdAt = ""
        self.writerPID = nil
        self.writerStartTime = nil
        self.writerSince = nil
        self.ringCreatedNanos = ringCreatedNanos
    }

    /// Decodes a row, validating every value: the registry is input, not truth (another
    /// program, or a person with `sqlite3`, may have written anything into it). A value of the
    /// wrong type or out of range, or a `file` other than the one the name gives, is a
    /// `corrupted` error naming the buffer, never a trap.
    ///
    /// This is the one place that says what a row may hold, column by column, and how its
    /// columns must agree with each other: a format version this library reads (3 for messages
    /// and described items), a geometry a ring file can have, ISO 8601 times, writer columns
    /// that are all NULL (no writer ever attached) or name one. What a row must agree with in
    /// its ring file's header is ``disagreement(withHeader:)``.
    ///
    /// `row` holds ``columns`` in that order from index `first`: read by index, since looking a
    /// column up by name compares it with every column's (GRDB matches names case-insensitively),
    /// which cost more than all the rest of a lookup.
    init(row: Row, first: Int = 0) throws {
        func value(_ column: String) -> DatabaseValue? {
            Self.columnIndex[column].map { row[first + $0] as DatabaseValue }
        }
        guard case .string(let name)? = value("name")?.storage else {
            throw CBuffFailure(.corrupted, "The registry has a row whose name is not text (\(Self.show(value("name")))); remove it with sqlite3.")
        }
        func damaged(_ column: String, _ expected: String) -> CBuffFailure {
            CBuffFailure(.corrupted, "The registry row of buffer \"\(Self.escaped(name))\" is damaged: \(column) is \(Self.show(value(column))), not \(expected); remove the buffer (cbuff rm) to clean it up.")
        }
        // `expected` is worded only for a damaged row: a lookup on the open path pays nothing for it.
        func integer(_ column: String, in range: ClosedRange<Int64>, _ expected: @autoclosure () -> String) throws -> Int64 {
            guard case .int64(let number) = value(column)?.storage, range.contains(number) else {
                throw damaged(column, expected())
            }
            return number
        }
        func optionalInteger(_ column: String, in range: ClosedRange<Int64>, _ expected: @autoclosure () -> String) throws -> Int64? {
            if value(column)?.isNull ?? true { return nil }
            return try integer(column, in: range, expected())
        }
        func text(_ column: String, optional: Bool = false) throws -> String? {
            switch value(column)?.storage {
            case .string(let text)?: return text
            case .null? where optional, nil where optional: return nil
            default: throw damaged(column, "text")
            }
        }
        do throws(CBuffFailure) {
            try BufferName.validate(name)
        } catch {
            throw CBuffFailure(.corrupted, "The registry has a row with an invalid buffer name: \(error.message) (cbuff rm with that exact name removes the row alone.)")
        }
        self.name = name
        itemSize = Int(try integer("item_size", in: 1...Int64(Limits.maxItemSize), "an item size from 1 to \(Limits.maxItemSize)"))
        length = Int(try integer("length", in: 2...Int64(Limits.maxLength), "a length from 2 to \(Limits.maxLength)"))
        guard let policyName = try text("policy"), let policy = Policy(policyName) else {
            throw damaged("policy", "'overwrite' or 'block'")
        }
        self.policy = policy
        let file = try text("file")!
        guard file == Self.fileName(of: name) else {
            throw damaged("file", "\"\(name).ring\" (a ring file's name follows from its buffer's)")
        }
        self.file = file
        formatVersion = Int(try integer("format_version", in: Int64(Limits.formatVersions.lowerBound)...Int64(Limits.formatVersions.upperBound),
                                        "a format version this cbuff reads (\(Limits.formatVersions.lowerBound) to \(Limits.formatVersions.upperBound))"))
        let alignment = try optionalInteger("item_alignment", in: 1...Int64(ItemType.maxAlignment), "a power of two from 1 to \(ItemType.maxAlignment)")
        let typeName = try text("type_name", optional: true)
        let fieldsJSON = try text("fields", optional: true)
        do throws(CBuffFailure) {
            let fields = try fieldsJSON.map { (text: String) throws(CBuffFailure) in try FieldLayout(json: text) }
            itemType = try ItemType(alignment: alignment.map { Int($0) }, name: typeName, fields: fields)
            if let fields, fields.size != itemSize {
                throw CBuffFailure(.corrupted, "its fields make items of \(fields.size) bytes, not its item size \(itemSize).")
            }
        } catch {
            throw CBuffFailure(.corrupted, "The registry row of buffer \"\(Self.escaped(name))\" is damaged: \(error.message) Remove the buffer (cbuff rm) to clean it up.")
        }
        // The slots a ring file of this geometry needs fit the largest file (as `RingLayout` computes them).
        let slotAlignment = itemType.slotAlignment
        let (slots, overflow) = ((itemSize + slotAlignment - 1) / slotAlignment * slotAlignment).multipliedReportingOverflow(by: length)
        guard !overflow, slots <= Limits.maxFileSize - Limits.ringHeaderSize else {
            throw damaged("length", "a length whose \(itemSize)-byte items fit a ring file of at most \(Limits.maxFileSize >> 30) GiB")
        }
        if !itemType.isPlain && formatVersion < 3 {
            throw damaged("format_version", "3 (its items are described: alignment, type name or fields)")
        }
        switch try text("kind") {
        case "items":
            guard value("capacity")?.isNull ?? true, value("max_message")?.isNull ?? true else {
                throw damaged("capacity", "NULL (a buffer of items has no message capacity)")
            }
            messages = nil
        case "messages":
            guard let records = MessageRecordFormat(version: UInt32(formatVersion)) else { throw damaged("format_version", "3 or 4 (a buffer of messages)") }
            let capacity = try integer("capacity", in: Int64(MessageGeometry.minCapacity)...Int64(MessageGeometry.maxCapacity), "a power of two from 4096 to 2^35")
            let maxMessage = try integer("max_message", in: 0...Int64(UInt32.max), "a message size")
            do throws(CBuffFailure) {
                messages = try MessageGeometry(capacity: Int(capacity), maxMessage: Int(maxMessage), records: records)
                guard itemSize == 8, length == Int(capacity) / 8, itemType.isPlain else {
                    throw CBuffFailure(.corrupted, "a buffer of messages has item size 8, length capacity / 8 (\(capacity / 8)) and no item description, not item size \(itemSize) and length \(length).")
                }
            } catch {
                throw CBuffFailure(.corrupted, "The registry row of buffer \"\(Self.escaped(name))\" is damaged: \(error.message) Remove the buffer (cbuff rm) to clean it up.")
            }
        default:
            throw damaged("kind", "'items' or 'messages'")
        }
        createdAt = try text("created_at")!
        guard Self.isTimestamp(createdAt) else { throw damaged("created_at", "a UTC time such as 2026-12-07T06:15:00.000Z") }
        writerPID = try optionalInteger("writer_pid", in: 1...Int64(Int32.max), "a process ID").map { Int32($0) }
        writerStartTime = try optionalInteger("writer_start_time", in: Int64.min...Int64.max, "a start time").map { UInt64(bitPattern: $0) }
        writerSince = try text("writer_since", optional: true)
        if let writerSince, !Self.isTimestamp(writerSince) {
            throw damaged("writer_since", "NULL or a UTC time such as 2026-12-07T06:15:00.000Z")
        }
        // No writer ever attached (all three NULL), or one did: its PID and when (its start
        // time may be unknown, when /proc could not tell it).
        if writerPID == nil, writerStartTime != nil || writerSince != nil {
            throw damaged("writer_pid", "a process ID, since writer_start_time or writer_since says a writer attached")
        }
        if writerPID != nil, writerSince == nil {
            throw damaged("writer_since", "a UTC time, since writer_pid names a writer")
        }
        ringCreatedNanos = try optionalInteger("ring_created_ns", in: 1...Int64.max, "NULL or a time in nanoseconds since 1970 (its ring file's createdAt)")
            .map { UInt64($0) }
    }

    /// What the ring file's header says about its buffer, as far as a row must agree with it.
    package struct Header: Sendable {
        package let formatVersion: Int
        package let itemSize: Int
        package let length: Int
        package let policy: Policy
        package let itemType: ItemType
        package let messages: MessageGeometry?
        /// The header's `createdAt` (offset 64).
        package let createdAt: UInt64

        package init(formatVersion: Int, itemSize: Int, length: Int, policy: Policy, itemType: ItemType,
                     messages: MessageGeometry?, createdAt: UInt64) {
            self.formatVersion = formatVersion
            self.itemSize = itemSize
            self.length = length
            self.policy = policy
            self.itemType = itemType
            self.messages = messages
            self.createdAt = createdAt
        }
    }

    /// Why this row is not the row of the ring file whose header is `header` (at `path`), as a
    /// `corrupted` failure, or nil when they agree: format version, kind, geometry, what the
    /// items are, and (unless the row predates schema 5) the file's creation time, which tells
    /// this buffer's file from another buffer's of the same geometry copied or renamed into place.
    package func disagreement(withHeader header: Header, path file: @autoclosure () -> String) -> CBuffFailure? {
        var path: String { file() }   // worded only for a disagreement
        var buffer: String { "Buffer \"\(Self.escaped(name))\" is damaged" }   // worded only when it is
        func show(_ value: (some CustomStringConvertible)?) -> String { value.map { "\($0)" } ?? "none" }
        if header.messages != messages {
            return CBuffFailure(.corrupted, "\(buffer): its registry row and its ring file \(path) disagree on whether it holds messages, or on their capacity or largest size.")
        }
        if header.itemSize != itemSize || header.length != length || header.policy != policy {
            return CBuffFailure(.corrupted, "\(buffer): the registry says item size \(itemSize), length \(length), policy \(policy), but its ring file \(path) says \(header.itemSize), \(header.length), \(header.policy).")
        }
        if header.itemType != itemType {
            return CBuffFailure(.corrupted, "\(buffer): its registry row and its ring file \(path) describe its items differently (alignment \(show(itemType.alignment)) and \(show(header.itemType.alignment)), type name \(show(itemType.name)) and \(show(header.itemType.name)), fields \(show(itemType.fields)) and \(show(header.itemType.fields))).")
        }
        if header.formatVersion != formatVersion {
            return CBuffFailure(.corrupted, "\(buffer): the registry says format version \(formatVersion), but its ring file \(path) has format version \(header.formatVersion).")
        }
        // Last: a file of the same geometry that is another buffer's says only this.
        if let expected = ringCreatedNanos, expected != header.createdAt {
            return CBuffFailure(.corrupted, "\(buffer): its ring file \(path) is not its own: the registry says the file was created at \(expected) ns, the file's header says \(header.createdAt) ns (another buffer's ring file copied or renamed into place?); nothing was read or written. Remove the buffer (cbuff rm), or put its own ring file back.")
        }
        return nil
    }

    /// Whether `text` is a UTC time as SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ')` writes it
    /// (seconds with or without a fraction of up to 9 digits), the only form cbuff stores.
    static func isTimestamp(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isTimestamp(utf8: $0) }
    }

    private static func isTimestamp(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        func digits(_ range: Range<Int>) -> Bool { range.upperBound <= bytes.count && bytes[range].allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        guard bytes.count >= 20, bytes.count <= 30, digits(0..<4), bytes[4] == 0x2D, digits(5..<7), bytes[7] == 0x2D, digits(8..<10),
              bytes[10] == 0x54, digits(11..<13), bytes[13] == 0x3A, digits(14..<16), bytes[16] == 0x3A, digits(17..<19),
              bytes.last == 0x5A else { return false }
        let fraction = bytes[19..<(bytes.count - 1)]
        return fraction.isEmpty || (fraction.first == 0x2E && fraction.count >= 2 && digits(20..<(bytes.count - 1)))
    }

    /// A value as an error message shows it: its type and at most 40 escaped characters.
    /// The ring file of buffer `name`, relative to the data directory: always `NAME.ring`.
    package static func fileName(of name: String) -> String { name + ".ring" }

    private static func show(_ value: DatabaseValue?) -> String {
        switch value?.storage {
        case nil, .null?: "NULL"
        case .int64(let v)?: "the integer \(v)"
        case .double(let v)?: "the real \(v)"
        case .string(let v)?: "'\(escaped(String(v.prefix(40))))'"
        case .blob(let v)?: "a blob of \(v.count) bytes"
        }
    }

    /// Control and non-ASCII characters as `\u{…}`, so that a message stays one printable line.
    static func escaped(_ text: String) -> String {
        text.unicodeScalars.map { $0.value < 0x20 || $0.value >= 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
    }

    /// The columns of `buffers` a row is read from, in the order every query selects them.
    static let columns = ["name", "item_size", "length", "policy", "file", "format_version", "item_alignment", "type_name",
                          "fields", "kind", "capacity", "max_message", "created_at", "writer_pid", "writer_start_time", "writer_since", "ring_created_ns"]
    private static let columnIndex = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1, $0) })
    private static let selected = columns.map { "b." + $0 }.joined(separator: ", ")

    static func fetch(_ db: Database, name: String) throws -> BufferRow? {
        let rows = try Row.fetchCursor(db.cachedStatement(sql: "SELECT \(selected) FROM buffers AS b WHERE b.name = ?"), arguments: [name])
        return try rows.next().map { try BufferRow(row: $0) }
    }

    /// The row of `name` (nil if none), and the number of migrations applied, read by one
    /// statement, so in one snapshot: the registry's schema is checked with the row it gave.
    /// Decoded from SQLite's row in place (a cursor), never copied.
    static func fetchCounting(_ db: Database, name: String) throws -> (applied: Int, row: BufferRow?) {
        let rows = try Row.fetchCursor(db.cachedStatement(sql: lookupSQL), arguments: [name])
        guard let first = try rows.next() else { return (0, nil) }
        let applied = first[0] as Int? ?? 0
        return (applied, first.hasNull(atIndex: 1) ? nil : try BufferRow(row: first, first: 1))
    }

    private static let lookupSQL = """
        SELECT m.applied, \(selected) FROM (SELECT count(*) AS applied FROM grdb_migrations) AS m
        LEFT JOIN buffers AS b ON b.name = ?
        """

    /// Every row by name, each decoded on its own (a damaged row is reported beside the others
    /// instead of hiding them: one bad row made `cbuff list` print nothing about every other
    /// buffer), and the number of migrations applied, read by one statement.
    static func fetchEachCounting(_ db: Database) throws -> (applied: Int, rows: [Result<BufferRow, DamagedRow>]) {
        let rows = try Row.fetchCursor(db.cachedStatement(sql: listSQL))
        var applied = 0
        var decoded: [Result<BufferRow, DamagedRow>] = []
        while let row = try rows.next() {
            applied = row[0] as Int? ?? 0
            // A row whose name (NOT NULL in the table) is NULL stands for no buffer: the LEFT
            // JOIN of an empty table.
            if row.hasNull(atIndex: 1) { continue }
            do {
                decoded.append(.success(try BufferRow(row: row, first: 1)))
            } catch {
                let name: String? = if case .string(let text)? = (row[1] as DatabaseValue?)?.storage { text } else { nil }
                let failure = error as? CBuffFailure ?? CBuffFailure(.corrupted, "A registry row of buffer \"\(Self.escaped(name ?? "?"))\" cannot be read: \(error)")
                decoded.append(.failure(DamagedRow(name: name, failure: failure)))
            }
        }
        return (applied, decoded)
    }

    private static let listSQL = """
        SELECT m.applied, \(selected) FROM (SELECT count(*) AS applied FROM grdb_migrations) AS m
        LEFT JOIN buffers AS b ORDER BY b.name
        """
}

/// A registry row that cannot be read as a buffer: the text of its name column, if it is text
/// (unvalidated: escape it before showing it), and why.
package struct DamagedRow: Error, Sendable {
    package let name: String?
    package let failure: CBuffFailure
}

/// The registry inside one of its write transactions (see ``Registry/write(_:_:)``): the steps
/// a caller may take there, without seeing SQL or GRDB.
package struct RegistryTransaction {
    let db: Database
    /// The registry it belongs to: its directory and lock timeout word the errors.
    let registry: Registry

    /// Runs one step, reporting an SQLite error as a failure to do `what`.
    private func translating<T>(_ what: String, _ body: () throws -> T) throws(CBuffFailure) -> T {
        do {
            return try body()
        } catch let error as CBuffFailure {
            throw error
        } catch {
            throw Registry.translate(error, what, trust: registry.trust, lockTimeoutNanos: registry.lockTimeoutNanos)
        }
    }

    /// Runs one statement.
    func execute(sql: String, arguments: StatementArguments = []) throws(CBuffFailure) {
        try translating("update the registry") { try db.cachedStatement(sql: sql).execute(arguments: arguments) }
    }

    /// The row of buffer `name`, or nil.
    package func row(named name: String) throws(CBuffFailure) -> BufferRow? {
        try translating("look up buffer \"\(name)\"") { try BufferRow.fetch(db, name: name) }
    }

    /// Whether a row of that name exists, without decoding it (a damaged row can be removed).
    package func hasRow(named name: String) throws(CBuffFailure) -> Bool {
        try translating("look up buffer \"\(name)\"") {
            try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM buffers WHERE name = ?"), arguments: [name]) ?? 0 > 0
        }
    }

    /// Inserts the row of a new buffer, with its writer if one is attached already (nil: none
    /// ever attached, and the writer columns stay NULL), and its ring file's creation time.
    package func insert(_ row: BufferRow, writerPID pid: Int32?, writerStartTime startTime: UInt64?) throws(CBuffFailure) {
        try translating("register buffer \"\(row.name)\"") {
            try db.cachedStatement(
                sql: """
                    INSERT INTO buffers (name, item_size, length, policy, file, format_version,
                                         item_alignment, type_name, fields, kind, capacity, max_message,
                                         writer_pid, writer_start_time, writer_since, ring_created_ns)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                            CASE WHEN ? IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END, ?)
                    """).execute(
                arguments: [row.name, row.itemSize, row.length, row.policy.description, row.file, row.formatVersion,
                            row.itemType.alignment, row.itemType.name, row.itemType.fields?.json,
                            row.messages == nil ? "items" : "messages", row.messages?.capacity, row.messages?.maxMessage,
                            pid, pid.flatMap { _ in startTime.map { Int64(bitPattern: $0) } }, pid,
                            row.ringCreatedNanos.map { Int64(bitPattern: $0) }])
        }
    }

    /// Inserts the row of a named reader registered with its buffer, which no process has
    /// opened yet (`pid` and `opened_at` NULL).
    package func insertUnopenedReader(buffer: String, reader: String, slot: Int) throws(CBuffFailure) {
        try translating("register named reader \"\(reader)\" of buffer \"\(buffer)\"") {
            try db.cachedStatement(sql: "INSERT INTO readers (buffer, name, slot) VALUES (?, ?, ?)")
                .execute(arguments: [buffer, reader, slot])
        }
    }

    /// Deletes the row of buffer `name` (its named readers' rows go with it).
    /// The name column of a row whose `file` column is `file` (a damaged row's too), if any.
    package func nameOfRow(holdingFile file: String) throws(CBuffFailure) -> String? {
        try translating("look up ring file \"\(file)\"") {
            guard let value = try DatabaseValue.fetchOne(db.cachedStatement(sql: "SELECT name FROM buffers WHERE file = ? LIMIT 1"), arguments: [file]) else { return nil }
            if case .string(let text) = value.storage { return text }
            return "?"
        }
    }

    package func delete(named name: String) throws(CBuffFailure) {
        try translating("remove buffer \"\(name)\"") {
            try db.cachedStatement(sql: "DELETE FROM buffers WHERE name = ?").execute(arguments: [name])
        }
    }
}
