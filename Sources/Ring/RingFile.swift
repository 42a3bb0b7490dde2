public import Synchronization
package import SharedRingSystem
package import SharedRingCommon

/// The sole owner of one open, validated, mapped ring file: it unmaps and closes in `deinit`,
/// and closing is what releases the writer's lock (the kernel does the same if the process dies).
package struct RingFile: ~Copyable {
    /// The data directory it is in, open: the file is named, renamed and removed relative to
    /// it (see `FileTrust`).
    package let directory: FileTrust
    /// Its name in the directory.
    package private(set) var entry: String
    package let descriptor: CInt
    package let mapping: Sys.Mapping
    package let layout: RingLayout
    /// Whether it is mapped writable. A ring of a read-only directory is mapped read-only, for
    /// reading only: nothing may then be stored through the mapping.
    package let isWritable: Bool
    /// How this file is made durable, by the writer's thread and its syncer (see ``synchronize()``).
    package let durability: FileSync

    private init(directory: FileTrust, entry: String, descriptor: CInt, mapping: Sys.Mapping, layout: RingLayout, isWritable: Bool) {
        self.directory = directory
        self.entry = entry
        self.descriptor = descriptor
        self.mapping = mapping
        self.layout = layout
        self.isWritable = isWritable
        self.durability = FileSync(descriptor: descriptor, header: HeaderWords(base: mapping.base, claimedOffset: RingLayout.Offset.claimed(layout.policy)),
                                   slotsOffset: layout.slotsOffset, fileSize: layout.fileSize, countsMessages: layout.messages != nil,
                                   path: directory.path(of: entry))
    }

    /// Its path, for messages.
    package var path: String { directory.path(of: entry) }

    deinit {
        Sys.unmap(mapping)
        Sys.close(descriptor)
    }

    package var base: UnsafeMutableRawPointer { mapping.base }

    /// Raised if another process cuts the file short under this mapping (see `Sys.Mapping`):
    /// writers and readers check it after each access.
    package var cutShort: CutShortFlag { mapping.cutShort }

    /// Whether another process cut the file short under this mapping.
    var wasCutShort: Bool { mapping.cutShort.isRaised }

    /// Whether the file still has a name (one `fstat`): false once it was deleted, e.g. by
    /// removing its buffer. Throws `corrupted` if another process cut it short, which a reader
    /// that has caught up would otherwise never notice (it touches no slot beyond the end).
    package func isStillNamed() throws(CBuffFailure) -> Bool {
        let status = try Sys.fileStatus(descriptor).orThrow { .system($0, "look at ring file \(path)") }
        guard status.size >= layout.fileSize, !wasCutShort else {
            throw CBuffFailure(.corrupted, "Ring file \(path) was truncated by another process (\(status.size) bytes of \(layout.fileSize)); nothing more can be read from it.")
        }
        return status.links > 0
    }

    /// Whether the file is still the one its path names (one `fstat`, one `lstat`): false once
    /// it was deleted, and once another file took its name, as removing its buffer and creating
    /// one of the same name do. A writer or reader left on such a file writes or reads what
    /// nobody can open any more. Throws `corrupted` as ``isStillNamed()`` does.
    package func isStillAtItsPath() throws(CBuffFailure) -> Bool {
        guard try isStillNamed() else { return false }
        let open = try Sys.fileInfo(descriptor).orThrow { .system($0, "look at ring file \(path)") }
        let named = try Sys.linkInfo(path).orThrow { .system($0, "look at \(path)") }
        return named?.identity == open.identity
    }

    /// Creates a new ring file `entry` in `directory` (it must not exist), with the directory's
    /// file mode, reserves its storage, writes its header and maps it. On failure nothing is
    /// left under that name.
    package static func create(_ entry: String, in directory: FileTrust, layout: RingLayout) throws(CBuffFailure) -> RingFile {
        let path = directory.path(of: entry)
        let fd = try directory.createExclusive(entry, "ring file")
        do throws(CBuffFailure) {
            try Sys.allocate(fd, size: layout.fileSize).orThrow { .system($0, "reserve \(layout.fileSize) bytes for ring file \(path)") }
            let header = layout.encodeHeader(createdAt: Sys.realtimeNanos())
            try header.withUnsafeBytes { Sys.write(fd, $0, at: 0) }
                .orThrow { .system($0, "write the header of ring file \(path)") }
            let mapping = try Sys.mapShared(fd, size: layout.fileSize).orThrow { mapError($0, path) }
            return RingFile(directory: directory, entry: entry, descriptor: fd, mapping: mapping, layout: layout, isWritable: true)
        } catch {
            Sys.close(fd)
            _ = directory.unlink(entry)
            throw error
        }
    }

    /// Opens and maps an existing ring file after validating its header against its real size,
    /// and its counters against each other (see `checkCounters`). Only a regular file owned as
    /// `trust` expects is opened; a symbolic link or a FIFO is refused without blocking.
    ///
    /// - Parameters:
    ///   - missing: the failure to throw when there is no file at `path` (the caller knows what
    ///     that means: a buffer whose file is gone, say).
    ///   - writable: false maps it read-only, for inspection: nothing may then be stored
    ///     through the mapping (no reading cursor that waits, no writer).
    ///   - readOnlyOnReadOnlyMount: with `writable`, open it read-only instead when the data
    ///     directory is on a read-only mount (for a reader that stores nothing; see
    ///     ``isWritable``).
    package static func open(_ entry: String, in directory: FileTrust, writable requested: Bool = true,
                             readOnlyOnReadOnlyMount: Bool = false,
                             missing: (SystemCallFailure) -> CBuffFailure) throws(CBuffFailure) -> RingFile {
        let path = directory.path(of: entry)
        var writable = requested
        let fd: CInt, info: Sys.FileInfo
        do {
            (fd, info) = try openDescriptor(entry, in: directory, writable: writable, missing: missing)
        } catch where writable && readOnlyOnReadOnlyMount && (error.cause as? SystemCallFailure)?.isReadOnlyFilesystem == true {
            writable = false
            (fd, info) = try openDescriptor(entry, in: directory, writable: false, missing: missing)
        }
        // The descriptor is this function's until `RingFile` owns it; from then on only the
        // ring file's `deinit` closes it. (Closing it here too closed it twice: by then another
        // thread could hold the number, and lost its pipe: issue 24's CI, `damagedHeadersNeverCrash`.)
        let file: RingFile
        do throws(CBuffFailure) {
            var header = [UInt8](repeating: 0, count: RingLayout.describedBytes)
            let count = try header.withUnsafeMutableBytes { Sys.read(fd, into: $0, at: 0) }
                .orThrow { .system($0, "read the header of ring file \(path)") }
            let layout = try RingLayout(validating: Array(header[0..<count]), fileSize: info.size, path: path)
            if writable && info.allocated < info.size {
                // A sparse file (a copy made with holes, say): a write into a hole on a full disk
                // would be a SIGBUS. Reserve its storage now, or say why not.
                try Sys.allocate(fd, size: layout.fileSize).orThrow { failure in
                    CBuffFailure.system(failure, "reserve the storage of ring file \(path), which is sparse (\(info.allocated) of its \(info.size) bytes allocated, as a copy with holes is); nothing was written to it")
                }
            }
            let mapping = try Sys.mapShared(fd, size: layout.fileSize, writable: writable).orThrow { mapError($0, path) }
            file = RingFile(directory: directory, entry: entry, descriptor: fd, mapping: mapping, layout: layout, isWritable: writable)
        } catch {
            Sys.close(fd)
            throw error
        }
        try file.checkCounters()
        return file
    }

    /// Opens ring file `entry` (a regular file owned as `directory` trusts, see `FileTrust`)
    /// and checks that it has exactly one name: every open of a ring file comes here, the
    /// read-only ones included. A ring file with another name is another buffer's file too (a
    /// hard link of buffer B's ring placed at A's name made pushes into A appear in B) or a name
    /// outside the directory that lets someone else reach it: it is refused, never read or
    /// written. One with no name any more was removed between the open and the `fstat`: missing.
    private static func openDescriptor(_ entry: String, in directory: FileTrust, writable: Bool,
                                       missing: (SystemCallFailure) -> CBuffFailure) throws(CBuffFailure) -> (descriptor: CInt, info: Sys.FileInfo) {
        let (fd, info) = try directory.open(entry, writable: writable, "ring file", notFound: missing)
        guard info.links == 1 else {
            Sys.close(fd)
            if info.links == 0 { throw missing(SystemCallFailure.removed("fstat")) }
            throw CBuffFailure(.corrupted, "Ring file \(directory.path(of: entry)) has \(info.links) names (a hard link: `find \(directory.directory) -samefile \(directory.path(of: entry))` lists them), so it may be another buffer's ring file too; cbuff does not open it. Remove the name that is not this buffer's (cbuff rm --force removes this one's).")
        }
        return (fd, info)
    }

    private static func mapError(_ failure: SystemCallFailure, _ path: String) -> CBuffFailure {
        guard failure.call == Sys.guardFull else { return .system(failure, "map ring file \(path)") }
        return CBuffFailure(.systemFailure, "Cannot map ring file \(path): this process already has \(Sys.guardCapacity) ring files mapped, the most its SIGBUS guard protects; close buffers it no longer uses.")
    }

    /// Throws `corrupted` if the named-reader table contradicts itself or the counters (see
    /// ``ReaderTable/problem(published:countsMessages:)``): one look, for a process that holds
    /// the table lock (nothing changes the table under it but damage).
    package func checkReaderTable() throws(CBuffFailure) {
        if let problem = readerTableProblem() {
            throw CBuffFailure(.corrupted, "Ring file \(path) is damaged: \(problem)")
        }
    }

    func readerTableProblem() -> String? {
        readerTable.problem(published: header.published.pointee.load(ordering: .acquiring), countsMessages: layout.messages != nil)
    }

    /// Throws `corrupted` if the shared counters contradict each other or the geometry, which
    /// no sequence of pushes, pops and crashes can produce: every counter at most
    /// `Limits.maxCount`, `published <= claimed <= published + length`, and no named reader's
    /// cursor beyond `published`; for a ring of messages, everything `MessageArea.observe`
    /// checks (`MessageInvariants.swift`). The loads are ordered so that a live writer
    /// publishing meanwhile cannot make a sound file fail: `published` before `claimed` (W1
    /// precedes W4, so an acquire of `published` sees at least the claim made before it), and
    /// `claimed` before `published` again (every claim was at most `length` beyond the
    /// `published` of its time, which only grows). No arithmetic here traps, whatever the words
    /// hold: each subtraction is of a value checked to be smaller.
    func checkCounters() throws(CBuffFailure) {
        let words = header
        let publishedBefore = words.published.pointee.load(ordering: .acquiring)
        let claimed = words.claimed.pointee.load(ordering: .acquiring)
        let publishedAfter = words.published.pointee.load(ordering: .acquiring)
        let length = UInt64(layout.length)
        guard max(publishedAfter, claimed) <= Limits.maxCount else {
            throw CBuffFailure(.corrupted, "Ring file \(path) is damaged: its counters (published \(publishedAfter), claimed \(claimed)) are beyond the \(Limits.maxCount) a ring file can count.")
        }
        guard claimed >= publishedBefore, claimed < publishedAfter || claimed - publishedAfter <= length else {
            throw CBuffFailure(.corrupted, "Ring file \(path) is damaged: its counters contradict each other (published \(publishedBefore), claimed \(claimed), length \(length)).")
        }
        // A record another process is removing (`clear` stores state 0, then zeroes the rest) or
        // registering (under the table lock, state stored last) can look inconsistent for an
        // instant to this lock-free look (a removal of reader N followed by its registration in
        // another record can even show N twice): the table is damaged only if it still looks so
        // on a second look.
        if readerTableProblem() != nil { try checkReaderTable() }
        // A ring waiting for its recovery after a machine crash (see `MessageRecovery.swift`) may
        // hold damage the recovery repairs: whoever opens it to read or write recovers it first,
        // and `inspect` and `verify` say it is pending.
        if let area = messageArea, !recoveryIsPending, case .damaged(let damage) = area.observe(words) {
            throw damaged(damage)
        }
    }

    /// The failure that says what a damaged message ring contradicts.
    package func damaged(_ damage: MessageDamage) -> CBuffFailure {
        CBuffFailure(.corrupted, "Ring file \(path) is damaged: \(damage); nothing in it is read or written past that.")
    }

    /// Gives the file its final name in its directory (atomically replacing whatever was there).
    package mutating func rename(to newEntry: String) throws(CBuffFailure) {
        try directory.rename(entry, to: newEntry).orThrow { .system($0, "rename ring file \(path) to \(directory.path(of: newEntry))") }
        entry = newEntry
    }

    /// Deletes the file, if its name still names this file (and not one that replaced it).
    package func unlinkIfStillNamed() {
        if directory.names(descriptor, entry) { _ = directory.unlink(entry) }
    }

    package var header: HeaderWords { HeaderWords(base: base, claimedOffset: RingLayout.Offset.claimed(layout.policy)) }

    /// The slot array, as the publication protocol sees it.
    package var slots: SlotArray {
        SlotArray(base: base + layout.slotsOffset, stride: layout.slotStride, length: layout.length, itemSize: layout.itemSize,
                  checkWordOffset: layout.checkWordOffset)
    }

    // MARK: Writer liveness

    /// Takes the writer lock; false if a live writer (in any process, this one included) holds it.
    package func tryLockWriter() throws(CBuffFailure) -> Bool {
        try tryLock(byte: RingLayout.writerLockByte, of: "ring file \(path)", ownerIsRunning: recordedWriterIsRunning)
    }

    /// Whether the header names a writer that is attached and whose process still runs (same
    /// PID and start time): a busy lock is then simply that writer's. A writer that closes
    /// stores `closed` (release) before its descriptor closes and drops the lock, so a process
    /// that finds the lock busy and then loads `closed` (acquire) knows the holder is no longer
    /// that writer; one killed leaves `attached` with a PID that no longer runs.
    package var recordedWriterIsRunning: Bool {
        header.writerState.pointee.load(ordering: .acquiring) == RecordedWriterState.attached.rawValue
            && Sys.isRunning(Int32(bitPattern: header.writerPID.pointee.load(ordering: .relaxed)),
                             startTime: header.writerStartTime.pointee.load(ordering: .relaxed))
    }

    /// Who holds the writer lock when the header's writer is not a process this one can see
    /// running, as a clause for an error message.
    package func writerLockHolders() -> String {
        let identity = (try? Sys.fileInfo(descriptor).get())?.identity
        let holders = identity.map { Sys.lockHolders(of: $0, coveringByte: RingLayout.writerLockByte) } ?? []
        guard !holders.isEmpty else {
            return "the process holding the lock is invisible from here (it runs in another PID namespace or container, or it is a child the last writer forked without exec)"
        }
        let named = holders.map { pid in "PID \(pid)" + (Sys.processName(pid).map { " (\($0))" } ?? "") }.joined(separator: ", ")
        let recorded = Int32(bitPattern: header.writerPID.pointee.load(ordering: .relaxed))
        return holders.contains(recorded)
            ? "\(named) holds it, a process that was restarted under the same PID or runs in another PID namespace"
            : "\(named) holds it (a child the last writer forked without exec, or a process in another PID namespace)"
    }

    /// How long a lock whose recorded owner is gone may stay busy before it counts as held:
    /// long enough for a child forked without exec to reach its exec (see ``tryLock(byte:of:ownerIsRunning:)``).
    static let forkedLockGraceNanos: Int64 = 100_000_000

    /// Takes the liveness lock on `byte`; false if another open file description holds it.
    ///
    /// Those locks belong to open file descriptions, which `fork` duplicates: a process that
    /// forks (any thread of it, for any reason) lends its child every lock it holds until the
    /// child execs or exits. So a lock can be busy for a moment after its owner released it, or
    /// after it died. When `ownerIsRunning` says the recorded owner is gone or done, this tries
    /// again for up to `forkedLockGraceNanos` (100 ms), long enough for a forked child to reach its exec, before it says
    /// busy. (Seen: a thread spawning processes made 9% of immediate take-overs fail.)
    package func tryLock(byte: Int, of what: @autoclosure () -> String, ownerIsRunning: @autoclosure () -> Bool) throws(CBuffFailure) -> Bool {
        let descriptor = descriptor
        return try Self.outlastingForkedHolders(of: what(), ownerIsRunning: ownerIsRunning()) { () throws(CBuffFailure) -> Bool in
            try Sys.tryLock(descriptor, start: byte).orThrow { .system($0, "lock \(what())") }
        }
    }

    /// Runs `isFree` (a take or a probe of a liveness lock) and returns what it says; when it
    /// says busy although `ownerIsRunning` says the recorded owner is gone or done, runs it again
    /// for up to `forkedLockGraceNanos`, as ``tryLock(byte:of:ownerIsRunning:)`` explains. The
    /// one place that knows a busy lock may be a forked child's: taking over and removing (which
    /// asks whether a writer is alive) must not disagree about it (a removal right after a
    /// clean close was refused as "a live writer" while another thread was spawning a process).
    static func outlastingForkedHolders(of what: @autoclosure () -> String, ownerIsRunning: @autoclosure () -> Bool,
                                                _ isFree: () throws(CBuffFailure) -> Bool) throws(CBuffFailure) -> Bool {
        if try isFree() { return true }
        if ownerIsRunning() { return false }
        Diagnostics.note(.locks, "\(what()) is locked although its recorded owner is gone: retrying for up to \(Self.forkedLockGraceNanos / 1_000_000) ms (a child forked without exec may hold it)")
        var pause: Int64 = 50_000
        let deadline = Sys.monotonicNanos() + Self.forkedLockGraceNanos
        while Sys.monotonicNanos() < deadline {
            Sys.sleep(nanoseconds: pause)
            if try isFree() { return true }
            pause = min(pause * 2, 10_000_000)
        }
        return false
    }

    /// Whether a live writer holds the buffer, decided by its lock, never by its PID.
    package func writerIsAlive() throws(CBuffFailure) -> Bool {
        try Self.writerIsAlive(descriptor, path, recordedWriterIsRunning: recordedWriterIsRunning)
    }

    /// Whether a live writer holds the ring file `entry` of `directory`, without mapping or
    /// validating it: false if there is no such file, or no regular file. Throws when it cannot
    /// be decided (the file cannot be opened, or belongs to someone the directory's trust does
    /// not accept): a caller about to delete data must then keep it, never read the failure as
    /// "no writer".
    package static func writerIsAlive(_ entry: String, in directory: FileTrust) throws(CBuffFailure) -> Bool {
        // Only a regular file can be a writer's ring: every writer opens its ring without
        // following links and checks it is one. So a link, FIFO, socket, device or directory
        // planted at the entry is held by no writer (and the open below would refuse it).
        if let kind = directory.kind(of: entry), kind != .regular { return false }
        let fd: CInt
        do {
            fd = try openDescriptor(entry, in: directory, writable: false) { failure in CBuffFailure(.notFound, "", cause: failure) }.descriptor
        } catch where error.code == .notFound {
            return false
        }
        defer { Sys.close(fd) }
        return try writerIsAlive(fd, directory.path(of: entry), recordedWriterIsRunning: recordedWriterIsRunning(fd))
    }

    private static func writerIsAlive(_ fd: CInt, _ path: String, recordedWriterIsRunning: @autoclosure () -> Bool) throws(CBuffFailure) -> Bool {
        let free = try outlastingForkedHolders(of: "the writer lock of ring file \(path)", ownerIsRunning: recordedWriterIsRunning()) { () throws(CBuffFailure) -> Bool in
            !(try Sys.isLocked(fd, start: RingLayout.writerLockByte).orThrow { .system($0, "examine the writer lock of ring file \(path)") })
        }
        return !free
    }

    /// ``recordedWriterIsRunning`` for a file that is open but not mapped (nor validated): read
    /// from the header's writer words. A header that cannot be read counts as naming a running
    /// writer, so that a busy lock is taken at its word at once.
    private static func recordedWriterIsRunning(_ fd: CInt) -> Bool {
        guard let words = recordedWriter(fd) else { return true }
        return words.state == RecordedWriterState.attached.rawValue && Sys.isRunning(Int32(bitPattern: words.pid), startTime: words.startTime)
    }

    /// The header's writer words of a file that is open but not mapped (nor validated), or nil
    /// when they cannot be read.
    private static func recordedWriter(_ fd: CInt) -> (pid: UInt32, state: UInt32, startTime: UInt64)? {
        var words = [UInt8](repeating: 0, count: 16)
        let offset = RingLayout.Offset.writerPID
        guard case .success(words.count) = words.withUnsafeMutableBytes({ Sys.read(fd, into: $0, at: offset) }) else { return nil }
        return (words.loadLE(at: 0), words.loadLE(at: RingLayout.Offset.writerState - offset), words.loadLE(at: RingLayout.Offset.writerStartTime - offset))
    }

    /// Whether ring file `entry` of `directory` records that no writer ever attached to it
    /// (read without mapping or validating it: for a message, never for a decision); false when
    /// that cannot be read.
    package static func neverHadAWriter(_ entry: String, in directory: FileTrust) -> Bool {
        guard let fd = try? openDescriptor(entry, in: directory, writable: false, missing: { CBuffFailure(.notFound, "", cause: $0) }).descriptor else {
            return false
        }
        defer { Sys.close(fd) }
        return recordedWriter(fd)?.state == RecordedWriterState.never.rawValue
    }

    /// Marks this process as the writer in the header (after taking the writer lock), lists the
    /// writer for a clean close at exit (`AttachedWriters`), and returns its PID and start time
    /// for the registry. The state store comes last (release): whoever loads `attached` sees
    /// the PID and start time that go with it.
    package func attachWriter() -> (pid: Int32, startTime: UInt64?) {
        let (pid, startTime) = Self.thisProcess()
        let words = header
        let found = DeadWriter(words)
        words.writerPID.pointee.store(UInt32(bitPattern: pid), ordering: .relaxed)
        words.writerStartTime.pointee.store(startTime ?? 0, ordering: .relaxed)
        words.writerGeneration.pointee.wrappingAdd(1, ordering: .relaxed)
        if slots.isChecked {
            var counters = PublicationCounters(header: words, fenceBeforeWaiterCheck: !Sys.registerForGlobalBarriers())
            RingPublisher.settle(slots, &counters, reach: settleReach(words))
        }
        recordBoot(words)
        forgetImpossibleDurable(words)
        // Only a writer that died (or closed) can have left a request for room, or a count of
        // an earlier version: nobody sleeps for room now. An exchange, as every change of a
        // request word is a read-modify-write (see `FutexSleep`).
        _ = words.writerWaiting.pointee.exchange(0, ordering: .acquiringAndReleasing)
        words.writerState.pointee.store(RecordedWriterState.attached.rawValue, ordering: .releasing)
        AttachedWriters.add(words, found: found)
        return (pid, startTime)
    }

    /// How many slots from `published` an attaching writer of a ring with check words looks at
    /// for words a predecessor left ahead of it (`RingPublisher.settle`), before this boot is
    /// recorded: none if no writer ever attached; the predecessor's claim if it wrote in this
    /// boot (its slots are in the page cache as it left them, and it wrote none beyond its
    /// claim); else the whole lap (a machine crash may have left any page newer than the header).
    private func settleReach(_ words: HeaderWords) -> Int {
        let length = layout.length
        if words.writerState.pointee.load(ordering: .acquiring) == RecordedWriterState.never.rawValue { return 0 }
        let recorded = (words.writerBoot.0.pointee.load(ordering: .relaxed), words.writerBoot.1.pointee.load(ordering: .relaxed))
        guard let now = Sys.bootID, recorded == now else { return length }
        let published = words.published.pointee.load(ordering: .relaxed), claimed = words.claimed.pointee.load(ordering: .relaxed)
        return Int(min(claimed &- min(claimed, published), UInt64(length)))
    }

    /// Records this boot as the writer's (see `RingLayout.Offset.writerBoot`). A writer that
    /// finds another boot recorded (the machine restarted since the last writer attached) marks
    /// what is in the ring now as written then (`earlierBootBelow`: the next sequence), unless
    /// something proved it since: a version-4 message ring's take-over has just checked every
    /// record against its check word (`observeMessages`). So `inspect` can say of the items
    /// still below that mark that a crash may have left them stale, whichever writer came last.
    private func recordBoot(_ words: HeaderWords) {
        let now = Sys.bootID ?? (0, 0)
        let recorded = (words.writerBoot.0.pointee.load(ordering: .relaxed), words.writerBoot.1.pointee.load(ordering: .relaxed))
        guard recorded != now else { return }
        if recorded != (0, 0) {
            // Checked records and checked slots are proven by every read (version 4).
            let proven = layout.messages?.records.isChecked ?? (layout.checkWordOffset != nil)
            let next = layout.messages == nil ? words.published.pointee.load(ordering: .relaxed) : words.publishedMessages.pointee.load(ordering: .relaxed)
            words.earlierBootBelow.pointee.store(proven ? 0 : next, ordering: .relaxed)
        }
        words.writerBoot.0.pointee.store(now.0, ordering: .relaxed)
        words.writerBoot.1.pointee.store(now.1, ordering: .relaxed)
    }

    /// Says once, at warning level, that a reader opened on this ring may be handed what a machine
    /// crash did to it without anyone noticing: the ring carries no check words (items of format
    /// versions 2 and 3, messages of version 3) and holds what its last writer wrote before the
    /// machine last restarted, or what a writer of this boot found written then and nothing
    /// proved since (`earlierBootBelow` above the oldest item still present; for messages,
    /// anything below it). A ring with check words needs no such word: its reads prove each one.
    package func warnIfCrashDamageIsUndetectable(bufferName: String) {
        let words = header
        let proven = layout.messages?.records.isChecked ?? (layout.checkWordOffset != nil)
        guard !proven else { return }
        let earlier = RingSnapshot.earlierBoot(words.writerBoot.0.pointee.load(ordering: .relaxed),
                                               words.writerBoot.1.pointee.load(ordering: .relaxed))
        guard let earlier else { return }
        let below = words.earlierBootBelow.pointee.load(ordering: .relaxed)
        let oldest: UInt64
        if layout.messages == nil {
            let published = words.published.pointee.load(ordering: .relaxed), claimed = words.claimed.pointee.load(ordering: .relaxed)
            oldest = min(published, claimed &- min(claimed, UInt64(layout.length)))
        } else {
            oldest = 0
        }
        guard earlier || below > oldest else { return }
        let noun = layout.messages == nil ? "items" : "messages"
        Diagnostics.warn(.readers, "buffer \"\(bufferName)\" holds \(noun) written before the machine last restarted, and its format (version \(layout.version)) carries no check words: if the machine crashed, some may be stale, zeroed or torn, and no reader can tell (`cbuff inspect \(bufferName)`; a buffer created now on a disk carries check words)")
    }

    /// A durable sequence beyond everything published (a hand edit, a damaged page) vouches for
    /// nothing, and a sync only ever raises it: the attaching writer stores 0 ("nothing known
    /// synced"), so that its own syncs record the truth again rather than leave every report of
    /// the buffer refusing it (`RingSnapshot`) for good.
    private func forgetImpossibleDurable(_ words: HeaderWords) {
        let next = layout.messages == nil ? words.published.pointee.load(ordering: .relaxed) : words.publishedMessages.pointee.load(ordering: .relaxed)
        if words.durable.pointee.load(ordering: .relaxed) > next { words.durable.pointee.store(0, ordering: .relaxed) }
    }

    /// This process's PID and start time, read from /proc once per process (a forked child,
    /// whose PID differs, reads its own): a creator needs them for every buffer it creates.
    static func thisProcess() -> (pid: Int32, startTime: UInt64?) {
        let pid = Sys.processID()
        if let known = knownProcess.withLock({ $0 }), known.pid == pid { return known }
        let read = (pid: pid, startTime: Sys.processStartTime(pid))
        knownProcess.withLock { $0 = read }
        return read
    }

    private static let knownProcess = Locked<(pid: Int32, startTime: UInt64?)?>(nil)

    /// The writer's close, before the descriptor closes and releases the writer lock: takes it
    /// off the exit list and marks the header closed (see `HeaderWords.markClosed`).
    package func detachWriter() {
        header.markClosed(leaving: AttachedWriters.remove(header))
    }

    /// Makes everything published so far durable, then records it: the writer's `sync`, called
    /// by the writer alone (nothing is published meanwhile). Returns the durable sequence.
    ///
    /// The order is the whole argument. 1: `fsync` writes back every dirty page of the file,
    /// through the mapping or not (the data area and the header, whose `published` is at least
    /// `through`), and returns when they are on stable storage. 2: only then is `durable` stored,
    /// so no version of the header, on disk or in memory, says durable beyond what step 1 made
    /// so. 3: `msync` of the header page, so that the word itself survives a crash from now on
    /// (without it, it would reach the disk at the next write-back, a crash before which leaves
    /// an older, still true, value). A failure of 1 stores nothing; of 3, the word may or may
    /// not have reached the disk, and either value is true. A machine crash after this keeps
    /// every item or message below `through` that the writer has not overwritten since, on any
    /// file system that honours `fsync` (on tmpfs, `/dev/shm`, there is nothing to keep: the
    /// calls return at once and a crash loses the file whole).
    ///
    /// A failed `fsync` poisons every later one: Linux reports a write-back error once and marks
    /// the pages it could not write clean, so the next `fsync` returns 0 without writing them
    /// (and a durable sequence stored then would vouch for writes the disk never got). So after
    /// a failure the next sync first makes every page of the file dirty again (a
    /// compare-and-exchange of the value a word already holds: in the data area the first word
    /// of each page; in the header, `durable`), so that its `fsync` writes them all.
    /// (Both threads of a writer whose policy is `interval` may sync at once: `FileSync` says
    /// why the durable word still only grows and the poisoning still holds.)
    package func synchronize() throws(CBuffFailure) -> UInt64 {
        try durability.synchronize()
    }

    /// Whether a sync failed since one last succeeded: the next one rewrites every page first.
    package var syncFailurePending: Bool { durability.failurePending }

    /// The durable sequence the header records (see ``synchronize()``; 0 if no writer synced).
    package var durable: UInt64 {
        header.durable.pointee.load(ordering: .relaxed)
    }

    /// When the file was created, in nanoseconds since the Unix epoch, as its header says (offset
    /// 64, written once before the file got its name): what the registry's `ring_created_ns`
    /// ties the buffer's row to.
    package var createdAt: UInt64 {
        header.createdAt.pointee.load(ordering: .relaxed)
    }

    /// Items published so far: the sequence the next item will get (acquire, as a reader's R1).
    package var published: UInt64 {
        header.published.pointee.load(ordering: .acquiring)
    }

    /// What the header says about the last writer (before this process attaches, say).
    package var recordedWriterState: RecordedWriterState {
        RecordedWriterState(rawValue: header.writerState.pointee.load(ordering: .acquiring)) ?? .never
    }

    /// The PID the header records for the last writer (0 if none ever attached). A hint for
    /// messages: liveness is the lock's.
    package var recordedWriterPID: UInt32 {
        header.writerPID.pointee.load(ordering: .relaxed)
    }

    /// The writer's side of the protocol over this file, positioned after the last published
    /// item. The membarrier choice is made here (see `FutexSleep`): a process the kernel lets
    /// register for expedited global barriers lets sleepers pay the barrier; otherwise the
    /// writer pays a full fence per publish.
    package func publisher() -> RingPublisher {
        RingPublisher(slots: slots, header: header, fenceBeforeWaiterCheck: !Sys.registerForGlobalBarriers())
    }

    /// The `block` policy's gate for this file's writer (one that never waits under `overwrite`).
    package func spaceGate() -> SpaceGate {
        SpaceGate(table: layout.policy == .block ? readerTable : nil, header: header, length: layout.length,
                  tetherNanos: layout.tetherNanos, descriptor: descriptor, countsMessages: layout.messages != nil)
    }

    /// Where a new reader starting at `start` would begin now.
    package func startSequence(_ start: RingCursor.Start) -> UInt64 {
        RingCursor.startSequence(start, header: header, slots: slots)
    }

    /// The data area of a ring of messages (nil for a ring of items).
    package var messageArea: MessageArea? {
        layout.messages.map { MessageArea(base: base + layout.slotsOffset, geometry: $0) }
    }

    /// A message ring's state, checked (see `MessageInvariants.swift`), for a process that holds
    /// its writer lock: no writer moves it, so a state that keeps changing is damage too. The
    /// whole chain of records is proven too (``MessageArea/proveChain(_:)``): the writer
    /// continues the sequence from this state.
    package func observeMessages() throws(CBuffFailure) -> MessageRingState {
        let area = messageArea!
        switch area.observe(header) {
        case .consistent(let state) where state.oldestSequence != nil:
            if let damage = area.proveChain(state) { throw damaged(damage) }
            return state
        case .damaged(let damage): throw damaged(damage)
        case .consistent, .moving: throw damaged(.changingWithoutWriter)   // the oldest record changed under the lock
        }
    }

    /// Every record of a message ring from its oldest message to `published`, walked and
    /// checked (``MessageArea/survey(from:sequence:through:next:allowance:resynchronizing:)``, resuming
    /// after damage where the records carry a check word): what `verify` reports, with the state
    /// it started from. With a writer publishing meanwhile, a walk that a claim overtook (R4:
    /// the claim reached where it started, so what it read may have changed under it) is done
    /// again from the new oldest message, at most `rounds` times.
    ///
    /// - Throws: `corrupted` for counters that contradict each other (nothing to walk from);
    ///   `writerBusy` if a live writer overtook every walk.
    package func surveyMessages(rounds: Int = 8) throws(CBuffFailure) -> (state: MessageRingState, survey: MessageSurvey) {
        let area = messageArea!
        for _ in 0..<rounds {
            switch area.observe(header) {
            case .damaged(let damage):
                throw damaged(damage)
            case .consistent(let state) where state.oldestSequence != nil:
                let survey = area.survey(from: state.oldestPosition, sequence: state.oldestSequence!, through: state.counters.published,
                                         next: state.next, allowance: area.allowance(state.counters), resynchronizing: true)
                atomicMemoryFence(ordering: .acquiring)                                    // R3 for the records read
                if state.oldestPosition >= area.oldestIntact(claimed: MessageCounters.load(header).claimed) { return (state, survey) }  // R4
            case .consistent, .moving:
                break
            }
        }
        throw CBuffFailure(.writerBusy, "A live writer of the ring file \(path) overwrote its oldest messages faster than they could be checked, \(rounds) times; verify it when the writer is idle or closed.")
    }

    /// Every slot of a ring of items of version 4 from the oldest item still present to
    /// `published`, its check word proven against its bytes (V6 of `Publication.swift`): the
    /// runs of sequences that hold what was written under them, and the runs that do not, in
    /// order. What `verify` reports for such a ring. With a writer publishing meanwhile, a walk
    /// that a claim overtook (R4) is done again from the new oldest item, at most `rounds`
    /// times, then `writerBusy`.
    package func surveySlots(rounds: Int = 8) throws(CBuffFailure) -> (intact: [Range<UInt64>], damaged: [Range<UInt64>]) {
        let slots = self.slots
        precondition(slots.isChecked, "a ring of items of version 4")
        for _ in 0..<rounds {
            let published = header.published.pointee.load(ordering: .acquiring)
            let oldest = min(slots.oldestIntact(claimed: header.claimed.pointee.load(ordering: .acquiring)), published)
            var intact: [Range<UInt64>] = [], damaged: [Range<UInt64>] = []
            var run: (good: Bool, from: UInt64)?                                        // the run the walk is in
            func close(at end: UInt64) {
                guard let run else { return }
                if run.good { intact.append(run.from..<end) } else { damaged.append(run.from..<end) }
            }
            for sequence in oldest..<published {
                let payload = slots.payload(slots.index(of: sequence))
                let good = slots.vouches(slots.word(payload).pointee.load(ordering: .acquiring), for: payload, sequence: sequence)
                if run?.good != good {
                    close(at: sequence)
                    run = (good, sequence)
                }
            }
            close(at: published)
            atomicMemoryFence(ordering: .acquiring)                                    // R3 for the slots read
            if oldest >= slots.oldestIntact(claimed: header.claimed.pointee.load(ordering: .relaxed)) { return (intact, damaged) }  // R4
        }
        throw CBuffFailure(.writerBusy, "A live writer of the ring file \(path) overwrote its oldest items faster than they could be checked, \(rounds) times; verify it when the writer is idle or closed.")
    }

    /// The writer's side of a message ring (see ``publisher()``), attached at `state` (from
    /// ``observeMessages()``, under the writer lock); the ring must be one.
    package func messagePublisher(_ state: MessageRingState) -> MessagePublisher {
        MessagePublisher(area: messageArea!, header: header, fenceBeforeWaiterCheck: !Sys.registerForGlobalBarriers(), state: state)
    }

    /// A reading cursor over a message ring, starting at `start`, or where named reader `record`
    /// committed; the ring must be one. Throws `corrupted` for what contradicts the rest there.
    ///
    /// A ring waiting for a recovery this process cannot run (mapped read-only) gets a cursor that
    /// skips damage and counts it (``MessageCursor/skipsDamage``), starting at the tail (or at
    /// `published`) when the records the counters name are damaged.
    package func messageCursor(start: MessageCursor.Start, record: NamedReaderRecord?) throws(CBuffFailure) -> MessageCursor {
        let skips = !isWritable && recoveryIsPending
        do {
            var cursor = try MessageCursor(area: messageArea!, header: header,
                                           start: record.map { .at(position: $0.committed, sequence: $0.commit.committedSequence) } ?? start,
                                           gatedRecord: layout.policy == .block ? record?.index : nil)
            cursor.skipsDamage = skips
            return cursor
        } catch {
            let counters = MessageCounters.load(header)
            guard skips, record == nil, messageArea!.bounds(counters) == nil else { throw damaged(error) }
            return MessageCursor(area: messageArea!, header: header, unprovenAt: { if case .latest = start { counters.published } else { counters.tail } }())
        }
    }

    /// A reading cursor over this file, starting at `start`, or where named reader `record`
    /// committed. Only a named reader under the `block` policy relies on the gate.
    package func cursor(start: RingCursor.Start, record: NamedReaderRecord?) -> RingCursor {
        RingCursor(slots: slots, header: header, start: record.map { .at($0.committed) } ?? start,
                   gatedRecord: layout.policy == .block ? record?.index : nil)
    }
}

