internal import GRDB
internal import SharedRingSystem
package import SharedRingCommon

/// One migration of the registry schema: a numbered `.sql` file of the top-level `migrations/`
/// folder, embedded at build time (see `Plugins/EmbedMigrations`). The identifier is the file
/// name without `.sql`, and is what the registry records once the migration is applied.
package struct RegistryMigration: Sendable {
    package let identifier: String
    package let sql: String
}

/// The SQLite registry of one data directory: `registry.sqlite`, in WAL mode with a busy
/// timeout, so that many processes can use it at once. It is touched only on create, open,
/// take-over and remove, never on push or pop.
package struct Registry: Sendable {
    package static let fileName = "registry.sqlite"
    static let lockFileName = "registry.lock"
    /// The files SQLite keeps beside the registry in WAL mode.
    static let companionSuffixes = ["-wal", "-shm"]

    /// The data directory, and what its files may be.
    package let trust: FileTrust
    /// How long to wait for a lock another process holds (the registry's write lock).
    package let lockTimeoutNanos: Int64
    private let queue: DatabaseQueue

    /// Opens (creating if needed) the registry of the data directory `trust` vouches for,
    /// applying pending migrations.
    ///
    /// Migrating is serialised across processes with an `flock` on `registry.lock`: GRDB's
    /// migrator serialises only within one process, and checks which migrations are applied
    /// outside each migration's transaction, so two processes opening a fresh directory at the
    /// same moment could otherwise both try to create the tables. Every wait, for that lock
    /// or SQLite's, ends after `lockTimeoutNanos` with a sentence naming the holder.
    package static func open(_ trust: FileTrust, fileMode: UInt32, lockTimeoutNanos: Int64) throws(CBuffFailure) -> Registry {
        // Opening SQLite, setting WAL and checking migrations costs milliseconds; a registry
        // already opened by this process is reused as long as its file is the same one.
        let directory = trust.directory
        let path = directory + "/" + fileName
        for file in [path] + companionSuffixes.map({ path + $0 }) {
            try trust.checkIfPresent(file, "registry file")
        }
        let key = CacheKey(trust: trust, lockTimeoutNanos: lockTimeoutNanos)
        if case .success(let info?) = Sys.linkInfo(path),
           let cached = openRegistries.withLock({ $0[key] }), cached.identity == info.identity,
           cached.registry.isCurrent {
            return cached.registry
        }
        let registry = try openUncached(trust, fileMode: fileMode, lockTimeoutNanos: lockTimeoutNanos)
        if case .success(let info?) = Sys.linkInfo(path) {
            openRegistries.withLock { $0[key] = (info.identity, registry) }
        }
        return registry
    }

    private struct CacheKey: Hashable {
        package let trust: FileTrust
        package let lockTimeoutNanos: Int64
    }

    private static let openRegistries = Locked<[CacheKey: (identity: Sys.FileIdentity, registry: Registry)]>([:])

    private static func openUncached(_ trust: FileTrust, fileMode: UInt32, lockTimeoutNanos: Int64) throws(CBuffFailure) -> Registry {
        let directory = trust.directory
        let lockPath = directory + "/" + lockFileName
        let lock = try Sys.openOrCreate(lockPath, mode: fileMode)
            .orThrow { error -> CBuffFailure in
                error.isSymbolicLink || error.isSpecialFile
                    ? CBuffFailure(.corrupted, "The registry lock \(lockPath) is not a regular file; cbuff does not open it. Remove it.", cause: error)
                    : .system(error, "open the registry lock \(lockPath)")
            }
        defer { Sys.close(lock) }   // releases the flock
        let lockInfo = try Sys.fileInfo(lock).orThrow { .system($0, "examine the registry lock \(lockPath)") }
        try trust.check(lockInfo, lockPath, "registry lock")
        let locked = try Sys.poll(timeoutNanos: lockTimeoutNanos) { () throws(CBuffFailure) -> Bool in
            try Sys.tryLockExclusive(lock).orThrow { .system($0, "lock the registry lock \(lockPath)") }
        }
        guard locked else {
            throw LockWait.timedOut(lockPath, identity: lockInfo.identity, byte: 0, timeoutNanos: lockTimeoutNanos,
                                    doing: "open the registry")
        }

        let path = directory + "/" + fileName
        try WALCheck.verify(walPath: path + "-wal", shmPath: path + "-shm", trust: trust)
        if case .success(nil) = Sys.linkInfo(path) {
            // Created here first so that it has the directory's file mode (owner-only unless the
            // directory is shared); SQLite gives its -wal and -shm files the same permissions.
            let fd = try Sys.createExclusive(path, mode: fileMode).orThrow { .system($0, "create the registry \(path)") }
            Sys.close(fd)
        }
        var configuration = Configuration()
        // WAL mode is set once, when the registry is created, and persists in the file. Not
        // through GRDB's `.wal`, which writes a transaction at every open (to keep the WAL
        // non-empty): opening must only read, so that a full disk or a lock held elsewhere
        // never stops a process that only needs to look a buffer up.
        configuration.busyMode = .timeout(Double(lockTimeoutNanos) / 1e9)
        configuration.label = "cbuff.registry"
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            let migrator = Self.migrator
            let (superseded, complete) = try queue.read { db in
                (try migrator.hasBeenSuperseded(db), try migrator.hasCompletedMigrations(db))
            }
            if superseded {
                throw CBuffFailure(.corrupted, "The registry \(path) was written by a newer version of cbuff (it has migrations this version does not know); use that version.")
            }
            if !complete {
                try queue.writeWithoutTransaction { db in
                    if try String.fetchOne(db, sql: "PRAGMA journal_mode") != "wal" {
                        _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                    }
                }
                let pending = try queue.read { db in try migrator.appliedIdentifiers(db) }
                Diagnostics.note(.registry, "migrating the registry \(path): applying \(RegistryMigration.all.map(\.identifier).filter { !pending.contains($0) }.joined(separator: ", "))")
                try migrator.migrate(queue)
                queue.writeWithoutTransaction { db in checkpoint(db) }
            }
        } catch let error as CBuffFailure {
            throw error
        } catch {
            throw Self.translate(error, "open the registry \(path)", directory: trust.directory, lockTimeoutNanos: lockTimeoutNanos)
        }
        return Registry(trust: trust, lockTimeoutNanos: lockTimeoutNanos, queue: queue)
    }

    /// Copies every committed change from the WAL into `registry.sqlite` and empties the WAL,
    /// so that the registry file alone is a complete record (a backup that copies only it, or a
    /// script that opens only it, sees everything). A reader in the middle of a read, or any
    /// other failure, makes this give up silently: it runs after the commit, which stands
    /// whatever happens here (reporting a failure would make a caller undo what is committed),
    /// and the next change checkpoints again.
    private static func checkpoint(_ db: Database) {
        _ = try? db.checkpoint(.truncate)
    }

    private init(trust: FileTrust, lockTimeoutNanos: Int64, queue: DatabaseQueue) {
        self.trust = trust
        self.lockTimeoutNanos = lockTimeoutNanos
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
    package func appliedMigrations() throws(CBuffFailure) -> [String] {
        try read("read the registry's migrations") { db in try Self.migrator.appliedMigrations(db) }
    }

    // MARK: Access

    /// Runs `body` in an IMMEDIATE transaction: it holds the registry's write lock from the
    /// start, so a check and the write that depends on it cannot interleave with another
    /// process's. A thrown error rolls everything back. A committed change is checkpointed
    /// into `registry.sqlite` at once (see `checkpoint`).
    package func write<T>(_ what: String, _ body: (RegistryTransaction) throws(CBuffFailure) -> T) throws(CBuffFailure) -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(RegistryTransaction(db: db, registry: self))
                    return .commit
                }
                Self.checkpoint(db)
                return result!
            }
        } catch let error as CBuffFailure {
            throw error
        } catch {
            throw Self.translate(error, what, directory: trust.directory, lockTimeoutNanos: lockTimeoutNanos)
        }
    }

    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(CBuffFailure) -> T {
        do {
            return try queue.read(body)
        } catch let error as CBuffFailure {
            throw error
        } catch {
            throw Self.translate(error, what, directory: trust.directory, lockTimeoutNanos: lockTimeoutNanos)
        }
    }

    /// The row of buffer `name`, or nil if there is none.
    package func row(named name: String) throws(CBuffFailure) -> BufferRow? {
        try read("look up buffer \"\(name)\" in the registry") { db in try BufferRow.fetch(db, name: name) }
    }

    /// Every row, by name.
    package func allRows() throws(CBuffFailure) -> [BufferRow] {
        try read("list the registry") { db in try BufferRow.fetchAll(db) }
    }

    /// Every row, by name, each readable or damaged on its own.
    package func eachRow() throws(CBuffFailure) -> [Result<BufferRow, DamagedRow>] {
        try read("list the registry") { db in try BufferRow.fetchEach(db) }
    }

    /// Records which process is now the buffer's writer.
    package func recordWriter(of name: String, pid: Int32, startTime: UInt64?) throws(CBuffFailure) {
        try write("record the writer of buffer \"\(name)\"") { (tx: RegistryTransaction) throws(CBuffFailure) in
            try tx.execute(
                sql: """
                    UPDATE buffers SET writer_pid = ?, writer_start_time = ?,
                        writer_since = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                    WHERE name = ?
                    """,
                arguments: [pid, startTime.map { Int64(bitPattern: $0) }, name])
        }
    }

    /// Records a named reader (its ring-file record is the truth; this row is for scripts).
    package func recordReader(buffer: String, reader: String, slot: Int, pid: Int32) throws(CBuffFailure) {
        try write("record named reader \"\(reader)\" of buffer \"\(buffer)\"") { (tx: RegistryTransaction) throws(CBuffFailure) in
            try tx.execute(
                sql: """
                    INSERT INTO readers (buffer, name, slot, pid, opened_at)
                    VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                    ON CONFLICT (buffer, name) DO UPDATE SET
                        slot = excluded.slot, pid = excluded.pid, opened_at = excluded.opened_at
                    """,
                arguments: [buffer, reader, slot, pid])
        }
    }

    package func deleteReader(buffer: String, reader: String) throws(CBuffFailure) {
        try write("remove named reader \"\(reader)\" of buffer \"\(buffer)\"") { (tx: RegistryTransaction) throws(CBuffFailure) in
            try tx.execute(sql: "DELETE FROM readers WHERE buffer = ? AND name = ?", arguments: [buffer, reader])
        }
    }

    // MARK: Errors

    static func translate(_ error: any Error, _ what: String, directory: String, lockTimeoutNanos: Int64) -> CBuffFailure {
        guard let error = error as? DatabaseError else {
            return CBuffFailure(.systemFailure, "Cannot \(what).", cause: UnderlyingError(description: String(describing: error)))
        }
        let cause = UnderlyingError(description: "SQLite error \(error.resultCode.rawValue): \(error.message ?? "")")
        switch error.resultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return CBuffFailure(.corrupted, "Cannot \(what): the registry is not a valid SQLite database.", cause: cause)
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
            return CBuffFailure(.permissionDenied, "Permission denied: cannot \(what).", cause: cause)
        case .SQLITE_CANTOPEN:
            return CBuffFailure(.permissionDenied, "Cannot \(what): SQLite cannot open the file (missing directory or no permission).", cause: cause)
        case .SQLITE_FULL:
            return CBuffFailure(.systemFailure, "No space left on the device: cannot \(what).", cause: cause)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            // In WAL mode SQLite's write lock is a POSIX lock on byte 120 of the -shm file.
            let shm = directory + "/" + fileName + "-shm"
            guard case .success(let info?) = Sys.linkInfo(shm) else {
                return CBuffFailure(.timedOut, "Cannot \(what): the registry stayed locked by another process for \(LockWait.seconds(lockTimeoutNanos)).", cause: cause)
            }
            return LockWait.timedOut(directory + "/" + fileName, identity: info.identity, byte: 120, timeoutNanos: lockTimeoutNanos, doing: what)
        default:
            return CBuffFailure(.systemFailure, "Cannot \(what).", cause: cause)
        }
    }
}
