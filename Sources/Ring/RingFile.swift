public import Synchronization
package import SharedRingSystem
package import SharedRingCommon

/// The sole owner of one open, validated, mapped ring file: it unmaps and closes in `deinit`,
/// and closing is what releases the writer's lock (the kernel does the same if the process dies).
package struct RingFile: ~Copyable {
    package private(set) var path: String
    package let descriptor: CInt
    package let mapping: Sys.Mapping
    package let layout: RingLayout

    private init(path: String, descriptor: CInt, mapping: Sys.Mapping, layout: RingLayout) {
        self.path = path
        self.descriptor = descriptor
        self.mapping = mapping
        self.layout = layout
    }

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

    /// Creates a new ring file at `path` (which must not exist), reserves its storage, writes its
    /// header and maps it. On failure nothing is left at `path`.
    package static func create(at path: String, layout: RingLayout, mode: UInt32) throws(CBuffFailure) -> RingFile {
        let fd = try Sys.createExclusive(path, mode: mode)
            .orThrow { .system($0, "create ring file \(path)") }
        do throws(CBuffFailure) {
            try Sys.allocate(fd, size: layout.fileSize).orThrow { .system($0, "reserve \(layout.fileSize) bytes for ring file \(path)") }
            let header = layout.encodeHeader(createdAt: Sys.realtimeNanos())
            try header.withUnsafeBytes { Sys.write(fd, $0, at: 0) }
                .orThrow { .system($0, "write the header of ring file \(path)") }
            let mapping = try Sys.mapShared(fd, size: layout.fileSize).orThrow { mapError($0, path) }
            return RingFile(path: path, descriptor: fd, mapping: mapping, layout: layout)
        } catch {
            Sys.close(fd)
            _ = Sys.unlink(path)
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
    package static func open(at path: String, trust: FileTrust, writable: Bool = true,
                             missing: (SystemCallFailure) -> CBuffFailure) throws(CBuffFailure) -> RingFile {
        let (fd, info) = try trust.open(path, writable: writable, "ring file", notFound: missing)
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
            let file = RingFile(path: path, descriptor: fd, mapping: mapping, layout: layout)
            try file.checkCounters()
            return file
        } catch {
            Sys.close(fd)
            throw error
        }
    }

    private static func mapError(_ failure: SystemCallFailure, _ path: String) -> CBuffFailure {
        guard failure.call == Sys.guardFull else { return .system(failure, "map ring file \(path)") }
        return CBuffFailure(.systemFailure, "Cannot map ring file \(path): this process already has \(Sys.guardCapacity) ring files mapped, the most its SIGBUS guard protects; close buffers it no longer uses.")
    }

    /// Throws `corrupted` if the shared counters contradict each other or the geometry, which
    /// no sequence of pushes, pops and crashes can produce: `published <= claimed <= published
    /// + length`, `claimed <= Limits.maxPosition` (positions never wrap), and no named reader's
    /// cursor beyond `published`. The loads are ordered so
    /// that a live writer publishing meanwhile cannot make a sound file fail: `published`
    /// before `claimed` (W1 precedes W4, so an acquire of `published` sees at least the claim
    /// made before it), and `claimed` before `published` again (every claim was at most
    /// `length` beyond the `published` of its time, which only grows).
    func checkCounters() throws(CBuffFailure) {
        let words = header
        let publishedBefore = words.published.pointee.load(ordering: .acquiring)
        let claimed = words.claimed.pointee.load(ordering: .acquiring)
        let publishedAfter = words.published.pointee.load(ordering: .acquiring)
        let length = UInt64(layout.length)
        guard claimed >= publishedBefore, claimed - publishedAfter <= length || claimed < publishedAfter else {
            throw CBuffFailure(.corrupted, "Ring file \(path) is damaged: its counters contradict each other (published \(publishedBefore), claimed \(claimed), length \(length)).")
        }
        guard claimed <= Limits.maxPosition else {
            throw CBuffFailure(.corrupted, "Ring file \(path) is damaged: its claimed position \(claimed) is beyond 2^63, which no writer reaches.")
        }
        let table = readerTable
        for index in 0..<RingLayout.readerCapacity where table.state(index).pointee.load(ordering: .acquiring) != 0 {
            let cursor = table.cursor(index).pointee.load(ordering: .acquiring)
            let published = words.published.pointee.load(ordering: .acquiring)
            guard table.state(index).pointee.load(ordering: .acquiring) == 1, cursor <= published else {
                throw CBuffFailure(.corrupted, "Ring file \(path) is damaged: named reader record \(index) (\(table.name(index).map { "\"\($0)\"" } ?? "unnamed")) has state \(table.state(index).pointee.load(ordering: .relaxed)) and cursor \(cursor), beyond the \(published) items published; remove that reader.")
            }
        }
    }

    /// Gives the file its final name (atomically replacing whatever was there).
    package mutating func rename(to newPath: String) throws(CBuffFailure) {
        try Sys.rename(path, newPath).orThrow { .system($0, "rename ring file \(path) to \(newPath)") }
        path = newPath
    }

    /// Deletes the file, if its path still names this file (and not one that replaced it).
    package func unlinkIfStillNamed() {
        if Sys.isSameFile(descriptor, path) { _ = Sys.unlink(path) }
    }

    package var header: HeaderWords { HeaderWords(base: base, claimedOffset: RingLayout.Offset.claimed(layout.policy)) }

    /// The slot array, as the publication protocol sees it.
    package var slots: SlotArray { SlotArray(base: base + layout.slotsOffset, stride: layout.slotStride, length: layout.length) }

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
        func attempt() throws(CBuffFailure) -> Bool {
            try Sys.tryLock(descriptor, start: byte).orThrow { .system($0, "lock \(what())") }
        }
        if try attempt() { return true }
        if ownerIsRunning() { return false }
        Diagnostics.note(.locks, "\(what()) is locked although its recorded owner is gone: retrying for up to \(Self.forkedLockGraceNanos / 1_000_000) ms (a child forked without exec may hold it)")
        var pause: Int64 = 50_000
        let deadline = Sys.monotonicNanos() + Self.forkedLockGraceNanos
        while Sys.monotonicNanos() < deadline {
            Sys.sleep(nanoseconds: pause)
            if try attempt() { return true }
            pause = min(pause * 2, 10_000_000)
        }
        return false
    }

    /// Whether a live writer holds the buffer, decided by its lock, never by its PID.
    package func writerIsAlive() throws(CBuffFailure) -> Bool {
        try Self.writerIsAlive(descriptor, path)
    }

    /// Whether a live writer holds the ring file at `path`, without mapping or validating it:
    /// false if there is no such file. Throws when it cannot be decided (the file cannot be
    /// opened, or is not a regular file `trust` accepts): a caller about to delete data must
    /// then keep it, never read the failure as "no writer".
    package static func writerIsAlive(at path: String, trust: FileTrust) throws(CBuffFailure) -> Bool {
        let fd: CInt
        do {
            fd = try trust.open(path, writable: false, "ring file") { failure in CBuffFailure(.notFound, "", cause: failure) }.descriptor
        } catch where error.code == .notFound {
            return false
        }
        defer { Sys.close(fd) }
        return try writerIsAlive(fd, path)
    }

    private static func writerIsAlive(_ fd: CInt, _ path: String) throws(CBuffFailure) -> Bool {
        try Sys.isLocked(fd, start: RingLayout.writerLockByte).orThrow { .system($0, "examine the writer lock of ring file \(path)") }
    }

    /// Marks this process as the writer in the header (after taking the writer lock), lists the
    /// writer for a clean close at exit (`AttachedWriters`), and returns its PID and start time
    /// for the registry. The state store comes last (release): whoever loads `attached` sees
    /// the PID and start time that go with it.
    package func attachWriter() -> (pid: Int32, startTime: UInt64?) {
        let pid = Sys.processID()
        let startTime = Sys.processStartTime(pid)
        let words = header
        words.writerPID.pointee.store(UInt32(bitPattern: pid), ordering: .relaxed)
        words.writerStartTime.pointee.store(startTime ?? 0, ordering: .relaxed)
        words.writerGeneration.pointee.wrappingAdd(1, ordering: .relaxed)
        words.writerState.pointee.store(RecordedWriterState.attached.rawValue, ordering: .releasing)
        AttachedWriters.add(words)
        return (pid, startTime)
    }

    /// The writer's close, before the descriptor closes and releases the writer lock: takes it
    /// off the exit list and marks the header closed (see `HeaderWords.markClosed`).
    package func detachWriter() {
        AttachedWriters.remove(header)
        header.markClosed()
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
        SpaceGate(table: layout.policy == .block ? readerTable : nil, header: header, length: layout.length)
    }

    /// Where a new reader starting at `start` would begin now.
    package func startSequence(_ start: RingCursor.Start) -> UInt64 {
        RingCursor.startSequence(start, header: header, slots: slots)
    }

    /// The data area of a ring of messages (nil for a ring of items).
    package var messageArea: MessageArea? {
        layout.messages.map { MessageArea(base: base + layout.slotsOffset, capacity: $0.capacity, maxMessage: $0.maxMessage) }
    }

    /// The writer's side of a message ring (see ``publisher()``); the ring must be one.
    package func messagePublisher() -> MessagePublisher {
        MessagePublisher(area: messageArea!, header: header, fenceBeforeWaiterCheck: !Sys.registerForGlobalBarriers())
    }

    /// A reading cursor over a message ring, starting at `start`, or where named reader `record`
    /// committed; the ring must be one.
    package func messageCursor(start: MessageCursor.Start, record: NamedReaderRecord?) -> MessageCursor {
        MessageCursor(area: messageArea!, header: header,
                      start: record.map { .at(position: $0.committed, sequence: $0.commit.committedSequence) } ?? start,
                      gatedRecord: layout.policy == .block ? record?.index : nil)
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

    /// The `space` futex word as the plain `UInt32` the futex system call takes.
    var spaceAddress: UnsafeMutablePointer<UInt32> {
        (base + RingLayout.Offset.space).assumingMemoryBound(to: UInt32.self)
    }

    /// Wakes every reader sleeping on this ring (they recheck and, unless stopped, sleep again):
    /// used to interrupt one reader's wait promptly.
    ///
    /// Every word of the file a process bumps wraps (`wrappingAdd`, never the trapping `add`):
    /// the futex words are bumped on every wake for the file's whole life (2^32 wakes are 50
    /// days at 1,000 a second), and the file is input, so any word may already be at its top.
    /// A futex waiter compares for equality, which a wrap does not disturb.
    func wakeReaders() {
        notify.pointee.wrappingAdd(1, ordering: .releasing)
        Sys.futexWakeAll(notifyAddress)
    }

    /// Wakes a writer waiting for space (the cold path of a named reader's acknowledgement, and
    /// of removing a named reader). Never inlined: it would bloat every pop for a rare call.
    @usableFromInline @inline(never)
    func wakeWriter() {
        space.pointee.wrappingAdd(1, ordering: .releasing)   // wraps: see `wakeReaders`
        Sys.futexWakeAll(spaceAddress)
    }

    /// The futex word as the plain `UInt32` the futex system call takes (same address as ``notify``).
    var notifyAddress: UnsafeMutablePointer<UInt32> {
        (base + RingLayout.Offset.notify).assumingMemoryBound(to: UInt32.self)
    }
}