/// Typed views of the header's shared words. Every access says its memory ordering at the call site.
///
/// `@unchecked Sendable`: it is an address, and every access through it is an atomic operation on
/// a word other processes share anyway (what a thread of this process may do, a process may too).
@usableFromInline
package struct HeaderWords: @unchecked Sendable {
    @usableFromInline package let base: UnsafeMutableRawPointer
    /// Where `claimed` lives, which depends on the policy (see `RingLayout.Offset.claimed`).
    @usableFromInline package let claimedOffset: Int

    package init(base: UnsafeMutableRawPointer, claimedOffset: Int) {
        self.base = base
        self.claimedOffset = claimedOffset
    }

    @inlinable
    func word64(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inlinable
    func word32(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inlinable package var published: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.published) }
    @inlinable package var claimed: UnsafeMutablePointer<Atomic<UInt64>> { word64(claimedOffset) }
    @inlinable package var gateVersion: UnsafeMutablePointer<Atomic<UInt32>> { word32(RingLayout.Offset.gateVersion) }
    @inlinable package var lastWriteAt: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.lastWriteAt) }
    package var writerPID: UnsafeMutablePointer<Atomic<UInt32>> { word32(RingLayout.Offset.writerPID) }
    package var writerState: UnsafeMutablePointer<Atomic<UInt32>> { word32(RingLayout.Offset.writerState) }
    package var writerStartTime: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.writerStartTime) }
    package var writerGeneration: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.writerGeneration) }
    package var createdAt: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.createdAt) }
    var notify: UnsafeMutablePointer<Atomic<UInt32>> { word32(RingLayout.Offset.notify) }
    @inlinable package var waiters: UnsafeMutablePointer<Atomic<UInt32>> { word32(RingLayout.Offset.waiters) }
    package var space: UnsafeMutablePointer<Atomic<UInt32>> { word32(RingLayout.Offset.space) }
    @inlinable package var writerWaiting: UnsafeMutablePointer<Atomic<UInt32>> { word32(RingLayout.Offset.writerWaiting) }
    @inlinable package var readersVersion: UnsafeMutablePointer<Atomic<UInt32>> { word32(RingLayout.Offset.readersVersion) }
    // Message rings only (see `MessageRing.swift`).
    @inlinable package var messageTail: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.messageTail) }
    @inlinable package var lastRecordStart: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.lastRecordStart) }
    @inlinable package var publishedMessages: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.publishedMessages) }
    package var durable: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.durable) }
    package var writerBoot: (UnsafeMutablePointer<Atomic<UInt64>>, UnsafeMutablePointer<Atomic<UInt64>>) {
        (word64(RingLayout.Offset.writerBoot), word64(RingLayout.Offset.writerBoot + 8))
    }
    package var earlierBootBelow: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.earlierBootBelow) }
    // Version-4 message rings: what the last recovery did (see `MessageRecovery.swift`).
    package var recoveredAt: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.recoveredAt) }
    package var sequenceAllowance: UnsafeMutablePointer<Atomic<UInt64>> { word64(RingLayout.Offset.sequenceAllowance) }
    package var recoveryLost: UnsafeMutablePointer<Atomic<UInt32>> { word32(RingLayout.Offset.recoveryLost) }
    package var recoveryRanges: UnsafeMutablePointer<Atomic<UInt32>> { word32(RingLayout.Offset.recoveryRanges) }

    /// The `space` futex word as the plain `UInt32` the futex system call takes.
    var spaceAddress: UnsafeMutablePointer<UInt32> {
        (base + RingLayout.Offset.space).assumingMemoryBound(to: UInt32.self)
    }

    /// Wakes every reader sleeping on this ring (they recheck and, unless stopped, sleep again),
    /// answering their requests (`FutexSleep`, K3–K5): the writer's cold path when `waiters` is
    /// non-zero, and how one reader's wait is interrupted promptly.
    ///
    /// Every word of the file a process bumps wraps (`wrappingAdd`, never the trapping `add`):
    /// the futex words are bumped on every wake for the file's whole life (2^32 wakes are 50
    /// days at 1,000 a second), and the file is input, so any word may already be at its top.
    /// A futex waiter compares for equality, which a wrap does not disturb.
    func wakeReaders() {
        FutexSleep.wake(word: notify, address: notifyAddress, request: waiters)
    }

    /// The writer's answer after a publish found `waiters` non-zero (`FutexSleep`, K3–K6): wakes
    /// every sleeping reader and, if one slept, keeps their request set and acknowledged, so
    /// that a reader following a slow stream sleeps again without a barrier.
    func answerReaders() {
        FutexSleep.answer(word: notify, address: notifyAddress, request: waiters)
    }

    /// Wakes a writer waiting for space (the cold path of a named reader's acknowledgement, and
    /// of removing a named reader). Never inlined: it would bloat every pop for a rare call.
    @usableFromInline @inline(never)
    func wakeWriter() {
        FutexSleep.wake(word: space, address: spaceAddress, request: writerWaiting)
    }

    /// Readers asleep on this ring right now, as the kernel counts the sleepers on `notify`
    /// (a sleeper that died is no longer one). The header cannot say: its request word tells
    /// only that someone asked to be woken since the last wake-up (`FutexSleep`). Should the
    /// kernel refuse to count, the word's best guess: the sleepers of earlier versions it
    /// counts, and one if a request is pending.
    var sleepingReaders: UInt32 {
        if let count = Sys.futexSleepers(notifyAddress) { return UInt32(clamping: count) }
        let word = waiters.pointee.load(ordering: .relaxed)
        return (word & ~FutexSleep.requestBits) &+ (word & FutexSleep.wakeRequested == 0 ? 0 : 1)
    }

    /// Whether the writer is asleep for room right now (the kernel's count of the sleepers on
    /// `space`, or, should it refuse, whether the request word is set).
    var writerAsleep: Bool {
        Sys.futexSleepers(spaceAddress).map { $0 > 0 } ?? (writerWaiting.pointee.load(ordering: .relaxed) != 0)
    }

    /// The futex word as the plain `UInt32` the futex system call takes (same address as ``notify``).
    var notifyAddress: UnsafeMutablePointer<UInt32> {
        (base + RingLayout.Offset.notify).assumingMemoryBound(to: UInt32.self)
    }
}
