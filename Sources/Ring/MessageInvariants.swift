public import Synchronization
internal import SharedRingSystem
internal import SharedRingCommon

// # What ties a message ring's records and counters together
//
// Everything a reader, a writer taking over, or `inspect` believes about a message ring follows
// from five header words and the records they point at. A file is input: every one of them may
// be damaged (a disk, a crash, a hostile edit), so nothing below is believed before it is checked
// against the others and against the geometry. The rules are the ones cbuff's writer keeps at
// every instant (between any two of its stores, so at any crash point too); a file that breaks
// one cannot have been written by it, and is reported as damaged, naming the rule.
//
// Notation: W words in the data area (a power of two, at most 2^32), `max` the words of the
// largest record (3 + ⌈largest message / 8⌉ ≤ W/2), and the words of line 5:
//
//   T tail (`messageTail`)   P published   C claimed   L lastRecordStart   N publishedMessages
//
//   I1  every counter, and every sequence a record carries, is at most `Limits.maxCount`
//       (2^63 − 1): nothing computed from them below can wrap.
//   I2  P ≤ C ≤ P + W: a claim runs at most one ring ahead (a record and its padding take less
//       than 2 × max ≤ W words).
//   I3  C − W ≤ T ≤ P: the tail is a record start that no claim has reached, and it is complete.
//   I4  3N ≤ P + 3B, and a message with sequence s lies at a position p with s ≤ p/3 + B: every
//       message (even an empty one) takes at least 3 words, from position 0 and sequence 0 on,
//       and every sequence below s that no message took was skipped by a recovery. B is the
//       allowance (`sequenceAllowance`, version 4 only, 0 otherwise): the sequences every
//       recovery so far skipped, in all, stored by the recovery before it publishes. Between two
//       messages s1 at p1 and s2 at p2 > p1 likewise s2 − s1 ≤ (p2 − p1)/3 + B.
//   I5  P ends a message record (or, version 4, a lost record: I9). The writer stores L (the start of the record it is about to
//       write) before it publishes, and N (one more than that record's sequence) after, so:
//       - P = 0: nothing was ever published, N = 0 and L = 0;
//       - L < P: the record at L is the last one: a message ending exactly at P, whose sequence
//         s has N = s + 1 (or N = s: the writer died between publishing and counting); unless a
//         claim reached it (L < C − W: a write was started and never published, after N was
//         stored), when N alone says what comes next; or a lost record ending exactly at P
//         (a recovery's last), when N alone says it too;
//       - L ≥ P: a write was started and not published, from P: L = P, or L is the next multiple
//         of W after P when padding went first (fewer than `max` words of it); and L < C.
//   I6  A record is a message of at most the largest length, or padding: a single word saying
//       exactly the words left to the end of the data area, fewer than `max` (padding is written
//       only where a record would not fit), and never the last record before P (the message it
//       makes room for is published with it). No record crosses P.
//   I7  Consecutive messages have consecutive sequences. Seen by a reader that was not lapped,
//       the next message is exactly the one after the last; only a lapped reader (R4 said its
//       copy was overwritten) skips messages, and it cannot have skipped more than the words it
//       jumped over hold (I4).
//   I8  Version 4: a message record's check word is the CRC-32 of its bytes 0–23 and of its
//       message (`RecordCheck`). Version 3 has no check word.
//   I9  Version 4: a lost record is a single word `words | 3 << 32` spanning 1 ≤ words ≤ the
//       words left to the end of the data area; it may end at P (unlike padding). Only a
//       recovery writes one, over words whose messages a machine crash damaged
//       (`MessageRecovery.swift`). The first message after it (past padding and more lost
//       records) may carry any sequence from the one expected on (I7 does not tie them, I4
//       bounds it): a reader counts the difference as missed. Version 3 has no lost records.
//
// `MessageArea.observe` checks I1–I6 (and I9 where L or T name a lost record) on the counters and on the records they name (the last and
// the oldest): every open of a ring file, every reader's start and lap recovery, the take-over
// and `inspect` go through it. Readers check I6, I8 and I7 on every record they read
// (`MessageCursor.read`), and, in version 3, I7 (or I5, for the last one) one record ahead
// before they deliver a message, so that a length that moves a record boundary is caught before
// its bytes are handed out (`MessageCursor.isFollowed`; version 4's I8 catches it, before the
// bytes are handed out too), and the writer checks them on every record its tail walks past before it
// overwrites it (`MessagePublisher.advanceTail`): a take-over never overwrites a record it has not
// proven to be the consecutive predecessor of the oldest intact one; past a lost record (I9), each
// of them accepts a later sequence, and a reader counts the difference as missed. So a damaged record is
// found by whoever reaches it first, and nothing is delivered, skipped or counted as missed on the
// strength of a word that contradicts the others.
//
// ## Observing a ring that a live writer is changing
//
// The counters are loaded one at a time while a writer may be publishing, so one set of loads may
// mix two moments and contradict itself without any damage. `observe` therefore believes a
// contradiction only when the five words read the same again right after the check: each of
// them only grows (a take-over may lower L once, to a record start below the dead writer's, but
// P grows with it), so a word that reads the same twice held that value all along, and the five
// held theirs together during the check, records included (no claim moved, so the records read
// at or above C − W did not change: the seqlock argument of `Publication.swift`). Such a
// contradiction is damage; any other is retried, at most `observationRounds` times, after which
// the writer is known to be alive and busy and the caller falls back to what needs no proof
// (a reader starts at P and learns its sequence from the first message it reads).
//
// A set of loads that passes every check is used as it is: T, P and the record at L were loaded
// in an order that makes them sound for a reader (P after T, with acquire: the record at T is
// complete; C after the records are read, with an acquiring fence before it: R3 and R4 for them).
// The oldest record is the one a writer overwrites next: under a writer publishing without pause
// it is gone a few nanoseconds after the tail names it, so a state whose oldest record a claim
// reached during the check is used without it (its sequence unknown: a reader starting there
// learns it from the first message it reads), rather than never used.

