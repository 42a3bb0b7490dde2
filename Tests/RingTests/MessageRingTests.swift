import Foundation
import Synchronization
import Testing
import SharedRingCommon
@testable import SharedRingProtocol

/// The message ring's protocol in one process, over an anonymous mapping: records, padding at
/// the wrap, lapped readers checked byte by byte and counting exactly what they missed (with a
/// writer thread racing them), crash points of the writer, and damaged records. Seeds are fixed
/// and printed with every failure.
@Suite struct MessageRingTests {
    /// A deterministic generator (SplitMix64).
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    }

    /// The length and bytes of message `sequence`: a length from the seed, every byte derived
    /// from the sequence and its index, so that a byte from another message or a torn copy fails.
    static func length(of sequence: UInt64, max: Int, seed: UInt64) -> Int {
        var random = Random(state: sequence ^ seed)
        return random.below(max + 1)
    }

    static func byte(_ sequence: UInt64, _ index: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: sequence &* 31 &+ UInt64(index) &* 7 &+ 1)
    }

    static func push(_ publisher: inout MessagePublisher, max: Int, seed: UInt64) {
        let sequence = publisher.nextSequence
        let length = length(of: sequence, max: max, seed: seed)
        let published = publisher.publish(length: length, time: sequence &* 1000) { bytes in
            for i in 0..<length { bytes.storeBytes(of: byte(sequence, i), toByteOffset: i, as: UInt8.self) }
        }
        #expect(published, "\(publisher.damage.map { "\($0)" } ?? "")")
    }

    /// Reads one message, checking its bytes; nil when caught up.
    static func pop(_ cursor: inout MessageCursor, max: Int, seed: UInt64, _ context: String,
                    sourceLocation: SourceLocation = #_sourceLocation) -> UInt64? {
        switch cursor.read({ Array($0) }) {
        case .message(let sequence, let time, let bytes):
            let expected = (0..<length(of: sequence, max: max, seed: seed)).map { byte(sequence, $0) }
            #expect(bytes == expected, "message \(sequence) has other bytes: \(context)", sourceLocation: sourceLocation)
            #expect(time == sequence &* 1000, "\(context)", sourceLocation: sourceLocation)
            return sequence
        case .caughtUp: return nil
        case .damaged:
            Issue.record("damaged: \(cursor.damage.map { "\($0)" } ?? ""): \(context)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// Both record layouts (version 3's, version 4's checked ones), each with its largest message.
    static let formats: [(MessageRecordFormat, Int, Int)] = [MessageRecordFormat.unchecked, .checked].flatMap { records in
        [(4096, 200), (4096, 2048 - records.headerSize), (8192, 24), (65536, 0), (65536, 3000)].map { (records, $0.0, $0.1) }
    }

    @Test(arguments: formats)
    func messagesComeBackWholeAcrossWrapsAndLappedReadersCountExactly(records: MessageRecordFormat, capacity: Int, max: Int) throws {
        let seed: UInt64 = 0xC0FF_EE00 ^ UInt64(capacity) ^ UInt64(max)
        let ring = try InMemoryRing(messageCapacity: capacity, maxMessage: max, records: records)
        var publisher = try ring.messagePublisher()
        var random = Random(state: seed)
        var slow = try ring.messageCursor(.oldest)     // reads a little, often lapped
        var fast = try ring.messageCursor(.oldest)     // reads everything after each push
        var slowSeen: UInt64 = 0
        var lastSlow: UInt64?
        for step in 0..<3000 {
            Self.push(&publisher, max: max, seed: seed)
            let context = "seed \(seed), step \(step)"
            #expect(Self.pop(&fast, max: max, seed: seed, context) == UInt64(step))
            #expect(Self.pop(&fast, max: max, seed: seed, context) == nil)
            if random.below(7) == 0 {
                for _ in 0..<random.below(4) {
                    guard let sequence = Self.pop(&slow, max: max, seed: seed, context) else { break }
                    if let lastSlow { #expect(sequence > lastSlow, "\(context)") }
                    lastSlow = sequence
                    slowSeen += 1
                }
            }
        }
        while let sequence = Self.pop(&slow, max: max, seed: seed, "draining, seed \(seed)") { lastSlow = sequence; slowSeen += 1 }
        #expect(fast.missed == 0 && fast.nextSequence == 3000)
        // Every sequence was either delivered or counted as missed, exactly once.
        #expect(slowSeen + slow.missed == 3000, "seen \(slowSeen), missed \(slow.missed), seed \(seed)")
        #expect(lastSlow == 2999)
        // A reader starting now at the oldest gets the oldest intact message, not the newest.
        var late = try ring.messageCursor(.oldest)
        let first = try #require(Self.pop(&late, max: max, seed: seed, "late reader"))
        let words = UInt64(capacity / 8)
        #expect(ring.published - ring.messageArea.oldestIntact(claimed: ring.claimed) <= words)
        var count: UInt64 = 1
        while Self.pop(&late, max: max, seed: seed, "late reader") != nil { count += 1 }
        #expect(first + count == 3000 && late.missed == 0)
        // The bytes held: every record from the oldest intact one is in the ring, so at least half
        // the ring's records (each at most half its capacity) are still readable.
        #expect(count >= 1)
    }

    @Test func aRecordThatWouldCrossTheEndIsPrecededByPadding() throws {
        let ring = try InMemoryRing(messageCapacity: 4096, maxMessage: 1000, records: .unchecked)
        var publisher = try ring.messagePublisher()
        // 512 words; records of 3 + 125 = 128 words: four fill the ring exactly, the fifth wraps
        // with no padding. Three more reach offset 384, one of 3 + 1 words offset 388: the next
        // 128-word record does not fit in the 124 words left, so a padding record fills them.
        for _ in 0..<7 { #expect(publisher.publish(length: 1000, time: 0) { _ in }) }
        #expect(ring.published == 1024 - 128)
        #expect(publisher.publish(length: 8, time: 0) { _ in })
        #expect(ring.published == 900)
        #expect(publisher.publish(length: 1000, time: 0) { _ in })
        #expect(ring.published == 900 + 124 + 128)
        let area = ring.messageArea
        #expect(area.firstWord(at: 900) == 124 | 2 << 32)                    // padding to the end
        #expect(area.firstWord(at: 1024) == 1000 | 1 << 32)                 // the record, at offset 0
        #expect(area.stamp(at: 1024).sequence == 8)
        var reader = try ring.messageCursor(.oldest)
        var sequences: [UInt64] = []
        while case .message(let sequence, _, _) = reader.read({ _ in () }) { sequences.append(sequence) }
        #expect(sequences.last == 8 && sequences == Array(sequences[0]...8))
        // The tail moved past every record the claims reached.
        #expect(ring.header.messageTail.pointee.load(ordering: .relaxed) >= ring.claimed - 512)
    }

    @Test func aWriterThreadRacingReadersNeverHandsOutATornMessage() async throws {
        let seed: UInt64 = 0x7E57_0001
        let capacity = 8192, max = 700, total: UInt64 = 200_000
        let ring = try InMemoryRing(messageCapacity: capacity, maxMessage: max)
        final class Flag: Sendable { let value = Atomic<Bool>(false) }
        let done = Flag()
        let header = ring.header
        let area = ring.messageArea
        guard case .consistent(let state) = area.observe(header) else { Issue.record("a new ring is not consistent"); return }
        // The reader exists before the first message, so that every one is either delivered or
        // counted (one that opened later would start at whatever was oldest then).
        var cursor = try ring.messageCursor(.oldest)
        let writer = Thread {
            var publisher = MessagePublisher(area: area, header: header, fenceBeforeWaiterCheck: false, state: state)
            while publisher.nextSequence < total { Self.push(&publisher, max: max, seed: seed) }
            done.value.store(true, ordering: .releasing)
        }
        writer.start()
        var delivered: UInt64 = 0
        var last: UInt64?
        var failures = 0
        reading: while true {
            let finished = done.value.load(ordering: .acquiring)
            switch cursor.read({ Array($0) }) {
            case .message(let sequence, let time, let bytes):
                let expected = (0..<Self.length(of: sequence, max: max, seed: seed)).map { Self.byte(sequence, $0) }
                if bytes != expected || time != sequence &* 1000 || (last.map { sequence <= $0 } ?? false) { failures += 1 }
                last = sequence
                delivered += 1
            case .caughtUp:
                if finished { break reading }
            case .damaged:
                Issue.record("damaged: \(cursor.damage.map { "\($0)" } ?? ""), seed \(seed)")
                failures += 1
                break reading
            }
        }
        #expect(failures == 0, "seed \(seed)")
        #expect(last == total - 1)
        #expect(delivered + cursor.missed == total, "delivered \(delivered), missed \(cursor.missed), seed \(seed)")
    }

    // MARK: Crash points

    @Test func aWriterTakingOverContinuesTheSequenceWhereverItsPredecessorDied() throws {
        for crash in ["after W4, before the count", "after W1, before W4", "between records", "after lastRecordStart"] {
            let ring = try InMemoryRing(messageCapacity: 4096, maxMessage: 1000)
            var first = try ring.messagePublisher()
            for _ in 0..<20 { Self.push(&first, max: 300, seed: 1) }       // several laps of a 4 KiB ring
            let header = ring.header
            switch crash {
            case "after W4, before the count":
                header.publishedMessages.pointee.store(19, ordering: .relaxed)
            case "after W1, before W4":
                ring.claimWithoutPublishing(40)
            case "after lastRecordStart":
                // The next record would start at `published` (it fits before the end): where
                // the dead writer said it began.
                ring.claimWithoutPublishing(40)
                header.lastRecordStart.pointee.store(ring.published, ordering: .relaxed)
            default:
                break
            }
            var second = try ring.messagePublisher()
            #expect(second.nextSequence == 20, "\(crash)")
            Self.push(&second, max: 300, seed: 1)
            var reader = try ring.messageCursor(.oldest)
            var sequences: [UInt64] = []
            while let sequence = Self.pop(&reader, max: 300, seed: 1, crash) { sequences.append(sequence) }
            #expect(sequences.last == 20, "\(crash): \(sequences)")
            #expect(sequences == Array((sequences.first ?? 0)...20), "\(crash): \(sequences)")
        }
    }

    @Test func aReaderAtTheLatestLearnsItsSequenceFromTheFirstMessage() throws {
        let ring = try InMemoryRing(messageCapacity: 4096, maxMessage: 100)
        var publisher = try ring.messagePublisher()
        for _ in 0..<50 { Self.push(&publisher, max: 100, seed: 2) }
        var reader = try ring.messageCursor(.latest)
        #expect(reader.nextSequence == 50)
        #expect(Self.pop(&reader, max: 100, seed: 2, "latest") == nil)
        Self.push(&publisher, max: 100, seed: 2)
        #expect(Self.pop(&reader, max: 100, seed: 2, "latest") == 50)
        #expect(reader.missed == 0)
    }

    /// The stores one publish makes, in the writer's program order, as (byte offset, 8 bytes)
    /// groups of the mapping: the difference between `before` and `after`. A writer paused (or
    /// killed) between any two groups leaves the ring with a prefix of them applied.
    static func storesOfOnePublish(_ before: [UInt8], _ after: [UInt8], area words: UInt64) -> [[(offset: Int, word: UInt64)]] {
        func word(_ bytes: [UInt8], _ offset: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) } }
        let data = RingLayout.headerSize
        let changed = stride(from: 0, to: after.count, by: 8).filter { word(before, $0) != word(after, $0) }
        func header(_ offset: Int) -> [(offset: Int, word: UInt64)] { changed.contains(offset) ? [(offset, word(after, offset))] : [] }
        let start = word(before, RingLayout.Offset.published), record = word(after, RingLayout.Offset.lastRecordStart)
        let padding = record != start ? [(offset: data + Int(start % words) * 8, word: word(after, data + Int(start % words) * 8))] : []
        let first = data + Int(record % words) * 8
        let body = changed.filter { $0 >= data && $0 != first && $0 != padding.first?.offset }.map { (offset: $0, word: word(after, $0)) }
        return [header(RingLayout.Offset.messageTail), header(RingLayout.Offset.claimed(.overwrite)), padding,
                header(RingLayout.Offset.lastRecordStart), body, [(first, word(after, first))],
                header(RingLayout.Offset.published) + header(RingLayout.Offset.lastWriteAt), header(RingLayout.Offset.publishedMessages)]
    }

    /// No state a writer passes through is damage: paused or killed between any two of its
    /// stores, across wraps and padding, the ring is consistent, a reader from the oldest reads
    /// consecutive sequences to the last published, and a writer taking over continues the count.
    @Test func everyStateAWriterPassesThroughIsConsistent() throws {
        let seed: UInt64 = 0x57A7_E500
        let ring = try InMemoryRing(messageCapacity: 4096, maxMessage: 200)
        let scratch = try InMemoryRing(messageCapacity: 4096, maxMessage: 200)
        var publisher = try ring.messagePublisher()
        for step in 0..<200 {
            let before = Array(ring.bytes)
            Self.push(&publisher, max: 200, seed: seed)
            let after = Array(ring.bytes)
            let groups = Self.storesOfOnePublish(before, after, area: ring.messageArea.words)
            for applied in 0...groups.count {
                let context = "seed \(seed), publish \(step), \(applied) of \(groups.count) store groups"
                scratch.bytes.copyBytes(from: before)
                for (offset, word) in groups.prefix(applied).joined() {
                    scratch.bytes.storeBytes(of: word.littleEndian, toByteOffset: offset, as: UInt64.self)
                }
                guard case .consistent(let state) = scratch.messageArea.observe(scratch.header) else {
                    Issue.record("\(scratch.messageArea.observe(scratch.header)): \(context)")
                    continue
                }
                #expect(state.oldestSequence != nil, "\(context)")
                var reader = try scratch.messageCursor(.oldest)
                var last: UInt64?
                while let sequence = Self.pop(&reader, max: 200, seed: seed, context) {
                    if let last { #expect(sequence == last + 1, "\(context)") }
                    last = sequence
                }
                #expect(reader.missed == 0 && (last.map { $0 + 1 } ?? state.next) == state.next, "\(context)")
                // A writer taking over here continues the count, and a reader at the end gets it.
                var successor = try scratch.messagePublisher()
                #expect(successor.nextSequence == state.next, "\(context)")
                Self.push(&successor, max: 200, seed: seed)
                #expect(Self.pop(&reader, max: 200, seed: seed, context) == state.next, "\(context)")
            }
        }
    }

    // MARK: Damage

    /// Every load a reader or a writer makes through `MessageArea` stays inside the data area,
    /// at any position and whatever the words there say: the area is mapped right before a page
    /// that may not be touched (a guard page, as a thread stack's), so a load past its end kills
    /// the test. (The look-ahead before a delivery read the word after a message ending one
    /// word before the end of the area, where only one word of padding fits: past the mapping.)
    @Test(arguments: [UInt64(0), 0x0000_0001_0000_0000, 0x0000_0002_0000_0001, .max])
    func noLoadAtAnyPositionLeavesTheDataArea(filling word: UInt64) throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let capacity = 2 * page
        let mapping = try #require(mmap(nil, capacity + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        #expect(mapping != MAP_FAILED)
        defer { munmap(mapping, capacity + page) }
        #expect(mprotect(mapping + capacity, page, PROT_NONE) == 0)
        let words = mapping.bindMemory(to: UInt64.self, capacity: capacity / 8)
        for index in 0..<capacity / 8 { words[index] = word }
        let area = MessageArea(base: mapping, geometry: try MessageGeometry(capacity: capacity, maxMessage: capacity / 2 - 32))
        var seen: UInt64 = 0
        for position in UInt64(0)..<UInt64(2 * capacity / 8) {
            seen &+= area.firstWord(at: position) &+ area.sequence(at: position)
            let stamp = area.stamp(at: position)
            seen &+= stamp.sequence &+ stamp.time
            if case .message(_, let recordWords)? = area.decode(area.firstWord(at: position), at: position) { seen &+= recordWords }
        }
        #expect(seen != 1, "every load ran (\(seen))")
    }

    @Test func damagedRecordsAreReportedNeverFollowedOutOfTheRing() throws {
        let seed: UInt64 = 0xDA3A_6E00
        var random = Random(state: seed)
        for round in 0..<300 {
            let ring = try InMemoryRing(messageCapacity: 4096, maxMessage: 2000)
            var publisher = try ring.messagePublisher()
            for _ in 0..<(1 + random.below(30)) { Self.push(&publisher, max: 2000, seed: seed) }
            // Damage 1–8 bytes of the data area, mostly in record headers' first words.
            let data = ring.bytes.baseAddress! + ring.layout.slotsOffset
            for _ in 0...random.below(8) {
                data.storeBytes(of: UInt8(truncatingIfNeeded: random.next()), toByteOffset: random.below(4096), as: UInt8.self)
            }
            // Damage where a reader starts is found before it reads anything.
            guard var reader = try? ring.messageCursor(.oldest) else { continue }
            var reads = 0
            loop: while reads < 100 {
                reads += 1
                switch reader.read({ bytes in bytes.count }) {
                case .message(_, _, let count): #expect(count <= 2000, "round \(round), seed \(seed)")
                case .caughtUp, .damaged: break loop
                }
            }
            #expect(reads < 100, "round \(round), seed \(seed): a damaged ring made the reader loop")
        }
    }
}
