public import Synchronization
internal import SharedRingSystem
internal import SharedRingCommon

// # Rings of variable-size messages (format version 3, kind 1)
//
// The same publication protocol as the slot ring (`Publication.swift`), with positions that are
// the 8-byte words of a data area of `capacity` bytes (a power of two) instead of sequences:
// `published` and `claimed` count words, a record starts at a word, and the protocol's proofs
// carry over unchanged because they never looked at what a position holds. `PublicationCounters`
// (W1, W2, W4, W5), `ReadCheck` (R1, R3, R4 and the gate's shortcut), `SpaceGate` and
// `FutexSleep` are used as they are; this file only maps positions to records.
//
// A record at position p is a header of three words, then the message's bytes, padded to a word:
//
//   word 0   length (u32, bytes of the message) | kind (u32: 1 message, 2 padding) << 32
//   word 1   the message's sequence number (0, 1, 2, …)
//   word 2   its publish time, nanoseconds since the Unix epoch
//
// Every record lies in one piece: one that would cross the end of the data area is preceded by a
// padding record, a single word `(words to the end) | 2 << 32`, and starts again at offset 0. A
// message of at most `capacity / 2 - 24` bytes therefore always fits, padding included, in what a
// named reader can have emptied. `published` only ever stops at the end of a record, so a reader
// that sees `published > p` knows the whole record at p is complete (R1).
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
//                      before that claim (W1). A lapped reader resumes there: it loads the tail,
//                      then `claimed`, and accepts the tail only if `tail >= claimed - capacity`
//                      (it was not overwritten by any claim the reader has seen; a later one is
//                      caught by R4 as usual). The value is always some record start, so no
//                      ordering is needed for it to be safe, only for it to be fresh.
//   lastRecordStart    where the record being (or last) written starts, stored before W4.
//   publishedMessages  the next message's sequence, stored after W4.
//
// Sequence numbers live in the records, so a lapped reader counts exactly what it missed: the
// sequence of the first message it reads after the gap, minus the one it expected. A writer that
// takes over after a crash resumes the count from the record at `lastRecordStart` when that
// record is intact and ends exactly at `published` (its predecessor died after W4, perhaps before
// storing `publishedMessages`), and from `publishedMessages` otherwise (it died before W4 of a
// record whose predecessor's count it had stored). Either way no sequence is reused or skipped.

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

    @usableFromInline static let kindMessage: UInt64 = 1
    @usableFromInline static let kindPadding: UInt64 = 2
    /// Words of a record header.
    @usableFromInline static let headerWords: UInt64 = 3

    package init(base: UnsafeMutableRawPointer, capacity: Int, maxMessage: Int) {
        self.base = base
        self.words = UInt64(capacity / 8)
        self.maxMessage = maxMessage
    }

    @inlinable
    func offset(_ position: UInt64) -> UInt64 { position & (words &- 1) }

    @inlinable
    package func pointer(_ position: UInt64) -> UnsafeMutableRawPointer {
        base + Int(offset(position) &<< 3)
    }

    /// Words a record of a message of `length` bytes takes.
    @inlinable
    package static func recordWords(_ length: Int) -> UInt64 {
        headerWords &+ UInt64((length &+ 7) &>> 3)
    }

    /// What a record's first word may be.
    @usableFromInline
    enum Record {
        case message(length: Int, words: UInt64)
        case padding(words: UInt64)

        @inlinable var words: UInt64 {
            switch self {
            case .message(_, let words), .padding(let words): words
            }
        }
    }

    /// The first word of the record at `position` (a plain load: it may race with the writer).
    @inlinable
    func firstWord(at position: UInt64) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(pointer(position)).load(as: UInt64.self))
    }

    /// The record that `first` describes at `position`, or nil if no record there can say
    /// that: a message longer than the largest, a record crossing the end of the data area, a
    /// padding record that does not reach it exactly, an unknown kind.
    @inlinable
    func decode(_ first: UInt64, at position: UInt64) -> Record? {
        let length = Int(truncatingIfNeeded: first & 0xFFFF_FFFF)
        let room = words &- offset(position)
        switch first &>> 32 {
        case Self.kindMessage:
            guard length <= maxMessage else { return nil }
            let recordWords = Self.recordWords(length)
            return recordWords <= room ? .message(length: length, words: recordWords) : nil
        case Self.kindPadding:
            return UInt64(length) == room ? .padding(words: room) : nil
        default:
            return nil
        }
    }

    /// The sequence and time words of the record at `position` (plain loads).
    @inlinable
    func stamp(at position: UInt64) -> (sequence: UInt64, time: UInt64) {
        let record = UnsafeRawPointer(pointer(position))
        return (UInt64(littleEndian: record.load(fromByteOffset: 8, as: UInt64.self)),
                UInt64(littleEndian: record.load(fromByteOffset: 16, as: UInt64.self)))
    }

    /// The oldest position a claim of `claimed` has not reached.
    @inlinable
    func oldestIntact(claimed: UInt64) -> UInt64 {
        claimed > words ? claimed &- words : 0
    }

    /// The oldest intact record start: the writer's tail, if no claim seen has reached it;
    /// else (a writer racing ahead, a tail left stale by damage) `published`, which is always a
    /// record boundary. Never below `minimum` unless that is `published`.
    @usableFromInline
    func oldestRecord(_ header: HeaderWords, atLeast minimum: UInt64) -> UInt64 {
        for _ in 0..<64 {
            let tail = header.messageTail.pointee.load(ordering: .acquiring)
            let claimed = header.claimed.pointee.load(ordering: .acquiring)
            let published = header.published.pointee.load(ordering: .acquiring)
            if tail >= oldestIntact(claimed: claimed), tail >= minimum, tail <= published { return tail }
        }
        return max(minimum, header.published.pointee.load(ordering: .acquiring))
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
    /// The sequence the next message gets.
    @usableFromInline package var nextSequence: UInt64

    /// Attaches at the ring's current position (see the top of this file for where the
    /// sequence count resumes after a crash). A recorded tail that does not hold up (damage) is
    /// replaced by `published`: older records are then out of reach, never misread.
    init(area: MessageArea, header: HeaderWords, fenceBeforeWaiterCheck: Bool) {
        self.area = area
        self.header = header
        counters = PublicationCounters(header: header, fenceBeforeWaiterCheck: fenceBeforeWaiterCheck)
        let published = counters.published
        let oldest = area.oldestIntact(claimed: counters.claimed)
        let recorded = header.messageTail.pointee.load(ordering: .acquiring)
        tail = recorded <= published && recorded >= oldest ? recorded : published
        header.messageTail.pointee.store(tail, ordering: .relaxed)
        nextSequence = Self.resumeSequence(area: area, header: header, published: published, oldest: oldest)
    }

    static func resumeSequence(area: MessageArea, header: HeaderWords, published: UInt64, oldest: UInt64) -> UInt64 {
        guard published > 0 else { return 0 }
        let last = header.lastRecordStart.pointee.load(ordering: .relaxed)
        if last < published, last >= oldest, case .message(_, let words)? = area.decode(area.firstWord(at: last), at: last),
           last &+ words == published {
            return area.stamp(at: last).sequence &+ 1
        }
        return header.publishedMessages.pointee.load(ordering: .relaxed)
    }

    /// The position the next record starts at (= positions published).
    @inlinable package var position: UInt64 { counters.published }

    /// The position after the record of a message of `length` bytes, padding included.
    @inlinable
    package func end(ofMessage length: Int) -> UInt64 {
        let words = MessageArea.recordWords(length)
        let room = area.words &- area.offset(counters.published)
        return counters.published &+ (words <= room ? words : room &+ words)
    }

    /// Publishes one message of `length` bytes (at most the largest: the caller checks) that
    /// `fill` writes where it lies, stamped with `time`. If `fill` throws, nothing is published
    /// and the claim stays, as in ``RingPublisher/publishInPlace(_:)``.
    @inlinable
    package mutating func publish<E: Error>(length: Int, time: UInt64, _ fill: (UnsafeMutableRawPointer) throws(E) -> Void) throws(E) {
        try publish(reserving: length, time: time) { (bytes) throws(E) -> Int in
            try fill(bytes)
            return length
        }
    }

    /// Publishes one message that `fill` writes where it lies, in at most `reserved` bytes (at
    /// most the largest message: the caller checks), returning how many it wrote (at most
    /// `reserved`: checked). The claim covers `reserved` bytes; the record, the bytes written.
    @inlinable
    package mutating func publish<E: Error>(reserving reserved: Int, time: UInt64, _ fill: (UnsafeMutableRawPointer) throws(E) -> Int) throws(E) {
        let start = counters.published
        let end = end(ofMessage: reserved)
        if end > area.words { advanceTail(below: end &- area.words) }
        counters.claim(through: end)                                                    // W1, W2
        let record = end &- MessageArea.recordWords(reserved)
        if record != start {                                                            // W3: padding to the end
            area.pointer(start).storeBytes(of: ((record &- start) | MessageArea.kindPadding &<< 32).littleEndian, as: UInt64.self)
        }
        header.lastRecordStart.pointee.store(record, ordering: .relaxed)
        let pointer = area.pointer(record)                                              // W3: the record
        pointer.storeBytes(of: nextSequence.littleEndian, toByteOffset: 8, as: UInt64.self)
        pointer.storeBytes(of: time.littleEndian, toByteOffset: 16, as: UInt64.self)
        let length = min(max(try fill(pointer + 24), 0), reserved)
        pointer.storeBytes(of: (UInt64(length) | MessageArea.kindMessage &<< 32).littleEndian, as: UInt64.self)
        counters.announce(through: record &+ MessageArea.recordWords(length))          // W4, W5
        nextSequence &+= 1
        header.publishedMessages.pointee.store(nextSequence, ordering: .relaxed)
    }

    /// Moves the tail past every record that starts below `limit` (which the next claim will
    /// reach), and stores it before that claim. The records walked are this writer's (or a
    /// predecessor's) published ones, so their headers are sound; one that is not (damage)
    /// gives up on everything older.
    @usableFromInline
    mutating func advanceTail(below limit: UInt64) {
        var next = tail
        while next < limit {
            guard let record = area.decode(area.firstWord(at: next), at: next) else {
                next = counters.published
                break
            }
            next &+= record.words
        }
        if next != tail {
            tail = next
            header.messageTail.pointee.store(next, ordering: .relaxed)
        }
    }
}

