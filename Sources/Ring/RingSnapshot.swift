internal import SharedRingSystem
internal import Synchronization
package import SharedRingCommon

/// Everything a ring file's header and reader table say at one moment, for people investigating
/// a buffer (the public API shows it as `RingStatus`). Taken while a writer may be publishing:
/// each word is one atomic load, so the snapshot is a set of recent values, not one instant;
/// the orderings below make the derived figures consistent with each other.
package struct RingSnapshot: Sendable {
    /// Whether a recorded boot is an earlier one than this (nil: not recorded, or this one unknown).
    static func earlierBoot(_ first: UInt64, _ second: UInt64) -> Bool? {
        guard first != 0 || second != 0, let now = Sys.bootID else { return nil }
        return (first, second) != now
    }

    /// A named reader's record.
    package struct Reader: Sendable, Hashable {
        package let name: String
        /// Its record's index in the reader table.
        package let index: Int
        /// The sequence it committed: where it resumes (for a message ring, a word position).
        package let committed: UInt64
        /// For a message ring, the sequence of the message it resumes at, if it knew it.
        package let committedSequence: UInt64?
        /// The last process that opened it.
        package let pid: Int32
        /// Whether a live process has it open (the lock that process holds on its record).
        package let alive: Bool
        /// Whether a `block` writer stopped waiting for it (its tether timeout; see `SpaceGate`).
        package let untethered: Bool
        /// How many times a writer untethered it.
        package let untetherCount: UInt32
        /// When it was last untethered (ns since the Unix epoch), or 0.
        package let untetheredAt: UInt64
    }

    package let layout: RingLayout
    /// Creation time, nanoseconds since the Unix epoch.
    package let createdAt: UInt64
    /// Items published: every sequence below is complete.
    package let published: UInt64
    /// Items started (never below `published`): the slots of the `length` sequences below it
    /// may have been reused.
    package let claimed: UInt64
    /// The oldest sequence still intact (`published` when the ring is empty).
    package let oldest: UInt64
    /// Nanoseconds since the Unix epoch of the last write, or 0 if none was recorded.
    package let lastWriteAt: UInt64
    /// The durable sequence the last sync recorded (0: none).
    package let durable: UInt64
    /// Whether the last writer attached in an earlier boot than this one (the machine
    /// restarted since); nil if its boot was not recorded (an earlier version's writer, or none).
    package let writtenInAnEarlierBoot: Bool?
    /// Items or messages below this sequence were written in an earlier boot than the last
    /// writer's and nothing proved them since (0: none).
    package let earlierBootBelow: UInt64
    /// Whether the file lives in memory (tmpfs: a machine crash loses it whole; nil if unknown).
    package let inMemory: Bool?
    package let writerPID: Int32
    package let writerStartTime: UInt64
    package let writerState: RecordedWriterState
    package let writerGeneration: UInt64
    /// Readers asleep on the futex word right now (see `HeaderWords.sleepingReaders`).
    package let sleepingReaders: UInt32
    /// Whether the writer is asleep for room under the `block` policy right now.
    package let writerWaiting: Bool
    /// The named readers, in table order.
    package let readers: [Reader]
    /// For a ring of messages, what its positions hold (`published`, `claimed` and `oldest`
    /// above are then word positions); nil for a ring of items.
    package let messages: Messages?
    /// Version-4 messages: whether a recovery is pending (see `MessageRecovery.swift`): the
    /// next reader or writer runs it, and counts and damage are the recovery's to settle.
    package var recoveryPending = false
    /// Version-4 messages: what the last recovery did, if one ran.
    package var lastRecovery: MessageRecoveryRecord?

    /// What a message ring holds, in messages.
    package struct Messages: Sendable, Hashable {
        /// Messages published: the sequence the next one gets.
        package let written: UInt64
        /// The sequence of the oldest message still intact (`written` when there is none).
        package let oldest: UInt64
        /// Bytes of the data area that the intact messages take, headers and padding included.
        package let bytesUsed: UInt64
    }

    /// The sequence whose write the last writer started and never finished, given whether a
    /// writer is alive now: only a dead writer that was the last to attach leaves one (a writer
    /// that attached since and closed cleanly left nothing interrupted: the slots the dead one
    /// may have damaged stay counted as overwritten, since `claimed` is never lowered, but that
    /// is history). That item will never be delivered; the next writer rewrites its slot.
    package func interruptedWrite(writerAlive: Bool) -> UInt64? {
        claimed > published && !writerAlive && writerState == .attached ? messages?.written ?? published : nil
    }
}

extension RingFile {
    /// A snapshot of the header and the reader table.
    ///
    /// `published` is loaded first (acquire) and `claimed` after it: W1 precedes W4
    /// (`Publication.swift`), so the claim seen is at least the one made for the items seen
    /// published, and the oldest intact sequence derived from it is never too old. A started
    /// write destroys the oldest items of a full ring before it publishes its own, which is
    /// why `oldest` follows `claimed`, not `published`. For a ring of messages the counts come
    /// from `MessageArea.observe`, which checks the counters and the records they name.
    ///
    /// - Throws: `corrupted` if the counters are beyond the most a ring file counts, or a ring
    ///   of messages contradicts itself (see `MessageInvariants.swift`): whatever another
    ///   process wrote into the file since it was opened, nothing here traps.
    /// A durable sequence is at most what was ever published; beyond it, the word is damage,
    /// which every report of the buffer (`inspect`, `list`, `verify`, Python's) refuses alike.
    package func checkDurable(_ durable: UInt64, written: UInt64) throws(CBuffFailure) {
        guard durable <= written else {
            throw CBuffFailure(.corrupted, "Ring file \(path) is damaged: its durable sequence (\(durable)) is beyond the \(written) \(layout.messages == nil ? "items" : "messages") ever published.")
        }
    }