/// The five words of a message ring's header that tie its records together, each loaded once.
package struct MessageCounters: Sendable, Equatable {
    package var tail: UInt64
    package var published: UInt64
    package var claimed: UInt64
    package var lastRecordStart: UInt64
    package var count: UInt64
    /// B of I4 as stored (version 4; see ``MessageArea/allowance(_:)`` for the value believed).
    package var allowance: UInt64 = 0

    /// Loads them in the order the checks need: the tail before `published` (so the record at the
    /// tail is complete if it is below it), `published` before `claimed` (a claim precedes the
    /// publication it covers), `lastRecordStart` and the count after `published` (L is stored
    /// before the publication point, N after it).
    static func load(_ header: HeaderWords) -> MessageCounters {
        let tail = header.messageTail.pointee.load(ordering: .acquiring)
        let published = header.published.pointee.load(ordering: .acquiring)
        let claimed = header.claimed.pointee.load(ordering: .acquiring)
        return MessageCounters(tail: tail, published: published, claimed: claimed,
                               lastRecordStart: header.lastRecordStart.pointee.load(ordering: .acquiring),
                               count: header.publishedMessages.pointee.load(ordering: .acquiring),
                               allowance: header.sequenceAllowance.pointee.load(ordering: .acquiring))
    }
}

/// A message ring's state at one instant, checked against I1–I6: where its messages are, and
/// which sequences they carry.
package struct MessageRingState: Sendable, Equatable {
    package let counters: MessageCounters
    /// The sequence the next message published gets.
    package let next: UInt64
    /// The oldest intact message's position (`published` when the ring holds none), and its
    /// sequence (``next`` when there is none), unless a writer was overwriting it while it was
    /// read: nil then (see the top of this file).
    package let oldestPosition: UInt64
    package let oldestSequence: UInt64?

    /// Bytes the intact messages take, from the tail (padding and headers included).
    package var bytesUsed: UInt64 { (counters.published &- counters.tail) &* 8 }
}

