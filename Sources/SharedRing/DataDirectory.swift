/// A directory holding a registry (`registry.sqlite`) and the ring files it lists; every buffer
/// lives in exactly one. This is where buffers are created, opened, taken over and removed.
///
/// ```swift
/// let directory = DataDirectory.resolve()          // $CBUFF_DIR, else the per-user default
/// var writer = try directory.createBuffer("ticks", itemSize: 8, length: 1024)
/// var reader = try directory.openReader("ticks")   // item size and length come from the registry
/// try writer.push(42)
/// try reader.popItem()                              // 42
/// ```
///
/// Creating the directory object does nothing on disk; the first operation creates the
/// directory and its registry if needed. A directory under `/dev/shm` keeps the rings in
/// memory; anywhere else they persist on disk.
///
/// ### Permissions
///
/// By default everything is private to its owner: directories 0700, the registry and ring files
/// 0600. A directory created with ``Access/group`` is 2770 instead (set-group-ID, so that what
/// is created in it gets its group), and every file created in it 0660: the users of that group
/// can then create, feed and read its buffers. Files follow the directory's actual mode, so an
/// existing directory can be shared later with `chgrp GROUP DIR; chmod 2770 DIR` (files created
/// before keep their mode).
///
/// ### Trust
///
/// The directory and everything in it are input. A directory is used only if this user owns it
/// and no other user can write it, or, with ``Access/group``, if it is shared with a group this
/// user belongs to; every file in it is opened without following symbolic links and used only if
/// it is a regular file owned by this user (or by the sharing group). Anything else is a
/// ``CBuffError/Code/permissionDenied`` or ``CBuffError/Code/corrupted`` error naming the file.
///
/// ### Waiting
///
/// An operation that needs a lock another process holds (the registry's, a ring's reader table)
/// waits at most ``lockTimeout``, then fails with ``CBuffError/Code/timedOut`` naming the holder.
public struct DataDirectory: Sendable, Hashable, CustomStringConvertible {
    /// The directory's path.
    public let path: String
    /// Who may use the directory: what this process creates it with, and whether a directory
    /// shared with a group (owned by another member) is accepted.
    public let access: Access
    /// How long an operation waits for a lock another process holds before it gives up.
    public let lockTimeout: Duration
    /// Whether the path is the per-user default rather than one the user chose: only then does
    /// a missing directory read as "no buffers yet" instead of "not found".
    let isDefault: Bool

    /// Who may use the buffers of a data directory.
    public enum Access: Sendable, Hashable {
        /// The owner only: directories 0700, files 0600.
        case owner
        /// The owner and the directory's group: directories 2770, files 0660; a directory
        /// another member of its group created is accepted too.
        case group
    }

    /// The default ``lockTimeout``.
    public static let defaultLockTimeout: Duration = .seconds(5)

    public init(path: String, access: Access = .owner, lockTimeout: Duration = DataDirectory.defaultLockTimeout) {
        self.init(path: path, access: access, lockTimeout: lockTimeout, isDefault: false)
    }

    init(path: String, access: Access, lockTimeout: Duration, isDefault: Bool) {
        self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        self.access = access
        self.lockTimeout = lockTimeout
        self.isDefault = isDefault
    }

    /// The directory given, else `$CBUFF_DIR`, else ``defaultPath``.
    public static func resolve(_ explicitPath: String? = nil, access: Access = .owner,
                               lockTimeout: Duration = DataDirectory.defaultLockTimeout) -> DataDirectory {
        if let explicitPath, !explicitPath.isEmpty { return DataDirectory(path: explicitPath, access: access, lockTimeout: lockTimeout) }
        if let fromEnvironment = Sys.environment("CBUFF_DIR"), !fromEnvironment.isEmpty {
            return DataDirectory(path: fromEnvironment, access: access, lockTimeout: lockTimeout)
        }
        return DataDirectory(path: defaultPath, access: access, lockTimeout: lockTimeout, isDefault: true)
    }

    /// The per-user default: `$XDG_DATA_HOME/cbuff`, else `$HOME/.local/share/cbuff`, else
    /// `$XDG_RUNTIME_DIR/cbuff` (a private per-user directory, in memory), else `/tmp/cbuff-UID`.
    /// The last is used only if this user owns it and nobody else can write it: a directory
    /// another user created there first is refused with an error, never used.
    public static var defaultPath: String {
        for (variable, suffix) in [("XDG_DATA_HOME", "/cbuff"), ("HOME", "/.local/share/cbuff"), ("XDG_RUNTIME_DIR", "/cbuff")] {
            if let base = Sys.environment(variable), base.hasPrefix("/") { return base + suffix }
        }
        return "/tmp/cbuff-\(Sys.userID())"
    }

