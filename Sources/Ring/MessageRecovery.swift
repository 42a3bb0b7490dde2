internal import Synchronization
internal import SharedRingSystem
package import SharedRingCommon

// # Recovering a version-4 message ring after a machine crash
//
// A machine crash (power loss, kernel panic, a VM killed) leaves each page of a ring file, or each
// 512-byte sector, holding any version of it the kernel ever wrote back, or zeros. Every record of
// a version-4 ring carries a check word (I8), so no damaged message is ever delivered; but the
// chain of records is broken where the damage is, and the counters may name records that are not
// there (a header page older or newer than the data pages). Before recovery existed, such a ring
// was refused whole. The recovery makes it walkable again and keeps everything intact.
//
// ## When
//
// A process that attaches a writer or opens a reader runs it, under the writer lock, before
// anything is delivered, when the ring is version 4 of messages, its recorded boot (byte 80) is
// set and is not this boot, and it was not closed cleanly and synced (writer state 2 with the
// durable word covering every published message). A writer attached in this boot recorded this
// boot (or recovered first), so a live writer never meets a recovery. `inspect` and `verify`
// only say that one is pending.
//
// ## What
//
// 1. The walk of `MessageArea.survey` from the tail to `published`, starting without knowing the
//    oldest sequence (the oldest record may be damaged), resynchronizing after damage on the next
//    record provable on its own. Every intact run is kept as it lies; every lost record an earlier
//    recovery wrote is kept too.
// 2. Each gap (damaged words between kept records, up to `published`) becomes lost records (I9):
//    single words `words | 3 << 32`, one per stretch up to the end of the data area. They are
//    written over words that hold nothing deliverable, never over a kept record.
// 3. Sequences are never reused: the next message gets at least the old `publishedMessages`, one
//    more than the last kept message, and one more than any sequence a sealed record anywhere in
//    the data area carries (a header older than the data pages leaves newer messages beyond
//    `published`, which a consumer may have seen). If the ring then does not end with a lost
//    record whose jump explains that sequence, a 1-word lost record is written at `published`
//    (the tail moved past what that word overwrites, if the ring was exactly full).
// 4. Named readers whose committed position lies inside a lost span (or at `published` behind a
//    final lost span) are moved to the start of that span: they then read the lost record and
//    count what was lost.
// 5. The repair is made durable (`fsync`), then the header words are stored: the allowance B of
//    I4 (the sequences skipped, added to the earlier recoveries'), the tail, `claimed`,
//    `lastRecordStart`, `published` (releasing, after everything it publishes, as W4 does),
//    `publishedMessages`, what happened (bytes 360–383), and last this boot and
//    `earlierBootBelow` 0. The header page is synced.
//
// ## Interrupted
//
// A recovery may itself be cut short, by SIGKILL (memory stays coherent: every store before the
// kill is seen, none after) or by another machine crash (each page any version it had). Either
// way the recorded boot is the old one until the very last stores, so the next open recovers
// again, and that second recovery is correct:
//
// - Before the `fsync` of step 5, the header is the old one (nothing in it was stored yet, but
//   named readers' cursors, clamped to a gap's start: the second recovery finds the same gap and
//   leaves them). The data area holds any mixture of the lost records written or not: a lost
//   record lies exactly over a gap (it ends where the next provable record starts), so the second
//   walk passes it and finds the same runs, and writes the rest. A terminal word written beyond
//   the old `published` is outside the walk and is written again.
// - After the `fsync`, every lost record is on disk. The header words of line 2 and line 5 and the
//   boot all lie in the first 512-byte sector, which a crash keeps at some version the memory had:
//   a prefix of step 5's stores. Their order keeps I1–I4 at every prefix (B only grows, loosening
//   I4; the tail moves first, never past the old `published`; `claimed` becomes the new
//   `published`, at most a ring above the tail, the walk past the old `published` stopping a
//   word short of that; then `lastRecordStart`, `published` and the count), which is all the
//   walk needs from the counters. A prefix with the new boot holds every other store before it: the recovery
//   is complete. Otherwise it runs again over the repaired chain and finds nothing new to repair,
//   except that it adds its jumps to B again: B only loosens a bound (I4), so that is sound.
// - Sequences: the second recovery takes the maximum of the same things (the old count or the new
//   one, whichever the header holds, the kept messages, the sealed records), so it chooses the
//   same next sequence or a higher one: never a lower one. What it records (bytes 376–383) is
//   counted from the kept runs, whatever marks the words between them (gaps it marks now, lost
//   records it finds), so it records what the first one would have: the messages its lost
//   records skip. (A later recovery counts, the same way, what an earlier one's lost records
//   still in the ring skip, too.)