/// What a walk of a message ring's records found (``MessageArea/survey(from:sequence:through:next:allowance:resynchronizing:)``):
/// runs of consecutive intact messages, and the spans of positions between them that hold
/// nothing provable.
package struct MessageSurvey: Sendable, Equatable {
    /// Consecutive intact messages: sequences `firstSequence ..< firstSequence + count`, in
    /// positions `start ..< end`.
    package struct Run: Sendable, Equatable {
        package var firstSequence: UInt64
        package var count: UInt64
        package var start: UInt64
        package var end: UInt64
    }

    /// Positions `start ..< end` where no record could be proven, and what was found at `start`.
    package struct Gap: Sendable, Equatable {
        package let start: UInt64
        package let end: UInt64
        package let damage: MessageDamage
    }

    /// Positions `start ..< end` of consecutive lost records (I9: a recovery wrote them), and
    /// the sequences they skip, `from ..< to` (empty when nothing after them says more).
    package struct Lost: Sendable, Equatable {
        package let start: UInt64
        package var end: UInt64
        package let from: UInt64
        package var to: UInt64
    }

    package var runs: [Run] = []
    package var gaps: [Gap] = []
    package var lost: [Lost] = []
    /// The chain reached `published` intact but with another next sequence than the count's (I5).
    package var end: MessageDamage?

    package var isIntact: Bool { gaps.isEmpty && end == nil }
}

