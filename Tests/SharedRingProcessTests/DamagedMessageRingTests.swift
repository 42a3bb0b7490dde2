import Foundation
import Testing
import TestSupport
@testable import SharedRing
import SharedRingProtocol
import SharedRingCommon

/// Message rings damaged by hand, one rule of `Sources/Ring/MessageInvariants.swift` broken at a
/// time, each met by every consumer: a reader from the oldest message, a named reader, a
/// take-over and its push, `status` (inspect), and the real `cbuff tail`, `pop`, `inspect` and
/// `push`. Each must end in correct data or a `corrupted` error (exit 65) with one sentence:
/// never a message skipped in silence, a loss that did not happen ("skipped N"), a hang, a trap,
/// or a write over a record the writer has not accounted for.
@Suite struct DamagedMessageRingTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// The ring of every case: 4 KiB (512 words), messages of up to 200 bytes (records of at
    /// most 28 words), 60 of them of varied lengths, so that it has wrapped, holds padding, and
    /// its oldest messages were overwritten; a named reader committed in the middle.
    static let capacity = 4096, maxMessage = 200, count = 60
    static func text(_ sequence: Int) -> String {
        "m\(sequence)-" + String(repeating: Character(UnicodeScalar(UInt8(97 + sequence % 26))), count: sequence * 37 % 150)
    }

    /// Both record layouts: version 3's (no check word) and version 4's (a CRC-32 per record).
    static let formats: [MessageRecordFormat] = [.unchecked, .checked]

    func makeRing(_ records: MessageRecordFormat) throws -> RingBytes {
        var writer = try directory.createMessageBuffer("logs", capacity: Self.capacity, maxMessageSize: Self.maxMessage, records: records)
        for sequence in 0..<Self.count { try writer.push(Self.text(sequence)) }
        writer.close()
        var named = try directory.openMessageReader("logs", named: "kept")
        for _ in 0..<8 { _ = try named.pop() }
        named.close()                                   // commits the first 8 it read
        return try RingBytes(path: directory.ringPath(of: "logs"))
    }

    /// What each consumer must find.
    enum Expectation: CustomStringConvertible {
        /// The file contradicts itself where every consumer starts: refused on open.
        case refused
        /// The first `readable` messages from the oldest are delivered intact, then `corrupted`.
        /// A message is delivered only once what follows it confirms where it ends (the next
        /// sequence there, or the writer's words if it is the last): so the one before a record
        /// whose sequence or place is wrong is withheld with it, as nothing can tell which of
        /// the two lies; one before a record damaged otherwise is delivered.
        case readsThenStops(readable: Int)

        var description: String {
            switch self {
            case .refused: "refused"
            case .readsThenStops(let readable): "reads \(readable) then stops"
            }
        }
    }

    /// One kind of damage: a name, and what it does to the ring, returning what must follow;
    /// `checkedOnly` for damage that only version 4's check word can see (version 3 delivers
    /// it as if it were what was written: the reason for version 4).
    struct Damage: CustomTestStringConvertible, Sendable {
        let name: String
        var checkedOnly = false
        let apply: @Sendable (inout RingBytes) throws -> Expectation
        init(name: String, checkedOnly: Bool = false, apply: @escaping @Sendable (inout RingBytes) throws -> Expectation) {
            self.name = name
            self.checkedOnly = checkedOnly
            self.apply = apply
        }
        var testDescription: String { name }
    }

    /// Where a reader stops before a record whose sequence was forged (or zeroed): version 3
    /// withholds the message before it too (its successor does not confirm its end: see
    /// `MessageCursor.isFollowed`); version 4 delivers it (its check word vouches for it) and
    /// stops at the forged one (whose check word covers its sequence).
    static func beforeForgedSequence(_ ring: RingBytes, _ k: Int) -> Expectation {
        .readsThenStops(readable: ring.isChecked ? k : k - 1)
    }

    /// The k-th message record from the oldest (k = 0 is the oldest).
    static func message(_ ring: RingBytes, _ k: Int) throws -> RingBytes.Record {
        try #require(ring.records.filter { $0.kind == 1 }.dropFirst(k).first)
    }

    static let damages: [Damage] = [
        // The brief's four.
        Damage(name: "a padding record in the middle of the data (as long as the words to the end, shorter than a record)") { ring in
            // A message near the end of a lap, not the oldest nor the newest: made padding, it
            // reaches the end exactly and is shorter than the largest record, so only the
            // sequence of the message after it (at offset 0) shows what it hid.
            let messages = ring.records.filter { $0.kind == 1 }
            let candidates = messages.dropFirst(9).dropLast(2).filter { ring.words - $0.position % ring.words < ring.maxRecordWords }
            let victim = try #require(candidates.first, "the fixture has no message near the end of a lap")
            ring.setRecordWord(victim.position, 0, (ring.words - victim.position % ring.words) | 2 << 32)
            return .readsThenStops(readable: try #require(messages.firstIndex { $0.position == victim.position }))
        },
        Damage(name: "a writer's tail word beyond published") { ring in
            ring.setHeader(RingLayout.Offset.messageTail, ring.published + 3)
            return .refused
        },
        Damage(name: "a forged sequence in the middle (a thousand later)") { ring in
            let victim = try Self.message(ring, 20)
            ring.setRecordWord(victim.position, 1, victim.sequence + 1000)
            return Self.beforeForgedSequence(ring, 20)
        },
        Damage(name: "published pointing inside the last record") { ring in
            ring.setHeader(RingLayout.Offset.published, ring.published - 1)
            ring.setHeader(RingLayout.Offset.claimed(.overwrite), ring.published)
            return .refused
        },
        // What the invariants imply besides.
        Damage(name: "a padding record in the middle, as long as a record (I6)") { ring in
            let victim = try Self.message(ring, 15)
            let room = ring.words - victim.position % ring.words
            try #require(room >= ring.maxRecordWords)
            ring.setRecordWord(victim.position, 0, room | 2 << 32)
            return .readsThenStops(readable: 15)
        },
        Damage(name: "a forged sequence one later: a loss that never happened (I7)") { ring in
            let victim = try Self.message(ring, 25)
            ring.setRecordWord(victim.position, 1, victim.sequence + 1)
            return Self.beforeForgedSequence(ring, 25)
        },
        Damage(name: "a forged sequence one earlier: a message repeated (I7)") { ring in
            let victim = try Self.message(ring, 25)
            ring.setRecordWord(victim.position, 1, victim.sequence - 1)
            return Self.beforeForgedSequence(ring, 25)
        },
        Damage(name: "a record of an unknown kind in the middle (I6)") { ring in
            let victim = try Self.message(ring, 10)
            ring.setRecordWord(victim.position, 0, 5 << 32)
            return .readsThenStops(readable: 10)
        },
        Damage(name: "a message longer than the largest in the middle (I6)") { ring in
            let victim = try Self.message(ring, 10)
            ring.setRecordWord(victim.position, 0, 201 | 1 << 32)
            return .readsThenStops(readable: 10)
        },
        Damage(name: "the last record's sequence forged (I5: the count disagrees)") { ring in
            ring.setRecordWord(ring.lastRecordStart, 1, ring.recordWord(ring.lastRecordStart, 1) + 7)
            return .refused
        },
        Damage(name: "the count of messages forged (I5)") { ring in
            ring.setHeader(RingLayout.Offset.publishedMessages, ring.header(RingLayout.Offset.publishedMessages) + 5)
            return .refused
        },
        Damage(name: "the count of messages beyond what the words hold (I4)") { ring in
            ring.setHeader(RingLayout.Offset.publishedMessages, ring.published)
            return .refused
        },
        Damage(name: "published beyond the last record (I5)") { ring in
            ring.setHeader(RingLayout.Offset.published, ring.published + 2)
            ring.setHeader(RingLayout.Offset.claimed(.overwrite), ring.published)
            return .refused
        },
        Damage(name: "the last record turned into padding (I6: padding never ends at published)") { ring in
            let last = ring.lastRecordStart
            ring.setRecordWord(last, 0, (ring.words - last % ring.words) | 2 << 32)
            return .refused
        },
        Damage(name: "lastRecordStart where no write from published begins (I5)") { ring in
            ring.setHeader(RingLayout.Offset.claimed(.overwrite), ring.published + 40)
            ring.setHeader(RingLayout.Offset.lastRecordStart, ring.published + 5)
            return .refused
        },
        Damage(name: "the tail inside a record (I6)") { ring in
            let oldest = try Self.message(ring, 0)
            ring.setHeader(RingLayout.Offset.messageTail, oldest.position + 1)
            return .refused
        },
        Damage(name: "the tail at words a claim has reused (I3)") { ring in
            ring.setHeader(RingLayout.Offset.messageTail, ring.claimed - ring.words - 1)
            return .refused
        },
        Damage(name: "the oldest message's sequence beyond the next one (I4)") { ring in
            let oldest = try Self.message(ring, 0)
            ring.setRecordWord(oldest.position, 1, ring.header(RingLayout.Offset.publishedMessages) + 5)
            return .refused
        },
        Damage(name: "a message's length enlarged over the record after it (I7, checked before delivery)") { ring in
            // The longer record still ends at a record start: without a look at what follows,
            // its message would be delivered with the next record's header and bytes in it.
            let messages = ring.records.filter { $0.kind == 1 }
            let k = try #require((10..<messages.count - 2).first { k in
                let victim = messages[k], next = messages[k + 1]
                let words = ring.recordWords(victim.length) + ring.recordWords(next.length)
                return next.position == victim.position + ring.recordWords(victim.length)
                    && (words - ring.headerWords) * 8 <= UInt64(DamagedMessageRingTests.maxMessage) && victim.position % ring.words + words <= ring.words
            }, "the fixture has no message followed by a short one in the same lap")
            let victim = messages[k], next = messages[k + 1]
            ring.setRecordWord(victim.position, 0, ((ring.recordWords(next.length) + (victim.length + 7) / 8) * 8) | 1 << 32)
            return .readsThenStops(readable: k)
        },
        Damage(name: "the last but one message's length enlarged to end at published (I5, checked before delivery)") { ring in
            let messages = ring.records.filter { $0.kind == 1 }
            let victim = messages[messages.count - 2], last = messages[messages.count - 1]
            let words = ring.published - victim.position
            try #require(last.position == victim.position + ring.recordWords(victim.length)
                         && (words - ring.headerWords) * 8 <= UInt64(DamagedMessageRingTests.maxMessage),
                         "the fixture's last two messages do not fit in one")
            ring.setRecordWord(victim.position, 0, ((words - ring.headerWords) * 8) | 1 << 32)
            return .readsThenStops(readable: messages.count - 2)
        },
        Damage(name: "claimed below published (I2)") { ring in
            ring.setHeader(RingLayout.Offset.claimed(.overwrite), ring.published - 1)
            return .refused
        },
        // What only a check word sees (I8): the record decodes and its neighbours agree.
        Damage(name: "a byte of a message flipped (I8)", checkedOnly: true) { ring in
            let victim = try Self.message(ring, 14)
            try #require(victim.length > 0)
            ring.flipByte(of: victim, at: Int(victim.length) - 1)
            return .readsThenStops(readable: 14)
        },
        Damage(name: "a stale message under a fresh header: another record's bytes (I8)", checkedOnly: true) { ring in
            let messages = ring.records.filter { $0.kind == 1 }
            let victim = messages[16]
            let stale = try #require(messages.first { $0.sequence != victim.sequence && $0.length >= victim.length && $0.length > 0 })
            ring.copyBody(from: stale, to: victim)
            return .readsThenStops(readable: 16)
        },
        Damage(name: "a zeroed message record (a page of zeros, I6)") { ring in
            let victim = try Self.message(ring, 18)
            for index in 0..<Int(ring.recordWords(victim.length)) { ring.setRecordWord(victim.position, index, 0) }
            return Self.beforeForgedSequence(ring, 18)
        },
        // Version 3 delivers this one cut short, in silence: the record still ends where its
        // successor starts, which is all the look-ahead sees.
        Damage(name: "a message's length shortened by a byte inside its record (I8)", checkedOnly: true) { ring in
            let victim = try #require(ring.records.filter { $0.kind == 1 }.dropFirst(20).first { $0.length >= 16 })
            let k = ring.records.filter { $0.kind == 1 }.firstIndex { $0.position == victim.position }!
            ring.setRecordWord(victim.position, 0, (victim.length - 1) | 1 << 32)
            return .readsThenStops(readable: k)
        },
    ]

    @Test(arguments: damages, formats)
    func everyConsumerGetsCorrectDataOrCorrupted(damage: Damage, records: MessageRecordFormat) throws {
        if damage.checkedOnly && !records.isChecked { return }
        var ring = try makeRing(records)
        let pristine = ring
        let expectation = try damage.apply(&ring)
        try ring.save()
        let context = "\(damage.name), version \(records.version): expected \(expectation)"
        let oldest = Int(try Self.message(pristine, 0).sequence)

        // A reader from the oldest message.
        let (delivered, missed, failure) = readAll { () throws(CBuffError) in try directory.openMessageReader("logs") }
        #expect(missed == 0, "a loss that never happened: \(context)")
        switch expectation {
        case .refused:
            #expect(delivered.isEmpty && failure?.code == .corrupted, "\(context): \(delivered.count) delivered, \(failure.map { "\($0)" } ?? "no error")")
        case .readsThenStops(let readable):
            #expect(failure?.code == .corrupted, "\(context): \(failure.map { "\($0)" } ?? "no error")")
            #expect(delivered.map(\.sequence) == (0..<readable).map { UInt64(oldest + $0) }, "\(context)")
            #expect(delivered.map(\.text) == (0..<readable).map { Self.text(oldest + $0) }, "\(context)")
        }
        if let failure { #expect(failure.message.contains("damaged") && !failure.message.contains("\n"), "\(failure)") }

        // A named reader, which committed 8 messages before the damage, and `status`.
        switch expectation {
        case .refused:
            expectCorrupted(context) { _ = try directory.openMessageReader("logs", named: "kept") }
            #expect(try directory.status(of: "logs").problem?.code == .corrupted, "\(context)")
        case .readsThenStops(let readable):
            let (read, missed, failure) = readAll { () throws(CBuffError) in
                var named = try directory.openMessageReader("logs", named: "kept")
                named.commitsOnRead = false
                return named
            }
            #expect(missed == 0, "\(context)")
            #expect(read.map(\.sequence) == (oldest + 8..<oldest + readable).map(UInt64.init), "\(context)")
            #expect(failure?.code == .corrupted, "\(context): the named reader read past the damage")
            #expect(try directory.status(of: "logs").problem == nil, "\(context): the header and the records it names are sound")
        }

        // The command line: tail and pop print what precedes the damage, then exit 65.
        for arguments in [["tail", "logs"], ["pop", "logs", "-n", "100"]] {
            let outcome = try run("cbuff", ["--dir", dir] + arguments, timeout: 60)
            let printed = outcome.lines
            switch expectation {
            case .refused:
                #expect(outcome.status == 65 && printed.isEmpty, "\(arguments): \(context): \(outcome)")
            case .readsThenStops(let readable):
                #expect(outcome.status == 65 && printed == (0..<readable).map { Self.text(oldest + $0) }, "\(arguments): \(context): \(outcome)")
            }
            #expect(outcome.stderr.split(separator: "\n").count == 1 && outcome.stderr.contains("damaged")
                    && !outcome.stderr.contains("skipped"), "\(arguments): \(context): \(outcome)")
        }
        let inspect = try run("cbuff", ["--dir", dir, "inspect", "logs"], timeout: 60)
        #expect(inspect.status == (expectation.isRefused ? 65 : 0), "\(context): \(inspect)")

        // A take-over refuses a file that contradicts itself before it writes anything.
        if expectation.isRefused {
            expectCorrupted(context) { _ = try directory.takeOverMessages("logs") }
            let push = try run("cbuff", ["--dir", dir, "push", "logs", "after"], timeout: 60)
            #expect(push.status == 65 && push.stderr.contains("damaged"), "\(context): \(push)")
            #expect(try RingBytes(path: ring.path).bytes == ring.bytes, "\(context): a refused take-over wrote into the file")
        }
    }

    /// A take-over continues the sequence from the ring's state, so it proves the whole chain
    /// first (`MessageArea.proveChain`): every record from the oldest to `published` the
    /// consecutive successor of the one before, ending there with the count the header gives.
    /// A ring damaged in the middle, or whose count was forged where I5 takes it on trust (the
    /// last record taken by a claim, or a write started after it), is refused before anything
    /// is written. (Before, the first was taken over and written into up to the damage, the
    /// others continued from the forged count, publishing sequences the ring already held.)
    @Test(arguments: ["sequence", "padding", "kind", "count, last record taken", "count, a write started", "body"], formats)
    func aTakeOverProvesTheWholeChainBeforeItWrites(kind: String, records: MessageRecordFormat) throws {
        if kind == "body" && !records.isChecked { return }          // only a check word sees it
        var ring = try makeRing(records)
        let victim = try Self.message(ring, 12)
        let oldest = try Self.message(ring, 0)
        switch kind {
        case "sequence": ring.setRecordWord(victim.position, 1, victim.sequence + 3)
        case "padding": ring.setRecordWord(victim.position, 0, (ring.words - victim.position % ring.words) | 2 << 32)
        case "kind": ring.setRecordWord(victim.position, 0, 7 << 32)
        case "body": ring.flipByte(of: victim, at: 0)
        case "count, last record taken":
            // The last record said to be one a claim took (below claimed − W): a writer leaves
            // that only with a claim unpublished and the tail at published, the ring empty.
            ring.setHeader(RingLayout.Offset.lastRecordStart, 0)
            ring.setHeader(RingLayout.Offset.publishedMessages, oldest.sequence + 1)
        default:
            ring.setHeader(RingLayout.Offset.claimed(.overwrite), ring.published + 40)
            ring.setHeader(RingLayout.Offset.lastRecordStart, ring.published)
            ring.setHeader(RingLayout.Offset.publishedMessages, oldest.sequence + 1)
        }
        try ring.save()
        let before = ring.bytes
        expectCorrupted(kind) { _ = try directory.takeOverMessages("logs") }
        let push = try run("cbuff", ["--dir", dir, "push", "logs", "after"], timeout: 60)
        #expect(push.status == 65 && push.stderr.contains("damaged"), "\(kind): \(push)")
        #expect(try RingBytes(path: ring.path).bytes == before, "\(kind): a refused take-over wrote into the file")
    }
}

