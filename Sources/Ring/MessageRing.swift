public import Synchronization
internal import SharedRingSystem
package import SharedRingCommon

// # Rings of variable-size messages (format versions 3 and 4, kind 1)
//
// The same publication protocol as the slot ring (`Publication.swift`), with positions that are
// the 8-byte words of a data area of `capacity` bytes (a power of two) instead of sequences:
// `published` and `claimed` count words, a record starts at a word, and the protocol's proofs
// carry over unchanged because they never looked at what a position holds. `PublicationCounters`
// (W1, W2, W4, W5), `ReadCheck` (R1, R3, R4 and the gate's shortcut), `SpaceGate` and
// `FutexSleep` are used as they are; this file only maps positions to records.
//
// A record at position p is a header of three words (version 3) or four (version 4), then the
// message's bytes, padded to a word:
//
//   word 0   length (u32, bytes of the message) | kind (u32: 1 message, 2 padding, 3 lost) << 32
//   word 1   the message's sequence number (0, 1, 2, …)
//   word 2   its publish time, nanoseconds since the Unix epoch
//   word 3   version 4 only: the record's check (`RecordCheck`: the CRC-32 of bytes 0–23 and of
//            the message), in its low 32 bits; the high 32 bits zero
//
// Which of the two a file has is its format version's to say, once: `MessageRecordFormat`,
// carried by the geometry into `MessageArea` (`headerWords`, `check`). Nothing else asks the
// version.
//
// Every record lies in one piece: one that would cross the end of the data area is preceded by a
// padding record, a single word `(words to the end) | 2 << 32`, and starts again at offset 0. A
// message of at most `capacity / 2 -` the header's bytes therefore always fits, padding included, in what a
// named reader can have emptied. `published` only ever stops at the end of a record, so a reader
// that sees `published > p` knows the whole record at p is complete (R1).
//
// A lost record (version 4 only) is a single word `(words) | 3 << 32` that a recovery after a
// machine crash wrote over words whose messages were damaged (`MessageRecovery.swift`): readers
// and the tail walk pass it as they pass padding, and the message after it may carry a later
// sequence than the one expected, the difference counted as missed (I9 of
// `MessageInvariants.swift`).
//
// Reading a record is R2 of the slot ring: the header and the bytes are plain loads that may race
// with the writer's next lap, and nothing read is believed before R4 says position p was not
// claimed again. The length is checked first (at most the largest message, inside the data area,
// not beyond `published`), so a torn header can never send a copy outside the mapping; a header
// that fails these checks while R4 says the copy was intact means the file is damaged.
//
// Three more words, on the writer's own line 5 (message rings only):
//
//   messageTail        a record start that no claim has reached: the oldest intact message. The
//                      writer walks it past the records each claim will overwrite, and stores it
//                      before that claim (W1). A lapped reader resumes there (see
//                      `MessageArea.observe`: the tail, then `claimed`, checked against each other).
//                      The value is always some record start, so no ordering is needed for it to
//                      be safe, only for it to be fresh.
//   lastRecordStart    where the record being (or last) written starts, stored before W4.
//   publishedMessages  the next message's sequence, stored after W4.
//
// Sequence numbers live in the records, so a lapped reader counts exactly what it missed: the
// sequence of the first message it reads after the gap, minus the one it expected. A writer that
// takes over after a crash resumes the count from the record at `lastRecordStart` when that
// record is intact and ends exactly at `published` (its predecessor died after W4, perhaps before
// storing `publishedMessages`), and from `publishedMessages` otherwise (it died before W4 of a
// record whose predecessor's count it had stored). Either way no sequence is reused or skipped.
//
// None of these words, and no record, is believed unchecked: `MessageInvariants.swift` says what
// ties them together, and where each rule is checked.