/// What contradicts what in a damaged message ring: positions are words of the data area, as
/// the counters count them. A trivial payload, so that a reader's outcome stays cheap to return;
/// ``description`` says it in words.
@usableFromInline
package enum MessageDamage: Sendable, Equatable, CustomStringConvertible, Error {
    /// A header word beyond the most a ring file counts (I1).
    case beyondLimit(word: CounterWord, value: UInt64)
    /// `published` and `claimed` contradict each other or the geometry (I2).
    case counters(published: UInt64, claimed: UInt64, words: UInt64)
    /// The tail is beyond `published` (I3).
    case tailBeyondPublished(tail: UInt64, published: UInt64)
    /// The tail points at words a claim has reused (I3).
    case tailOverwritten(tail: UInt64, claimed: UInt64, words: UInt64)
    /// More messages counted than the words published can hold (I4).
    case countBeyondPositions(count: UInt64, published: UInt64)
    /// Nothing is published, yet the header counts messages or names a last record (I5).
    case emptyButCounted(count: UInt64, lastRecordStart: UInt64)
    /// The record at `lastRecordStart` does not end at `published` (I5).
    case publishedInsideRecord(lastRecordStart: UInt64, published: UInt64)
    /// `lastRecordStart` is where no write starting at `published` can begin (I5).
    case lastRecordAstray(lastRecordStart: UInt64, published: UInt64, claimed: UInt64)
    /// The count of messages is neither the last message's sequence nor one more (I5).
    case countDisagrees(lastSequence: UInt64, count: UInt64)
    /// A record that cannot be one: an unknown kind, a message longer than the largest or
    /// crossing the end of the data area, padding not reaching the end or longer than a record (I6).
    case record(position: UInt64, firstWord: UInt64)
    /// A record that ends beyond `published` (I6).
    case recordCrossesPublished(position: UInt64, words: UInt64, published: UInt64)
    /// Padding that is the last record before `published` (I6).
    case paddingAtPublished(position: UInt64)
    /// A message that is not the successor of the one before it (I7).
    case sequence(position: UInt64, found: UInt64, expected: UInt64)
    /// A message of format version 4 whose check word does not match its header and bytes: its
    /// length, bytes or header are not the ones its writer published (I8).
    case checksum(position: UInt64, sequence: UInt64)
    /// A sequence more than the words before the message can have carried (I4).
    case sequenceBeyondPosition(position: UInt64, sequence: UInt64)
    /// A lapped reader's first message after the gap claims more missed messages than the words
    /// it jumped over held, or fewer than none (I7).
    case impossibleGap(position: UInt64, found: UInt64, expected: UInt64, from: UInt64)
    /// The oldest message's sequence does not fit before the next one in the words left (I4).
    case oldestSequence(position: UInt64, sequence: UInt64, next: UInt64, published: UInt64)
    /// A named reader committed a position whose message has a later sequence than it committed.
    case committedSequence(position: UInt64, found: UInt64, committed: UInt64)
    /// A named reader committed a position beyond `published`.
    case committedBeyondPublished(position: UInt64, published: UInt64)
    /// The counters kept changing while this process held the writer lock: someone writes the
    /// file without it.
    case changingWithoutWriter

    /// The header words ``beyondLimit(word:value:)`` names, as the format calls them.
    @usableFromInline
    package enum CounterWord: String, Sendable {
        case tail, published, claimed, lastRecordStart, publishedMessages, sequenceAllowance
    }

    @usableFromInline
    package var description: String {
        switch self {
        case .beyondLimit(let word, let value):
            "its \(word.rawValue) word holds \(value), beyond the \(Limits.maxCount) a ring file can count"
        case .counters(let published, let claimed, let words):
            "its counters contradict each other (published \(published), claimed \(claimed), in a data area of \(words) words)"
        case .tailBeyondPublished(let tail, let published):
            "its tail word (\(tail), the oldest message) is beyond the \(published) words published"
        case .tailOverwritten(let tail, let claimed, let words):
            "its tail word (\(tail), the oldest message) points at words that the claim through \(claimed) has already reused (a data area of \(words) words)"
        case .countBeyondPositions(let count, let published):
            "it counts \(count) messages published in \(published) words, where at most \(published / 3) fit"
        case .emptyButCounted(let count, let last):
            "nothing is published, yet it counts \(count) messages and names a last record at word \(last)"
        case .publishedInsideRecord(let last, let published):
            "published (\(published)) is not the end of the last record, which starts at word \(last)"
        case .lastRecordAstray(let last, let published, let claimed):
            "the record being written is said to start at word \(last), where no write from published (\(published)) with a claim through \(claimed) begins"
        case .countDisagrees(let sequence, let count):
            "its last message is number \(sequence), but it counts \(count) messages published"
        case .record(let position, let first):
            "the record at word position \(position) cannot be a message or padding (its first word is 0x\(String(first, radix: 16)))"
        case .recordCrossesPublished(let position, let words, let published):
            "the record at word position \(position) (\(words) words) ends beyond the \(published) words published"
        case .paddingAtPublished(let position):
            "the padding record at word position \(position) is the last one published, but padding is always followed by the message it makes room for"
        case .sequence(let position, let found, let expected):
            "the message at word position \(position) has sequence \(found), but the one before it was \(expected &- 1), and nothing overwrote them"
        case .checksum(let position, let sequence):
            "the message at word position \(position) (sequence \(sequence)) does not match its check word: its length, header or bytes are not the ones its writer published"
        case .sequenceBeyondPosition(let position, let sequence):
            "the message at word position \(position) has sequence \(sequence), more than the \(position / 3) messages that fit before it"
        case .impossibleGap(let position, let found, let expected, let from):
            "the message at word position \(position) has sequence \(found), which a reader at message \(expected) (word \(from)) cannot reach by losing only the messages in between"
        case .oldestSequence(let position, let sequence, let next, let published):
            "its oldest message (word position \(position)) has sequence \(sequence), which does not fit before message \(next) in the \(published) words published"
        case .committedSequence(let position, let found, let committed):
            "a named reader committed message \(committed) at word position \(position), but the message there is number \(found)"
        case .committedBeyondPublished(let position, let published):
            "a named reader committed word position \(position), beyond the \(published) words published"
        case .changingWithoutWriter:
            "its counters keep changing although this process holds its writer lock (another process writes it without the lock)"
        }
    }
}