/// What the last recovery of a version-4 message ring did (header bytes 360–383).
package struct MessageRecoveryRecord: Sendable, Equatable {
    /// When it ran, nanoseconds since the Unix epoch.
    package let at: UInt64
    /// Messages it found lost (sequences its lost records skip; at most 2^32 − 1, saturating).
    package let lostMessages: UInt32
    /// Lost spans it wrote.
    package let lostRanges: UInt32
}

extension RingFile {
    /// Whether this ring waits for a recovery (see the top of this file): a version-4 message
    /// ring last written in another boot than this one, not closed cleanly and synced. Whether a
    /// live writer holds it is the lock's to say (one attached in this boot recorded this boot).
    package var recoveryIsPending: Bool {
        guard let geometry = layout.messages, geometry.records.isChecked else { return false }
        let words = header
        let recorded = (words.writerBoot.0.pointee.load(ordering: .relaxed), words.writerBoot.1.pointee.load(ordering: .relaxed))
        guard recorded != (0, 0), let now = Sys.bootID, recorded != now else { return false }
        let closed = words.writerState.pointee.load(ordering: .acquiring) == RecordedWriterState.closed.rawValue
        return !(closed && words.durable.pointee.load(ordering: .acquiring) >= words.publishedMessages.pointee.load(ordering: .relaxed))
    }

    /// What the last recovery did, if one ran.
    package var lastRecovery: MessageRecoveryRecord? {
        guard layout.messages?.records.isChecked == true else { return nil }
        let words = header
        let at = words.recoveredAt.pointee.load(ordering: .acquiring)
        guard at != 0 else { return nil }
        return MessageRecoveryRecord(at: at, lostMessages: words.recoveryLost.pointee.load(ordering: .relaxed),
                                     lostRanges: words.recoveryRanges.pointee.load(ordering: .relaxed))
    }

    /// Runs the recovery if one is pending, taking the writer lock for it (waiting at most
    /// `lockTimeoutNanos` for another process's recovery or take-over) and releasing it after.
    /// Returns what it did, or nil if nothing was pending. A ring mapped read-only is not
    /// repaired: it says so once, and its readers go on.
    ///
    /// - Throws: `timedOut` if the lock stayed busy; `corrupted` if the counters contradict
    ///   each other beyond what a recovery can rebuild; a system failure if the repair could not
    ///   be made durable (nothing is then believed repaired: the next open recovers again).
    package func recoverIfPending(lockTimeoutNanos: Int64) throws(CBuffFailure) -> MessageRecoveryRecord? {
        guard recoveryIsPending else { return nil }
        guard isWritable else {
            Diagnostics.warn(.readers, "ring file \(path) was last written before the machine restarted and not closed after a sync: it needs a recovery, which a read-only data directory does not allow; its damaged records are not delivered")
            return nil
        }
        let deadline = Sys.monotonicNanos() + max(lockTimeoutNanos, 0)
        var pause: Int64 = 100_000
        while !(try tryLockWriter()) {
            // A live writer attached in this boot (so nothing is pending: a test's boot hook can
            // make it look otherwise), or another process recovered it meanwhile.
            guard recoveryIsPending, !recordedWriterIsRunning else { return nil }
            guard Sys.monotonicNanos() < deadline else {
                let identity = try Sys.fileInfo(descriptor).orThrow { .system($0, "look at ring file \(path)") }.identity
                throw LockWait.timedOut(path, identity: identity, byte: RingLayout.writerLockByte, timeoutNanos: lockTimeoutNanos,
                                        doing: "recover the message ring after a machine crash")
            }
            Sys.sleep(nanoseconds: pause)
            pause = min(pause * 2, 10_000_000)
        }
        defer { Sys.unlock(descriptor, start: RingLayout.writerLockByte) }
        guard recoveryIsPending else { return nil }               // decided again under the lock
        return try recoverMessages()
    }

