/// Everything known about one buffer, for people investigating it (`cbuff inspect`, `cbuff list`):
/// its registry row, whether its writer is alive, and a snapshot of its ring file's header.
public struct BufferStatus: Sendable {
    /// The registry row.
    public let record: BufferRecord
    /// The ring file's path.
    public let path: String
    /// Whether a live process holds the writer lock, none does, or that could not be told.
    public let writerLiveness: Liveness
    /// Whether a live process holds the writer lock (false when that could not be told: see
    /// ``writerLiveness``).
    public var writerAlive: Bool { writerLiveness == .alive }
    /// The ring file's header, or nil if the file could not be read (see ``problem``).
    public let ring: RingStatus?
    /// Why the ring file could not be read.
    public let problem: CBuffError?
}

/// Whether a process holds a lock that says it is alive: three states, since a check that
/// failed must never read as "nobody" to code about to delete something.
public enum Liveness: Sendable, Hashable {
    /// A live process holds the lock.
    case alive
    /// No process holds it.
    case notAlive
    /// It could not be told (the file could not be opened or examined).
    case unknown
}

/// A snapshot of a ring file's header (see `docs/ring-file-format.md`).
public struct RingStatus: Sendable {
    public let formatVersion: Int
    public let itemSize: Int
    public let length: Int
    public let policy: OverflowPolicy
    public let slotStride: Int
    public let fileSize: Int
    /// Creation time, nanoseconds since the Unix epoch.
    public let createdAt: UInt64
    /// Items ever published: the sequence number the next item will get.
    public let written: UInt64
    /// The sequence of the oldest item still in the ring (equal to ``written`` when empty).
    public let oldest: UInt64
    /// When the writer last wrote (nanoseconds since the Unix epoch; refreshed every 1024 items
    /// and on close), or nil if it never did.
    public let lastWriteAt: UInt64?
    /// The last writer's PID and start time as recorded in the header (nil if none ever attached).
    public let writerPID: Int32?
    public let writerStartTime: UInt64?
    /// What the header says about the last writer. ``WriterState/attached`` without a live
    /// writer means it died without closing.
    public let writerState: WriterState
    /// How many writers have attached over the buffer's life.
    public let writerGeneration: UInt64
    /// The sequence whose write the last writer started but never finished (it died): that item
    /// will never be delivered, and the next writer rewrites its slot. Nil if none.
    public let interruptedWrite: UInt64?
    /// Readers sleeping on the buffer right now.
    public let sleepingReaders: UInt32
    /// The named readers, in table order.
    public let readers: [NamedReaderStatus]

    /// Items currently in the ring.
    public var count: Int { Int(written - oldest) }

    /// ``count`` as a fraction of ``length``.
    public var fill: Double { Double(count) / Double(length) }
}

extension RingStatus {
    init(_ file: borrowing RingFile, writerAlive: Bool) {
        let layout = file.layout
        let header = file.header
        let written = header.nextSequence.pointee.load(ordering: .acquiring)
        let claimed = max(header.claimed.pointee.load(ordering: .acquiring), written)
        let length = UInt64(layout.length)
        let pid = Int32(bitPattern: header.writerPID.pointee.load(ordering: .relaxed))
        let state = WriterState(rawValue: header.writerState.pointee.load(ordering: .acquiring)) ?? .never
        let lastWrite = header.lastWriteAt.pointee.load(ordering: .relaxed)
        formatVersion = Int(RingLayout.formatVersion)
        itemSize = layout.itemSize
        self.length = layout.length
        policy = layout.policy
        slotStride = layout.slotStride
        fileSize = layout.fileSize
        createdAt = header.createdAt.pointee.load(ordering: .relaxed)
        self.written = written
        // A started write destroys the oldest items of a full ring before it publishes its own.
        oldest = min(claimed > length ? claimed - length : 0, written)
        lastWriteAt = lastWrite == 0 ? nil : lastWrite
        writerPID = state == .never ? nil : pid
        writerStartTime = state == .never ? nil : header.writerStartTime.pointee.load(ordering: .relaxed)
        writerState = state
        writerGeneration = header.writerGeneration.pointee.load(ordering: .relaxed)
        // Only while the last writer is the one that died: a writer that attached since and
        // closed cleanly has left no write interrupted (the slots the dead one may have damaged
        // stay counted as overwritten, since `claimed` is never lowered, but that is history).
        interruptedWrite = claimed > written && !writerAlive && state == .attached ? written : nil
        sleepingReaders = header.waiters.pointee.load(ordering: .relaxed)
        let table = file.readerTable
        readers = (0..<RingLayout.readerCapacity).compactMap { index in
            guard let name = table.name(index) else { return nil }
            let position = table.cursor(index).pointee.load(ordering: .acquiring)
            return NamedReaderStatus(name: name, slot: index, position: position,
                                     lag: written > position ? written - position : 0,
                                     pid: table.pid(index), alive: file.isReaderAlive(index))
        }
    }
}