extension MessageArea {
    /// What ``observe(_:)`` found.
    package enum Observation: Sendable {
        /// The counters and the records they name agree at one instant.
        case consistent(MessageRingState)
        /// They contradict each other at one instant: the file is damaged.
        case damaged(MessageDamage)
        /// A writer kept changing them; the last counters loaded, unchecked.
        case moving(MessageCounters)
    }

    /// How many sets of loads `observe` tries before it says a writer is busy.
    static let observationRounds = 64

    /// The ring's state, checked against I1–I6 (see the top of this file for how a live writer
    /// is told apart from damage).
    package func observe(_ header: HeaderWords) -> Observation {
        var counters = MessageCounters.load(header)
        for _ in 0..<Self.observationRounds {
            let verdict = check(counters)
            let oldest = (try? verdict.get()).map { oldestMessage(counters, next: $0.next) }
            atomicMemoryFence(ordering: .acquiring)                            // R3 for the records read
            let again = MessageCounters.load(header)
            let atRest = again == counters
            switch verdict {
            case .failure(let damage):
                if atRest { return .damaged(damage) }
            case .success(let checked) where checked.lastRead >= oldestIntact(claimed: again.claimed):   // R4
                // The oldest record, if no claim reached it meanwhile (R4); else a writer is
                // overwriting it, and it says nothing (damage or not).
                let oldestIntact = counters.tail >= oldestIntact(claimed: again.claimed)
                switch oldest {
                case .success(let found)? where oldestIntact:
                    return .consistent(MessageRingState(counters: counters, next: checked.next, oldestPosition: found.position, oldestSequence: found.sequence))
                case .failure(let damage)? where atRest:
                    return .damaged(damage)
                default:
                    return .consistent(MessageRingState(counters: counters, next: checked.next, oldestPosition: counters.tail, oldestSequence: nil))
                }
            case .success:
                break
            }
            counters = again
            Sys.cpuRelax()
        }
        return .moving(counters)
    }

    /// What I1–I5 say comes next, and the lowest position whose record that was read from.
    struct Checked {
        let next: UInt64
        let lastRead: UInt64
    }

    /// I1–I5 on one set of loads, reading the record at L (plain loads, which R4 in
    /// ``observe(_:)`` then vouches for). No arithmetic here can trap or wrap: I1 comes first,
    /// and every subtraction is of a smaller value.
    func check(_ c: MessageCounters) -> Result<Checked, MessageDamage> {
        if let damage = bounds(c) { return .failure(damage) }
        let allowance = allowance(c)
        // I5: what comes next.
        let last = c.lastRecordStart
        if c.published == 0 {
            guard c.count == 0, last == 0 else { return .failure(.emptyButCounted(count: c.count, lastRecordStart: last)) }
            return .success(Checked(next: 0, lastRead: 0))
        }
        if last >= c.published {
            let room = words - offset(c.published)
            let afterPadding = offset(c.published) != 0 && room < maxRecordWords && last == c.published + room
            guard last < c.claimed, last == c.published || afterPadding else {
                return .failure(.lastRecordAstray(lastRecordStart: last, published: c.published, claimed: c.claimed))
            }
            return .success(Checked(next: c.count, lastRead: c.published))
        }
        guard last >= oldestIntact(claimed: c.claimed) else {
            // A claim took the last record: N was stored before it. That claim is unpublished
            // (C > P), and the tail walk ahead of it passed the record, which ended at P.
            guard c.claimed > c.published, c.tail == c.published else {
                return .failure(.lastRecordAstray(lastRecordStart: last, published: c.published, claimed: c.claimed))
            }
            return .success(Checked(next: c.count, lastRead: c.published))
        }
        let lastRecord = decode(firstWord(at: last), at: last)
        if case .lost(let lostWords)? = lastRecord, last + lostWords == c.published {
            return .success(Checked(next: c.count, lastRead: last))                          // I9: a recovery's last record
        }
        guard case .message(_, let recordWords)? = lastRecord, last + recordWords == c.published else {
            return .failure(.publishedInsideRecord(lastRecordStart: last, published: c.published))
        }
        let sequence = stamp(at: last).sequence
        guard fits(sequence, at: last, allowance: allowance) else { return .failure(.sequenceBeyondPosition(position: last, sequence: sequence)) }
        guard c.count == sequence || c.count == sequence + 1 else {
            return .failure(.countDisagrees(lastSequence: sequence, count: c.count))
        }
        return .success(Checked(next: sequence + 1, lastRead: last))
    }

