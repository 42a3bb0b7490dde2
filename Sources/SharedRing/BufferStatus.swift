internal import SharedRingProtocol
internal import SharedRingCommon

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
    /// What was found at the ring file's path: the row's own ring, a sound ring that is not the
    /// row's, or nothing readable.
    public let ringFile: RingFileState

    /// The ring file's header, only when the file is the row's own (its readers, counts and
    /// writer are this buffer's); nil when it is not, or could not be read (see ``problem``).
    /// Every consumer of a buffer's state reads it here, so none can show another buffer's
    /// readers as this one's: what a file that is not the row's holds is reachable only under
    /// a name that says so (``refusedRing``).
    public var ring: RingStatus? {
        if case .own(let ring) = ringFile { ring } else { nil }
    }

    /// Why the ring file is not this buffer's, or could not be read; nil for the row's own ring.
    public var problem: CBuffError? {
        switch ringFile {
        case .own: nil
        case .notItsOwn(_, let problem), .unreadable(let problem): problem
        }
    }

    /// For an investigator only (``DataDirectory/status(of:)`` reports it, `cbuff inspect`
    /// shows it, marked): the header of a sound ring file that is *not* the row's (another
    /// geometry, another buffer's file, a file with another name). Nothing in it is this
    /// buffer's state.
    public var refusedRing: RingStatus? {
        if case .notItsOwn(let ring, _) = ringFile { ring } else { nil }
    }

    /// The three things a buffer's ring file can be found to be.
    public enum RingFileState: Sendable {
        /// The row's own ring file, sound: its header.
        case own(RingStatus)
        /// A sound ring file that is not the row's: what it holds, and why it is refused.
        case notItsOwn(RingStatus, CBuffError)
        /// Missing, lost or damaged: why it cannot be read.
        case unreadable(CBuffError)
    }
}

/// What ``DataDirectory/survey()`` finds: the status of every buffer whose registry row can be
/// read, and the rows that cannot.
public struct DirectorySurvey: Sendable {
    /// Every buffer whose registry row is valid, by name.
    public let buffers: [BufferStatus]
    /// The rows that are not (each names no usable buffer until it is removed).
    public let damagedRows: [DamagedBufferRow]

    /// Those of ``buffers`` whose writer died at least `age` ago (as
    /// ``DataDirectory/deadBuffers(olderThan:)`` says, from this one look).
    public func deadBuffers(olderThan age: Duration = .zero) -> [BufferStatus] {
        DataDirectory.dead(buffers, olderThan: age)
    }
}