/// A raw view of a message ring's data area: where a position's word lives, and what a
/// record's first word may say there.
///
/// `@unchecked Sendable`: it is an address, as `HeaderWords` is.
@usableFromInline
package struct MessageArea: @unchecked Sendable {
    @usableFromInline package let base: UnsafeMutableRawPointer
    /// Words in the data area (a power of two): the ring's capacity in positions.
    @usableFromInline package let words: UInt64
    @usableFromInline package let maxMessage: Int
    /// Words of the largest record: padding is always shorter (it is written only where a
    /// record does not fit).
    @usableFromInline let maxRecordWords: UInt64
    /// Words of a record header: 3 (version 3), 4 (version 4: the check word).
    @usableFromInline let headerWords: UInt64
    /// The records' check (version 4), or nil (version 3: see `MessageCursor.isFollowed`).
    @usableFromInline let check: RecordCheck?

    @usableFromInline static let kindMessage: UInt64 = 1
    @usableFromInline static let kindPadding: UInt64 = 2
    /// Version 4 only: a lost record, written by a recovery over a span whose messages a
    /// machine crash damaged (see `MessageRecovery.swift`).
    @usableFromInline static let kindLost: UInt64 = 3

    /// The data area at `base` of a ring of geometry `geometry`, whose records are laid out as
    /// `geometry.records` says (its format version's), checked by `check` where they carry one.
    package init(base: UnsafeMutableRawPointer, geometry: MessageGeometry, check: RecordCheck = .here) {
        self.base = base
        self.words = UInt64(geometry.capacity / 8)
        self.maxMessage = geometry.maxMessage
        self.headerWords = UInt64(geometry.records.headerSize / 8)
        self.check = geometry.records.isChecked ? check : nil
        self.maxRecordWords = headerWords &+ UInt64((geometry.maxMessage &+ 7) &>> 3)
    }

    @inlinable
    func offset(_ position: UInt64) -> UInt64 { position & (words &- 1) }

    @inlinable
    package func pointer(_ position: UInt64) -> UnsafeMutableRawPointer {
        base + Int(offset(position) &<< 3)
    }

    /// Words a record of a message of `length` bytes takes.
    @inlinable
    package func recordWords(_ length: Int) -> UInt64 {
        headerWords &+ UInt64((length &+ 7) &>> 3)
    }

    /// Where the message's bytes of the record at `pointer` start.
    @inlinable
    func body(_ pointer: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        pointer + Int(headerWords &<< 3)
    }

    /// Stores the check word of the record at `pointer` (version 4; nothing in version 3), whose
    /// header words the writer stored as `first`, `sequence` and `time` and whose `length` bytes
    /// of message it has written, copied or in place. The message's bytes are read back from
    /// the record: the check is a function of what the record holds, whatever the bytes were
    /// copied from (a source another thread or process changes during the copy, or one inside
    /// this ring that the claim overwrites, still gives a record that matches its check). The
    /// header's words come from registers instead: a load of the 16 bytes of two pending 8-byte
    /// stores cannot be forwarded and waits for the line, which on a lapped ring the reader holds
    /// (measured: a whole cache miss a message, 64-byte messages 0.41x version 3's rate).
    @inlinable
    func seal(_ pointer: UnsafeMutableRawPointer, first: UInt64, sequence: UInt64, time: UInt64, length: Int) {
        guard let check else { return }
        Self.store(check, pointer, first: first, sequence: sequence, time: time, body: UnsafeRawPointer(body(pointer)), length: length)
    }

    /// ``seal(_:first:sequence:time:length:)``'s work, out of line: inlined, it makes the publish
    /// it is part of too large to inline into a push loop, which costs version 3's push 100
    /// instructions (measured with callgrind: 147 per 64-byte push before version 4, 250 with it
    /// inline).
    @usableFromInline @inline(never)
    static func store(_ check: RecordCheck, _ pointer: UnsafeMutableRawPointer, first: UInt64, sequence: UInt64, time: UInt64,
                      body: UnsafeRawPointer, length: Int) {
        let word = UInt64(check.of(first: first, sequence: sequence, time: time, body: body, length: length))
        pointer.storeBytes(of: word.littleEndian, toByteOffset: 24, as: UInt64.self)
    }

    /// Whether the record at `pointer`, a message of `length` bytes, matches its check word
    /// (always, in version 3, which has none). Plain loads, which the caller's R3 and R4 vouch
    /// for as for the copy: a check computed over bytes a claim reached says nothing.
    @inlinable
    func isSealed(_ pointer: UnsafeMutableRawPointer, length: Int) -> Bool {
        guard let check else { return true }
        return Self.matches(check, pointer, length: length)
    }

    /// ``isSealed(_:length:)``'s work, out of line (see ``store(_:_:first:sequence:time:body:length:)``).
    @usableFromInline @inline(never)
    static func matches(_ check: RecordCheck, _ pointer: UnsafeMutableRawPointer, length: Int) -> Bool {
        UInt64(littleEndian: UnsafeRawPointer(pointer).load(fromByteOffset: 24, as: UInt64.self))
            == UInt64(check.of(record: pointer, length: length))
    }

    /// What a record's first word may be.
    @usableFromInline
    enum Record {
        case message(length: Int, words: UInt64)
        case padding(words: UInt64)
        /// Version 4: the messages in these words were lost in a machine crash (a recovery wrote
        /// it); the next message's sequence may be higher than the one expected (I9).
        case lost(words: UInt64)

        @inlinable var words: UInt64 {
            switch self {
            case .message(_, let words), .padding(let words), .lost(let words): words
            }
        }
    }

    /// The first word of the record at `position` (a plain load: it may race with the writer).
    @inlinable
    func firstWord(at position: UInt64) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(pointer(position)).load(as: UInt64.self))
    }

    /// The record that `first` describes at `position`, or nil if no record there can say
    /// that (I6 of `MessageInvariants.swift`): a message longer than the largest, a record
    /// crossing the end of the data area, a padding record that does not reach it exactly or is
    /// as long as a record that would have fitted, an unknown kind.
    @inlinable
    func decode(_ first: UInt64, at position: UInt64) -> Record? {
        let length = Int(truncatingIfNeeded: first & 0xFFFF_FFFF)
        let room = words &- offset(position)
        switch first &>> 32 {
        case Self.kindMessage:
            guard length <= maxMessage else { return nil }
            let recordWords = recordWords(length)
            return recordWords <= room ? .message(length: length, words: recordWords) : nil
        case Self.kindPadding:
            return UInt64(length) == room && room < maxRecordWords ? .padding(words: room) : nil
        case Self.kindLost where check != nil:
            return length >= 1 && UInt64(length) <= room ? .lost(words: UInt64(length)) : nil
        default:
            return nil
        }
    }

    /// The sequence and time words of the record at `position` (plain loads). Each word's
    /// place is wrapped into the data area on its own, as ``sequence(at:)``'s is.
    @inlinable
    func stamp(at position: UInt64) -> (sequence: UInt64, time: UInt64) {
        (sequence(at: position), UInt64(littleEndian: UnsafeRawPointer(pointer(position &+ 2)).load(as: UInt64.self)))
    }

    /// The sequence word of the record at `position` (a plain load). Its place is wrapped into
    /// the data area on its own (not the record's start plus 8 bytes), so that a load at any
    /// position stays in the mapping whatever lies there: a look-ahead at the word after a
    /// message may be at the area's last word, where only one word of padding fits.
    @inlinable
    func sequence(at position: UInt64) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(pointer(position &+ 1)).load(as: UInt64.self))
    }

    /// The oldest position a claim of `claimed` has not reached.
    @inlinable
    func oldestIntact(claimed: UInt64) -> UInt64 {
        claimed > words ? claimed &- words : 0
    }
}

