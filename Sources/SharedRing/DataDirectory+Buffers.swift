internal import SharedRingSystem
internal import SharedRingCommon
internal import SharedRingProtocol
internal import SharedRingRegistry

// Creating buffers, attaching writers and anonymous readers, looking buffers up.
extension DataDirectory {
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
        try createBuffer(name, itemSize: itemSize, length: length, policy: policy, itemType: .plain)
    }

    /// Creates a buffer of the ``OverflowPolicy/block`` policy whose writer stops waiting for a
    /// named reader that is gone: one whose process is not alive (decided by the lock it holds
    /// while it has the reader open, never by its PID) and which has held the writer back for
    /// longer than `tetherTimeout` (from the moment the writer found the ring full of what it
    /// had not consumed) is *untethered*: the writer goes on, overwriting what that reader had
    /// not read, and says so once (a warning through the library's logger, and
    /// ``NamedReaderStatus/untethered`` in ``status(of:)``). When the reader is opened again, it
    /// counts exactly what it missed in ``BufferReader/missedCount``, resumes at the oldest item
    /// still present and holds the writer back again. A live reader is never untethered,
    /// however slow. As Aeron's untethered subscriptions; the timeout is recorded in the ring
    /// file (see <doc:RingFileFormat>), so every writer that takes the buffer over keeps it.
    ///
    /// - Parameters:
    ///   - name: the buffer's name.
    ///   - itemSize: bytes per item.
    ///   - length: number of items the ring holds.
    ///   - policy: ``OverflowPolicy/block`` (a tether timeout under overwrite is refused).
    ///   - tetherTimeout: at most 30 days; `.zero` is off: the writer waits for every named
    ///     reader without limit, as ``createBuffer(_:itemSize:length:policy:)`` makes it.
    ///   - sync: when its writers sync on their own (``SyncPolicy``; recorded in the ring file,
    ///     so every later writer follows it too). `.none`, the default, syncs only on
    ///     ``BufferWriter/sync()``.
    ///   - integrity: whether its slots carry check words (``ItemIntegrity``): by default on a
    ///     disk, not in memory.
    /// - Throws: as ``createBuffer(_:itemSize:length:policy:)``; ``CBuffError/Code/invalidArgument``
    ///   for a negative or too long timeout, or one under ``OverflowPolicy/overwrite``, or a sync
    ///   policy out of range, or a ring of more than 2^30 items whose slots would carry check words.
    public func createBuffer(
        _ name: String, itemSize: Int, length: Int, policy: OverflowPolicy, tetherTimeout: Duration, sync: SyncPolicy = .none,
        integrity: ItemIntegrity = .automatic
    ) throws(CBuffError) -> BufferWriter {
        let (tether, syncing) = try lifted { () throws(CBuffFailure) in (try Self.tetherNanos(tetherTimeout), try sync.recorded()) }
        return try createBuffer(name, itemSize: itemSize, length: length, policy: policy, itemType: .plain, tetherNanos: tether,
                                syncPolicy: syncing, integrity: integrity)
    }

    /// Creates a buffer of plain items, with or without a check word in every slot (see
    /// ``ItemIntegrity``): ``createBuffer(_:itemSize:length:policy:)`` with a choice of integrity.
    public func createBuffer(_ name: String, itemSize: Int, length: Int, policy: OverflowPolicy = .overwrite,
                             integrity: ItemIntegrity) throws(CBuffError) -> BufferWriter {
        try createBuffer(name, itemSize: itemSize, length: length, policy: policy, itemType: .plain, integrity: integrity)
    }

    /// A tether timeout in nanoseconds, checked (see ``createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)``).
    static func tetherNanos(_ timeout: Duration) throws(CBuffFailure) -> UInt64 {
        let (seconds, attoseconds) = timeout.components
        guard seconds >= 0, attoseconds >= 0 else {
            throw CBuffFailure(.invalidArgument, "A tether timeout cannot be negative (\(timeout)).")
        }
        guard UInt64(seconds) <= Limits.maxTetherNanos / 1_000_000_000 else {
            throw CBuffFailure(.invalidArgument, "A tether timeout of \(seconds) s is beyond the longest, \(Limits.maxTetherNanos / 86_400_000_000_000) days.")
        }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Creates a buffer whose items are described by `itemType`, with a tether timeout of
    /// `tetherNanos` (0: off): of format version 4, a check word in every slot, where
    /// `integrity` says so (decided in `createRing`, which knows the directory's file system),
    /// else 3, or 2 for plain items (see `RingFileFormat.md`). Every creation of a buffer of
    /// items comes through here.
    func createBuffer(
        _ name: String, itemSize: Int, length: Int, policy: OverflowPolicy, itemType: ItemType, tetherNanos: UInt64 = 0,
        syncPolicy: RingSyncPolicy = .none, integrity: ItemIntegrity = .automatic
    ) throws(CBuffError) -> BufferWriter {
        try lifted { () throws(CBuffFailure) -> BufferWriter in
            let layout = try RingLayout(itemSize: itemSize, length: length, policy: Policy(policy), itemType: itemType)
                .tethered(tetherNanos).syncing(syncPolicy)
            return BufferWriter(name: name, file: try createRing(name, layout: layout, integrity: integrity))
        }
    }

    /// Creates a buffer with no writer attached, and registers its named readers `readers`
    /// before anything can be pushed: what an operator's `cbuff create NAME --reader ID` does.
    /// Nobody becomes its writer, so nothing about this process is recorded: the buffer reads
    /// as never written (writer state "never", no writer PID) until a writer takes it over
    /// (``takeOver(_:)``), and its named readers name no process until one opens them. They
    /// are registered in the ring file before it gets its name, so no writer can publish an
    /// item they miss, and under ``OverflowPolicy/block`` the first writer waits for them.
    ///
    /// - Parameters:
    ///   - name: the buffer's name.
    ///   - itemSize: bytes per item (the fields' size when `layout` is given).
    ///   - length: the number of items the ring holds.
    ///   - policy: what a push does when the ring is full.
    ///   - layout: the items' fields (format version 3), or nil for plain items.
    ///   - tetherTimeout: as ``createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)`` has it (`.zero`: off).
    ///   - readers: the named readers to register with it (at most 24).
    ///   - sync: its sync policy (see ``createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)``).
    ///   - integrity: whether its slots carry check words (see ``ItemIntegrity``).
    /// - Returns: the ring file's format version (4 when its slots carry check words).
    /// - Throws: as ``createBuffer(_:itemSize:length:policy:)``; ``CBuffError/Code/invalidArgument``
    ///   for a bad reader name or more than 24 readers (before anything is created).
    @discardableResult
    package func createBufferWithoutWriter(
        _ name: String, itemSize: Int, length: Int, policy: OverflowPolicy = .overwrite, layout: ItemLayout? = nil,
        tetherTimeout: Duration = .zero, readers: [String] = [], sync: SyncPolicy = .none, integrity: ItemIntegrity = .automatic
    ) throws(CBuffError) -> Int {
        try lifted { () throws(CBuffFailure) -> Int in
            let itemType = try layout.map { (layout: ItemLayout) throws(CBuffFailure) in try ItemType(alignment: layout.alignment, name: nil, fields: layout.storage) } ?? .plain
            let ring = try RingLayout(itemSize: itemSize, length: length, policy: Policy(policy), itemType: itemType)
                .tethered(try Self.tetherNanos(tetherTimeout)).syncing(try sync.recorded())
            return Int(try createRing(name, layout: ring, integrity: integrity, attachingWriter: false, readers: readers).layout.version)
        }
    }

    /// ``createBufferWithoutWriter(_:itemSize:length:policy:layout:tetherTimeout:readers:sync:)`` for a buffer of
    /// variable-size messages (see ``createMessageBuffer(_:capacity:maxMessageSize:policy:preciseTime:)``).
    package func createMessageBufferWithoutWriter(
        _ name: String, capacity: Int, maxMessageSize: Int, policy: OverflowPolicy = .overwrite, preciseTime: Bool = false,
        tetherTimeout: Duration = .zero, readers: [String] = [], sync: SyncPolicy = .none
    ) throws(CBuffError) {
        try lifted { () throws(CBuffFailure) in
            let ring = try RingLayout(messages: try MessageGeometry(capacity: capacity, maxMessage: maxMessageSize),
                                  policy: Policy(policy), preciseTime: preciseTime)
                .tethered(try Self.tetherNanos(tetherTimeout)).syncing(try sync.recorded())
            _ = try createRing(name, layout: ring, attachingWriter: false, readers: readers)
        }
    }

    /// Creates the ring file and registry row of a new buffer of geometry `layout`, and
    /// returns the file with this process attached as its writer, or, unless
    /// `attachingWriter`, with no writer ever attached (its state reads "never" until a writer
    /// takes it over; the row's writer columns stay NULL). Named readers `readers` are
    /// registered in the file before it gets its name, opened by no process.
    ///
    /// ### Creation and machine crashes
    ///
    /// A process crash leaves the page cache as it was; a machine crash or power loss leaves
    /// only what reached the disk, so the order in which things become durable is the order
    /// below (issue 26: a power cut seconds after a create left a registry row over an all-zero
    /// ring file). The registry commits with SQLite's `synchronous = FULL` (the WAL is synced
    /// before the commit returns; see `Registry`), so the row is the last thing to become
    /// durable, and everything it names is durable before it:
    ///
    /// 1. the file is built under a temporary name (`RingFile.create`), locked, its readers
    ///    registered and its writer attached;
    /// 2. `fsync` of the file: its header and everything above are on disk;
    /// 3. in the registry transaction: the rename to its final name, then `fsync` of the
    ///    directory: the name is on disk;
    /// 4. the commit: the row is on disk.
    ///
    /// What a crash leaves at each point, and who reads it correctly:
    /// - during 1 or 2: a temporary file (possibly empty or all zeros), no row: the debris
    ///   `rm --dead` deletes once no process has its creator's PID (see `debris()`);
    /// - during 3 (the rename durable or not): the temporary file or a final-named file with a
    ///   whole header (step 2 came first) in which nothing was ever published, no row: a
    ///   create of the name replaces it (`checkReplaceable`), `rm NAME` deletes it;
    /// - after 4: the row and a whole file under it.
    ///
    /// A file system that loses synced data anyway can still leave a row over a missing or
    /// all-zero file: every command then names that state and `cbuff rm NAME` (see
    /// ``lostRing(_:in:)``). A failing `fsync` of steps 2 or 3 fails the create: the transaction
    /// rolls back and the file is removed, so nothing is left. A failing commit (step 4: the
    /// log's sync) is not a rollback: its frames may be in the log, and SQLite's next recovery
    /// finds the row (`Registry.CommitOutcomeUnknown`); the file is kept, and the error says so.
    func createRing(_ name: String, layout given: RingLayout, integrity: ItemIntegrity? = nil, attachingWriter: Bool = true,
                    readers: [String] = []) throws(CBuffFailure) -> RingFile {
        try BufferName.validate(name)
        for reader in readers { try ReaderTable.validate(reader) }
        let registry = try registry()
        let trust = registry.trust
        // A ring of items gets its slots' check words here, where the directory's file system
        // is known (see `ItemIntegrity.automatic`).
        let layout = try integrity.map { (integrity) throws(CBuffFailure) in
            try given.checkingSlots(integrity.checksSlots(inMemory: trust.isInMemory, length: given.length))
        } ?? given
        // Whether the name is taken is checked once, in the transaction that registers it (a
        // name taken meanwhile costs only the temporary file, removed below).
        let finalEntry = BufferRow.fileName(of: name)
        var file = try RingFile.create(temporaryRingEntry(of: name), in: trust, layout: layout)
        // The lock is held until the file is registered, attached or not: `writerIsAlive` below
        // and a creator that would replace this file meanwhile see it as in use.
        guard (try? file.tryLockWriter()) == true else {
            file.unlinkIfStillNamed()
            throw CBuffFailure(.systemFailure, "Cannot lock the new ring file \(file.path).")
        }
        let registeredReaders: [(name: String, index: Int)]
        do throws(CBuffFailure) {
            registeredReaders = try file.registerUnopenedReaders(readers, bufferName: name)
        } catch {
            file.unlinkIfStillNamed()
            throw error
        }
        let (pid, startTime): (Int32?, UInt64?) = attachingWriter ? file.attachWriter() : (nil, nil)
        do throws(CBuffFailure) {   // step 2 above
            try Sys.synchronize(file.descriptor).orThrow { .system($0, "make the new ring file \(file.path) durable") }
        } catch {
            if attachingWriter { file.detachWriter() }
            file.unlinkIfStillNamed()
            throw error
        }
        let row = BufferRow(name: name, itemSize: layout.itemSize, length: layout.length, policy: layout.policy,
                            formatVersion: Int(layout.version), itemType: layout.itemType, messages: layout.messages,
                            ringCreatedNanos: file.createdAt)
        do throws(CBuffFailure) {
            try registry.write("register buffer \"\(name)\"") { (registered: RegistryTransaction) throws(CBuffFailure) in
                if let existing = try registered.row(named: name) {
                    throw alreadyCreated(existing, trust: trust)
                }
                // A damaged row's file is kept, named by that row (its name cannot look it up).
                if let holder = try registered.nameOfRow(holdingFile: finalEntry) {
                    throw CBuffFailure(.bufferAlreadyCreated, "Cannot create buffer \"\(name)\": its ring file \(trust.path(of: finalEntry)) belongs to the registry row named \"\(holder.escapingControlCharacters)\", which is damaged; remove that row first (cbuff rm with its exact name removes only the row).")
                }
                try Self.checkReplaceable(finalEntry, of: name, in: trust)
                try file.rename(to: finalEntry)
                try trust.synchronize(after: "naming ring file \(trust.path(of: finalEntry))")   // step 3 above
                try registered.insert(row, writerPID: pid, writerStartTime: startTime)
                for reader in registeredReaders {
                    try registered.insertUnopenedReader(buffer: name, reader: reader.name, slot: reader.index)
                }
            }
        } catch {
            if attachingWriter { file.detachWriter() }
            // The commit failed: whether the row is in the registry cannot be told (its frames
            // may be in the log, where the next open finds them; see `CommitOutcomeUnknown`).
            // The file stays at its name: under the row it is a whole buffer; without one it is
            // a ring file in which nothing was ever written, which the next create of the name
            // replaces. (Deleting it left a row over a missing file: issue 26.)
            if error.cause is Registry.CommitOutcomeUnknown {
                let quoted = name.escapingControlCharacters
                throw CBuffFailure(error.code, "\(error.message) Whether buffer \"\(quoted)\" was created cannot be told (a commit that fails may still be in the registry's log), so its ring file \(trust.path(of: finalEntry)) is kept: `cbuff inspect \(quoted)` says whether it is registered; if it is not, `cbuff create \(quoted)` replaces that empty file, or `cbuff rm \(quoted)` removes it.", cause: error.cause)
            }
            // The transaction rolled back: remove the file under whichever name it has now, unless
            // another creator has already replaced it there.
            file.unlinkIfStillNamed()
            throw error
        }
        return file   // unattached: its lock goes when the caller closes it
    }

    /// Throws unless whatever is at ring file `entry` of a buffer without a row may be replaced
    /// by a new ring file without losing anything: nothing there; a symbolic link, FIFO or
    /// socket planted there (the rename replaces the entry, never follows it; a directory makes
    /// the rename fail, in words); or the debris of a creator killed between its rename and its
    /// commit, which no process holds and in which nothing was ever written. Any other file is
    /// someone's data (a registry lost or replaced, a removal killed before its last step, a row
    /// too damaged to be found by its name): cbuff never replaces it.
    static func checkReplaceable(_ entry: String, of name: String, in trust: FileTrust) throws(CBuffFailure) {
        guard trust.kind(of: entry) == .regular else { return }
        let path = trust.path(of: entry)
        if (try? RingFile.writerIsAlive(entry, in: trust)) == true {
            throw CBuffFailure(.writerBusy, "Cannot create buffer \"\(name)\": its ring file \(path) exists without a registry row and a live process writes to it.")
        }
        // A file with no ring header (see `LostRing`) holds nothing a ring file could: it goes.
        if case .zeroed? = lostRing(entry, in: trust) { return }
        let written: UInt64?
        do throws(CBuffFailure) {
            let file = try RingFile.open(entry, in: trust, writable: false) { .system($0, "open ring file \(path)") }
            written = try file.snapshot().claimed
        } catch {
            written = nil
        }
        guard written == 0 else {
            let holds = written.map { "holds data (\($0) written)" } ?? "cannot be read as an empty ring"
            throw CBuffFailure(.bufferAlreadyCreated, "Cannot create buffer \"\(name)\": a ring file \(path) is there without a registry row and \(holds), left by a lost registry or an interrupted removal; cbuff never replaces it. Move it away or delete it, then create the buffer again.")
        }
    }

    /// Becomes the writer of an existing buffer whose writer is gone (crashed or closed). The
    /// sequence continues after the last published item; nothing published is lost.
    ///
    /// - Throws: ``CBuffError/Code/writerBusy`` if a live writer holds it,
    ///   ``CBuffError/Code/notFound`` if there is no such buffer.
    public func takeOver(_ name: String) throws(CBuffError) -> BufferWriter {
        try lifted { () throws(CBuffFailure) -> BufferWriter in
            let taken = try takeOverRing(name, holding: .items)
            let problem = taken.registryProblem
            var writer = BufferWriter(name: name, file: taken.file)
            writer.registryProblem = problem
            return writer
        }
    }

    /// A ring file this process became the writer of, why the registry could not say so, and,
    /// for a ring of messages, its state as observed under the writer lock.
    struct TakenOver: ~Copyable {
        var file: RingFile
        let registryProblem: CBuffError?
        let messages: MessageRingState?
    }

    /// Locks and attaches to the ring of buffer `name` as its writer (see ``takeOver(_:)``).
    func takeOverRing(_ name: String, holding kind: RingKind) throws(CBuffFailure) -> TakenOver {
        let opened = try openBuffer(name, holding: kind)
        let registry = opened.registry, row = opened.row
        let file = opened.file
        guard try file.tryLockWriter() else {
            let pid = Self.describePID(file.recordedWriterPID)
            if file.recordedWriterIsRunning {
                throw CBuffFailure(.writerBusy, "Buffer \"\(name)\" already has a live writer\(pid); a buffer has one writer at a time.")
            }
            throw CBuffFailure(.writerBusy, "Buffer \"\(name)\" is locked, but not by its last writer\(pid) as this process sees it: \(file.writerLockHolders()); stop that process first.")
        }
        // A message ring is checked under the lock, before this process marks itself its writer:
        // a damaged one is refused as it is found, untouched (see `MessageInvariants.swift`).
        let messages = kind == .messages ? try file.observeMessages() : nil
        let previousPID = file.recordedWriterPID
        let died = file.recordedWriterState == .attached
        // Nothing here is synced (unlike `createRing`): a take-over changes only the header's
        // writer words (PID, start time, generation, state, and its boot: a torn boot reads as
        // an earlier one, which says no more than may be true), and a machine crash that keeps
        // any mixture of their old and new values leaves a file every command reads as it
        // should, a buffer whose writer is not alive (liveness is the writer lock's, which a
        // reboot releases), which the next take-over attaches to again. Its geometry and
        // counters, which the checks on open read, are not touched.
        let (pid, startTime) = file.attachWriter()
        Diagnostics.note(.writer, "took over buffer \"\(name)\" at position \(file.published): its last writer\(Self.describePID(previousPID)) \(died ? "died without closing" : "had closed or never attached")")
        // The header now holds everything liveness needs; the registry's writer columns are
        // for scripts. A registry that cannot be written (a full disk, a read-only file, a lock
        // held too long) must not stop a writer of an allocated ring, nor leave the buffer
        // looking crashed: the writer goes on, and says what it could not record.
        do throws(CBuffFailure) {
            try registry.recordWriter(of: row.name, pid: pid, startTime: startTime)
            return TakenOver(file: file, registryProblem: nil, messages: messages)
        } catch {
            return TakenOver(file: file, registryProblem: CBuffError(error), messages: messages)
        }
    }

    /// Opens a reader of an existing buffer by name alone: item size and length come from the
    /// registry and are checked against the ring file's header.
    ///
    /// - Parameters:
    ///   - name: the buffer's name.
    ///   - start: ``ReadStart/oldest`` (default) reads every item still in the ring;
    ///     ``ReadStart/latest`` only items pushed from now on.
    public func openReader(_ name: String, start: ReadStart = .oldest) throws(CBuffError) -> BufferReader {
        try lifted { () throws(CBuffFailure) -> BufferReader in
            let opened = try openBuffer(name, holding: .items, readOnlyOnReadOnlyMount: true)
            return BufferReader(name: name, file: opened.file, start: start.cursorStart)
        }
    }

    /// Opens a reader of buffer `name` that starts at item `sequence`: a replay. If that item
    /// is still in the ring, the first pop returns it; if it was overwritten, the reader starts
    /// at the oldest item still present and counts every item it skipped in
    /// ``BufferReader/missedCount``, as a lapped reader does.
    ///
    /// - Parameters:
    ///   - name: the buffer's name.
    ///   - sequence: the first item wanted; at most ``BufferWriter/nextSequence`` (which reads
    ///     only items pushed from now on, as ``ReadStart/latest`` does).
    /// - Throws: ``CBuffError/Code/invalidArgument`` for a sequence beyond the next one to be
    ///   published (the message says how many were).
    public func openReader(_ name: String, at sequence: UInt64) throws(CBuffError) -> BufferReader {
        try lifted { () throws(CBuffFailure) -> BufferReader in
            let opened = try openBuffer(name, holding: .items, readOnlyOnReadOnlyMount: true)
            let file = opened.file
            let published = file.published
            guard sequence <= published else { throw Self.beyondPublished(name, published, sequence) }
            return BufferReader(name: name, file: file, start: .at(sequence))
        }
    }

    // MARK: Looking up

    /// Every registered buffer, by name.
    public func buffers() throws(CBuffError) -> [BufferRecord] {
        try lifted { () throws(CBuffFailure) in try rows().map(BufferRecord.init) }
    }

    /// The registry row of one buffer.
    public func record(of name: String) throws(CBuffError) -> BufferRecord {
        try lifted { () throws(CBuffFailure) in BufferRecord(try lookUp(name).row) }
    }

    /// Whether a live process is the writer of `name` (decided by the lock it holds).
    ///
    /// - Throws: when that cannot be decided (the ring file cannot be examined): never read as
    ///   "no writer".
    public func hasLiveWriter(_ name: String) throws(CBuffError) -> Bool {
        try lifted { () throws(CBuffFailure) in
            let (registry, row) = try lookUp(name)
            return try RingFile.writerIsAlive(row.file, in: registry.trust)
        }
    }

    /// Every row, by name; none when the directory has no registry yet.
    func rows() throws(CBuffFailure) -> [BufferRow] {
        try existingRegistry()?.allRows() ?? []
    }

    /// The registry and the buffer's row: the directory checked once, the registry opened
    /// (or reused) without any lock, the row read by one statement.
    func lookUp(_ name: String) throws(CBuffFailure) -> (registry: Registry, row: BufferRow) {
        try BufferName.validate(name)
        guard let registry = try existingRegistry() else {
            throw CBuffFailure(.notFound, "No buffer named \"\(name)\": \(path) holds no cbuff registry.")
        }
        guard let row = try registry.row(named: name) else { throw notFound(name) }
        return (registry, row)
    }

    /// What a ring holds, for the calls that handle only one kind.
    enum RingKind {
        case items, messages
    }

    /// A buffer's registry, row and ring file, the file checked against the row.
    struct OpenedBuffer: ~Copyable {
        let registry: Registry
        let row: BufferRow
        var file: RingFile
    }

    /// Looks buffer `name` up and opens its ring file (see ``openRing(of:trust:holding:readOnlyOnReadOnlyMount:)``),
    /// seeing the buffer as it was before or after any remove, create or take-over that runs
    /// meanwhile, never a mixture.
    ///
    /// The row is read without a lock, then the file opened; a remove and a create of the same
    /// name in between can make the file missing, or another buffer's. An open that fails in a
    /// way they explain is done again under the registry's write lock (``settled(_:_:)``),
    /// where none is half done: what it finds there (not found, the new buffer, or the
    /// failure again) is the answer. A healthy buffer's open never takes that lock.
    func openBuffer(_ name: String, holding kind: RingKind? = nil, readOnlyOnReadOnlyMount: Bool = false) throws(CBuffFailure) -> OpenedBuffer {
        let (registry, row) = try lookUp(name)
        let failure: CBuffFailure
        do throws(CBuffFailure) {
            let file = try openRing(of: row, trust: registry.trust, holding: kind, readOnlyOnReadOnlyMount: readOnlyOnReadOnlyMount)
            // A reader or writer of messages recovers the ring first if a machine crash left it
            // needing that (see `MessageRecovery.swift`); nothing is delivered before.
            if kind == .messages { _ = try file.recoverIfPending(lockTimeoutNanos: lockTimeoutNanos) }
            return OpenedBuffer(registry: registry, row: row, file: file)
        } catch {
            failure = error
        }
        guard failure.code == .corrupted || failure.code == .notFound else { throw failure }
        var opened: OpenedBuffer?
        var answer: CBuffFailure?
        let looked = settled(registry, name) { (now: BufferRow?) in
            do throws(CBuffFailure) {
                guard let now else { throw notFound(name) }
                let file = try openRing(of: now, trust: registry.trust, holding: kind)
                if kind == .messages { _ = try file.recoverIfPending(lockTimeoutNanos: lockTimeoutNanos) }
                opened = OpenedBuffer(registry: registry, row: now, file: file)
            } catch {
                answer = error
            }
        }
        guard looked else { throw failure }
        if let answer { throw answer }
        switch consume opened {
        case .some(let opened): return opened
        case .none: throw failure
        }
    }

    /// Runs `body` with buffer `name`'s row read under the registry's write lock (nil: no such
    /// row), where no create or remove is half done: each renames or unlinks the ring file
    /// inside the write transaction that inserts or deletes its row, so under that lock the file
    /// and the row agree, and whatever `body` finds is settled. Nothing is written. Returns
    /// false, without running `body`, when that lock cannot be had (a read-only registry, a
    /// lock held too long): the caller's first look then stands. Taken only after a failure.
    func settled(_ registry: Registry, _ name: String, _ body: (BufferRow?) -> Void) -> Bool {
        do throws(CBuffFailure) {
            try registry.readUnderWriteLock("look again at buffer \"\(name)\"") { (registered: RegistryTransaction) throws(CBuffFailure) in
                body(try registered.row(named: name))
            }
            return true
        } catch {
            return false
        }
    }

    /// Opens the buffer's ring file, checking that it agrees with the registry row, and, when
    /// `kind` is given, that it holds that kind (before its file is touched).
    ///
    /// `readOnlyOnReadOnlyMount`: an anonymous reader, which stores nothing to the file, maps it
    /// read-only when the data directory is on a read-only mount; everyone else then fails
    /// with the sentence the errno table gives (read-only).
    func openRing(of row: BufferRow, trust: FileTrust, holding kind: RingKind? = nil, writable: Bool = true, readOnlyOnReadOnlyMount: Bool = false) throws(CBuffFailure) -> RingFile {
        switch (kind, row.messages) {
        case (.items?, _?):
            throw CBuffFailure(.typeMismatch, "Buffer \"\(row.name)\" holds variable-size messages, not items; use its message writer and readers (cbuff push and tail handle both).")
        case (.messages?, nil):
            throw CBuffFailure(.typeMismatch, "Buffer \"\(row.name)\" holds items of \(row.itemSize) bytes, not variable-size messages.")
        default: break
        }
        let file = try openingRing(of: row.name, in: trust) { () throws(CBuffFailure) in
            try RingFile.open(row.file, in: trust, writable: writable, readOnlyOnReadOnlyMount: readOnlyOnReadOnlyMount) { missingRing(row.name, $0) }
        }
        if let problem = Self.disagreement(of: row, with: file) { throw problem }
        return file
    }

    /// `open`'s ring file of buffer `name`, or its failure, said as the lost-ring sentence when
    /// the file holds no ring (see ``LostRing``): every open of a registered buffer's ring file
    /// goes through here.
    func openingRing(of name: String, in trust: FileTrust, _ open: () throws(CBuffFailure) -> RingFile) throws(CBuffFailure) -> RingFile {
        do throws(CBuffFailure) {
            return try open()
        } catch {
            throw explainingLostRing(error, of: name, in: trust)
        }
    }

    /// Why `file` is not the ring file of `row` (``BufferRow/disagreement(withHeader:path:)``,
    /// the one rule), or nil. Every open of a buffer's ring file that has its row asks.
    static func disagreement(of row: BufferRow, with file: borrowing RingFile) -> CBuffFailure? {
        let layout = file.layout
        let header = BufferRow.Header(formatVersion: Int(layout.version), itemSize: layout.itemSize, length: layout.length,
                                      policy: layout.policy, itemType: layout.itemType, messages: layout.messages,
                                      createdAt: file.createdAt)
        return row.disagreement(withHeader: header, path: file.path)
    }

    // MARK: Errors

    /// The failure for a replay asked to start after the next item to be published.
    static func beyondPublished(_ name: String, _ published: UInt64, _ sequence: UInt64) -> CBuffFailure {
        CBuffFailure(.invalidArgument, "Buffer \"\(name)\" has published \(published) item\(published == 1 ? "" : "s") (the next is sequence \(published)); a reader cannot start at \(sequence).")
    }

    /// The failure for a registered buffer whose ring file is not there.
    func missingRing(_ name: String, _ failure: SystemCallFailure) -> CBuffFailure {
        lostRingFailure(name, .missing(temporaries: []), cause: failure)
    }

    func notFound(_ name: String) -> CBuffFailure {
        CBuffFailure(.notFound, "No buffer named \"\(name)\" in \(path).")
    }

    private func alreadyCreated(_ row: BufferRow, trust: FileTrust) -> CBuffFailure {
        if (try? RingFile.writerIsAlive(row.file, in: trust)) == true {
            return CBuffFailure(.bufferAlreadyCreated, "Buffer \"\(row.name)\" already exists and its writer\(Self.describePID(row.writerPID.map { UInt32(bitPattern: $0) } ?? 0)) is alive.")
        }
        if let lost = Self.lostRing(row.file, in: trust) {
            return CBuffFailure(.bufferAlreadyCreated, "Cannot create buffer \"\(row.name)\": it is registered but \(lostRingSentence(row.name, lost)), then create it again.")
        }
        // A file a take-over would refuse (damaged, not the row's, not a regular file) is never
        // advised to be taken over: the refusal's own sentence, and the one recovery. The file
        // is opened as the take-over opens it (`openRing`: the same checks), read-only.
        do throws(CBuffFailure) {
            _ = try openRing(of: row, trust: trust, writable: false)
        } catch where error.code == .corrupted {
            let quoted = row.name.escapingControlCharacters
            return CBuffFailure(.bufferAlreadyCreated, "Cannot create buffer \"\(quoted)\": it is registered, but a take-over would refuse its ring file: \(error.message) `cbuff rm \(quoted)` removes the buffer (its row and its ring file), then create it again.", cause: error.cause)
        } catch {}
        if RingFile.neverHadAWriter(row.file, in: trust) {
            return CBuffFailure(.bufferAlreadyCreated, "Buffer \"\(row.name)\" already exists and has had no writer yet; take it over to start writing, or remove it first.")
        }
        return CBuffFailure(.bufferAlreadyCreated, "Buffer \"\(row.name)\" already exists and its writer is gone; take it over to resume writing, or remove it first.")
    }

    /// " (PID 123)", or nothing for 0.
    static func describePID(_ pid: UInt32) -> String {
        pid == 0 ? "" : " (PID \(pid))"
    }
}