    /// I1–I4 on one set of loads, the counters alone (no record read): what a recovery needs
    /// of them too. Nil when they hold.
    func bounds(_ c: MessageCounters) -> MessageDamage? {
        // I1 (one comparison; which word, only when one is beyond).
        let allowance = allowance(c)
        if max(c.tail, c.published, c.claimed, c.lastRecordStart, c.count, allowance) > Limits.maxCount {
            let words: [(MessageDamage.CounterWord, UInt64)] = [(.tail, c.tail), (.published, c.published), (.claimed, c.claimed),
                                                                (.lastRecordStart, c.lastRecordStart), (.publishedMessages, c.count),
                                                                (.sequenceAllowance, allowance)]
            let (word, value) = words.first { $0.1 > Limits.maxCount }!
            return .beyondLimit(word: word, value: value)
        }
        // I2, I3, I4.
        guard c.published <= c.claimed, c.claimed - c.published <= words else {
            return .counters(published: c.published, claimed: c.claimed, words: words)
        }
        guard c.tail <= c.published else { return .tailBeyondPublished(tail: c.tail, published: c.published) }
        guard c.tail >= oldestIntact(claimed: c.claimed) else {
            return .tailOverwritten(tail: c.tail, claimed: c.claimed, words: words)
        }
        guard fits(c.count, at: c.published, allowance: allowance) else { return .countBeyondPositions(count: c.count, published: c.published) }
        return nil
    }

    /// I6, I7 and I8 over every record from the oldest message to `published`, and I5 at the end:
    /// the messages `state` names form one chain of consecutive sequences that ends exactly at
    /// `published` with the next sequence `state` says (which two branches of I5 take from the
    /// count word alone). What a writer proves, holding the writer lock, before it publishes
    /// on the strength of that count (a take-over; a new ring is empty): a walk of at most the
    /// data area's words, at rest. Nil when the chain holds, or when the oldest message's
    /// sequence is unknown (a writer moving: never under the lock).
    package func proveChain(_ state: MessageRingState) -> MessageDamage? {
        guard let sequence = state.oldestSequence else { return nil }
        let found = survey(from: state.oldestPosition, sequence: sequence, through: state.counters.published, next: state.next,
                           allowance: allowance(state.counters), resynchronizing: false)
        return found.gaps.first?.damage ?? found.end
    }

    /// B of I4 as believed: the stored word in version 4 (checked against I1 with the other
    /// counters), 0 in version 3, which has no recovery.
    func allowance(_ c: MessageCounters) -> UInt64 {
        check == nil ? 0 : c.allowance
    }

    /// B of I4 for a reader: loaded when a sequence is not the one expected (a cold path).
    @usableFromInline
    func allowance(_ header: HeaderWords) -> UInt64 {
        check == nil ? 0 : min(header.sequenceAllowance.pointee.load(ordering: .acquiring), Limits.maxCount)
    }

    /// I4 for one message: sequence `sequence` may lie at `position` (no arithmetic wraps:
    /// `position / 3` and `allowance` are each below 2^63).
    @usableFromInline
    func fits(_ sequence: UInt64, at position: UInt64, allowance: UInt64) -> Bool {
        sequence <= position / 3 &+ min(allowance, Limits.maxCount)
    }

