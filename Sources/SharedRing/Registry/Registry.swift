import GRDB

/// One migration of the registry schema: a numbered `.sql` file of the top-level `migrations/`
/// folder, embedded at build time (see `Plugins/EmbedMigrations`). The identifier is the file
/// name without `.sql`, and is what the registry records once the migration is applied.
struct RegistryMigration: Sendable {
    let identifier: String
    let sql: String
}

/// The SQLite registry of one data directory: `registry.sqlite`, in WAL mode with a busy
/// timeout, so that many processes can use it at once. It is touched only on create, open,
/// take-over and remove, never on push or pop.
struct Registry: Sendable {
    static let fileName = "registry.sqlite"
    static let lockFileName = "registry.lock"

    let directory: String
    private let queue: DatabaseQueue

    /// Opens (creating if needed) the registry of `directory`, applying pending migrations.
    ///
    /// Migrating is serialised across processes with an `flock` on `registry.lock`: GRDB's
    /// migrator serialises only within one process, and checks which migrations are applied
    /// outside each migration's transaction, so two processes opening a fresh directory at the
    /// same moment could otherwise both try to create the tables.
    /// `directoryMode` is given to the directories it has to create (see `DataDirectory.Access`).
    static func open(directory: String, directoryMode: UInt32 = 0o700) throws(CBuffError) -> Registry {
        // Opening SQLite, setting WAL and checking migrations costs milliseconds; a registry
        // already opened by this process is reused as long as its file is the same one.
        let path = directory + "/" + fileName
        if let identity = Sys.fileIdentity(path),
           let cached = openRegistries.withLock({ $0[directory] }), cached.identity == identity,
           cached.registry.isCurrent {
            return cached.registry
        }
        let registry = try openUncached(directory: directory, directoryMode: directoryMode)
        if let identity = Sys.fileIdentity(path) {
            openRegistries.withLock { $0[directory] = (identity, registry) }
        }
        return registry
    }

    private static let openRegistries = Locked<[String: (identity: Sys.FileIdentity, registry: Registry)]>([:])

