public import Synchronization
internal import SharedRingSystem
package import SharedRingCommon

/// The named-reader table of a ring file: `RingLayout.readerCapacity` records of 128 bytes at
/// offset 1024. A named reader's cursor lives here, so a restarted reader resumes where it
/// stopped. Record `k`:
///
/// | offset | size | field | written by |
/// |---:|---:|---|---|
/// | 0 | 8 | cursor: the next sequence to deliver after a restart | the reader (own cache line) |
/// | 8 | 8 | message rings: 1 + the sequence at the cursor (0: unknown) | the reader |
/// | 16 | 4 | untethered: 1 while a `block` writer does not wait for this reader | under the table lock |
/// | 20 | 4 | how many times a writer untethered it (wraps) | under the table lock |
/// | 24 | 8 | when it was last untethered, ns since the Unix epoch | under the table lock |
/// | 64 | 4 | state: 0 free, 1 registered | the registering process, under the table lock |
/// | 68 | 4 | PID of the last process that opened it | idem |
/// | 72 | 8 | that process's start time (clock ticks after boot) | idem |
/// | 80 | 4 | name length (1–44) | idem |
/// | 84 | 44 | name (UTF-8) | idem |
///
/// Registering, resuming and removing take the *table lock* (an OFD write lock on byte 64 of the
/// file, waited for), so two processes never claim the same record or register one name twice.
/// While a named reader is open, its process holds an OFD write lock on byte `1 + k`: that lock
/// (dropped by the kernel when the process dies) is what "alive" means.
@usableFromInline
package struct ReaderTable {
    static let tableLockByte = 64
    static let maxNameLength = 44

    package enum Offset {
        package static let cursor = 0
        /// u32: 1 while the reader is *untethered*: a `block` writer stopped waiting for it (its
        /// process was not alive and it held the writer back longer than the buffer's tether
        /// timeout). Set by that writer and cleared by the reader's next open, both under the
        /// table lock, each followed by a bump of the readers version (see `SpaceGate`).
        package static let untethered = 16
        /// u32: how many times a writer untethered this reader (wraps; for people).
        package static let untetherCount = 20
        /// u64: when a writer last untethered it, nanoseconds since the Unix epoch (for people).
        package static let untetheredAt = 24
        package static let state = 64
        package static let pid = 68
        package static let startTime = 72
        static let nameLength = 80
        package static let name = 84
    }

    let fileBase: UnsafeMutableRawPointer

    static func lockByte(ofRecord index: Int) -> Int { 1 + index }

    package func record(_ index: Int) -> UnsafeMutableRawPointer {
        fileBase + RingLayout.readerTableOffset + index * RingLayout.readerRecordSize
    }

    package func cursor(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (record(index) + Offset.cursor).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    package func state(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (record(index) + Offset.state).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// The untethered flag of record `index` (see ``Offset/untethered``): any value but 0 means
    /// untethered (the file is input: a damaged flag only makes the writer wait less, and the
    /// reader's next open clears it).
    package func untethered(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (record(index) + Offset.untethered).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// How many times a writer untethered record `index`.
    package func untetherCount(_ index: Int) -> UInt32 {
        UInt32(littleEndian: record(index).load(fromByteOffset: Offset.untetherCount, as: UInt32.self))
    }

    /// When a writer last untethered record `index` (ns since the Unix epoch; 0: never).
    package func untetheredAt(_ index: Int) -> UInt64 {
        UInt64(littleEndian: record(index).load(fromByteOffset: Offset.untetheredAt, as: UInt64.self))
    }

    /// Marks record `index` untethered (under the table lock, by the writer): the caller then
    /// bumps the readers version, which publishes it (release) to the gate and to readers.
    func markUntethered(_ index: Int, at time: UInt64) {
        let base = record(index)
        base.storeBytes(of: (untetherCount(index) &+ 1).littleEndian, toByteOffset: Offset.untetherCount, as: UInt32.self)
        base.storeBytes(of: time.littleEndian, toByteOffset: Offset.untetheredAt, as: UInt64.self)
        untethered(index).pointee.store(1, ordering: .relaxed)
    }

    /// The name of record `index`, or nil if it is free (or its name is damaged).
    package func name(_ index: Int) -> String? {
        guard state(index).pointee.load(ordering: .acquiring) == 1, let bytes = nameBytes(index) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes of record `index`'s name if registration would have accepted them, else nil.
    /// The file is input: a name is what registration accepts, or it is damaged (an escape
    /// sequence written into the table never reaches an operator's terminal). No allocation:
    /// a `block` writer's rescan calls it (see ``problem(published:countsMessages:)``).
    func nameBytes(_ index: Int) -> UnsafeRawBufferPointer? {
        let length = Int(UInt32(littleEndian: record(index).load(fromByteOffset: Offset.nameLength, as: UInt32.self)))
        guard (1...Self.maxNameLength).contains(length) else { return nil }
        let bytes = UnsafeRawBufferPointer(start: record(index) + Offset.name, count: length)
        return BufferName.isValid(bytes, maxLength: Self.maxNameLength) ? bytes : nil
    }

    /// What makes the table contradict itself, or nil if every record is free or sound: the
    /// table is read whole, never one record at a time, so that no reader of it (an open,
    /// `list`, `inspect`, an opener under the table lock, a `block` writer's rescan) takes one
    /// of two contradicting records for the truth. Contradictions, none of which registering,
    /// resuming, moving, committing or removing can leave, even when killed at any point
    /// (a record is zeroed, then filled, then its state stored last; removing stores state 0
    /// first):
    ///
    /// - a state other than 0 (free) or 1 (registered): whether a reader that may be running
    ///   still holds the record cannot be known;
    /// - a registered record whose name registration would not accept (an invisible reader
    ///   that holds a `block` writer and cannot be removed by name);
    /// - a cursor beyond `published`, or a committed message sequence beyond `Limits.maxCount`;
    /// - two registered records with one name: registering looks the name up under the table
    ///   lock, so one name names one record; with two, which one the reader's process commits
    ///   to and which one holds the writer back is unknown (a copy left behind resurfaces,
    ///   after the other is removed, with a cursor from the past: items delivered again).
    ///
    /// Allocation-free unless it finds something (the sentence is made then).
    package func problem(published: UInt64, countsMessages: Bool) -> String? {
        let advice = "cbuff cannot tell which items a reader that may be running still needs, so it reads and writes nothing on its strength; only removing the buffer (cbuff rm --force) clears it."
        for index in 0..<RingLayout.readerCapacity {
            let state = self.state(index).pointee.load(ordering: .acquiring)
            if state == 0 { continue }
            guard state == 1 else {
                return "named reader record \(index) (byte \(RingLayout.readerTableOffset + index * RingLayout.readerRecordSize)) has state \(state), neither free (0) nor registered (1); \(advice)"
            }
            guard let bytes = nameBytes(index) else {
                return "named reader record \(index) (byte \(RingLayout.readerTableOffset + index * RingLayout.readerRecordSize)) is registered with a damaged name, so it can be neither listed nor removed by name; \(advice)"
            }
            func name() -> String { String(decoding: bytes, as: UTF8.self) }
            let cursor = self.cursor(index).pointee.load(ordering: .acquiring)
            guard cursor <= published else {
                return "named reader record \(index) (\"\(name())\") has its cursor at \(cursor), beyond the \(published) positions published; \(advice)"
            }
            // A message reader's committed sequence, stored plus one (0: not known).
            let sequence = (self.cursor(index) + 1).pointee.load(ordering: .acquiring)
            guard !countsMessages || sequence <= Limits.maxCount else {
                return "named reader record \(index) (\"\(name())\") committed sequence \(sequence &- 1), beyond the \(Limits.maxCount) a ring file can count; \(advice)"
            }
            for earlier in 0..<index where self.state(earlier).pointee.load(ordering: .acquiring) == 1 {
                if let other = nameBytes(earlier), other.elementsEqual(bytes) {
                    return "named reader records \(earlier) and \(index) (bytes \(RingLayout.readerTableOffset + earlier * RingLayout.readerRecordSize) and \(RingLayout.readerTableOffset + index * RingLayout.readerRecordSize)) are both registered as reader \"\(name())\", which names one record; \(advice)"
                }
            }
        }
        return nil
    }

    package func pid(_ index: Int) -> Int32 {
        Int32(bitPattern: record(index).load(fromByteOffset: Offset.pid, as: UInt32.self))
    }

    /// The start time of the process that last opened the reader (see `Sys.processStartTime`).
    package func startTime(_ index: Int) -> UInt64 {
        UInt64(littleEndian: record(index).load(fromByteOffset: Offset.startTime, as: UInt64.self))
    }

    package func index(of name: String) -> Int? {
        (0..<RingLayout.readerCapacity).first { self.name($0) == name }
    }

    /// Fills a free record. Called under the table lock; the state store (release) comes last, so
    /// that whoever sees the record registered sees its name and cursor too.
    package func register(_ index: Int, name: String, cursor: UInt64, pid: Int32, startTime: UInt64?) {
        let base = record(index)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: RingLayout.readerRecordSize)
        self.cursor(index).pointee.store(cursor, ordering: .relaxed)
        let bytes = Array(name.utf8)
        base.storeBytes(of: UInt32(bytes.count).littleEndian, toByteOffset: Offset.nameLength, as: UInt32.self)
        bytes.withUnsafeBytes { (base + Offset.name).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        recordOpener(index, pid: pid, startTime: startTime)
        state(index).pointee.store(1, ordering: .releasing)
    }

    func recordOpener(_ index: Int, pid: Int32, startTime: UInt64?) {
        let base = record(index)
        base.storeBytes(of: UInt32(bitPattern: pid).littleEndian, toByteOffset: Offset.pid, as: UInt32.self)
        base.storeBytes(of: (startTime ?? 0).littleEndian, toByteOffset: Offset.startTime, as: UInt64.self)
    }

    /// Frees a record (under the table lock).
    package func clear(_ index: Int) {
        state(index).pointee.store(0, ordering: .releasing)
        (record(index) + 64).initializeMemory(as: UInt8.self, repeating: 0, count: RingLayout.readerRecordSize - 64)
        (record(index) + Offset.untethered).initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        cursor(index).pointee.store(0, ordering: .relaxed)
    }

    /// Checks a reader name: 1 to 44 bytes of the characters allowed in buffer names.
    package static func validate(_ name: String) throws(CBuffFailure) {
        try BufferName.validate(name, kind: "reader", maxLength: maxNameLength)
    }
}

/// A named reader's handle on its record: its name and index, and how it commits.
@usableFromInline
package struct NamedReaderRecord {
    @usableFromInline package let name: String
    @usableFromInline package let index: Int
    /// How this reader stores its cursor.
    @usableFromInline package let commit: ReaderCommit
    /// Whether this open registered the reader (rather than resuming it).
    package let isNew: Bool

    init(name: String, index: Int, commit: ReaderCommit, isNew: Bool) {
        self.name = name
        self.index = index
        self.commit = commit
        self.isNew = isNew
    }

    /// The sequence the reader committed: where it resumes after a restart.
    package var committed: UInt64 { commit.committed }
}

/// A named reader's commit: the store of its cursor, and the wake-up of a writer that the
/// `block` policy holds back for it.
@frozen @usableFromInline
package struct ReaderCommit {
    /// The cursor word of the reader's record (its own cache line).
    @usableFromInline let cursor: UnsafeMutablePointer<Atomic<UInt64>>
    /// The state word of the reader's record (see ``isRemoved``).
    @usableFromInline let state: UnsafeMutablePointer<Atomic<UInt32>>
    @usableFromInline let header: HeaderWords
    /// Set when this process could not register for membarrier: the reader then pays a full
    /// fence between its store and its load of `writerWaiting` (see `FutexSleep`).
    @usableFromInline let fenceBeforeWriterCheck: Bool

    init(record index: Int, of table: ReaderTable, header: HeaderWords) {
        self.cursor = table.cursor(index)
        self.state = table.state(index)
        self.header = header
        self.fenceBeforeWriterCheck = !Sys.registerForGlobalBarriers()
    }

    /// Stores `sequence` as the reader's cursor: every item below it is consumed. Release: a
    /// writer that loads it (the `SpaceGate`, acquire) may reuse the slots below it, so every
    /// copy out of them is ordered before. Then the store-load step of `FutexSleep`, waker's
    /// side (K1, K2): a writer that asked to be woken for room is woken, and only then does the
    /// reader pay a system call. A plain store to the reader's own cache line otherwise.
    @inlinable
    package func store(_ sequence: UInt64) {
        cursor.pointee.store(sequence, ordering: .releasing)
        if fenceBeforeWriterCheck { atomicMemoryFence(ordering: .sequentiallyConsistent) }
        if header.writerWaiting.pointee.load(ordering: .relaxed) != 0 { header.wakeWriter() }
    }

    /// A read's acknowledgement, as every pop of a reader makes it: stores `sequence` into
    /// `acknowledgement` (nil: an anonymous reader, or one that commits explicitly) and returns
    /// whether `registration`'s record was freed by a forced removal (the read then throws).
    /// Static, over the two fields: the readers are large non-copyable structs, and a method on
    /// one called here made the optimizer copy the whole reader on every pop (680 bytes: pop 156
    /// instructions against 47, `Benchmarks/instructions.sh`).
    @inlinable @inline(__always)
    package static func acknowledge(_ sequence: UInt64, into acknowledgement: ReaderCommit?, checking registration: ReaderCommit?) -> Bool {
        acknowledgement?.store(sequence)
        guard let registration else { return false }
        return registration.isRemoved
    }

    /// Whether the reader's record is no longer registered: a forced removal (`cbuff reader rm
    /// --force`) freed it while this process had it open. The record cannot be registered
    /// again meanwhile: a claim takes only a free record whose liveness lock is free (see
    /// `RingFile.claimReader`), and this process holds that lock until it closes the reader,
    /// so state 1 here always means this process's own registration. (A cursor this process
    /// stores into the freed record before it notices is harmless: the gate reads only
    /// registered records, and registering zeroes a record, after this process's lock is
    /// released, which orders its last store before.) Relaxed: the removal is noticed at the
    /// first commit or wait after its store reaches this core, and nothing is read on its
    /// strength. A load of a line written only under the table lock: it stays in this core's
    /// cache, so a pop pays a load and a branch for it.
    @inlinable
    package var isRemoved: Bool {
        state.pointee.load(ordering: .relaxed) != 1
    }

    /// What the reader committed last (acquire: a cursor stored by another process that had
    /// this reader open before is seen with what it read).
    package var committed: UInt64 {
        cursor.pointee.load(ordering: .acquiring)
    }
}

extension RingFile {
    package var readerTable: ReaderTable { ReaderTable(fileBase: base) }

    /// Runs `body` holding the table lock, waiting for it at most `timeoutNanos`: a process
    /// that holds it longer (one stopped with Ctrl-Z while registering a reader) makes this
    /// fail with a sentence naming it, never hang.
    package func withReaderTableLocked<T>(timeoutNanos: Int64, _ body: () throws(CBuffFailure) -> T) throws(CBuffFailure) -> T {
        let byte = ReaderTable.tableLockByte
        let locked = try Sys.poll(timeoutNanos: timeoutNanos) { () throws(CBuffFailure) -> Bool in
            try Sys.tryLock(descriptor, start: byte).orThrow { .system($0, "lock the reader table of \(path)") }
        }
        guard locked else {
            let identity = (try? Sys.fileInfo(descriptor).get())?.identity ?? Sys.FileIdentity(device: 0, inode: 0)
            throw LockWait.timedOut(path, identity: identity, byte: byte, timeoutNanos: timeoutNanos,
                                    doing: "lock the named-reader table (byte \(byte))")
        }
        defer { Sys.unlock(descriptor, start: byte) }
        return try body()
    }

    /// Whether a live process has named reader `index` open.
    package func isReaderAlive(_ index: Int) -> Bool {
        (try? Sys.isLocked(descriptor, start: ReaderTable.lockByte(ofRecord: index)).get()) ?? false
    }

    /// ``isReaderAlive(_:)`` for a decision that refuses a removal: a liveness lock held although
    /// the process the record names is gone, or is this one, may be a child's that a thread is
    /// forking (it shares its parent's locks until it execs), and is waited out for up to the
    /// grace take-overs give (`outlastingForkedHolders`) before it counts as a live reader.
    package func readerIsAliveForRemoval(_ index: Int) -> Bool {
        let owner = readerTable.pid(index)
        let free = try? Self.outlastingForkedHolders(of: "the liveness lock of named reader record \(index) of ring file \(path)",
                                                     ownerIsRunning: owner != Sys.processID() && Sys.processExists(owner)) { () throws(CBuffFailure) -> Bool in
            !isReaderAlive(index)
        }
        return free != true
    }

    /// Opens named reader `name`: resumes its record if it exists, else claims a free one with
    /// its cursor at `start`. Takes the reader's liveness lock.
    package func claimReader(_ name: String, bufferName: String, lockTimeoutNanos: Int64, start: () -> UInt64) throws(CBuffFailure) -> NamedReaderRecord {
        try withReaderTableLocked(timeoutNanos: lockTimeoutNanos) { () throws(CBuffFailure) -> NamedReaderRecord in
            try checkReaderTable()
            let table = readerTable
            let pid = Sys.processID()
            let index: Int
            if let existing = table.index(of: name) {
                index = existing
            } else {
                // A free record whose liveness lock is held belongs to a reader removed by force
                // while its process runs: that process may still store its cursor there until
                // it notices (see `ReaderCommit.isRemoved`), so the record is not handed to
                // another reader until the lock is released.
                let free = (0..<RingLayout.readerCapacity).filter { table.state($0).pointee.load(ordering: .acquiring) == 0 }
                guard let unheld = free.first(where: { !isReaderAlive($0) }) else {
                    if free.isEmpty {
                        throw CBuffFailure(.invalidArgument, "Buffer \"\(bufferName)\" already has \(RingLayout.readerCapacity) named readers, its maximum; remove one that is no longer used.")
                    }
                    throw CBuffFailure(.readerBusy, "Buffer \"\(bufferName)\" has no named-reader record free: \(free.count == 1 ? "the one left was" : "the \(free.count) left were") freed by a forced removal while the removed \(free.count == 1 ? "reader's process still has it" : "readers' processes still have them") open; \(free.count == 1 ? "it is" : "they are") free once \(free.count == 1 ? "that process stops" : "those processes stop") (at their next read, or when they exit).")
                }
                index = unheld
            }
            let lockByte = ReaderTable.lockByte(ofRecord: index)
            // Records say who opened a reader, not whether it closed: the owner is surely active
            // only if it is another running process (this one may have closed it, then forked).
            let owner = table.pid(index)
            guard try tryLock(byte: lockByte, of: "named reader \(name) of \(path)",
                              ownerIsRunning: owner != pid && Sys.isRunning(owner, startTime: table.startTime(index))) else {
                throw CBuffFailure(.readerBusy, "Named reader \"\(name)\" of buffer \"\(bufferName)\" is in use by a live process (PID \(table.pid(index))).")
            }
            let isNew = table.index(of: name) == nil
            if isNew {
                table.register(index, name: name, cursor: start(), pid: pid, startTime: Sys.processStartTime(pid))
                bumpReadersVersion()
            } else {
                table.recordOpener(index, pid: pid, startTime: Sys.processStartTime(pid))
                if table.untethered(index).pointee.load(ordering: .relaxed) != 0 { retether(index, name: name) }
            }
            return NamedReaderRecord(name: name, index: index, commit: ReaderCommit(record: index, of: table, header: header), isNew: isNew)
        }
    }

    /// Registers named readers `names` in a ring file no other process can open yet (a new
    /// one, before it gets its name), at its start (nothing is published): what `cbuff create
    /// --reader` asks for. No process has opened them, so their records name none (PID 0,
    /// start time 0) until one does. A name given twice is registered once. Returns each
    /// reader's record index, in order.
    package func registerUnopenedReaders(_ names: [String], bufferName: String) throws(CBuffFailure) -> [(name: String, index: Int)] {
        var unique: [String] = []
        for name in names where !unique.contains(name) {
            try ReaderTable.validate(name)
            unique.append(name)
        }
        guard unique.count <= RingLayout.readerCapacity else {
            throw CBuffFailure(.invalidArgument, "Buffer \"\(bufferName)\" can have at most \(RingLayout.readerCapacity) named readers, not \(unique.count).")
        }
        let table = readerTable
        var registered: [(name: String, index: Int)] = []
        for (index, name) in unique.enumerated() {
            if layout.messages == nil {
                table.register(index, name: name, cursor: startSequence(.oldest), pid: 0, startTime: nil)
            } else {
                let first = try messageCursor(start: .oldest, record: nil).commitPoint
                table.register(index, name: name, cursor: first.position, pid: 0, startTime: nil)
                ReaderCommit(record: index, of: table, header: header).store(first)
            }
            registered.append((name, index))
        }
        if !registered.isEmpty { bumpReadersVersion() }
        return registered
    }

    /// Moves named reader `name` to the point `target()` computes (asked under the table lock:
    /// a position and, for a ring of messages, the sequence of the message there), in one change
    /// of its record; refused with `readerBusy` while a live process has it open. Returns the
    /// position stored.
    ///
    /// Why no process can see the record half moved, or move it back. The table lock is held
    /// throughout, and this process takes the reader's liveness lock (byte `1 + k`) as an
    /// opener would: opening a named reader takes the table lock first, so no process can
    /// open it until the move is complete; one that had it open holds the liveness lock, and
    /// the move is refused. A process that had it open and closed (or died) stored its last
    /// cursor before its descriptor released the lock; the kernel's lock table orders that
    /// release before this process's lock (each `fcntl` runs under the kernel's lock of the
    /// file's lock list, so stores before one are visible after the other), so that cursor is
    /// never stored after the move. The cursor is stored with release semantics (after the
    /// message sequence at offset 8, as a reader's commit does), then the readers version is
    /// bumped (release), so that the writer's gate, which rescans when it acquires a new
    /// version, sees the new cursor, wherever it moved: a move back makes it wait for the
    /// reader again, a move forward lets it go on; it is woken to look. A move back to items a
    /// claim made meanwhile overwrites is counted as missed by the reader's next read (R4 of
    /// `Publication.swift`: the reader relies on the gate only once the gate has taken the new
    /// version in), as for a reader registered at the oldest item of a full ring.
    package func seekReader(_ name: String, bufferName: String, lockTimeoutNanos: Int64,
                            to target: () throws(CBuffFailure) -> (position: UInt64, sequence: UInt64?)) throws(CBuffFailure) -> UInt64 {
        try withReaderTableLocked(timeoutNanos: lockTimeoutNanos) { () throws(CBuffFailure) -> UInt64 in
            try checkReaderTable()
            let table = readerTable
            guard let index = table.index(of: name) else {
                throw CBuffFailure(.notFound, "Buffer \"\(bufferName)\" has no named reader \"\(name)\".")
            }
            let byte = ReaderTable.lockByte(ofRecord: index)
            let owner = table.pid(index)
            guard try tryLock(byte: byte, of: "named reader \(name) of \(path)",
                              ownerIsRunning: owner != Sys.processID() && Sys.isRunning(owner, startTime: table.startTime(index))) else {
                throw CBuffFailure(.readerBusy, "Named reader \"\(name)\" of buffer \"\(bufferName)\" is in use by a live process (PID \(owner)); stop it first, then move it. It was not moved.")
            }
            defer { Sys.unlock(descriptor, start: byte) }
            let point = try target()
            let commit = ReaderCommit(record: index, of: table, header: header)
            if layout.messages != nil {
                commit.store(position: point.position, sequence: point.sequence)
            } else {
                commit.store(point.position)
            }
            bumpReadersVersion()
            header.wakeWriter()
            return point.position
        }
    }

    /// Ties a returning named reader to the `block` writer again (under the table lock, with the
    /// reader's liveness lock taken): clears its untethered flag, then bumps the readers
    /// version (release), so that the writer's gate, which rescans the table when it acquires a
    /// new version, counts its cursor again. The reader resumes at its committed cursor, which
    /// the writer has lapped meanwhile: its first read finds that out from `claimed` (R4, as
    /// any lapped reader does: it does not rely on the gate before the gate has taken the new
    /// version in), counts exactly what was overwritten, and goes on at the oldest item still
    /// present. Until it commits past that, the gate sees its old cursor and the writer waits.
    func retether(_ index: Int, name: String) {
        readerTable.untethered(index).pointee.store(0, ordering: .relaxed)
        bumpReadersVersion()
        Diagnostics.note(.readers, "named reader \"\(name)\" of \(path) is back: the writer waits for it again")
    }

    /// Removes named reader `index`, so that it no longer holds a place, nor, under the
    /// `block` policy, the writer. Called under the table lock (``withReaderTableLocked``).
    package func removeReader(at index: Int) {
        readerTable.clear(index)
        bumpReadersVersion()
        // A writer held back by this reader re-reads the table and goes on; a process that has
        // the reader open (a forced removal) finds out at its next commit or wake-up.
        header.wakeWriter()
        header.wakeReaders()
    }

    /// Tells the writer's gate, and gated readers, that a named reader came or went.
    ///
    /// The bump needs release ordering at least: the record's change (state stored with
    /// release, name and cursor before it) must be visible to whoever acquires the new version
    /// (the writer's `SpaceGate.hasSpace`, which then rescans the table; a gated reader's R4,
    /// which then stops relying on the gate; see `Publication.swift`). It is sequentially
    /// consistent because a read-modify-write costs the same at any ordering on the machines
    /// cbuff runs on (a `lock xadd` on x86-64, `ldaddal` on aarch64), and a single total order
    /// with the other sequentially consistent operations (the wake-up requests of `FutexSleep`)
    /// leaves one thing fewer to reason about. Nothing relies on more than acquire-release.
    /// It wraps (see `HeaderWords.wakeReaders`): versions are compared for equality only.
    func bumpReadersVersion() {
        header.readersVersion.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
    }
}