    /// Every record from `start` (a message with sequence `sequence`) to `published`, checked
    /// as ``proveChain(_:)`` checks them (I6, I7, I8; I5 at the end against `next`): the runs of
    /// consecutive intact messages, and the spans between them that hold nothing provable.
    ///
    /// After damage, with `resynchronizing` and a check word in every record (version 4), the
    /// walk looks for the next record it can prove on its own, word by word: a message that
    /// decodes (I6), lies below `published`, carries a sequence after the last one proven and
    /// before `next` that fits its position (I4), and matches its check word (I8). A false
    /// start passes all of that with probability about 2^-32 per candidate (the check), so what
    /// follows it is believed as a new run. Version 3 has nothing to resynchronize on: its
    /// walk stops at the first damage, the rest one span. Plain loads: the caller makes sure
    /// no claim reached `start` meanwhile (R4), or holds the writer lock.
    ///
    /// A lost record (I9) is passed as padding is, and recorded in ``MessageSurvey/lost``: the
    /// message after it may carry any later sequence (I4 bounds it with `allowance`), which
    /// starts a new run. `first` nil: the sequence of the message at `start` is not known (a
    /// recovery whose oldest record may be damaged): the first message proven starts the walk.
    package func survey(from start: UInt64, sequence first: UInt64?, through published: UInt64, next: UInt64,
                        allowance: UInt64, resynchronizing: Bool) -> MessageSurvey {
        var found = MessageSurvey()
        var budget = CheckBudget(self)                 // resynchronizing stays linear in the area
        var position = start, expected = first ?? 0
        var afterLost = first == nil                   // an unknown start is a gap of unknown size: any sequence may come
        var openLost: Int?                             // the lost span no message has followed yet
        var run: MessageSurvey.Run?
        while position < published {
            let word = firstWord(at: position)
            let damage: MessageDamage
            switch decode(word, at: position) {
            case .padding(let paddingWords)?:
                if position + paddingWords < published {
                    position += paddingWords
                    continue
                }
                damage = .paddingAtPublished(position: position)
            case .lost(let lostWords)?:
                if position + lostWords <= published {
                    if let closed = run { found.runs.append(closed) }
                    run = nil
                    if let open = openLost {
                        found.lost[open].end = position + lostWords                     // one more of the same gap
                    } else {
                        found.lost.append(MessageSurvey.Lost(start: position, end: position + lostWords, from: expected, to: expected))
                        openLost = found.lost.count - 1
                    }
                    afterLost = true
                    position += lostWords
                    continue
                }
                damage = .recordCrossesPublished(position: position, words: lostWords, published: published)
            case .message(let length, let recordWords)?:
                let sequence = self.sequence(at: position)
                let follows = afterLost ? sequence >= expected && sequence < next && fits(sequence, at: position, allowance: allowance)
                                        : sequence == expected
                if !follows {
                    damage = .sequence(position: position, found: sequence, expected: expected)
                } else if position + recordWords > published {
                    damage = .recordCrossesPublished(position: position, words: recordWords, published: published)
                } else if !isSealed(pointer(position), length: length) {
                    damage = .checksum(position: position, sequence: sequence)
                } else {
                    if run == nil { run = MessageSurvey.Run(firstSequence: sequence, count: 0, start: position, end: position) }
                    if let open = openLost { found.lost[open].to = sequence }
                    openLost = nil
                    afterLost = false
                    run!.count += 1
                    run!.end = position + recordWords
                    expected = sequence + 1
                    position += recordWords
                    continue
                }
            case nil:
                damage = .record(position: position, firstWord: word)
            }
            if let closed = run { found.runs.append(closed) }
            run = nil
            guard resynchronizing, check != nil,
                  let resumed = firstProvableMessage(after: position, below: published, from: found.runs.isEmpty ? 0 : expected, before: next,
                                                     allowance: allowance, budget: &budget) else {
                found.gaps.append(MessageSurvey.Gap(start: position, end: published, damage: damage))
                return found
            }
            found.gaps.append(MessageSurvey.Gap(start: position, end: resumed.position, damage: damage))
            (position, expected) = resumed
            afterLost = false
            openLost = nil
        }
        if let closed = run { found.runs.append(closed) }
        if afterLost {
            if let open = openLost { found.lost[open].to = max(next, found.lost[open].from) }
            if next < expected { found.end = .countDisagrees(lastSequence: expected &- 1, count: next) }
        } else if expected != next {
            found.end = .countDisagrees(lastSequence: expected &- 1, count: next)
        }
        return found
    }