    var lockTimeoutNanos: Int64 { lockTimeout.nanoseconds }

    public var description: String { path }

    /// The path of the ring file of buffer `name`.
    public func ringPath(of name: String) -> String {
        path + "/" + Self.ringFileName(of: name)
    }

    static func ringFileName(of name: String) -> String { name + ".ring" }

    /// Where a creator builds a ring file before giving it its name: `.NAME.PID.RANDOM.tmp`.
    static func temporaryFileName(of name: String) -> String {
        ".\(name).\(Sys.processID()).\(UInt32.random(in: 0...UInt32.max)).tmp"
    }

    /// Removes the temporary ring files of creators that died before naming them (a creator
    /// killed between building its file and renaming it leaves one behind), and returns their
    /// paths. A file is debris only when the process its name records is gone and no process
    /// holds its writer lock, so a creation in progress is never touched.
    public func removeDebris() throws(CBuffError) -> [String] {
        guard try hasRegistry() else { return [] }
        let trust = try trust()
        let names = try Sys.directoryEntries(path).orThrow { .system($0, "list the data directory \(path)") }
        var removed: [String] = []
        for name in names where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            let parts = name.dropFirst().dropLast(4).split(separator: ".")
            guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]), !Sys.processExists(pid) else { continue }
            let file = path + "/" + name
            // Only a regular file of ours whose lock is provably free: anything else stays.
            guard (try? RingFile.writerIsAlive(at: file, trust: trust)) == false, case .success = Sys.unlink(file) else { continue }
            removed.append(file)
        }
        return removed
    }

    /// Ring files in this directory that no registry row names and no live writer holds (left
    /// by a lost or replaced registry, or copied in by hand): nothing can open them by name, and
    /// creating a buffer of the same name replaces the file. Listed for people to decide; cbuff
    /// never deletes them on its own, since they may be the only copy of a buffer's items.
    public func unregisteredRingFiles() throws(CBuffError) -> [String] {
        guard try hasRegistry() else { return [] }
        let trust = try trust()
        let registered = Set(try buffers().map { Self.ringFileName(of: $0.name) })
        let names = try Sys.directoryEntries(path).orThrow { .system($0, "list the data directory \(path)") }
        return names.filter { name in
            name.hasSuffix(".ring") && !name.hasPrefix(".") && !registered.contains(name)
                && (try? RingFile.writerIsAlive(at: path + "/" + name, trust: trust)) == false
        }.sorted()
    }

    /// The mode of a new file in `directory`: shared with the group when the directory is.
    static func fileMode(in directory: String) -> UInt32 {
        (Sys.mode(of: directory) ?? 0) & 0o070 == 0o070 ? 0o660 : 0o600
    }

    /// The registry, creating the directory and the registry if needed.
    func registry() throws(CBuffError) -> Registry {
        try makeDirectories(mode: access == .group ? 0o2770 : 0o700)
        return try Registry.open(try trust(), fileMode: Self.fileMode(in: path), lockTimeoutNanos: lockTimeoutNanos)
    }

    /// Checks the directory (see "Trust" above) and returns what its files may be.
    func trust() throws(CBuffError) -> FileTrust {
        try FileTrust.verify(directory: path, access: access)
    }

    /// Whether this directory has a registry yet. Lookups in a directory without one report
    /// "not found" without creating anything. A directory the user chose that does not exist is
    /// "not found" too (only the per-user default may simply not exist yet); one this process
    /// may not enter or may not trust, or a file where the directory should be, is an error.
    func hasRegistry() throws(CBuffError) -> Bool {
        guard try Sys.pathInfo(path).orThrow({ .system($0, "look for the data directory \(path)") }) != nil else {
            if isDefault { return false }
            throw CBuffError(.notFound, "The data directory \(path) does not exist.")
        }
        let trust = try trust()
        let registryPath = path + "/" + Registry.fileName
        guard try Sys.linkInfo(registryPath).orThrow({ .system($0, "look for the registry \(registryPath)") }) != nil else {
            return false
        }
        try trust.checkIfPresent(registryPath, "registry file")
        return true
    }

    /// `mkdir -p`, giving what it creates `mode`.
    private func makeDirectories(mode: UInt32) throws(CBuffError) {
        if Sys.isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if Sys.isDirectory(prefix) { continue }
            try Sys.makeDirectory(prefix, mode: mode).orThrow { .system($0, "create the data directory \(prefix)") }
        }
        guard Sys.isDirectory(path) else {
            throw CBuffError(.invalidArgument, "The data directory \(path) exists but is not a directory.")
        }
    }

    // MARK: Creating and attaching

    /// Creates a buffer and returns its writer.
    ///
    /// The registry row and the ring file appear together: the file is fully built under a
    /// temporary name, then renamed into place and registered in one registry transaction; on
    /// any failure neither remains.
    ///
    /// - Throws: ``CBuffError/Code/invalidArgument`` for a bad name, size or length (before
    ///   anything is created); ``CBuffError/Code/bufferAlreadyCreated`` if the name exists,
    ///   saying whether its writer is alive (with its PID) or gone.
    public func createBuffer(
        _ name: String, itemSize: Int, length: Int, policy: OverflowPolicy = .overwrite
    ) throws(CBuffError) -> BufferWriter {
        try BufferName.validate(name)
        let layout = try RingLayout(itemSize: itemSize, length: length, policy: policy)
        let registry = try registry()
        if let existing = try registry.record(named: name) {
            throw alreadyCreated(existing, trust: registry.trust)
        }
        let finalPath = ringPath(of: name)
        let temporaryPath = path + "/" + Self.temporaryFileName(of: name)
        var file = try RingFile.create(at: temporaryPath, layout: layout, mode: Self.fileMode(in: path))
        guard (try? file.tryLockWriter()) == true else {
            file.unlinkIfStillNamed()
            throw CBuffError(.systemFailure, "Cannot lock the new ring file \(temporaryPath).")
        }
        let (pid, startTime) = file.recordWriter()

        let record = BufferRecord(name: name, itemSize: itemSize, length: length, policy: policy,
                                  file: Self.ringFileName(of: name))
        do throws(CBuffError) {
            try registry.write("register buffer \"\(name)\"") { db in
                if let existing = try BufferRecord.fetch(db, name: name) {
                    throw alreadyCreated(existing, trust: registry.trust)
                }
                // A file without a row is debris of a creator that died between its rename and
                // its commit; it is replaced, unless some process still writes to it.
                // (A symbolic link or FIFO planted there is replaced by the rename, never followed.)
                if (try? RingFile.writerIsAlive(at: finalPath, trust: registry.trust)) == true {
                    throw CBuffError(.writerBusy, "Cannot create buffer \"\(name)\": its ring file \(finalPath) exists without a registry row and a live process writes to it.")
                }
                try file.rename(to: finalPath)
                try record.insert(db, writerPID: pid, writerStartTime: startTime)
            }
        } catch {
            // The transaction rolled back: remove the file under whichever name it has now, unless
            // another creator has already replaced it there.
            file.unlinkIfStillNamed()
            throw error
        }
        return BufferWriter(name: name, file: file)
    }

    /// Becomes the writer of an existing buffer whose writer is gone (crashed or closed). The
    /// sequence continues after the last published item; nothing published is lost.
    ///
    /// - Throws: ``CBuffError/Code/writerBusy`` if a live writer holds it,
    ///   ``CBuffError/Code/notFound`` if there is no such buffer.
    public func takeOver(_ name: String) throws(CBuffError) -> BufferWriter {
        let (registry, record) = try lookUp(name)
        let file = try openRing(of: record, trust: registry.trust)
        guard try file.tryLockWriter() else {
            let pid = Self.describePID(file.header.writerPID.pointee.load(ordering: .relaxed))
            if file.recordedWriterIsActive {
                throw CBuffError(.writerBusy, "Buffer \"\(name)\" already has a live writer\(pid); a buffer has one writer at a time.")
            }
            throw CBuffError(.writerBusy, "Buffer \"\(name)\" is locked, but not by its last writer\(pid) as this process sees it: \(file.writerLockHolders()); stop that process first.")
        }
        let (pid, startTime) = file.recordWriter()
        var writer = BufferWriter(name: name, file: file)
        // The header now holds everything liveness needs; the registry's writer columns are
        // for scripts. A registry that cannot be written (a full disk, a read-only file, a lock
        // held too long) must not stop a writer of an allocated ring, nor leave the buffer
        // looking crashed: the writer goes on, and says what it could not record.
        do throws(CBuffError) {
            try registry.recordWriter(of: record.name, pid: pid, startTime: startTime)
        } catch {
            writer.registryProblem = error
        }
        return writer
    }

    /// Opens a reader of an existing buffer by name alone: item size and length come from the
    /// registry and are checked against the ring file's header.
    ///
    /// - Parameter start: ``ReadStart/oldest`` (default) reads every item still in the ring;
    ///   ``ReadStart/latest`` only items pushed from now on.
    public func openReader(_ name: String, start: ReadStart = .oldest) throws(CBuffError) -> BufferReader {
        let (registry, record) = try lookUp(name)
        return BufferReader(name: name, file: try openRing(of: record, trust: registry.trust), start: start)
    }

    /// Opens the *named* reader `readerName` of buffer `name`: its cursor lives in the ring file,
    /// so a restarted reader resumes where it stopped. The first open registers it, starting at
    /// `start`; later opens resume and ignore `start`.
    ///
    /// Delivery is **at least once**: an item counts as consumed when the reader asks for the
    /// next one (or calls ``BufferReader/commit()``, or closes). A reader killed while processing
    /// an item gets that item again when it restarts (with ``BufferReader/popMany(_:)``, the
    /// whole last batch); it never silently skips one. Items the writer overwrote while the
    /// reader was away are counted in ``BufferReader/missedCount``.
    ///
    /// - Throws: ``CBuffError/Code/readerBusy`` if a live process has this reader open;
    ///   ``CBuffError/Code/invalidArgument`` for a bad name or when the buffer already has its
    ///   maximum of 24 named readers.
    public func openReader(_ name: String, named readerName: String, start: ReadStart = .oldest) throws(CBuffError) -> BufferReader {
        try ReaderTable.validate(readerName)
        let (registry, record) = try lookUp(name)
        let file = try openRing(of: record, trust: registry.trust)
        let slots = file.slots
        let header = file.header
        let claimed = try file.claimReader(readerName, bufferName: name, lockTimeoutNanos: lockTimeoutNanos) {
            RingCursor.startSequence(start == .oldest ? .oldest : .latest, header: header, slots: slots)
        }
        var reader = BufferReader(name: name, file: file, start: start, record: claimed)
        // The ring file's record is the reader's truth, complete now; the registry row is for
        // scripts, so failing to write it (a full disk, say) is reported, not fatal: a
        // registration is never half done.
        do throws(CBuffError) {
            try registry.recordReader(buffer: name, reader: readerName, slot: claimed.index, pid: Sys.processID())
        } catch {
            reader.registryProblem = error
        }
        return reader
    }

    /// Removes named reader `readerName` of buffer `name`, so that it no longer holds a place
    /// (nor, under the `block` policy, the writer).
    ///
    /// - Throws: ``CBuffError/Code/readerBusy`` if a live process has it open and `force` is false;
    ///   ``CBuffError/Code/notFound`` if there is no such reader.
    public func removeReader(_ readerName: String, of name: String, force: Bool = false) throws(CBuffError) {
        try ReaderTable.validate(readerName)
        let (registry, record) = try lookUp(name)
        let file = try openRing(of: record, trust: registry.trust)
        try file.withReaderTableLocked(timeoutNanos: lockTimeoutNanos) { () throws(CBuffError) in
            guard let index = file.readerTable.index(of: readerName) else {
                throw CBuffError(.notFound, "Buffer \"\(name)\" has no named reader \"\(readerName)\".")
            }
            if !force && file.isReaderAlive(index) {
                throw CBuffError(.readerBusy, "Named reader \"\(readerName)\" of buffer \"\(name)\" is in use by a live process (PID \(file.readerTable.pid(index))); stop it first or force the removal.")
            }
            file.readerTable.clear(index)
            // A writer held back by this reader re-reads the table and goes on.
            file.header.readersVersion.pointee.add(1, ordering: .sequentiallyConsistent)
            file.header.wakeWriter()
        }
        try registry.deleteReader(buffer: name, reader: readerName)
    }

    /// The registry and the buffer's row.
    private func lookUp(_ name: String) throws(CBuffError) -> (Registry, BufferRecord) {
        try BufferName.validate(name)
        guard try hasRegistry() else {
            throw CBuffError(.notFound, "No buffer named \"\(name)\": \(path) holds no cbuff registry.")
        }
        let registry = try registry()
        guard let record = try registry.record(named: name) else { throw notFound(name) }
        return (registry, record)
    }

    /// Opens the buffer's ring file, checking that it agrees with the registry row.
    private func openRing(of record: BufferRecord, trust: FileTrust) throws(CBuffError) -> RingFile {
        let file = try RingFile.open(at: ringPath(of: record.name), bufferName: record.name, trust: trust)
        let layout = file.layout
        guard layout.itemSize == record.itemSize, layout.length == record.length, layout.policy == record.policy else {
            throw CBuffError(.corrupted, "Buffer \"\(record.name)\" is damaged: the registry says item size \(record.itemSize), length \(record.length), policy \(record.policy), but its ring file \(file.path) says \(layout.itemSize), \(layout.length), \(layout.policy).")
        }
        return file
    }

    // MARK: Listing and removing

    /// Every registered buffer, by name.
    public func buffers() throws(CBuffError) -> [BufferRecord] {
        guard try hasRegistry() else { return [] }
        return try registry().allRecords()
    }

    /// The registry row of one buffer.
    public func record(of name: String) throws(CBuffError) -> BufferRecord {
        try lookUp(name).1
    }

    /// Whether a live process is the writer of `name` (decided by the lock it holds).
    ///
    /// - Throws: when that cannot be decided (the ring file cannot be examined): never read as
    ///   "no writer".
    public func hasLiveWriter(_ name: String) throws(CBuffError) -> Bool {
        let (registry, record) = try lookUp(name)
        return try RingFile.writerIsAlive(at: ringPath(of: record.name), trust: registry.trust)
    }

    /// Deletes a buffer's ring file and registry row, in one registry transaction. A row too
    /// damaged to read can still be removed: the ring file is the one its name gives.
    ///
    /// - Parameter force: remove it even while a live writer holds it (that writer keeps its
    ///   mapping, but nobody can open the buffer again).
    /// - Throws: ``CBuffError/Code/writerBusy`` when a live writer holds it and `force` is false;
    ///   the error that kept it from telling, when it cannot tell whether a writer is alive.
    public func removeBuffer(_ name: String, force: Bool = false) throws(CBuffError) {
        try removeBuffer(name, force: force, unless: nil)
    }

    /// Removes `name` as ``removeBuffer(_:force:)`` does, unless `keep`, given the ring file
    /// inside the removal's transaction, throws; a ring file that cannot be opened then keeps
    /// the buffer too (what `keep` would look at cannot be seen).
    func removeBuffer(_ name: String, force: Bool, unless keep: ((borrowing RingFile) throws(CBuffError) -> Void)?) throws(CBuffError) {
        try BufferName.validate(name)
        guard try hasRegistry() else { throw notFound(name) }
        let registry = try registry()
        let file = ringPath(of: name)
        try registry.write("remove buffer \"\(name)\"") { db in
            guard try Registry.hasRow(db, name: name) else { throw notFound(name) }
            if !force {
                let alive: Bool
                do throws(CBuffError) {
                    alive = try RingFile.writerIsAlive(at: file, trust: registry.trust)
                } catch {
                    throw CBuffError(error.code, "Buffer \"\(name)\" was not removed: cannot tell whether a writer holds it. \(error.message)", cause: error.cause)
                }
                if alive {
                    let pid = (try? BufferRecord.fetch(db, name: name))??.writerPID
                    throw CBuffError(.writerBusy, "Buffer \"\(name)\" has a live writer\(Self.describePID(pid.map { UInt32(bitPattern: $0) } ?? 0)); stop it first or force the removal.")
                }
                if let keep {
                    let ring: RingFile
                    do throws(CBuffError) {
                        ring = try RingFile.open(at: file, bufferName: name, trust: registry.trust, writable: false)
                    } catch {
                        throw CBuffError(error.code, "kept \"\(name)\": its ring file cannot be read now. \(error.message)")
                    }
                    try keep(ring)
                }
            }
            try BufferRecord.delete(db, name: name)
            // unlink never follows a symbolic link: what goes is the directory entry itself.
            if case .failure(let failure) = Sys.unlink(file), !failure.isNotFound {
                throw CBuffError.system(failure, "delete ring file \(file)")
            }
        }
    }

    private func notFound(_ name: String) -> CBuffError {
        CBuffError(.notFound, "No buffer named \"\(name)\" in \(path).")
    }

    // MARK: Errors

    private func alreadyCreated(_ record: BufferRecord, trust: FileTrust) -> CBuffError {
        if (try? RingFile.writerIsAlive(at: ringPath(of: record.name), trust: trust)) == true {
            return CBuffError(.bufferAlreadyCreated, "Buffer \"\(record.name)\" already exists and its writer\(Self.describePID(record.writerPID.map { UInt32(bitPattern: $0) } ?? 0)) is alive.")
        }
        return CBuffError(.bufferAlreadyCreated, "Buffer \"\(record.name)\" already exists and its writer is gone; take it over to resume writing, or remove it first.")
    }

    private static func describePID(_ pid: UInt32) -> String {
        pid == 0 ? "" : " (PID \(pid))"
    }
}

/// Where a new reader starts.
public enum ReadStart: Sendable, Hashable, CaseIterable {
    /// The oldest item still in the ring (the seed library's behaviour).
    case oldest
    /// Only items pushed after the reader opened.
    case latest
}
