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
///
/// ### Who waits for whom
///
/// Looking a buffer up takes no lock of cbuff's: SQLite's WAL lets any number of readers read
/// while one process writes, and a reader never waits for a writer. The `flock` on
/// `registry.lock` is taken, exclusively and with a bounded wait, only by a process that has to
/// create the registry or apply migrations to it, the one thing SQLite cannot serialise across
/// processes by itself (see ``open(_:creating:lockTimeoutNanos:)``). Creators, removers and
/// take-overs serialise on SQLite's write lock (an IMMEDIATE transaction), waited for at most
/// the lock timeout.
package struct Registry: Sendable {
    package static let fileName = "registry.sqlite"
    static let lockFileName = "registry.lock"
    /// The files SQLite keeps beside the registry in WAL mode.
    static let companionSuffixes = ["-wal", "-shm"]
    /// Every name beside the registry that SQLite or cbuff may open: WAL mode's two files, the
    /// rollback journal SQLite looks for (a hot journal) before it reads anything, and the lock.
    /// Each gets the registry file's own check (a regular file, owned as expected, never a
    /// symbolic link) before SQLite opens anything: a `registry.sqlite-journal` link planted in
    /// a shared directory made SQLite fail with a raw "SQLite error 14".
    static let neighbours = companionSuffixes.map { fileName + $0 } + [fileName + "-journal", lockFileName]
    /// The longest path SQLite opens a database by: its unix VFS takes paths of at most 512
    /// bytes, and it names the rollback journal `PATH-journal` (measured with SQLite 3.40.1: a
    /// 504-byte path opens, a 505-byte one does not).
    static let longestDatabasePath = 504
    /// The descriptors opening the registry may need at once: SQLite's three (the registry, its
    /// -wal, its -shm) and libdispatch's event loop (an epoll and an eventfd, and a spare), which
    /// GRDB's queue may start.
    static let descriptorsNeeded = 6

    /// The data directory, and what its files may be.
    package let trust: FileTrust
    /// How long to wait for a lock another process holds (the registry's write lock).
    package let lockTimeoutNanos: Int64
    private let queue: DatabaseQueue

    /// The path SQLite is given: an absolute path, or one starting with `./` (SQLite takes a
    /// path starting with `file:` as a URI).
    private static func databasePath(_ trust: FileTrust) -> String {
        let path = trust.path(of: fileName)
        return path.hasPrefix("/") ? path : "./" + path
    }

    /// Opens the registry of the data directory `trust` vouches for; nil if it has none and
    /// `creating` is false (a lookup never creates anything). Applies pending migrations.
    ///
    /// The registry file and SQLite's companions are checked here, once, before SQLite opens
    /// them. A registry already opened by this process is reused as long as its file is the
    /// same one (opening SQLite and checking the migrations costs far more than a lookup).
    ///
    /// Creating and migrating are serialised across processes with an exclusive `flock` on
    /// `registry.lock`: GRDB's migrator serialises only within one process, and checks which
    /// migrations are applied outside each migration's transaction, so two processes opening a
    /// fresh directory at the same moment could otherwise both try to create the tables. Only a
    /// process that finds the registry missing or behind takes it; every other open takes no
    /// lock at all. Every wait, for that lock or SQLite's, ends after `lockTimeoutNanos` with a
    /// sentence naming the holder.
    package static func open(_ trust: FileTrust, creating: Bool, lockTimeoutNanos: Int64) throws(CBuffFailure) -> Registry? {
        let key = CacheKey(trust: trust, lockTimeoutNanos: lockTimeoutNanos)
        guard let info = try trust.checkIfPresent(fileName, "registry file") else {
            guard creating else { return nil }
            try checkPathLength(trust)
            let registry = try underLock(trust, lockTimeoutNanos: lockTimeoutNanos, doing: "create the registry") { () throws(CBuffFailure) in
                if try trust.checkIfPresent(fileName, "registry file") == nil {
                    try build(trust, lockTimeoutNanos: lockTimeoutNanos)
                }
                return try openAndMigrate(trust, wal: try trust.checkIfPresent(fileName + "-wal", "registry file"),
                                          lockTimeoutNanos: lockTimeoutNanos, holdingLock: true)
            }
            return remember(registry, key, identity: try trust.checkIfPresent(fileName, "registry file")?.identity)
        }
        if let cached = openRegistries.withLock({ $0[key] }), cached.identity == info.identity {
            return cached.registry
        }
        return remember(try openAndMigrate(trust, wal: try trust.checkIfPresent(fileName + "-wal", "registry file"),
                                           lockTimeoutNanos: lockTimeoutNanos, holdingLock: false),
                        key, identity: info.identity)
    }

    private struct CacheKey: Hashable {
        let trust: FileTrust
        let lockTimeoutNanos: Int64
    }

    private static let openRegistries = Locked<[CacheKey: (identity: Sys.FileIdentity, registry: Registry)]>([:])

    /// Keeps `registry`, whose file is `identity`, for the next opens of this process.
    private static func remember(_ registry: Registry, _ key: CacheKey, identity: Sys.FileIdentity?) -> Registry {
        if let identity {
            openRegistries.withLock { $0[key] = (identity, registry) }
        }
        return registry
    }

    /// Runs `body` holding the exclusive `flock` on `registry.lock`, waited for at most
    /// `lockTimeoutNanos`.
    private static func underLock<T>(_ trust: FileTrust, lockTimeoutNanos: Int64, doing what: String,
                                     _ body: () throws(CBuffFailure) -> T) throws(CBuffFailure) -> T {
        let lockPath = trust.path(of: lockFileName)
        let (lock, lockInfo) = try trust.openOrCreate(lockFileName, "registry lock")
        defer { Sys.close(lock) }   // releases the flock
        let locked = try Sys.poll(timeoutNanos: lockTimeoutNanos) { () throws(CBuffFailure) -> Bool in
            try Sys.tryLockExclusive(lock).orThrow { .system($0, "lock the registry lock \(lockPath)") }
        }
        guard locked else {
            throw LockWait.timedOut(lockPath, identity: lockInfo.identity, byte: 0, timeoutNanos: lockTimeoutNanos, doing: what)
        }
        return try body()
    }

    /// The name a new registry is built under, before it is renamed into place.
    static let temporaryFileName = "registry.sqlite.new"

    /// Builds a new registry under a temporary name, complete (WAL mode, every migration,
    /// checkpointed, closed), then renames it into place: whoever sees `registry.sqlite` sees a
    /// whole registry, never an empty file being converted and migrated (a connection opened on
    /// that file while another process set WAL mode and created the tables saw "no such table").
    /// Called holding the registry lock, so a leftover of a creator that died is removed first.
    /// The file is created with the directory's file mode (owner-only unless the directory is
    /// shared); SQLite gives its -wal and -shm files the same.
    private static func build(_ trust: FileTrust, lockTimeoutNanos: Int64) throws(CBuffFailure) {
        let temporary = temporaryFileName
        for entry in [temporary] + (companionSuffixes + ["-journal"]).map({ temporary + $0 }) { _ = trust.unlink(entry) }
        Sys.close(try trust.createExclusive(temporary, "new registry"))
        let path = trust.path(of: temporary)
        do {
            var configuration = Self.configuration(lockTimeoutNanos: lockTimeoutNanos)
            configuration.label = "cbuff.registry.new"
            let queue = try DatabaseQueue(path: path.hasPrefix("/") ? path : "./" + path, configuration: configuration)
            try queue.writeWithoutTransaction { db in _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
            Diagnostics.note(.registry, "migrating the registry \(trust.path(of: fileName)) (new): applying \(RegistryMigration.all.map(\.identifier).joined(separator: ", "))")
            try migrator.migrate(queue)
            _ = try queue.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
            try queue.close()
        } catch {
            for entry in [temporary] + (companionSuffixes + ["-journal"]).map({ temporary + $0 }) { _ = trust.unlink(entry) }
            throw Self.translate(error, "create the registry \(trust.path(of: fileName))", trust: trust, lockTimeoutNanos: lockTimeoutNanos)
        }
        for suffix in companionSuffixes + ["-journal"] { _ = trust.unlink(temporary + suffix) }
        try trust.rename(temporary, to: fileName).orThrow { .system($0, "rename the new registry \(path) to \(trust.path(of: fileName))") }
    }

    /// Opens the registry file, which exists, and brings its schema up to date: a registry
    /// whose migrations are all applied is used as it is, without any lock; one behind is
    /// migrated under the registry lock (taken here unless `holdingLock`).
    ///
    /// `wal` is what `fstatat` says of the registry's WAL (checked), or nil if there is none.
    private static func openAndMigrate(_ trust: FileTrust, wal: Sys.FileInfo?, lockTimeoutNanos: Int64, holdingLock: Bool) throws(CBuffFailure) -> Registry {
        let path = trust.path(of: fileName)
        for neighbour in neighbours { try trust.checkIfPresent(neighbour, neighbour == lockFileName ? "registry lock" : "registry file") }
        if let wal, wal.size > 0 {   // cbuff's checkpoints leave it empty: nothing to check then
            try WALCheck.verify(wal: fileName + "-wal", shm: fileName + "-shm", trust: trust)
        }
        // Checked before SQLite is asked: an open that fails for want of descriptors makes GRDB
        // start a libdispatch thread, which traps when it cannot get descriptors of its own.
        guard trust.hasFreeDescriptors(descriptorsNeeded) else {
            let (code, sentence) = CBuffFailure.words(for: .tooManyOpenFilesInProcess, "open the registry \(path)")
            throw CBuffFailure(code, sentence)
        }
        // WAL mode is set once, when the registry is created, and persists in the file. Not
        // through GRDB's `.wal`, which writes a transaction at every open (to keep the WAL
        // non-empty) and sets `synchronous = NORMAL`: opening must only read, so that a full
        // disk, a read-only mount or a lock held elsewhere never stops a process that only
        // needs to look a buffer up.
        var configuration = Self.configuration(lockTimeoutNanos: lockTimeoutNanos)
        configuration.label = "cbuff.registry"
        let queue: DatabaseQueue
        do {
            queue = try openQueue(trust, configuration)
            let migrator = Self.migrator
            let (superseded, complete) = try queue.read { db in
                (try migrator.hasBeenSuperseded(db), try migrator.hasCompletedMigrations(db))
            }
            if superseded {
                throw CBuffFailure(.corrupted, "The registry \(path) was written by a newer version of cbuff (it has migrations this version does not know); use that version.")
            }
            if !complete {
                let migrate = { () throws(CBuffFailure) in try migrateUnderLock(queue, path: path, trust: trust, lockTimeoutNanos: lockTimeoutNanos) }
                if holdingLock {
                    try migrate()
                } else {
                    try underLock(trust, lockTimeoutNanos: lockTimeoutNanos, doing: "upgrade the registry", migrate)
                }
            }
        } catch let error as CBuffFailure {
            throw error
        } catch {
            throw Self.translate(error, "open the registry \(path)", trust: trust, lockTimeoutNanos: lockTimeoutNanos)
        }
        return Registry(trust: trust, lockTimeoutNanos: lockTimeoutNanos, queue: queue)
    }

    /// How every connection to the registry is set up: SQLite's busy timeout waits for
    /// another process's write lock at most `lockTimeoutNanos`; and `synchronous = FULL` (the
    /// default of most builds of SQLite, said here so that no build or library changes it):
    /// a commit returns only once its frames are synced to the WAL, before the WAL index counts
    /// them. Two things stand on it: a registry row is durable when the create that wrote it
    /// returns (after the ring file it names, see `DataDirectory.createRing`), and `WALCheck`
    /// may read an index that counts a frame as proof that the frame reached the disk.
    private static func configuration(lockTimeoutNanos: Int64) -> Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(Double(lockTimeoutNanos) / 1e9)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return configuration
    }

    /// Opens SQLite on the registry. A registry on a read-only mount whose WAL index (`-shm`)
    /// is absent (every process that used it closed it, or it was copied without it) cannot be
    /// opened normally: SQLite would need to create the index. Its WAL is then empty or absent
    /// too (cbuff checkpoints every change into `registry.sqlite`, and `WALCheck` has read it),
    /// so the file alone is the registry, and it is opened as immutable: read without locks,
    /// which a mount that nobody can write makes safe.
    private static func openQueue(_ trust: FileTrust, _ configuration: Configuration) throws -> DatabaseQueue {
        do {
            return try DatabaseQueue(path: databasePath(trust), configuration: configuration)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN {
            guard trust.isReadOnly, try trust.checkIfPresent(fileName + "-shm", "registry file") == nil,
                  (try trust.checkIfPresent(fileName + "-wal", "registry file")?.size ?? 0) == 0 else { throw error }
            var readOnly = configuration
            readOnly.readonly = true
            let path = trust.resolvedPath.map { $0 + "/" + fileName } ?? databasePath(trust)
            let uri = "file:" + path.utf8.map { byte -> String in
                let c = Character(Unicode.Scalar(byte))
                return byte < 0x80 && (c.isLetter || c.isNumber || "/-._~".contains(c)) ? String(c) : "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }.joined() + "?immutable=1"
            return try DatabaseQueue(path: uri, configuration: readOnly)
        }
    }

    /// Throws `invalidArgument` if SQLite cannot open the registry by its path: SQLite makes
    /// the path absolute and resolves its symbolic links, and takes at most
    /// ``longestDatabasePath`` bytes. Checked before anything is created.
    private static func checkPathLength(_ trust: FileTrust) throws(CBuffFailure) {
        guard let resolved = trust.resolvedPath else { return }
        let length = resolved.utf8.count + 1 + fileName.utf8.count
        guard length <= longestDatabasePath else {
            throw CBuffFailure(.invalidArgument, "The data directory's path is too long for SQLite, which keeps the registry: \(resolved) makes its registry's path \(length) bytes long, and SQLite opens files by paths of at most \(longestDatabasePath) bytes; choose a directory whose full path is at most \(longestDatabasePath - 1 - fileName.utf8.count) bytes.")
        }
    }

    /// Sets WAL mode and applies the pending migrations, holding the registry lock.
    private static func migrateUnderLock(_ queue: DatabaseQueue, path: String, trust: FileTrust, lockTimeoutNanos: Int64) throws(CBuffFailure) {
        do {
            let migrator = Self.migrator
            // Another process may have migrated while this one waited for the lock.
            if try queue.read({ db in try migrator.hasCompletedMigrations(db) }) { return }
            try queue.writeWithoutTransaction { db in
                if try String.fetchOne(db, sql: "PRAGMA journal_mode") != "wal" {
                    _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                }
            }
            let applied = try queue.read { db in try migrator.appliedIdentifiers(db) }
            Diagnostics.note(.registry, "migrating the registry \(path): applying \(RegistryMigration.all.map(\.identifier).filter { !applied.contains($0) }.joined(separator: ", "))")
            try migrator.migrate(queue)
            queue.writeWithoutTransaction { db in checkpoint(db) }
        } catch let error as CBuffFailure {
            throw error
        } catch {
            throw Self.translate(error, "upgrade the registry \(path)", trust: trust, lockTimeoutNanos: lockTimeoutNanos)
        }
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

    /// Every statement below is prepared once per connection (`cachedStatement`): preparing
    /// one costs SQLite's parser and GRDB's authorizer far more than running it (measured with
    /// callgrind: about 200,000 instructions against a few thousand), and a lookup is one
    /// statement.
    ///
    /// The number of migrations this version knows: a registry whose `grdb_migrations` counts
    /// another number was migrated by another version since this process opened it.
    static let migrationCount = RegistryMigration.all.count

    /// Throws unless `applied`, the count of `grdb_migrations` read with the data, is the count
    /// this version knows.
    func checkCurrent(_ applied: Int) throws(CBuffFailure) {
        guard applied == Self.migrationCount else {
            throw CBuffFailure(.corrupted, "The registry \(trust.path(of: Self.fileName)) was changed by \(applied > Self.migrationCount ? "a newer" : "another") version of cbuff while this process used it (it has \(applied) migrations, this version knows \(Self.migrationCount)); use that version.")
        }
    }

    /// Runs `body` in an IMMEDIATE transaction: it holds the registry's write lock from the
    /// start, so a check and the write that depends on it cannot interleave with another
    /// process's. A thrown error rolls everything back. A committed change is checkpointed
    /// into `registry.sqlite` at once (see `checkpoint`).
    package func write<T>(_ what: String, _ body: (RegistryTransaction) throws(CBuffFailure) -> T) throws(CBuffFailure) -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
                let result: T
                do {
                    try checkCurrent(try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM grdb_migrations")) ?? 0)
                    result = try body(RegistryTransaction(db: db, registry: self))
                    do {
                        try db.cachedStatement(sql: "COMMIT").execute()
                    } catch {
                        throw FailedCommit(error: error)
                    }
                } catch {
                    if !db.isInsideTransaction { throw error }
                    try? db.cachedStatement(sql: "ROLLBACK").execute()
                    throw error
                }
                Self.checkpoint(db)
                return result
            }
        } catch let error as CBuffFailure {
            throw error
        } catch let failed as FailedCommit {
            let failure = Self.translate(failed.error, what, trust: trust, lockTimeoutNanos: lockTimeoutNanos)
            throw CBuffFailure(failure.code, failure.message, cause: CommitOutcomeUnknown(cause: failure.cause))
        } catch {
            throw Self.translate(error, what, trust: trust, lockTimeoutNanos: lockTimeoutNanos)
        }
    }

    /// The cause of a ``write(_:_:)`` that failed at its `COMMIT` (a failed sync of the log, a
    /// full disk): whether the transaction is in the registry cannot be told. SQLite wrote its
    /// frames, commit frame included, before the sync that failed, and the next process to open
    /// the registry after this one's connection is gone rebuilds its index from the log, where
    /// it finds them; a failed commit means "unknown", not "rolled back". A caller that would
    /// undo what the transaction named (delete a ring file the row registers) must not.
    package struct CommitOutcomeUnknown: Error, Sendable, CustomStringConvertible {
        package let cause: (any Error & Sendable)?
        package var description: String { cause.map { "\($0)" } ?? "the commit failed" }
    }

    /// The error of a `COMMIT`, inside ``write(_:_:)``.
    private struct FailedCommit: Error {
        let error: any Error
    }

    /// Runs `body`, which only reads, under the registry's write lock (an IMMEDIATE transaction,
    /// rolled back: nothing is written, nothing checkpointed), so that it sees no change of
    /// another process half done: a second look (see `DataDirectory.settled`).
    package func readUnderWriteLock<T>(_ what: String, _ body: (RegistryTransaction) throws(CBuffFailure) -> T) throws(CBuffFailure) -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
                defer { try? db.cachedStatement(sql: "ROLLBACK").execute() }
                try checkCurrent(try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM grdb_migrations")) ?? 0)
                return try body(RegistryTransaction(db: db, registry: self))
            }
        } catch let error as CBuffFailure {
            throw error
        } catch {
            throw Self.translate(error, what, trust: trust, lockTimeoutNanos: lockTimeoutNanos)
        }
    }

    /// Runs `body` on the connection, outside any transaction: for one statement, which SQLite
    /// runs as its own read transaction (a consistent snapshot, taking no lock a writer waits for).
    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(CBuffFailure) -> T {
        do {
            return try queue.inDatabase(body)
        } catch let error as CBuffFailure {
            throw error
        } catch {
            throw Self.translate(error, what, trust: trust, lockTimeoutNanos: lockTimeoutNanos)
        }
    }

    /// The row of buffer `name`, or nil if there is none.
    package func row(named name: String) throws(CBuffFailure) -> BufferRow? {
        let (applied, row) = try read("look up buffer \"\(name)\" in the registry") { db in try BufferRow.fetchCounting(db, name: name) }
        try checkCurrent(applied)
        return row
    }

    /// Every row, by name; the first damaged one is thrown.
    package func allRows() throws(CBuffFailure) -> [BufferRow] {
        var rows: [BufferRow] = []
        for row in try eachRow() {
            switch row {
            case .success(let row): rows.append(row)
            case .failure(let damaged): throw damaged.failure
            }
        }
        return rows
    }

    /// The `file` column of every row, damaged rows' included (as the text they hold; a value
    /// that is not text names no file): a file some row names, even a row that cannot be read
    /// as a buffer, is no stray and is never replaced by a create.
    package func registeredFiles() throws(CBuffFailure) -> Set<String> {
        try read("list the registry's ring files") { db in
            Set(try DatabaseValue.fetchAll(db, sql: "SELECT file FROM buffers").compactMap { value -> String? in
                if case .string(let text) = value.storage { text } else { nil }
            })
        }
    }

    /// Every row, by name, each readable or damaged on its own.
    package func eachRow() throws(CBuffFailure) -> [Result<BufferRow, DamagedRow>] {
        let (applied, rows) = try read("list the registry") { db in try BufferRow.fetchEachCounting(db) }
        try checkCurrent(applied)
        return rows
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

    /// SQLite's error as a failure to do `what`, its cause said as the System layer's table
    /// says it (`CBuffFailure.words(for:_:)`): SQLite reports a failed open as "cannot open"
    /// whatever the reason, so that reason is found again by trying what SQLite tried.
    static func translate(_ error: any Error, _ what: String, trust: FileTrust, lockTimeoutNanos: Int64) -> CBuffFailure {
        guard let error = error as? DatabaseError else {
            return CBuffFailure(.systemFailure, "Cannot \(what).", cause: UnderlyingError(description: String(describing: error)))
        }
        let cause = UnderlyingError(description: "SQLite error \(error.extendedResultCode.rawValue): \(error.message ?? "")")
        func said(_ reason: SystemCallFailure.Cause) -> CBuffFailure {
            let (code, sentence) = CBuffFailure.words(for: reason, what)
            return CBuffFailure(code, sentence, cause: cause)
        }
        switch error.resultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return CBuffFailure(.corrupted, "Cannot \(what): the registry is not a valid SQLite database.", cause: cause)
        case .SQLITE_READONLY:
            return said(trust.isReadOnly ? .readOnlyFilesystem : .permissionDenied)
        case .SQLITE_PERM, .SQLITE_AUTH:
            return said(.permissionDenied)
        case .SQLITE_CANTOPEN:
            return said(whyCannotOpen(trust))
        case .SQLITE_FULL:
            return said(.noSpace)
        case .SQLITE_NOMEM:
            return said(.outOfMemory)
        case .SQLITE_IOERR:
            return said(trust.isReadOnly ? .readOnlyFilesystem : .inputOutput)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            // In WAL mode SQLite's write lock is a POSIX lock on byte 120 of the -shm file.
            guard let info = try? trust.checkIfPresent(fileName + "-shm", "registry file") else {
                return CBuffFailure(.timedOut, "Cannot \(what): the registry stayed locked by another process for \(LockWait.seconds(lockTimeoutNanos)).", cause: cause)
            }
            return LockWait.timedOut(trust.path(of: fileName), identity: info.identity, byte: 120, timeoutNanos: lockTimeoutNanos, doing: what)
        default:
            return CBuffFailure(.systemFailure, "Cannot \(what).", cause: cause)
        }
    }

    /// Why SQLite could not open the registry: a path longer than SQLite takes, fewer free
    /// descriptors than SQLite needs at once (the registry, its -wal and its -shm), or what
    /// opening each of them now says. Descriptors are counted, not opened to find the limit:
    /// holding the last ones would starve whatever else this process starts meanwhile
    /// (libdispatch's event loop traps when it cannot get its own).
    private static func whyCannotOpen(_ trust: FileTrust) -> SystemCallFailure.Cause {
        if let resolved = trust.resolvedPath, resolved.utf8.count + 1 + fileName.utf8.count > longestDatabasePath {
            return .nameTooLong
        }
        if !trust.hasFreeDescriptors(descriptorsNeeded) {
            return .tooManyOpenFilesInProcess
        }
        for entry in [fileName] + companionSuffixes.map({ fileName + $0 }) {
            do {
                Sys.close(try trust.openOrCreate(entry, "registry file").descriptor)
            } catch {
                if let system = error.cause as? SystemCallFailure { return system.cause }
            }
        }
        return trust.isReadOnly ? .readOnlyFilesystem : .other
    }
}

extension String {
    /// The string with zeros in front up to `width` characters.
    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