    /// The recovery itself (see the top of this file), for a process that holds the writer lock
    /// of a ring for which ``recoveryIsPending`` holds.
    package func recoverMessages() throws(CBuffFailure) -> MessageRecoveryRecord {
        let area = messageArea!
        let words = header
        let old = MessageCounters.load(words)
        if let damage = area.bounds(old) { throw damaged(damage) }
        let allowance = area.allowance(old)

        // 1. The walk, not knowing the oldest sequence; sequences up to the count (the last
        //    message's is the count or one less, I5).
        let found = area.survey(from: old.tail, sequence: nil, through: old.published, next: old.count &+ 1,
                                allowance: allowance, resynchronizing: true)

        // Beyond `published`: a header page older than the data pages names fewer messages than
        // they hold. Where the walk ended cleanly at `published`, every further record that
        // continues the chain (the next sequence, its check word, within one ring of the tail:
        // I6–I8) is exactly what its writer published, which a consumer may have seen: kept.
        var published = old.published
        var chainNext = found.runs.last.map { $0.firstSequence + $0.count }
        var endsWithMessage = found.runs.last?.end == old.published
        let cleanEnd: UInt64? = if !found.gaps.isEmpty || found.lost.last?.end == old.published { nil }
            else if endsWithMessage { chainNext } else if old.tail == old.published { old.count } else { nil }
        if let cleanEnd {
            // Within one ring of the tail, less the word a terminal lost record may need: so the
            // tail never has to move for what is kept, and `published` moves at most a ring.
            let extended = area.extendChain(from: old.published, sequence: cleanEnd, below: old.tail + area.words - 1)
            if extended.end > old.published { (published, chainNext, endsWithMessage) = (extended.end, extended.next, true) }
        }

        // 3. The next sequence: never one a message had.
        var next = old.count
        if let chainNext { next = max(next, chainNext) }
        if let seen = area.highestSealedSequence() { next = max(next, seen + 1) }
        next = min(next, Limits.maxCount)

        // What readers will count as lost: the jumps in sequence between consecutive kept runs
        // (across the gaps this recovery marks lost, and the lost records it finds: an earlier
        // recovery's still in the ring, or those of one cut short), and from the last to `next`.
        // What lies before the first kept message jumps from nothing a reader expected: not
        // counted. The same after a recovery that was cut short and runs again.
        var spans: [(start: UInt64, end: UInt64)] = found.gaps.map { ($0.start, $0.end) }
        var jumps: UInt64 = 0
        for (before, after) in zip(found.runs, found.runs.dropFirst()) where after.firstSequence > before.firstSequence + before.count {
            jumps += after.firstSequence - (before.firstSequence + before.count)
        }
        // The ring must end with a message whose successor is `next`, or with a lost record.
        let endsLost = found.gaps.last?.end == old.published || found.lost.last?.end == old.published
        let endsRight = endsWithMessage ? chainNext == next
            : found.runs.isEmpty && found.gaps.isEmpty && published == old.published && (try? area.check(old).get())?.next == next
        if !endsLost && !endsRight {
            spans.append((published, published + 1))          // a 1-word lost record: the jump to `next` (I9)
            published += 1
        }
        if let chainNext, !found.runs.isEmpty, next > chainNext { jumps += next - chainNext }

        // 2. The repair: lost records over every gap (the terminal word last, after the tail
        //    moved past what it overwrites in a ring exactly full).
        let gapCount = found.gaps.count
        for (index, span) in spans.prefix(gapCount).enumerated() {
            writeLost(area, from: span.start, to: span.end)
            if index == 0 { Sys.testKillPoint("recovery-first-span") }
        }
        var tail = old.tail
        let limit = area.oldestIntact(claimed: published)
        while tail < limit, tail < old.published, let record = area.decode(area.firstWord(at: tail), at: tail) {
            tail += record.words                                // the messages it passes are overwritten by the terminal word
        }
        if spans.count > gapCount { writeLost(area, from: spans[gapCount].start, to: spans[gapCount].end) }
        guard let lastRecordStart = area.lastRecordStart(from: tail, through: published, otherwise: old.lastRecordStart) else {
            throw damaged(.changingWithoutWriter)               // the chain just repaired does not walk: another process writes it
        }

        // 4. Named readers inside a lost span (or at its end at `published`) resume at its start.
        let table = readerTable
        for index in 0..<RingLayout.readerCapacity where table.state(index).pointee.load(ordering: .acquiring) == 1 {
            let committed = table.cursor(index).pointee.load(ordering: .acquiring)
            if let span = spans.first(where: { committed > $0.start && (committed < $0.end || ($0.end == published && committed == published)) }) {
                table.cursor(index).pointee.store(span.start, ordering: .relaxed)
            }
        }

        Sys.testKillPoint("recovery-repaired")
        // 5. Durable, then named by the header.
        try Sys.synchronize(descriptor).orThrow { .system($0, "make the recovery of ring file \(path) durable") }
        // B of I4: the earlier recoveries' skips and this one's, and at least what lets `next`
        // follow at `published` (a leading gap's skips are not counted above).
        var newAllowance = min(allowance &+ jumps, Limits.maxCount)
        if next > published / 3 { newAllowance = max(newAllowance, next - published / 3) }
        words.sequenceAllowance.pointee.store(newAllowance, ordering: .relaxed)
        words.messageTail.pointee.store(tail, ordering: .relaxed)
        words.claimed.pointee.store(published, ordering: .relaxed)
        words.lastRecordStart.pointee.store(lastRecordStart, ordering: .releasing)
        words.published.pointee.store(published, ordering: .releasing)                // after the records it publishes (W4)
        words.publishedMessages.pointee.store(next, ordering: .relaxed)
        Sys.testKillPoint("recovery-published")
        let record = MessageRecoveryRecord(at: Sys.realtimeNanos(), lostMessages: UInt32(clamping: jumps),
                                           lostRanges: UInt32(clamping: Self.stretches(spans + found.lost.map { ($0.start, $0.end) }, between: found.runs)))
        words.recoveryLost.pointee.store(record.lostMessages, ordering: .relaxed)
        words.recoveryRanges.pointee.store(record.lostRanges, ordering: .relaxed)
        words.recoveredAt.pointee.store(record.at, ordering: .releasing)
        let now = Sys.bootID ?? (0, 0)
        words.earlierBootBelow.pointee.store(0, ordering: .relaxed)
        words.writerBoot.0.pointee.store(now.0, ordering: .relaxed)
        words.writerBoot.1.pointee.store(now.1, ordering: .releasing)                // last: the recovery is complete
        try Sys.synchronizeMapped(base, count: RingLayout.headerSize).orThrow { .system($0, "make the header of ring file \(path) durable after its recovery") }
        let sentence = "ring file \(path) was recovered after a machine crash: \(record.lostMessages) messages lost in \(record.lostRanges) range\(record.lostRanges == 1 ? "" : "s"); the next message is number \(next)"
        if record.lostRanges > 0 { Diagnostics.warn(.readers, sentence) } else { Diagnostics.note(.readers, sentence) }
        return record
    }