/// A registry row that cannot be read as a buffer.
public struct DamagedBufferRow: Sendable {
    /// The text of the row's name column, if it is text. It is not a valid buffer name for sure:
    /// escape it before showing it.
    public let name: String?
    /// What is wrong with it (``CBuffError/Code/corrupted``).
    public let problem: CBuffError
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

/// A snapshot of a ring file's header (see <doc:RingFileFormat>).
public struct RingStatus: Sendable {
    /// The format version of the ring file (2, or 3 when it describes its items).
    public let formatVersion: Int
    /// The alignment the file records for the items, or nil (version 2).
    public let itemAlignment: Int?
    /// The name of the items' type the file records, or nil.
    public let itemTypeName: String?
    /// The items' fields the file records, or nil.
    public let itemLayout: ItemLayout?
    /// For a buffer of variable-size messages, the bytes of its data area (nil for items).
    /// ``itemSize`` and ``length`` are then its line 0's 8 and `capacity / 8`, and every count
    /// below (``written``, ``oldest``, ``count``, a reader's position and lag) is in messages.
    public let messageCapacity: Int?
    /// For a buffer of messages, the largest message in bytes.
    public let maxMessageSize: Int?
    /// For a buffer of messages, whether they are stamped with the precise clock (else the coarse one).
    public let preciseMessageTime: Bool?
    /// Bytes per item.
    public let itemSize: Int
    /// Number of slots.
    public let length: Int
    /// What a push does when the ring is full.
    public let policy: OverflowPolicy
    /// Under ``OverflowPolicy/block``, how long a named reader whose process is not alive may
    /// hold the writer back before the writer goes on without it (see
    /// ``DataDirectory/createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)``); nil: without limit.
    public let tetherTimeout: Duration?
    /// When its writers sync on their own, as the ring file records it (``SyncPolicy/none`` for
    /// every file made before the policy existed).
    public let syncPolicy: SyncPolicy
    /// Bytes per slot: the item size rounded up to a multiple of 8 (or of the item's alignment).
    public let slotStride: Int
    /// The ring file's size in bytes: the 4096-byte header and the slots.
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
    /// The durable sequence: every item or message below it reached stable storage when a
    /// writer synced (``BufferWriter/sync()``); 0 if none ever did. What a machine crash keeps
    /// of what the writer has not overwritten since (on a disk; a data directory in memory,
    /// such as `/dev/shm`, keeps nothing).
    public let durable: UInt64
    /// Whether the last writer attached in an earlier boot than this one: the machine restarted
    /// since, and a crash then may have left pages of the ring file stale or zeroed (format
    /// version 4 proves each item and record; earlier formats cannot tell). Nil if
    /// no writer recorded its boot (none attached, or an earlier version's).
    public let writtenInAnEarlierBoot: Bool?
    /// Items or messages below this sequence were written in an earlier boot than the last
    /// writer's (before a restart) and nothing proved them since: a crash then may have left
    /// them stale (0: none; only items and version-3 messages can have such).
    public let earlierBootBelow: UInt64
    /// Whether the ring holds items or messages written before the machine last restarted
    /// that nothing proved since: its last writer attached in an earlier boot, or some below
    /// ``earlierBootBelow`` are still held. Nil if no writer recorded its boot.
    public var holdsEarlierBootData: Bool? {
        writtenInAnEarlierBoot.map { $0 || earlierBootBelow > oldest }
    }
    /// Whether the ring file lives in memory (a tmpfs such as `/dev/shm`): a machine crash
    /// loses it whole, synced or not. Nil if the file system could not be asked.
    public let inMemory: Bool?
    /// Version-4 message buffers: whether a recovery is pending (the last writer attached in
    /// an earlier boot and did not close after a sync: a machine crash may have damaged the
    /// file). The next reader or writer runs it before anything is delivered.
    public let recoveryPending: Bool
    /// Version-4 message buffers: what the last recovery after a machine crash did, if one ran.
    public let lastRecovery: BufferRecovery?
    /// The last writer's PID as recorded in the header (nil if none ever attached).
    public let writerPID: Int32?
    /// That writer's start time, in clock ticks after boot (`/proc/PID/stat` field 22), which
    /// tells a reused PID apart (nil if none ever attached).
    public let writerStartTime: UInt64?
    /// What the header says about the last writer. ``WriterState/attached`` without a live
    /// writer means it died without closing.
    public let writerState: WriterState
    /// How many writers have attached over the buffer's life.
    public let writerGeneration: UInt64
    /// The sequence whose write the last writer started but never finished (it died): that item
    /// will never be delivered, and the next writer rewrites its slot. Nil if none.
    public let interruptedWrite: UInt64?
    /// Readers asleep on the buffer right now, as the kernel counts the sleepers on its futex
    /// word (a reader killed in its sleep no longer counts; one spinning before it sleeps does
    /// not count yet).
    public let sleepingReaders: UInt32
    /// Under ``OverflowPolicy/block``, the named readers a waiting writer waits for (those at the
    /// lowest position: the ring is full of what they have not consumed); empty when the writer
    /// is not asleep for room (the kernel's count of the sleepers on the `space` futex word).
    public let writerBlockedBy: [String]
    /// The named readers, in table order.
    public let readers: [NamedReaderStatus]

    /// For a buffer of messages, the bytes its intact messages take (headers and padding
    /// included); nil for items.
    public let bytesUsed: UInt64?

    /// Items (or messages) currently in the ring. (Never a trap, whatever the file says: a
    /// damaged message ring's sequences may lie 2^63 apart; the count then reads `Int.max`.)
    public var count: Int { written > oldest ? Int(clamping: written - oldest) : 0 }

    /// Under ``OverflowPolicy/block`` with named readers, the positions the slowest of them has
    /// not consumed (items, or 8-byte words for messages): what holds the writer back. Nil
    /// otherwise.
    public let unconsumedPositions: UInt64?

    /// How full the ring is, from 0 to 1: ``count`` as a fraction of ``length`` (for messages,
    /// ``bytesUsed`` of ``messageCapacity``); under ``OverflowPolicy/block`` with named readers,
    /// what the slowest has not consumed (a ring its readers emptied reads 0, though its items
    /// stay readable): at 1 the writer waits.
    public var fill: Double {
        backlog ?? occupancy
    }

    /// What the ring holds, from 0 to 1: ``count`` as a fraction of ``length`` (for messages,
    /// ``bytesUsed`` of ``messageCapacity``), whatever the readers have consumed.
    public var occupancy: Double {
        if let bytesUsed, let messageCapacity { return Double(bytesUsed) / Double(messageCapacity) }
        return Double(count) / Double(length)
    }