/// The writer's side of a message ring: W1–W5 of `Publication.swift` for one record, the walk
/// of the tail ahead of each claim, and the sequence count.
@usableFromInline
package struct MessagePublisher {
    @usableFromInline package let area: MessageArea
    @usableFromInline let header: HeaderWords
    @usableFromInline var counters: PublicationCounters
    /// The oldest record start no claim has reached (this writer's copy of `messageTail`).
    @usableFromInline var tail: UInt64
    /// The sequence of the first message at or after ``tail`` (``nextSequence`` if none is);
    /// the least it may be when ``tailAfterLost``.
    @usableFromInline var tailSequence: UInt64
    /// Whether a lost record lies between ``tail`` and the first message at or after it, whose
    /// sequence may then be above ``tailSequence`` (I9 of `MessageInvariants.swift`).
    @usableFromInline var tailAfterLost = false
    /// The sequence the next message gets.
    @usableFromInline package var nextSequence: UInt64
    /// Why the last publish refused to go on, if it did: a record its tail walk found damaged.
    @usableFromInline package var damage: MessageDamage?

    /// Attaches at the ring's current position, as `state` (observed under the writer lock,
    /// see `MessageInvariants.swift`) says it is: the tail, the oldest message's sequence, and
    /// the next one (where the count resumes after a crash: see the top of this file).
    init(area: MessageArea, header: HeaderWords, fenceBeforeWaiterCheck: Bool, state: MessageRingState) {
        self.area = area
        self.header = header
        counters = PublicationCounters(header: header, fenceBeforeWaiterCheck: fenceBeforeWaiterCheck)
        tail = state.counters.tail
        tailSequence = state.oldestSequence ?? state.next      // known: observed at rest (`RingFile.observeMessages`)
        nextSequence = state.next
    }

    /// The position the next record starts at (= positions published).
    @inlinable package var position: UInt64 { counters.published }

    /// The position after the record of a message of `length` bytes, padding included.
    @inlinable
    package func end(ofMessage length: Int) -> UInt64 {
        let words = area.recordWords(length)
        let room = area.words &- area.offset(counters.published)
        return counters.published &+ (words <= room ? words : room &+ words)
    }

    /// Publishes one message of `length` bytes (at most the largest: the caller checks) that
    /// `fill` writes where it lies, stamped with `time`. If `fill` throws, nothing is published
    /// and the claim stays, as in ``RingPublisher/publishInPlace(_:)``. False, publishing and
    /// claiming nothing, if the records this claim would overwrite are damaged (``damage``).
    @inlinable
    package mutating func publish<E: Error>(length: Int, time: UInt64, _ fill: (UnsafeMutableRawPointer) throws(E) -> Void) throws(E) -> Bool {
        try publish(reserving: length, time: time) { (bytes) throws(E) -> Int in
            try fill(bytes)
            return length
        }
    }

    /// Publishes one message that `fill` writes where it lies, in at most `reserved` bytes (at
    /// most the largest message: the caller checks), returning how many it wrote (at most
    /// `reserved`: checked). The claim covers `reserved` bytes; the record, the bytes written.
    /// False, publishing and claiming nothing, if the records the claim would overwrite are
    /// damaged (``damage`` says how).
    @inlinable
    package mutating func publish<E: Error>(reserving reserved: Int, time: UInt64, _ fill: (UnsafeMutableRawPointer) throws(E) -> Int) throws(E) -> Bool {
        let start = counters.published
        let end = end(ofMessage: reserved)
        if end > area.words, !advanceTail(below: end &- area.words) { return false }
        counters.claim(through: end)                                                    // W1, W2
        let record = end &- area.recordWords(reserved)
        if record != start {                                                            // W3: padding to the end
            area.pointer(start).storeBytes(of: ((record &- start) | MessageArea.kindPadding &<< 32).littleEndian, as: UInt64.self)
        }
        header.lastRecordStart.pointee.store(record, ordering: .releasing)              // after the last count (see `MessageCursor.isFollowed`)
        let pointer = area.pointer(record)                                              // W3: the record
        pointer.storeBytes(of: nextSequence.littleEndian, toByteOffset: 8, as: UInt64.self)
        pointer.storeBytes(of: time.littleEndian, toByteOffset: 16, as: UInt64.self)
        let length = min(max(try fill(area.body(pointer)), 0), reserved)
        let first = UInt64(length) | MessageArea.kindMessage &<< 32
        pointer.storeBytes(of: first.littleEndian, as: UInt64.self)
        area.seal(pointer, first: first, sequence: nextSequence, time: time, length: length)  // version 4: its check, before W4
        counters.announce(through: record &+ area.recordWords(length))                 // W4, W5
        nextSequence &+= 1
        header.publishedMessages.pointee.store(nextSequence, ordering: .relaxed)
        return true
    }

    /// Moves the tail past every record that starts below `limit` (which the next claim will
    /// reach), and stores it before that claim; false if one of them is damaged, the tail then
    /// left where it was.
    ///
    /// This walk is what lets a claim overwrite records: each record it passes is proven a
    /// well-formed record (I6 of `MessageInvariants.swift`), complete below `published`, and the
    /// consecutive successor of the one before it (I7), so what the claim destroys is exactly
    /// the oldest messages, in order, and the tail lands on the next one. A writer that took over
    /// a damaged ring stops here instead of writing over what it cannot account for. The
    /// headers read are in the lines the claim is about to write anyway: one more load (the
    /// sequence) per record than finding the next start needs.
    @inlinable
    mutating func advanceTail(below limit: UInt64) -> Bool {
        var next = tail
        var sequence = tailSequence
        var afterLost = tailAfterLost
        while next < limit {
            let first = area.firstWord(at: next)
            switch area.decode(first, at: next) {
            case .message(_, let words)?:
                let found = area.sequence(at: next)
                // I7, or I9 after a lost record: a later sequence, whose gap the lost record explains.
                let follows = found == sequence || (afterLost && found > sequence && found <= 0x7FFF_FFFF_FFFF_FFFF)   // I1: `Limits.maxCount`
                guard follows, next &+ words <= counters.published else {
                    return refuse(follows ? .recordCrossesPublished(position: next, words: words, published: counters.published)
                                          : .sequence(position: next, found: found, expected: sequence))
                }
                sequence = found &+ 1
                afterLost = false
                next &+= words
            case .padding(let words)?:
                guard next &+ words < counters.published else { return refuse(.paddingAtPublished(position: next)) }
                next &+= words
            case .lost(let words)?:
                // A lost record may end at `published` (I9): nothing the claim reaches then follows it.
                guard next &+ words <= counters.published else {
                    return refuse(.recordCrossesPublished(position: next, words: words, published: counters.published))
                }
                afterLost = true
                next &+= words
            case nil:
                return refuse(.record(position: next, firstWord: first))
            }
        }
        if next != tail {
            tail = next
            tailSequence = sequence
            tailAfterLost = afterLost
            header.messageTail.pointee.store(next, ordering: .relaxed)
        }
        return true
    }

    /// Records why the tail walk stopped (out of line: damage is rare).
    @usableFromInline @inline(never)
    mutating func refuse(_ found: MessageDamage) -> Bool {
        damage = found
        return false
    }
}