    private static func openUncached(directory: String, directoryMode: UInt32) throws(CBuffError) -> Registry {
        try makeDirectories(directory, mode: directoryMode)
        let fileMode = DataDirectory.fileMode(in: directory)
        let lockPath = directory + "/" + lockFileName
        let lock = try Sys.openOrCreate(lockPath, mode: fileMode)
            .orThrow { .system($0, "open the registry lock \(lockPath)") }
        defer { Sys.close(lock) }   // releases the flock
        try Sys.lockExclusive(lock).orThrow { .system($0, "lock the registry lock \(lockPath)") }

        let path = directory + "/" + fileName
        if !Sys.exists(path) {
            // Created here first so that it has the directory's file mode (owner-only unless the
            // directory is shared); SQLite gives its -wal and -shm files the same permissions.
            let fd = try Sys.openOrCreate(path, mode: fileMode).orThrow { .system($0, "create the registry \(path)") }
            Sys.close(fd)
        }
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(30)
        configuration.label = "cbuff.registry"
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            let migrator = Self.migrator
            let (superseded, complete) = try queue.read { db in
                (try migrator.hasBeenSuperseded(db), try migrator.hasCompletedMigrations(db))
            }
            if superseded {
                throw CBuffError(.corrupted, "The registry \(path) was written by a newer version of cbuff (it has migrations this version does not know); use that version.")
            }
            if !complete { try migrator.migrate(queue) }
        } catch let error as CBuffError {
            throw error
        } catch {
            throw Self.translate(error, "open the registry \(path)")
        }
        return Registry(directory: directory, queue: queue)
    }

    private init(directory: String, queue: DatabaseQueue) {
        self.directory = directory
        self.queue = queue
    }

    /// Whether the registry still has exactly the migrations this version knows (a newer
    /// cbuff may have upgraded it since this process opened it): one small read.
    private var isCurrent: Bool {
        let applied = try? queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM grdb_migrations") }
        return applied == RegistryMigration.all.count
    }

    private static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        for migration in RegistryMigration.all {
            migrator.registerMigration(migration.identifier) { db in
                try db.execute(sql: migration.sql)
            }
        }
        return migrator
    }()

    /// The identifiers of the migrations applied to this registry, in order.
    func appliedMigrations() throws(CBuffError) -> [String] {
        try read("read the registry's migrations") { db in try Self.migrator.appliedMigrations(db) }
    }

    // MARK: Access

    /// Runs `body` in an IMMEDIATE transaction: it holds the registry's write lock from the
    /// start, so a check and the write that depends on it cannot interleave with another
    /// process's. A thrown error rolls everything back.
    func write<T>(_ what: String, _ body: (Database) throws -> T) throws(CBuffError) -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let error as CBuffError {
            throw error
        } catch {
            throw Self.translate(error, what)
        }
    }

    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(CBuffError) -> T {
        do {
            return try queue.read(body)
        } catch let error as CBuffError {
            throw error
        } catch {
            throw Self.translate(error, what)
        }
    }

    func record(named name: String) throws(CBuffError) -> BufferRecord? {
        try read("look up buffer \"\(name)\" in the registry") { db in try BufferRecord.fetch(db, name: name) }
    }

    func allRecords() throws(CBuffError) -> [BufferRecord] {
        try read("list the registry") { db in try BufferRecord.fetchAll(db) }
    }

    /// Records which process is now the buffer's writer.
    func recordWriter(of name: String, pid: Int32, startTime: UInt64?) throws(CBuffError) {
        try write("record the writer of buffer \"\(name)\"") { db in
            try db.execute(
                sql: """
                    UPDATE buffers SET writer_pid = ?, writer_start_time = ?,
                        writer_since = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                    WHERE name = ?
                    """,
                arguments: [pid, startTime.map { Int64(bitPattern: $0) }, name])
        }
    }

    /// Records a named reader (its ring-file record is the truth; this row is for scripts).
    func recordReader(buffer: String, reader: String, slot: Int, pid: Int32) throws(CBuffError) {
        try write("record named reader \"\(reader)\" of buffer \"\(buffer)\"") { db in
            try db.execute(
                sql: """
                    INSERT INTO readers (buffer, name, slot, pid, opened_at)
                    VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                    ON CONFLICT (buffer, name) DO UPDATE SET
                        slot = excluded.slot, pid = excluded.pid, opened_at = excluded.opened_at
                    """,
                arguments: [buffer, reader, slot, pid])
        }
    }

    func deleteReader(buffer: String, reader: String) throws(CBuffError) {
        try write("remove named reader \"\(reader)\" of buffer \"\(buffer)\"") { db in
            try db.execute(sql: "DELETE FROM readers WHERE buffer = ? AND name = ?", arguments: [buffer, reader])
        }
    }

    // MARK: Errors

    static func translate(_ error: any Error, _ what: String) -> CBuffError {
        guard let error = error as? DatabaseError else {
            return CBuffError(.systemFailure, "Cannot \(what).", cause: UnderlyingError(description: String(describing: error)))
        }
        let cause = UnderlyingError(description: "SQLite error \(error.resultCode.rawValue): \(error.message ?? "")")
        switch error.resultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return CBuffError(.corrupted, "Cannot \(what): the registry is not a valid SQLite database.", cause: cause)
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
            return CBuffError(.permissionDenied, "Permission denied: cannot \(what).", cause: cause)
        case .SQLITE_CANTOPEN:
            return CBuffError(.permissionDenied, "Cannot \(what): SQLite cannot open the file (missing directory or no permission).", cause: cause)
        case .SQLITE_FULL:
            return CBuffError(.systemFailure, "No space left on the device: cannot \(what).", cause: cause)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return CBuffError(.systemFailure, "Cannot \(what): the registry stayed locked by another process for 30 seconds.", cause: cause)
        default:
            return CBuffError(.systemFailure, "Cannot \(what).", cause: cause)
        }
    }

    /// `mkdir -p`, giving what it creates `mode`.
    private static func makeDirectories(_ path: String, mode: UInt32) throws(CBuffError) {
        if Sys.isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if Sys.isDirectory(prefix) { continue }
            try Sys.makeDirectory(prefix, mode: mode).orThrow { .system($0, "create the data directory \(prefix)") }
        }
        guard Sys.isDirectory(path) else { throw notADirectory(path) }
    }

    static func notADirectory(_ path: String) -> CBuffError {
        CBuffError(.invalidArgument, "The data directory \(path) exists but is not a directory.")
    }
}