/// A named reader, as its ring file records it.
public struct NamedReaderStatus: Sendable, Hashable {
    public let name: String
    /// Its record in the ring file's reader table.
    public let slot: Int
    /// The next sequence it will read after a restart (what it committed).
    public let position: UInt64
    /// Items published after `position`.
    public let lag: UInt64
    /// The last process that opened it.
    public let pid: Int32
    /// Whether a live process has it open (decided by the lock that process holds).
    public let alive: Bool
}

extension BufferStatus {
    /// Whether the buffer's writer died without closing (crash or kill) and no writer is alive:
    /// debris of a crash, as opposed to a buffer closed cleanly and kept on purpose.
    public var writerDied: Bool {
        writerLiveness == .notAlive && ring?.writerState == .attached
    }

    /// Nanoseconds since the Unix epoch of the last sign of life: the last write, else creation.
    public var lastActivity: UInt64? {
        ring.map { $0.lastWriteAt ?? $0.createdAt }
    }

    /// The named readers that have not consumed everything published.
    public var readersWithUnconsumedItems: [NamedReaderStatus] {
        ring?.readers.filter { $0.lag > 0 } ?? []
    }
}

/// What ``DataDirectory/removeDeadBuffers(olderThan:includingUnconsumed:)`` did.
public struct DeadBufferSweep: Sendable {
    /// The buffers removed.
    public var removed: [String] = []
    /// The buffers kept, each with the sentence saying why.
    public var kept: [(name: String, reason: String)] = []
    /// Temporary files of creators that died before naming their buffer, deleted.
    public var debris: [String] = []
}

extension DataDirectory {
    /// The buffers whose writer died (see ``BufferStatus/writerDied``) at least `age` ago.
    public func deadBuffers(olderThan age: Duration = .zero) throws(CBuffError) -> [BufferStatus] {
        let cutoff = Sys.realtimeNanos() &- UInt64(max(0, age.nanoseconds))
        return try statuses().filter { $0.writerDied && ($0.lastActivity ?? 0) <= cutoff }
    }

    /// Removes the buffers whose writer died at least `age` ago, and the temporary files of
    /// creators that died. A buffer whose named readers have items left to consume is kept
    /// (they are data someone registered to receive) unless `includingUnconsumed`; so is one
    /// whose writer came back, or whose state could not be read. Each removal re-checks, inside
    /// its registry transaction, what decided it.
    public func removeDeadBuffers(olderThan age: Duration = .zero, includingUnconsumed: Bool = false) throws(CBuffError) -> DeadBufferSweep {
        var sweep = DeadBufferSweep()
        for status in try deadBuffers(olderThan: age) {
            let name = status.record.name
            do throws(CBuffError) {
                try removeBuffer(name, force: false) { ring throws(CBuffError) in
                    let now = RingStatus(ring, writerAlive: false)
                    guard now.writerState == .attached else {
                        throw CBuffError(.writerBusy, "kept \"\(name)\": a writer attached to it meanwhile.")
                    }
                    let waiting = now.readers.filter { $0.lag > 0 }
                    if !includingUnconsumed, !waiting.isEmpty {
                        let list = waiting.map { "\"\($0.name)\" (\($0.lag) item\($0.lag == 1 ? "" : "s"))" }.joined(separator: ", ")
                        throw CBuffError(.writerBusy, "kept \"\(name)\": its named reader\(waiting.count == 1 ? "" : "s") \(list) \(waiting.count == 1 ? "has" : "have") not consumed everything; remove \(waiting.count == 1 ? "it" : "them") first, or pass --force.")
                    }
                }
                sweep.removed.append(name)
            } catch {
                sweep.kept.append((name, error.message.hasPrefix("kept ") ? error.message : "kept \"\(name)\": \(error.message)"))
            }
        }
        sweep.debris = try removeDebris()
        return sweep
    }

    /// Everything known about buffer `name`; a damaged ring file is reported in
    /// ``BufferStatus/problem`` rather than thrown, so that it can still be inspected.
    ///
    /// - Throws: ``CBuffError/Code/notFound`` if there is no such buffer.
    public func status(of name: String) throws(CBuffError) -> BufferStatus {
        let record = try record(of: name)
        return status(of: record, trust: try trust())
    }

    /// The status of every buffer, by name.
    public func statuses() throws(CBuffError) -> [BufferStatus] {
        let records = try buffers()
        guard !records.isEmpty else { return [] }
        let trust = try trust()
        return records.map { status(of: $0, trust: trust) }
    }

    private func status(of record: BufferRecord, trust: FileTrust) -> BufferStatus {
        let path = ringPath(of: record.name)
        let liveness: Liveness
        switch Result(catching: { () throws(CBuffError) in try RingFile.writerIsAlive(at: path, trust: trust) }) {
        case .success(let alive): liveness = alive ? .alive : .notAlive
        case .failure: liveness = .unknown
        }
        do throws(CBuffError) {
            let file = try RingFile.open(at: path, bufferName: record.name, trust: trust, writable: false)
            return BufferStatus(record: record, path: path, writerLiveness: liveness,
                                ring: RingStatus(file, writerAlive: liveness == .alive), problem: nil)
        } catch {
            return BufferStatus(record: record, path: path, writerLiveness: liveness, ring: nil, problem: error)
        }
    }
}