/// A reader's cursor over a message ring: `ReadCheck` over word positions, records decoded and
/// checked (I6 and I7 of `MessageInvariants.swift`), lap recovery at the writer's tail,
/// sequences counted from the records.
@usableFromInline
package struct MessageCursor {
    @usableFromInline package let area: MessageArea
    @usableFromInline let header: HeaderWords
    @usableFromInline var check: ReadCheck
    /// The position of the next record to read.
    @usableFromInline package var position: UInt64
    /// The sequence the next message must have (I7), or nil when it is not known exactly:
    /// ``slack`` then says what it may be.
    @usableFromInline var exactNext: UInt64?
    /// What the next message's sequence may be when ``exactNext`` is nil.
    @usableFromInline var slack: Slack = .unknown
    /// Messages this reader never saw because the writer overwrote them first, or a machine
    /// crash lost them (``lostInCrash``).
    @usableFromInline package var missed: UInt64 = 0
    /// Of ``missed``, those a machine crash lost: the jumps after lost records (I9), or after
    /// damage skipped (``skipsDamage``).
    @usableFromInline package var lostInCrash: UInt64 = 0
    /// How long this reader spins before it sleeps, learnt from its recent waits.
    var spinBudget = SpinBudget()
    /// The delay a wait may add to coalesce wake-ups (see `FutexSleep`), in nanoseconds; 0: none.
    package var coalescingNanos: Int64 = 0
    /// Whether damage is skipped rather than reported: a reader of a version-4 ring that waits
    /// for a recovery it cannot run (a read-only data directory). It resumes at the next record
    /// provable on its own (as `MessageArea.survey` does) and counts the jump in sequence there
    /// as missed; it still delivers nothing its check word does not vouch for.
    @usableFromInline package var skipsDamage = false
    /// What the last read that returned ``Outcome/damaged`` found (kept here, not in the
    /// outcome, so that every read returns a small value).
    @usableFromInline package var damage: MessageDamage?

    /// What a reader knows about the next message's sequence when it does not know it exactly.
    @usableFromInline
    enum Slack: Sendable, Equatable {
        /// Nothing (a writer kept moving while this reader started): the first message says.
        case unknown
        /// The reader was at `expected` (word `from`) when the writer lapped it: the next
        /// message may come later, by at most what the words jumped over held (I4, I7).
        case lapped(from: UInt64, expected: UInt64)
        /// A replay asked for `first`, which may have been overwritten: the next message is
        /// `first` or later, the gap counted.
        case atLeast(UInt64)
        /// A named reader resumed at the position it committed with sequence `committed`: the
        /// message there has that sequence, or an earlier one if it died between storing the two
        /// words (the sequence goes first), which it then reads again (at least once).
        case resumed(committed: UInt64)
        /// Such a reader found its position overwritten: what it committed is all it knows, and
        /// a message after it counts the gap.
        case resumedThenLapped(from: UInt64, committed: UInt64)
        /// The reader passed the lost record at `at` expecting `expected` (I9): the next message
        /// is `expected` or later, the gap counted as missed. A commit names the lost record, so
        /// that a reader resuming there counts the same gap.
        case lost(at: UInt64, expected: UInt64)

        /// The sequence a commit stores with the position ``commitPoint`` names.
        var bound: UInt64? {
            switch self {
            case .unknown: nil
            case .lapped(_, let expected): expected
            case .atLeast(let first), .lost(_, let first): first
            case .resumed(let committed), .resumedThenLapped(_, let committed): committed
            }
        }
    }

    @usableFromInline
    package enum Start {
        case oldest, latest
        /// A named reader resuming where it committed (`sequence` nil if it never knew it).
        case at(position: UInt64, sequence: UInt64?)
    }

    /// What a read found.
    @usableFromInline
    package enum Outcome<T> {
        case message(sequence: UInt64, time: UInt64, value: T)
        /// The reader has caught up with the writer.
        case caughtUp
        /// A record or a counter that contradicts the others although no claim reached it:
        /// the file is damaged (``damage`` says how; nothing is consumed, and the next read
        /// finds the same).
        case damaged
    }

    /// A cursor at `start`, placed by what ``MessageArea/observe(_:)`` says: at the oldest
    /// intact message (the tail), at the end (`published`), or at a named reader's committed
    /// position; knowing the sequence of the next message exactly, unless a writer kept moving
    /// too fast to tell. Throws what contradicts the rest.
    init(area: MessageArea, header: HeaderWords, start: Start, gatedRecord: Int?) throws(MessageDamage) {
        self.area = area
        self.header = header
        check = ReadCheck(header: header, capacity: area.words, gatedRecord: gatedRecord)
        let placed: (position: UInt64, exactNext: UInt64?, slack: Slack)
        switch area.observe(header) {
        case .damaged(let damage):
            throw damage
        case .moving(let counters):
            // A busy writer: `published` is always a record start; the first message read says
            // its sequence (a gap before it goes uncounted, as the state could not be proven).
            if case .at(let committed, let sequence) = start, committed <= counters.published {
                placed = (committed, nil, sequence.map { .resumed(committed: $0) } ?? .unknown)
            } else {
                placed = (counters.published, nil, .unknown)
            }
        case .consistent(let state):
            switch start {
            case .oldest: placed = (state.oldestPosition, state.oldestSequence, .unknown)
            case .latest: placed = (state.counters.published, state.next, .unknown)
            case .at(let committed, let sequence): placed = try Self.resume(at: committed, sequence: sequence, in: state, area: area)
            }
        }
        position = placed.position
        exactNext = placed.exactNext
        slack = placed.slack
    }

    /// A cursor at `position` (a record start the counters name, `published` or the tail) of a
    /// ring whose records there could not be proven, that skips damage (``skipsDamage``): it
    /// learns the sequence from the first message it proves.
    init(area: MessageArea, header: HeaderWords, unprovenAt position: UInt64) {
        self.area = area
        self.header = header
        check = ReadCheck(header: header, capacity: area.words, gatedRecord: nil)
        self.position = position
        exactNext = nil
        skipsDamage = true
    }

    /// Where a named reader that committed `committed` (and `sequence`, if it knew it) resumes:
    /// there if it is intact, else at the oldest message, the gap counted from `sequence`.
    static func resume(at committed: UInt64, sequence: UInt64?, in state: MessageRingState,
                       area: MessageArea) throws(MessageDamage) -> (position: UInt64, exactNext: UInt64?, slack: Slack) {
        let counters = state.counters
        guard committed <= counters.published else {
            throw .committedBeyondPublished(position: committed, published: counters.published)
        }
        // It committed the sequence first, then the position: the message at its position is
        // the one it committed, or an earlier one; never beyond the next to be published.
        if let sequence, sequence > state.next || (committed == counters.published && sequence != state.next) {
            throw .committedSequence(position: committed, found: state.next, committed: sequence)
        }
        if committed < area.oldestIntact(claimed: counters.claimed) {
            return (counters.tail, nil, sequence.map { .resumedThenLapped(from: committed, committed: $0) } ?? .unknown)
        }
        if committed == counters.published { return (committed, state.next, .unknown) }
        return (committed, nil, sequence.map { .resumed(committed: $0) } ?? .unknown)
    }

    /// The sequence the next message should have: exactly, or the bound the reader has.
    @usableFromInline package var expected: UInt64? {
        exactNext ?? slack.bound
    }

    /// What a named reader commits: the position of its next record and the sequence it
    /// expects there. After a lap not yet resolved by a read, the position it was lapped at
    /// (overwritten: a restart counts the gap from the sequence, as this reader would).
    @inlinable package var commitPoint: (position: UInt64, sequence: UInt64?) {
        if let exactNext { return (position, exactNext) }
        return Self.uncertainCommitPoint(slack, position)
    }

    /// Static, taking only what it reads: a getter of the whole cursor, called from a reader's
    /// acknowledgement, made the compiler copy the cursor (memcpy) on every pop once it grew
    /// (measured: 52 instructions a pop, callgrind).
    @usableFromInline
    static func uncertainCommitPoint(_ slack: Slack, _ position: UInt64) -> (position: UInt64, sequence: UInt64?) {
        switch slack {
        case .lapped(let from, let expected): (from, expected)
        case .resumedThenLapped(let from, let committed): (from, committed)
        case .lost(let at, let expected): (at, expected)
        case .atLeast: (position, nil)
        case .unknown, .resumed: (position, slack.bound)
        }
    }

    /// The sequence of the next message: the one expected, or, before a reader that could not
    /// tell has read anything, the writer's count.
    package var nextSequence: UInt64 {
        expected ?? min(header.publishedMessages.pointee.load(ordering: .acquiring), Limits.maxCount)
    }

    /// How many messages were published that this cursor has not read (those it will find
    /// overwritten included): the writer's count, stored after each publication, less the next
    /// sequence. A snapshot for status lines, not a promise about the next read.
    package var backlog: UInt64 {
        let published = header.publishedMessages.pointee.load(ordering: .acquiring)
        let next = nextSequence
        return published > next ? published - next : 0
    }

    /// Reads the next message: `copy` receives its bytes where they lie and must only copy them
    /// (they may be changing; such a copy is discarded and the reader moves on). `accept` sees
    /// the checked sequence, time and value, and may refuse to consume it: it is returned all the
    /// same, and the cursor stays on it.
    @inlinable
    package mutating func read<T>(_ copy: (UnsafeRawBufferPointer) -> T,
                                  acceptIf accept: (UInt64, UInt64, T) -> Bool = { _, _, _ in true }) -> Outcome<T> {
        let outcome = readRecord(copy, acceptIf: accept)
        if case .damaged = outcome, _slowPath(skipsDamage) { return readPastDamage(copy, acceptIf: accept) }
        return outcome
    }

    /// ``read(_:acceptIf:)`` for a cursor that skips damage (``skipsDamage``): past each damaged
    /// span to the next provable message, until a message or the end. Out of line: it never runs
    /// but on a read-only ring that waits for its recovery.
    @usableFromInline @inline(never)
    mutating func readPastDamage<T>(_ copy: (UnsafeRawBufferPointer) -> T, acceptIf accept: (UInt64, UInt64, T) -> Bool) -> Outcome<T> {
        while skipDamage() {                                     // each moves the position forward, to `published` at most
            let outcome = readRecord(copy, acceptIf: accept)
            guard case .damaged = outcome else { return outcome }
        }
        return .damaged
    }

    /// One read of ``read(_:acceptIf:)``: a damaged record is reported, never skipped.
    @inlinable
    mutating func readRecord<T>(_ copy: (UnsafeRawBufferPointer) -> T,
                                acceptIf accept: (UInt64, UInt64, T) -> Bool) -> Outcome<T> {
        while true {
            guard check.canRead(position) else { return .caughtUp }                                       // R1
            let first = area.firstWord(at: position)
            switch area.decode(first, at: position) {
            case .message(let length, let words)? where position &+ words <= check.knownPublished:
                let pointer = area.pointer(position)
                let stamp = area.stamp(at: position)
                guard area.isSealed(pointer, length: length) else {                                       // version 4: before the bytes go out
                    guard check.copyIsIntact(from: position) else {                                       // R3, R4: a lap, not damage
                        if !recoverFromLap() { return .damaged }
                        continue
                    }
                    return found(.checksum(position: position, sequence: stamp.sequence))
                }
                let value = copy(UnsafeRawBufferPointer(start: area.body(pointer), count: length))        // R2
                // Version 4: the check word vouched for the length (see `isFollowed`); version 3: I7 ahead.
                let followed = area.check != nil || isFollowed(from: position, end: position &+ words, sequence: stamp.sequence)
                guard check.copyIsIntact(from: position) else {                                           // R3, R4
                    if !recoverFromLap() { return .damaged }
                    continue
                }
                if _slowPath(!followed), let damage = succession(end: position &+ words, sequence: stamp.sequence) {
                    guard check.copyIsIntact(from: position) else {
                        if !recoverFromLap() { return .damaged }
                        continue
                    }
                    return found(damage)
                }
                if _fastPath(stamp.sequence == exactNext) {                                               // I7
                    guard accept(stamp.sequence, stamp.time, value) else { return .message(sequence: stamp.sequence, time: stamp.time, value: value) }
                } else {
                    guard let lost = admit(stamp.sequence) else { return .damaged }
                    guard accept(stamp.sequence, stamp.time, value) else { return .message(sequence: stamp.sequence, time: stamp.time, value: value) }
                    count(missed: lost)
                }
                exactNext = stamp.sequence &+ 1
                position &+= words
                return .message(sequence: stamp.sequence, time: stamp.time, value: value)
            case .padding(let words)?:
                guard check.copyIsIntact(from: position) else {
                    if !recoverFromLap() { return .damaged }
                    continue
                }
                // `knownPublished` is a record end; the padding's end never is (I6).
                guard position &+ words != check.knownPublished else { return found(.paddingAtPublished(position: position)) }
                position &+= words
            case let record:
                guard check.copyIsIntact(from: position) else {
                    if !recoverFromLap() { return .damaged }
                    continue
                }
                if case .lost(let words)? = record, position &+ words <= check.knownPublished {    // I9: passed as padding is
                    passLost(at: position, words: words)
                    continue
                }
                return found(Self.unreadable(record, first: first, at: position, published: check.knownPublished))
            }
        }
    }

    /// Whether what follows the message of `sequence` at `start` (ending at `end`) agrees with
    /// its length: the cheap half of ``succession(end:sequence:)``, loads only, checked by
    /// R3 and R4 with the message's own copy (a claim that reached the words at `end` reached
    /// `start` first). A length word enlarged by a hostile edit or a damaged page would
    /// otherwise deliver the next record's header and bytes as this message's, the damage found
    /// only one read later: so nothing is delivered before its end is confirmed (I5, I7).
    ///
    /// Version 3 only. In version 4 the record's check word does this job, and more, before the
    /// bytes are handed out (``MessageArea/isSealed(_:length:)``), so the look-ahead is skipped:
    ///
    /// - What the look-ahead catches is a length word that is not the one the writer stored
    ///   with this record (longer or shorter, torn, forged, a stale or zeroed page), while the
    ///   rest of the record decodes (I6: a message of at most the largest length, inside the
    ///   data area, not beyond `published`). The check covers bytes 0–23, the length word
    ///   included, then exactly `length` bytes of message: with any other length the CRC is
    ///   computed over another word 0 and another span than the writer's, and matches the
    ///   stored word only with probability 2^-32 (the record's other bytes, the next record's
    ///   header among them, are those of a ring written by cbuff or zeros, not chosen to
    ///   collide). A mismatch is `MessageDamage.checksum`, as a contradicted look-ahead is
    ///   `sequence` or `countDisagrees`: the same class of error, before delivery.
    /// - It catches more: a stale or zeroed body under a fresh header, or a header torn from
    ///   its body, which no succession check can see (the look-ahead reads only headers).
    /// - The one case left is not damage but authorship: an editor who recomputes the check
    ///   word over a longer record (the next one swallowed). The look-ahead would refuse that
    ///   record before delivering it (the sequence at its new end skips one); version 4
    ///   delivers it, as it delivers any record whose bytes an editor rewrote and refitted (as
    ///   version 3 delivers any edited body), and refuses at the next read (I7: the sequence
    ///   skips one and nothing lapped the reader). An editor who also rewrites that sequence
    ///   defeats both. What neither ever does is read outside the record's checked span or
    ///   the data area, or deliver a record whose bytes a crash or a stray write changed.
    ///
    /// - A record published after it (`end` below `published`): the record there carries the
    ///   next sequence (whatever else is wrong with that record is found when it is read: its
    ///   sequence where this message ends is what confirms this one's length). Padding there,
    ///   once a lap, is left to the full check, which looks past it.
    /// - It is the last one published: the writer's words say so. `lastRecordStart` names it (the
    ///   writer stored it before publishing this record, and ours was loaded after the acquiring
    ///   load of `published` that made the record readable, so it holds that value or a later
    ///   one; a later one is a start at or after `end`), or the writer has started the next
    ///   record (`lastRecordStart` at or after `end`), and then the count it stored after
    ///   publishing this one, before storing that start (a releasing store, which our acquiring
    ///   load of it pairs with), is one more than this message's sequence.
    @inlinable
    mutating func isFollowed(from start: UInt64, end: UInt64, sequence: UInt64) -> Bool {
        if check.canRead(end) { return area.sequence(at: end) == sequence &+ 1 }                     // R1 at `end`
        let last = header.lastRecordStart.pointee.load(ordering: .acquiring)
        return last == start || (last >= end && header.publishedMessages.pointee.load(ordering: .relaxed) == sequence &+ 1)
    }

    /// The damage, if any, that makes the message of `sequence` ending at `end` not the one its
    /// writer published there: a record after it (past one padding record) that does not carry
    /// the next sequence, or, when it is the last one published, a ring whose checked state (I5)
    /// ends elsewhere or counts otherwise. Nil when it is followed as it should be, or when a
    /// writer kept moving too fast for a state to be checked (unconfirmed, as every message was
    /// before this check). The caller checks R3 and R4 again for what this loads.
    @usableFromInline @inline(never)
    mutating func succession(end: UInt64, sequence: UInt64) -> MessageDamage? {
        for _ in 0..<MessageArea.observationRounds {
            if check.canRead(end) {
                var next = end
                if case .padding(let words)? = area.decode(area.firstWord(at: next), at: next) {
                    next &+= words
                    guard check.canRead(next) else { return .paddingAtPublished(position: end) }    // I6
                }
                let found = area.sequence(at: next)
                return found == sequence &+ 1 ? nil : .sequence(position: next, found: found, expected: sequence &+ 1)  // I7
            }
            switch area.observe(header) {
            case .damaged(let found):
                return found
            case .consistent(let state) where state.counters.published == end:
                return state.next == sequence &+ 1 ? nil : .countDisagrees(lastSequence: sequence, count: state.next)  // I5
            case .consistent, .moving:
                continue                                                                              // published moved on
            }
        }
        return nil
    }

    /// Keeps `damage` for ``damage`` and says so (out of line: damage is rare).
    @usableFromInline @inline(never)
    mutating func found<T>(_ damage: MessageDamage) -> Outcome<T> {
        self.damage = damage
        return .damaged
    }

    /// Moves past the damage at ``position`` when ``skipsDamage`` (false otherwise): to the next
    /// message provable on its own (I6, I8, a sequence from the one expected on and I4), the gap
    /// counted as missed when its first message is read, as after a lost record (I9); to
    /// `published` when there is none. A damaged span, to a reader that cannot repair it, is what
    /// a lost record says to the others.
    @usableFromInline @inline(never)
    mutating func skipDamage() -> Bool {
        guard skipsDamage else { return false }
        let published = header.published.pointee.load(ordering: .acquiring)
        var budget = CheckBudget(area)
        let resumed = area.firstProvableMessage(after: position, below: published, from: expected ?? 0, before: Limits.maxCount,
                                                allowance: area.allowance(header), budget: &budget)
        Diagnostics.note(.readers, "a message reader skipped damaged words \(position)..<\(resumed?.position ?? published) of a ring waiting for its recovery")
        passLost(at: position)
        position = resumed?.position ?? published
        return true
    }

    /// Passes the lost record at `position` (I9): the next message may come later than the one
    /// expected, by what the crash lost, which ``admit(_:)`` then counts as missed. A reader that
    /// did not know what to expect (a busy writer at its start) still does not.
    @usableFromInline @inline(never)
    mutating func passLost(at position: UInt64, words: UInt64 = 0) {
        self.position = position &+ words
        if let expected {
            if case .lost = slack, exactNext == nil { return }       // consecutive lost records: one gap, counted from the first
            slack = .lost(at: position, expected: expected)
        }
        exactNext = nil
    }

    /// Counts `lost` messages as missed, and as lost in a crash after a lost record (I9).
    @usableFromInline @inline(never)
    mutating func count(missed lost: UInt64) {
        missed &+= lost
        if case .lost = slack { lostInCrash &+= lost }
    }

    /// The damage a record that is not a readable message or padding shows.
    @usableFromInline @inline(never)
    static func unreadable(_ record: MessageArea.Record?, first: UInt64, at position: UInt64, published: UInt64) -> MessageDamage {
        guard let record else { return .record(position: position, firstWord: first) }
        return .recordCrossesPublished(position: position, words: record.words, published: published)
    }

    /// Whether a message whose sequence is not ``exactNext`` may follow what this reader read
    /// (I7, I4), and how many messages it then missed; nil, with ``damage`` set, if it may not.
    /// Changes nothing else: a read that is not accepted consumes nothing.
    @usableFromInline @inline(never)
    mutating func admit(_ sequence: UInt64) -> UInt64? {
        let verdict: Result<UInt64, MessageDamage>
        let allowance = area.allowance(header)
        if let exactNext {
            verdict = .failure(.sequence(position: position, found: sequence, expected: exactNext))
        } else if !area.fits(sequence, at: position, allowance: allowance) {
            verdict = .failure(.sequenceBeyondPosition(position: position, sequence: sequence))
        } else {
            switch slack {
            case .unknown:
                verdict = .success(0)
            case .lapped(let from, let expected):
                // The messages expected ..< sequence lay in the words from `from` to here, 3 each at
                // least, unless a recovery lost them (I4: at most the allowance).
                verdict = sequence >= expected && sequence - expected <= (position &- from) / 3 &+ allowance ? .success(sequence - expected)
                    : .failure(.impossibleGap(position: position, found: sequence, expected: expected, from: from))
            case .atLeast(let first), .lost(_, let first):
                verdict = sequence >= first ? .success(sequence - first) : .failure(.sequence(position: position, found: sequence, expected: first))
            case .resumed(let committed):
                verdict = sequence <= committed ? .success(0) : .failure(.committedSequence(position: position, found: sequence, committed: committed))
            case .resumedThenLapped(_, let committed):
                verdict = .success(sequence > committed ? sequence - committed : 0)
            }
        }
        switch verdict {
        case .success(let lost): return lost
        case .failure(let found): damage = found; return nil
        }
    }

    /// The record at `position` was (or is being) overwritten: resume at the oldest intact one
    /// (the tail, checked with the counters it goes with). What was lost is counted when the
    /// next message says its sequence (see ``admit(_:)``). False, with ``damage`` set, if the
    /// ring is damaged instead.
    @usableFromInline @inline(never)
    mutating func recoverFromLap() -> Bool {
        let from = position
        switch area.observe(header) {
        case .damaged(let found):
            damage = found
            return false
        case .consistent(let state):
            // The tail is beyond `from`: the claim that lapped this reader was seen by R4, and the
            // state's `claimed`, loaded later, is at least that one; the tail is at or above it.
            position = state.counters.tail > from ? state.counters.tail : state.counters.published
        case .moving(let counters):
            position = max(counters.published, from &+ 1)
        }
        Diagnostics.note(.readers, "a message reader at word \(from) was lapped by the writer: it resumes at word \(position), the oldest intact message")
        if let expected = exactNext {
            slack = .lapped(from: from, expected: expected)
        } else if case .resumed(let committed) = slack {
            slack = .resumedThenLapped(from: from, committed: committed)
        }
        exactNext = nil
        return true
    }

    /// The sequence the next message published will get, as a reader starting now at the
    /// latest finds it, or the writer's count if it kept moving.
    package func sequenceAtEnd() throws(MessageDamage) -> UInt64 {
        switch area.observe(header) {
        case .consistent(let state): state.next
        case .damaged(let damage): throw damage
        case .moving(let counters): min(counters.count, Limits.maxCount)
        }
    }

    /// Whether a record is waiting (or was overwritten, which a read then handles).
    func hasMessage() -> Bool {
        check.unread(from: position) > 0
    }

    /// Whether this cursor's R4 is the gated check: for tests.
    package var reliesOnGate: Bool { check.reliesOnGate }

    /// Waits until a record is readable, at most `timeoutNanos` (negative: no limit); see
    /// ``RingCursor/wait(timeoutNanos:orUntil:)``.
    /// `orUntil` ends the wait as a readable item would (a named reader's removal under it).
    package mutating func wait(timeoutNanos: Int64, orUntil other: () -> Bool = { false }) -> Bool {
        var budget = spinBudget
        defer { spinBudget = budget }
        return FutexSleep.wait(until: { hasMessage() || other() }, word: header.notify, address: header.notifyAddress,
                               request: header.waiters, acknowledged: true, budget: &budget, timeoutNanos: timeoutNanos,
                               coalescingNanos: coalescingNanos)
    }

    /// Moves to the first message for which `isWanted(sequence, time)` holds, reading past the
    /// others without counting them as missed (a replay's start). Returns the damage found on
    /// the way, if any.
    package mutating func skip(until isWanted: (UInt64, UInt64) -> Bool) -> MessageDamage? {
        let keptMissed = missed
        defer { missed = keptMissed }
        while true {
            switch read({ _ in () }, acceptIf: { sequence, time, _ in !isWanted(sequence, time) }) {
            case .message(let sequence, let time, _):
                if isWanted(sequence, time) { return nil }
            case .caughtUp: return nil
            case .damaged: return damage
            }
        }
    }

    /// Makes the cursor, just placed on the first message at or after `sequence` by
    /// ``skip(until:)``, expect `sequence`: if that one was overwritten, the next message read
    /// counts the gap (a replay from a sequence).
    package mutating func expect(_ sequence: UInt64) {
        guard exactNext != sequence else { return }
        exactNext = nil
        slack = .atLeast(sequence)
    }
}