    /// Under ``OverflowPolicy/block`` with named readers, what the slowest has not consumed, from
    /// 0 to 1 (at 1 the writer waits); nil otherwise.
    public var backlog: Double? {
        unconsumedPositions.map { Double($0) / Double(length) }
    }
}

extension RingStatus {
    init(_ snapshot: RingSnapshot, writerAlive: Bool) {
        let layout = snapshot.layout
        formatVersion = Int(layout.version)
        itemAlignment = layout.itemType.alignment
        itemTypeName = layout.itemType.name
        itemLayout = layout.itemType.fields.map(ItemLayout.init)
        messageCapacity = layout.messages?.capacity
        maxMessageSize = layout.messages?.maxMessage
        preciseMessageTime = layout.messages == nil ? nil : layout.preciseMessageTime
        bytesUsed = snapshot.messages?.bytesUsed
        itemSize = layout.itemSize
        length = layout.length
        policy = OverflowPolicy(layout.policy)
        tetherTimeout = layout.tetherNanos == 0 ? nil : .nanoseconds(Int64(clamping: layout.tetherNanos))
        syncPolicy = SyncPolicy(layout.syncPolicy)
        slotStride = layout.slotStride
        fileSize = layout.fileSize
        createdAt = snapshot.createdAt
        written = snapshot.messages?.written ?? snapshot.published
        oldest = snapshot.messages?.oldest ?? snapshot.oldest
        lastWriteAt = snapshot.lastWriteAt == 0 ? nil : snapshot.lastWriteAt
        durable = snapshot.durable
        writtenInAnEarlierBoot = snapshot.writtenInAnEarlierBoot
        earlierBootBelow = snapshot.earlierBootBelow
        inMemory = snapshot.inMemory
        recoveryPending = snapshot.recoveryPending
        lastRecovery = snapshot.lastRecovery.map(BufferRecovery.init)
        writerState = WriterState(snapshot.writerState)
        writerPID = writerState == .never ? nil : snapshot.writerPID
        writerStartTime = writerState == .never ? nil : snapshot.writerStartTime
        writerGeneration = snapshot.writerGeneration
        interruptedWrite = snapshot.interruptedWrite(writerAlive: writerAlive)
        sleepingReaders = snapshot.sleepingReaders
        let written = self.written
        // An untethered reader no longer holds the writer back (see `SpaceGate`).
        let tethered = snapshot.readers.filter { !$0.untethered }
        let slowest = tethered.map(\.committed).min()
        unconsumedPositions = layout.policy == .block ? slowest.map { snapshot.published > $0 ? snapshot.published - $0 : 0 } : nil
        writerBlockedBy = snapshot.writerWaiting && layout.policy == .block
            ? tethered.filter { $0.committed == slowest }.map(\.name) : []
        readers = snapshot.readers.map { reader in
            let position = snapshot.messages == nil ? reader.committed : reader.committedSequence ?? written
            return NamedReaderStatus(name: reader.name, slot: reader.index, position: position,
                                     lag: written > position ? written - position : 0,
                                     pid: reader.pid, alive: reader.alive, untethered: reader.untethered,
                                     untetherCount: Int(reader.untetherCount),
                                     untetheredAt: reader.untetheredAt == 0 ? nil : reader.untetheredAt)
        }
    }
}

/// What the writer-state word of a ring file's header says about its last writer.
public enum WriterState: UInt32, Sendable, CustomStringConvertible {
    /// No writer ever attached.
    case never = 0
    /// A writer attached and has not closed: it is alive if it still holds the lock, else it died.
    case attached = 1
    /// The last writer closed cleanly.
    case closed = 2

    /// "never attached", "attached" or "closed".
    public var description: String { RecordedWriterState(self).description }

    init(_ state: RecordedWriterState) {
        switch state {
        case .never: self = .never
        case .attached: self = .attached
        case .closed: self = .closed
        }
    }
}

extension RecordedWriterState {
    init(_ state: WriterState) {
        switch state {
        case .never: self = .never
        case .attached: self = .attached
        case .closed: self = .closed
        }
    }
}

/// A named reader, as its ring file records it.
public struct NamedReaderStatus: Sendable, Hashable {
    /// The name it registered under.
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
    /// Whether a `block` writer stopped waiting for it: its process was not alive and it held
    /// the writer back for longer than the buffer's tether timeout. Its next open ties it again
    /// and counts what the writer overwrote meanwhile in ``BufferReader/missedCount``.
    public let untethered: Bool
    /// How many times a writer untethered it.
    public let untetherCount: Int
    /// When a writer last untethered it (nanoseconds since the Unix epoch), or nil if never.
    public let untetheredAt: UInt64?
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

/// What a recovery of a version-4 message ring after a machine crash did (see
/// ``RingStatus/lastRecovery``): its damaged spans became lost records, whose messages readers
/// count as missed.
public struct BufferRecovery: Sendable, Hashable {
    /// When it ran, nanoseconds since the Unix epoch.
    public let at: UInt64
    /// Messages it found lost (sequences its lost records skip).
    public let lostMessages: UInt64
    /// In how many spans of the ring.
    public let lostRanges: Int

    init(_ record: MessageRecoveryRecord) {
        at = record.at
        lostMessages = UInt64(record.lostMessages)
        lostRanges = Int(record.lostRanges)
    }
}