    package func snapshot() throws(CBuffFailure) -> RingSnapshot {
        let words = header
        // The durable sequence first, acquiring: the sync that stored it (releasing) came after
        // the publishes it counts, so the counts loaded after it are at least it. One above
        // them is damage (the word is input, as every other).
        let durable = words.durable.pointee.load(ordering: .acquiring)
        let published = words.published.pointee.load(ordering: .acquiring)
        let claimed = max(words.claimed.pointee.load(ordering: .acquiring), published)
        guard claimed <= Limits.maxCount else {
            throw CBuffFailure(.corrupted, "Ring file \(path) is damaged: its counters (published \(published), claimed \(claimed)) are beyond the \(Limits.maxCount) a ring file can count.")
        }
        let state = try RecordedWriterState(word: words.writerState.pointee.load(ordering: .acquiring), path: path)
        // The table is read whole (a second look, as `checkCounters` does): a record that
        // contradicts it is never listed as if it were sound, nor left out as if it were free.
        if readerTableProblem() != nil { try checkReaderTable() }
        let table = readerTable
        let readers = (0..<RingLayout.readerCapacity).compactMap { index -> RingSnapshot.Reader? in
            guard let name = table.name(index) else { return nil }
            let sequence = (table.cursor(index) + 1).pointee.load(ordering: .acquiring)
            return RingSnapshot.Reader(name: name, index: index,
                                       committed: min(table.cursor(index).pointee.load(ordering: .acquiring), Limits.maxCount),
                                       committedSequence: layout.messages == nil || sequence == 0 ? nil : min(sequence - 1, Limits.maxCount),
                                       pid: table.pid(index), alive: isReaderAlive(index),
                                       untethered: table.untethered(index).pointee.load(ordering: .acquiring) != 0,
                                       untetherCount: table.untetherCount(index), untetheredAt: table.untetheredAt(index))
        }
        var messages: RingSnapshot.Messages?
        if let area = messageArea {
            // A writer overwriting the oldest message while it is read leaves its sequence
            // unknown (see `MessageArea.observe`): look again a few times for it.
            var observation = area.observe(words)
            for _ in 0..<8 {
                guard case .consistent(let ring) = observation, ring.oldestSequence == nil else { break }
                observation = area.observe(words)
            }
            switch observation {
            case .consistent(let ring):
                messages = RingSnapshot.Messages(written: ring.next, oldest: ring.oldestSequence ?? ring.next, bytesUsed: ring.bytesUsed)
            case .damaged(let damage):
                // A crash left it damaged and its recovery has not run: the count as stored.
                guard recoveryIsPending else { throw damaged(damage) }
                let written = min(MessageCounters.load(words).count, Limits.maxCount)
                messages = RingSnapshot.Messages(written: max(written, durable), oldest: written, bytesUsed: 0)
            case .moving(let counters):
                // A writer too busy to catch in one consistent state: its count, and nothing
                // claimed about what is still held.
                let written = min(counters.count, Limits.maxCount)
                messages = RingSnapshot.Messages(written: written, oldest: written, bytesUsed: 0)
            }
        }
        let written = messages?.written ?? published
        try checkDurable(durable, written: written)
        var snapshot = RingSnapshot(
            layout: layout,
            createdAt: words.createdAt.pointee.load(ordering: .relaxed),
            published: published,
            claimed: claimed,
            oldest: min(slots.oldestIntact(claimed: claimed), published),
            lastWriteAt: words.lastWriteAt.pointee.load(ordering: .relaxed),
            durable: durable,
            writtenInAnEarlierBoot: RingSnapshot.earlierBoot(words.writerBoot.0.pointee.load(ordering: .relaxed), words.writerBoot.1.pointee.load(ordering: .relaxed)),
            earlierBootBelow: words.earlierBootBelow.pointee.load(ordering: .relaxed),
            inMemory: try? Sys.isInMemory(descriptor).get(),
            // Relaxed: these are read after the acquiring load of the state, which the writer
            // stores last (see `attachWriter`).
            writerPID: Int32(bitPattern: words.writerPID.pointee.load(ordering: .relaxed)),
            writerStartTime: words.writerStartTime.pointee.load(ordering: .relaxed),
            writerState: state,
            writerGeneration: words.writerGeneration.pointee.load(ordering: .relaxed),
            sleepingReaders: words.sleepingReaders,
            writerWaiting: words.writerAsleep,
            readers: readers,
            messages: messages)
        snapshot.recoveryPending = recoveryIsPending
        snapshot.lastRecovery = lastRecovery
        return snapshot
    }
}