extension ReaderCommit {
    /// Stores a message reader's cursor: the position of the next record, and, in the word
    /// after it (offset 8 of its record), one more than the sequence it expects there (0: not
    /// known). The sequence goes first: a crash between the two stores leaves an old position
    /// with a newer sequence, which the next message read corrects (a sequence below the one
    /// expected is believed, never counted as missed), so nothing is miscounted.
    @inlinable
    package func store(position: UInt64, sequence: UInt64?) {
        (cursor + 1).pointee.store(sequence.map { $0 &+ 1 } ?? 0, ordering: .relaxed)
        store(position)
    }

    /// A message read's acknowledgement: ``acknowledge(_:into:checking:)-(UInt64,_,_)`` for a
    /// message cursor's commit point.
    @inlinable @inline(__always)
    package static func acknowledge(_ point: (position: UInt64, sequence: UInt64?), into acknowledgement: ReaderCommit?, checking registration: ReaderCommit?) -> Bool {
        acknowledgement?.store(point)
        guard let registration else { return false }
        return registration.isRemoved
    }

    /// Stores what a message cursor commits (see ``MessageCursor/commitPoint``).
    @inlinable
    package func store(_ point: (position: UInt64, sequence: UInt64?)) {
        store(position: point.position, sequence: point.sequence)
    }

    /// The sequence a message reader committed with its position, if it knew it (a stored
    /// word beyond the most a ring counts is damage, refused when the file is opened: see
    /// `RingFile.checkCounters`).
    package var committedSequence: UInt64? {
        let stored = (cursor + 1).pointee.load(ordering: .acquiring)
        return stored == 0 ? nil : stored &- 1
    }
}
