import Synchronization

/// The named-reader table of a ring file: `RingLayout.readerCapacity` records of 128 bytes at
/// offset 1024. A named reader's cursor lives here, so a restarted reader resumes where it
/// stopped. Record `k`:
///
/// | offset | size | field | written by |
/// |---:|---:|---|---|
/// | 0 | 8 | cursor: the next sequence to deliver after a restart | the reader (own cache line) |
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
struct ReaderTable {
    static let tableLockByte = 64
    static let maxNameLength = 44

    enum Offset {
        static let cursor = 0
        static let state = 64
        static let pid = 68
        static let startTime = 72
        static let nameLength = 80
        static let name = 84
    }

    let fileBase: UnsafeMutableRawPointer

    static func lockByte(ofRecord index: Int) -> Int { 1 + index }

    func record(_ index: Int) -> UnsafeMutableRawPointer {
        fileBase + RingLayout.readerTableOffset + index * RingLayout.readerRecordSize
    }

    func cursor(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (record(index) + Offset.cursor).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    func state(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (record(index) + Offset.state).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// The name of record `index`, or nil if it is free (or its name is damaged).
    func name(_ index: Int) -> String? {
        guard state(index).pointee.load(ordering: .acquiring) == 1 else { return nil }
        let length = Int(record(index).load(fromByteOffset: Offset.nameLength, as: UInt32.self))
        guard (1...Self.maxNameLength).contains(length) else { return nil }
        let bytes = UnsafeRawBufferPointer(start: record(index) + Offset.name, count: length)
        return String(validating: bytes, as: UTF8.self)
    }

    func pid(_ index: Int) -> Int32 {
        Int32(bitPattern: record(index).load(fromByteOffset: Offset.pid, as: UInt32.self))
    }

    /// The start time of the process that last opened the reader (see `Sys.processStartTime`).
    func startTime(_ index: Int) -> UInt64 {
        UInt64(littleEndian: record(index).load(fromByteOffset: Offset.startTime, as: UInt64.self))
    }

    func index(of name: String) -> Int? {
        (0..<RingLayout.readerCapacity).first { self.name($0) == name }
    }

    /// Fills a free record. Called under the table lock; the state store (release) comes last, so
    /// that whoever sees the record registered sees its name and cursor too.
    func register(_ index: Int, name: String, cursor: UInt64, pid: Int32, startTime: UInt64?) {
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
    func clear(_ index: Int) {
        state(index).pointee.store(0, ordering: .releasing)
        (record(index) + 64).initializeMemory(as: UInt8.self, repeating: 0, count: RingLayout.readerRecordSize - 64)
        cursor(index).pointee.store(0, ordering: .relaxed)
    }

    /// Checks a reader name: 1 to 44 bytes of the characters allowed in buffer names.
    static func validate(_ name: String) throws(CBuffError) {
        try BufferName.validate(name, kind: "reader", maxLength: maxNameLength)
    }
}

/// A named reader's handle on its record: where to store its cursor.
@usableFromInline
struct NamedReaderRecord {
    @usableFromInline let name: String
    @usableFromInline let index: Int
    @usableFromInline let cursor: UnsafeMutablePointer<Atomic<UInt64>>
    /// Whether this open registered the reader (rather than resuming it).
    let isNew: Bool

    init(name: String, index: Int, cursor: UnsafeMutablePointer<Atomic<UInt64>>, isNew: Bool) {
        self.name = name
        self.index = index
        self.cursor = cursor
        self.isNew = isNew
    }
}

extension RingFile {
    var readerTable: ReaderTable { ReaderTable(fileBase: base) }

    /// Runs `body` holding the table lock, waiting for it at most `timeoutNanos`: a process
    /// that holds it longer (one stopped with Ctrl-Z while registering a reader) makes this
    /// fail with a sentence naming it, never hang.
    func withReaderTableLocked<T>(timeoutNanos: Int64, _ body: () throws(CBuffError) -> T) throws(CBuffError) -> T {
        let byte = ReaderTable.tableLockByte
        let locked = try Sys.poll(timeoutNanos: timeoutNanos) { () throws(CBuffError) -> Bool in
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
    func isReaderAlive(_ index: Int) -> Bool {
        (try? Sys.isLocked(descriptor, start: ReaderTable.lockByte(ofRecord: index)).get()) ?? false
    }

    /// Opens named reader `name`: resumes its record if it exists, else claims a free one with
    /// its cursor at `start`. Takes the reader's liveness lock.
    func claimReader(_ name: String, bufferName: String, lockTimeoutNanos: Int64, start: () -> UInt64) throws(CBuffError) -> NamedReaderRecord {
        try withReaderTableLocked(timeoutNanos: lockTimeoutNanos) { () throws(CBuffError) -> NamedReaderRecord in
            let table = readerTable
            let pid = Sys.processID()
            let index: Int
            if let existing = table.index(of: name) {
                index = existing
            } else {
                guard let free = (0..<RingLayout.readerCapacity).first(where: { table.state($0).pointee.load(ordering: .acquiring) == 0 }) else {
                    throw CBuffError(.invalidArgument, "Buffer \"\(bufferName)\" already has \(RingLayout.readerCapacity) named readers, its maximum; remove one that is no longer used.")
                }
                index = free
            }
            let lockByte = ReaderTable.lockByte(ofRecord: index)
            // Records say who opened a reader, not whether it closed: the owner is surely active
            // only if it is another running process (this one may have closed it, then forked).
            let owner = table.pid(index)
            guard try tryLock(byte: lockByte, of: "named reader \(name) of \(path)",
                              ownerIsActive: owner != pid && Sys.isRunning(owner, startTime: table.startTime(index))) else {
                throw CBuffError(.readerBusy, "Named reader \"\(name)\" of buffer \"\(bufferName)\" is in use by a live process (PID \(table.pid(index))).")
            }
            let isNew = table.index(of: name) == nil
            if isNew {
                table.register(index, name: name, cursor: start(), pid: pid, startTime: Sys.processStartTime(pid))
                header.readersVersion.pointee.add(1, ordering: .sequentiallyConsistent)
            } else {
                table.recordOpener(index, pid: pid, startTime: Sys.processStartTime(pid))
            }
            return NamedReaderRecord(name: name, index: index, cursor: table.cursor(index), isNew: isNew)
        }
    }
}