    /// How many stretches of lost words `spans` make, those with no kept run between them
    /// counted as one.
    static func stretches(_ spans: [(start: UInt64, end: UInt64)], between runs: [MessageSurvey.Run]) -> Int {
        let sorted = spans.sorted { $0.start < $1.start }
        var count = 0, end: UInt64?
        for span in sorted {
            if let last = end, !runs.contains(where: { $0.start >= last && $0.end <= span.start }) {
                end = max(last, span.end)               // no kept message between: the same stretch
                continue
            }
            count += 1
            end = span.end
        }
        return count
    }

    /// Lost records (I9) over positions `start ..< end`, one per stretch to the end of the data area.
    private func writeLost(_ area: MessageArea, from start: UInt64, to end: UInt64) {
        var position = start
        while position < end {
            let room = area.words - area.offset(position)
            let words = min(room, end - position, UInt64(UInt32.max))
            area.pointer(position).storeBytes(of: (words | MessageArea.kindLost << 32).littleEndian, as: UInt64.self)
            position += words
        }
    }
}

extension MessageArea {
    /// The records from `position` on (after the walk ended cleanly there, at `sequence`) that
    /// continue the chain: each a message with the next sequence matching its check word (past
    /// one padding record before it), ending below `limit`. Where they end, and the sequence
    /// after the last (`position` and `sequence` if none does).
    func extendChain(from position: UInt64, sequence: UInt64, below limit: UInt64) -> (end: UInt64, next: UInt64) {
        var end = position, next = sequence
        while true {
            var start = end
            if case .padding(let paddingWords)? = decode(firstWord(at: start), at: start) { start += paddingWords }
            guard case .message(let length, let recordWords)? = decode(firstWord(at: start), at: start), start + recordWords <= limit,
                  self.sequence(at: start) == next, isSealed(pointer(start), length: length) else {
                return (end, next)
            }
            end = start + recordWords
            next += 1
        }
    }

    /// Where the last record before `published` starts, walking every record from `tail` (a
    /// record start); nil if one does not decode or none ends exactly there.
    func lastRecordStart(from tail: UInt64, through published: UInt64, otherwise: UInt64) -> UInt64? {
        var position = tail, last: UInt64?
        while position < published {
            guard let record = decode(firstWord(at: position), at: position) else { return nil }
            last = position
            position += record.words
        }
        guard position == published else { return nil }
        return last ?? otherwise
    }

    /// The highest sequence a message record anywhere in the data area carries that matches its
    /// check word (I8), at whatever word it starts: what a consumer may have seen, published or
    /// not as the header says. A check is computed only for a candidate above the best so far,
    /// within a budget linear in the area (``CheckBudget``: a hostile area of overlapping long
    /// headers would otherwise cost its size at every word); past it, the best so far.
    func highestSealedSequence() -> UInt64? {
        var best: UInt64?
        var budget = CheckBudget(self)
        for position in 0..<words {
            guard case .message(let length, _)? = decode(firstWord(at: position), at: position) else { continue }
            let sequence = self.sequence(at: position)
            guard sequence <= Limits.maxCount, best.map({ sequence > $0 }) ?? true else { continue }
            guard budget.spend(length) else { break }
            if isSealed(pointer(position), length: length) { best = sequence }
        }
        return best
    }
}