/// The messages a reader that `open` makes delivers until it has none or fails, what it
/// counted as missed, and why it stopped (or could not open), if not for want of messages.
func readAll(_ open: () throws(CBuffError) -> MessageReader) -> (messages: [Message], missed: UInt64, failure: CBuffError?) {
    var messages: [Message] = []
    var reader: MessageReader
    switch Result(catching: open) {
    case .success(let opened): reader = opened
    case .failure(let error): return ([], 0, error)
    }
    while messages.count < 200 {
        switch Result(catching: { () throws(CBuffError) in try reader.pop() }) {
        case .success(let message?): messages.append(message)
        case .success(nil): return (messages, reader.missedCount, nil)
        case .failure(let error): return (messages, reader.missedCount, error)
        }
    }
    return (messages, reader.missedCount, nil)
}

/// Expects `body` to throw `corrupted` (for bodies that make a non-copyable value).
func expectCorrupted(_ context: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected corrupted, got nothing: \(context)", sourceLocation: sourceLocation)
    } catch let error as CBuffError {
        #expect(error.code == .corrupted, "\(context): \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected corrupted, got \(error): \(context)", sourceLocation: sourceLocation)
    }
}

extension DamagedMessageRingTests.Expectation {
    var isRefused: Bool { if case .refused = self { true } else { false } }
}