/// A reader's cursor over a message ring: `ReadCheck` over word positions, records decoded and
/// checked, lap recovery at the writer's tail, sequences counted from the records.
@usableFromInline
package struct MessageCursor {
    @usableFromInline package let area: MessageArea
    @usableFromInline let header: HeaderWords
    @usableFromInline var check: ReadCheck
    /// The position of the next record to read.
    @usableFromInline package var position: UInt64
    /// The sequence the next message should have; nil until a message says (a reader that
    /// started at the latest, or at the oldest of a ring whose first message it has not read).
    @usableFromInline package var expected: UInt64?
    /// Messages this reader never saw because the writer overwrote them first.
    @usableFromInline package var missed: UInt64 = 0
    /// How long this reader spins before it sleeps, learnt from its recent waits.
    var spinBudget = SpinBudget()

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
        /// A record that cannot be, although no claim reached it: the file is damaged.
        case damaged(position: UInt64)
    }

    init(area: MessageArea, header: HeaderWords, start: Start, gatedRecord: Int?) {
        self.area = area
        self.header = header
        check = ReadCheck(header: header, capacity: area.words, gatedRecord: gatedRecord)
        switch start {
        case .oldest:
            position = area.oldestRecord(header, atLeast: 0)
            expected = nil
        case .latest:
            position = header.published.pointee.load(ordering: .acquiring)
            expected = nil
        case .at(let position, let sequence):
            self.position = min(position, header.published.pointee.load(ordering: .acquiring))
            expected = sequence
        }
        if expected == nil { expected = resolveExpected() }
    }

    /// The sequence of the message at `position`, so that a reader lapped before its first read
    /// still counts exactly what it missed: the first message's own, if there is one (read and
    /// checked, not consumed); at the end of the ring, one more than the last record's, found
    /// at `lastRecordStart` while that record ends exactly there (retried while the writer is in
    /// the middle of the next one). Nil if the writer kept moving: the first message read then
    /// says it, and a gap before it goes uncounted.
    mutating func resolveExpected() -> UInt64? {
        for _ in 0..<1000 {
            switch read({ _ in () }, acceptIf: { _, _, _ in false }) {
            case .message(let sequence, _, _): return sequence
            case .damaged: return nil
            case .caughtUp:
                if position == 0 { return 0 }
                let last = header.lastRecordStart.pointee.load(ordering: .acquiring)
                guard last < position, case .message(_, let words)? = area.decode(area.firstWord(at: last), at: last),
                      last &+ words == position else { continue }
                let sequence = area.stamp(at: last).sequence
                guard check.copyIsIntact(from: last) else { continue }
                return sequence &+ 1
            }
        }
        return nil
    }

    /// The sequence of the next message: the one expected, or, before a reader that started at
    /// the latest has read anything, the writer's count.
    package var nextSequence: UInt64 {
        expected ?? header.publishedMessages.pointee.load(ordering: .acquiring)
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
        while true {
            guard check.canRead(position) else { return .caughtUp }                                       // R1
            let record = area.decode(area.firstWord(at: position), at: position)
            switch record {
            case .message(let length, let words)? where position &+ words <= check.knownPublished:
                let pointer = area.pointer(position)
                let stamp = area.stamp(at: position)
                let value = copy(UnsafeRawBufferPointer(start: pointer + 24, count: length))               // R2
                guard check.copyIsIntact(from: position) else { recoverFromLap(); continue }              // R3, R4
                guard accept(stamp.sequence, stamp.time, value) else { return .message(sequence: stamp.sequence, time: stamp.time, value: value) }
                if let expected, stamp.sequence > expected { missed &+= stamp.sequence &- expected }
                expected = stamp.sequence &+ 1
                position &+= words
                return .message(sequence: stamp.sequence, time: stamp.time, value: value)
            case .padding(let words)?:
                guard check.copyIsIntact(from: position) else { recoverFromLap(); continue }
                position &+= words
            default:
                guard check.copyIsIntact(from: position) else { recoverFromLap(); continue }
                return .damaged(position: position)
            }
        }
    }

    /// The record at `position` was (or is being) overwritten: resume at the oldest intact one.
    /// What was lost is counted when the next message says its sequence.
    @usableFromInline @inline(never)
    mutating func recoverFromLap() {
        Diagnostics.note(.readers, "a message reader at word \(position) was lapped by the writer: it resumes at the oldest intact message")
        position = area.oldestRecord(header, atLeast: position &+ 1)
    }

    /// The sequence the next message published will get, as a reader starting now at the
    /// latest finds it (see `resolveExpected`), or the writer's count if it kept moving.
    package func sequenceAtEnd() -> UInt64 {
        let probe = MessageCursor(area: area, header: header, start: .latest, gatedRecord: nil)
        return probe.expected ?? header.publishedMessages.pointee.load(ordering: .acquiring)
    }

    /// Whether a record is waiting (or was overwritten, which a read then handles).
    func hasMessage() -> Bool {
        check.unread(from: position) > 0
    }

    /// Whether this cursor's R4 is the gated check: for tests.
    package var reliesOnGate: Bool { check.reliesOnGate }

    /// Something another thread may call to cut this cursor's wait short.
    package var wakeUp: ReaderWakeUp { ReaderWakeUp(header: header) }

    /// Waits until a record is readable, at most `timeoutNanos` (negative: no limit); see
    /// ``RingCursor/wait(timeoutNanos:stop:)``.
    package mutating func wait(timeoutNanos: Int64, stop: () -> Bool = { false }) -> Bool {
        var budget = spinBudget
        defer { spinBudget = budget }
        return FutexSleep.wait(until: { hasMessage() }, word: header.notify, address: header.notifyAddress,
                               request: header.waiters, budget: &budget, timeoutNanos: timeoutNanos, stop: stop)
    }

    /// Moves to the first message for which `isWanted(sequence, time)` holds, reading past the
    /// others without counting them as missed (a replay's start). Returns false if the ring is
    /// damaged there.
    package mutating func skip(until isWanted: (UInt64, UInt64) -> Bool) -> Bool {
        let keptMissed = missed
        defer { missed = keptMissed }
        while true {
            switch read({ _ in () }, acceptIf: { sequence, time, _ in !isWanted(sequence, time) }) {
            case .message(let sequence, let time, _):
                if isWanted(sequence, time) { return true }
            case .caughtUp: return true
            case .damaged: return false
            }
        }
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

    /// The sequence a message reader committed with its position, if it knew it.
    package var committedSequence: UInt64? {
        let stored = (cursor + 1).pointee.load(ordering: .acquiring)
        return stored == 0 ? nil : stored &- 1
    }
}