    /// The first position after `position` (at `position` itself with `including`) and below
    /// `published` holding a message record provable on its own (see
    /// ``survey(from:sequence:through:next:allowance:resynchronizing:)``), with a sequence in
    /// `from..<before`; nil if there is none, or if `budget` ran out first.
    func firstProvableMessage(after position: UInt64, including: Bool = false, below published: UInt64, from: UInt64, before: UInt64,
                              allowance: UInt64, budget: inout CheckBudget) -> (position: UInt64, sequence: UInt64)? {
        var candidate = including ? position : position + 1
        while candidate < published {
            if case .message(let length, let recordWords)? = decode(firstWord(at: candidate), at: candidate), candidate + recordWords <= published {
                let sequence = self.sequence(at: candidate)
                if sequence >= from, sequence < before, fits(sequence, at: candidate, allowance: allowance) {
                    guard budget.spend(length) else { return nil }
                    if isSealed(pointer(candidate), length: length) { return (candidate, sequence) }
                }
            }
            candidate += 1
        }
        return nil
    }
}

/// How many bytes a walk that looks for records at every word (after damage, or for the highest
/// sequence) may still check against their check words. Each candidate costs the CRC of its own
/// length, and candidates overlap: a data area filled with headers that each claim a long message
/// (a hostile edit) would cost the walk the area's size at every word, hours for a large ring. The
/// budget makes every such walk linear in the area: a few times its size, far more than any
/// crash leaves (a torn or stale page rarely decodes as a header that fits its position), after
/// which what was not proven is damage.
struct CheckBudget {
    private var bytes: Int

    /// Four times the data area of `area`, and at least a megabyte.
    init(_ area: MessageArea) {
        bytes = max(4 * Int(area.words) * 8, 1 << 20)
    }

    /// Takes the cost of checking a record of `length` bytes; false once none is left.
    mutating func spend(_ length: Int) -> Bool {
        bytes -= length + 32
        return bytes >= 0
    }
}

extension MessageArea {

    /// I6 and I4 for the oldest message: the record at the tail (after the padding there, if
    /// any) is a message below `published`, whose sequence fits before `next` in the words up to
    /// `published`. Its position and sequence (`published` and `next` when the ring is empty).
    func oldestMessage(_ c: MessageCounters, next: UInt64) -> Result<(position: UInt64, sequence: UInt64), MessageDamage> {
        var position = c.tail
        var first: UInt64
        var record: Record?
        // Past padding (I6) and lost records (I9: a recovery's, at most a ring of them), to the
        // first message; none (the ring ends with lost records) is an empty ring.
        while true {
            guard position < c.published else { return .success((c.published, next)) }
            first = firstWord(at: position)
            record = decode(first, at: position)
            switch record {
            case .padding(let paddingWords)?:
                guard position + paddingWords < c.published else { return .failure(.paddingAtPublished(position: position)) }
                position += paddingWords
                continue
            case .lost(let lostWords)?:
                guard position + lostWords <= c.published else {
                    return .failure(.recordCrossesPublished(position: position, words: lostWords, published: c.published))
                }
                position += lostWords
                continue
            default:
                break
            }
            break
        }
        guard case .message(_, let recordWords)? = record else { return .failure(.record(position: position, firstWord: first)) }
        guard position + recordWords <= c.published else {
            return .failure(.recordCrossesPublished(position: position, words: recordWords, published: c.published))
        }
        let oldest = stamp(at: position).sequence
        let allowance = allowance(c)
        // The messages oldest ..< next lie between `position` and P, 3 words each at least, but
        // for what recoveries skipped (I4).
        guard oldest < next, fits(oldest, at: position, allowance: allowance), next - oldest <= (c.published - position) / 3 + allowance else {
            return .failure(.oldestSequence(position: position, sequence: oldest, next: next, published: c.published))
        }
        return .success((position, oldest))
    }
}