/// A message ring file's bytes, read and written whole, with its words and records by position
/// (the format of RingFileFormat.md, "Message rings"): the tests' way to damage one precisely.
struct RingBytes: Sendable {
    let path: String
    var bytes: [UInt8]

    init(path: String) throws {
        self.path = path
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func save() throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func word(at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }

    mutating func setWord(at offset: Int, _ value: UInt64) {
        for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }

    func header(_ offset: Int) -> UInt64 { word(at: offset) }
    mutating func setHeader(_ offset: Int, _ value: UInt64) { setWord(at: offset, value) }

    var words: UInt64 { word(at: 464) / 8 }
    /// Whether its records carry a check word (format version 4).
    var isChecked: Bool { word(at: 8) & 0xFFFF_FFFF == 4 }
    /// Words of a record header: 3 in version 3, 4 in version 4.
    var headerWords: UInt64 { isChecked ? 4 : 3 }
    func recordWords(_ length: UInt64) -> UInt64 { headerWords + (length + 7) / 8 }
    var maxRecordWords: UInt64 { recordWords(word(at: 472) & 0xFFFF_FFFF) }
    var published: UInt64 { header(RingLayout.Offset.published) }
    var claimed: UInt64 { header(RingLayout.Offset.claimed(.overwrite)) }
    var tail: UInt64 { header(RingLayout.Offset.messageTail) }
    var lastRecordStart: UInt64 { header(RingLayout.Offset.lastRecordStart) }

    /// The byte offset in the file of word `position` of the data area.
    func offset(of position: UInt64) -> Int { 4096 + Int(position % words) * 8 }

    func recordWord(_ position: UInt64, _ index: Int) -> UInt64 { word(at: offset(of: position) + 8 * index) }
    mutating func setRecordWord(_ position: UInt64, _ index: Int, _ value: UInt64) { setWord(at: offset(of: position) + 8 * index, value) }

    struct Record: Sendable {
        let position: UInt64
        let kind: UInt64
        let length: UInt64
        let sequence: UInt64
    }

    /// The records from the tail to `published`, as an intact ring has them.
    var records: [Record] {
        var found: [Record] = []
        var position = tail
        while position < published {
            let first = recordWord(position, 0)
            let kind = first >> 32, length = first & 0xFFFF_FFFF
            found.append(Record(position: position, kind: kind, length: length, sequence: kind == 1 ? recordWord(position, 1) : 0))
            position += kind == 1 ? recordWords(length) : length
        }
        return found
    }

    /// The file offset of byte `index` of `record`'s message.
    func bodyOffset(_ record: Record, _ index: Int) -> Int { offset(of: record.position) + Int(headerWords) * 8 + index }

    mutating func flipByte(of record: Record, at index: Int) {
        bytes[bodyOffset(record, index)] ^= 0x20
    }

    /// `to`'s message bytes replaced by the first ones of `from`'s (a stale page under its header).
    mutating func copyBody(from: Record, to: Record) {
        for index in 0..<Int(to.length) { bytes[bodyOffset(to, index)] = bytes[bodyOffset(from, index)] }
    }
}
