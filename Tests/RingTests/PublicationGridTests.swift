import Testing
import SharedRingCommon
import SharedRingProtocol

/// The publication protocol in one process, over an anonymous mapping, at every corner of a
/// small grid: lengths {2, 3, 5, 8, 64} × first sequences {0, L − 1, 2^63, UInt64.max − 2L}.
/// Each case names its parameters, so a failure says which corner broke. A ring "at s" is one
/// whose writer has published everything below s, and whose readers start at s (`.at(s)`, as a
/// named reader that consumed everything resumes); no case pushes more than 2L items, so the
/// last start reaches the end of the sequence space without passing it.
/// (swift-collections' `withEveryDeque` is the model.)
@Suite struct PublicationGridTests {
    static let lengths = [2, 3, 5, 8, 64]

    static func starts(_ length: Int) -> [UInt64] {
        [0, UInt64(length - 1), 1 << 63, UInt64.max - 2 * UInt64(length)]
    }

    /// Every (length, start) pair of the grid, with version 3's slots and with version 4's
    /// (a check word in each: `checked`).
    static let grid: [(length: Int, start: UInt64, checked: Bool)] =
        [false, true].flatMap { checked in lengths.flatMap { length in starts(length).map { (length, $0, checked) } } }

    /// The value pushed for sequence `s` (not `s` itself, so that a value read from the wrong
    /// slot, or a stale one, cannot pass by accident).
    static func value(_ sequence: UInt64) -> UInt64 { sequence ^ 0x5A5A_5A5A_5A5A_5A5A }

    static func push(_ publisher: inout RingPublisher, _ sequences: Range<UInt64>) {
        for sequence in sequences {
            #expect(publisher.nextSequence == sequence)
            publisher.publish { $0.storeBytes(of: value(sequence), as: UInt64.self) }
        }
    }

    static func pushBatch(_ publisher: inout RingPublisher, count: Int) {
        let first = publisher.nextSequence
        let slots = publisher.slots
        publisher.publish(count: count) { index, run, offset in
            for i in 0..<run {
                slots.payload(index + i).storeBytes(of: value(first + UInt64(offset + i)), as: UInt64.self)
            }
        }
    }

    static func pop(_ cursor: inout RingCursor) -> UInt64? {
        cursor.read { $0.load(as: UInt64.self) }
    }

    @Test(arguments: grid)
    func itemsComeBackInOrderFromTheirSlots(length: Int, start: UInt64, checked: Bool) throws {
        let ring = try InMemoryRing(length: length, at: start, checkedSlots: checked)
        var publisher = ring.publisher()
        var cursor = ring.cursor(.at(start))
        #expect(cursor.nextSequence == start)
        #expect(Self.pop(&cursor) == nil)
        // Two rounds of a full ring, read as they come: every slot, every wrap.
        for round in 0..<2 {
            let first = start + UInt64(round * length)
            Self.push(&publisher, first..<first + UInt64(length))
            for sequence in first..<first + UInt64(length) {
                // Item s lives in slot s % length (the format's rule), before it is read.
                let slot = ring.slots.index(of: sequence)
                #expect(slot == Int(sequence % UInt64(length)))
                #expect(ring.slots.payload(slot).load(as: UInt64.self) == Self.value(sequence))
                #expect(Self.pop(&cursor) == Self.value(sequence), "sequence \(sequence)")
            }
            #expect(Self.pop(&cursor) == nil)
        }
        #expect(cursor.missed == 0)
        #expect(ring.published == start + 2 * UInt64(length))
        #expect(ring.claimed == ring.published)
    }

    @Test(arguments: grid)
    func batchesWrapAndReadBackWhole(length: Int, start: UInt64, checked: Bool) throws {
        let ring = try InMemoryRing(length: length, at: start, checkedSlots: checked)
        var publisher = ring.publisher()
        var cursor = ring.cursor(.at(start))
        var expected = start
        // Batch sizes that leave the ring's index at every offset, each read back in one call.
        for count in [1, length - 1, length] where count > 0 {
            Self.pushBatch(&publisher, count: count)
            var read = [UInt64](repeating: 0, count: length)
            let slots = cursor.slots
            let got = read.withUnsafeMutableBufferPointer { buffer in
                cursor.read(upTo: length) { index, run, offset in
                    for i in 0..<run { buffer[offset + i] = slots.payload(index + i).load(as: UInt64.self) }
                }
            }
            #expect(got == count, "batch of \(count)")
            #expect(Array(read.prefix(got)) == (expected..<expected + UInt64(count)).map(Self.value))
            expected += UInt64(count)
        }
        #expect(cursor.nextSequence == expected)
        #expect(cursor.missed == 0)
    }

    @Test(arguments: grid)
    func aLappedReaderCountsExactlyWhatItMissed(length: Int, start: UInt64, checked: Bool) throws {
        for extra in Set([1, 2, length]) {
            let ring = try InMemoryRing(length: length, at: start, checkedSlots: checked)
            var publisher = ring.publisher()
            var cursor = ring.cursor(.at(start))
            Self.push(&publisher, start..<start + UInt64(length + extra))
            // The ring holds the `length` most recent items: the reader skips exactly `extra`.
            #expect(cursor.available == length)
            let first = start + UInt64(extra)
            #expect(Self.pop(&cursor) == Self.value(first), "extra \(extra)")
            #expect(cursor.missed == UInt64(extra))
            var next = first + 1
            while let value = Self.pop(&cursor) {
                #expect(value == Self.value(next))
                next += 1
            }
            #expect(next == start + UInt64(length + extra))
            #expect(cursor.missed == UInt64(extra))
        }
    }

    @Test(arguments: grid)
    func aWriteInterruptedMidwayIsNeverDeliveredAndCountsAsOverwritten(length: Int, start: UInt64, checked: Bool) throws {
        let ring = try InMemoryRing(length: length, at: start, checkedSlots: checked)
        var publisher = ring.publisher()
        Self.push(&publisher, start..<start + UInt64(length))      // full
        // A writer dies after W1 (the claim) of the next item: its slot, the oldest, may be
        // torn. A reader must skip it and count it; the published items after it are intact.
        ring.claimWithoutPublishing(1)
        var cursor = ring.cursor(.at(start))
        #expect(Self.pop(&cursor) == Self.value(start + 1))
        #expect(cursor.missed == 1)
        // A writer taking over resumes at `published` and never lowers the claim.
        var successor = ring.publisher()
        #expect(successor.nextSequence == start + UInt64(length))
        Self.push(&successor, start + UInt64(length)..<start + UInt64(length) + 1)
        #expect(ring.claimed == start + UInt64(length) + 1)
        var rest: [UInt64] = []
        while let value = Self.pop(&cursor) { rest.append(value) }
        #expect(rest == (start + 2...start + UInt64(length)).map(Self.value))
        #expect(cursor.missed == 1)
    }

    @Test(arguments: grid)
    func aSuccessorKeepsAPredecessorsClaimThatRunsSeveralItemsAhead(length: Int, start: UInt64, checked: Bool) throws {
        let ring = try InMemoryRing(length: length, at: start, checkedSlots: checked)
        // A writer dies inside a batch: it claimed `ahead` items and published none of them.
        let ahead = UInt64(length - 1)
        ring.claimWithoutPublishing(ahead)
        var successor = ring.publisher()
        #expect(successor.nextSequence == start)
        // One at a time, then a batch: the claim never drops below what the dead writer claimed
        // (the slots it may have torn stay "overwritten"), and follows the pushes once past it.
        for pushed in 1...ahead {
            Self.push(&successor, start + pushed - 1..<start + pushed)
            #expect(ring.claimed == start + ahead, "after \(pushed) pushes")
            #expect(ring.published == start + pushed)
        }
        Self.pushBatch(&successor, count: 2)
        #expect(ring.claimed == start + ahead + 2)
        Self.push(&successor, start + ahead + 2..<start + ahead + 3)
        #expect(ring.claimed == start + ahead + 3)
        // The ring holds the `length` most recent of the L + 2 items: 2 missed, the rest intact.
        var cursor = ring.cursor(.at(start))
        var values: [UInt64] = []
        while let value = Self.pop(&cursor) { values.append(value) }
        #expect(values == (start + 2..<start + ahead + 3).map(Self.value))
        #expect(cursor.missed == 2)
    }

    @Test func theLastWriteTimeIsStampedOnceEvery1024ItemsAndByABatchThatCrossesTheMark() throws {
        let ring = try InMemoryRing(length: 8, at: 0)
        var publisher = ring.publisher()
        let stamp = ring.header.lastWriteAt
        Self.push(&publisher, 0..<1023)
        #expect(stamp.pointee.load(ordering: .relaxed) == 0)
        Self.push(&publisher, 1023..<1024)                       // reaches the mark
        let first = stamp.pointee.load(ordering: .relaxed)
        #expect(first > 0)
        stamp.pointee.store(0, ordering: .relaxed)
        Self.push(&publisher, 1024..<2045)
        #expect(stamp.pointee.load(ordering: .relaxed) == 0)
        Self.pushBatch(&publisher, count: 5)                      // 2045 ..< 2050 crosses 2048
        #expect(stamp.pointee.load(ordering: .relaxed) >= first)
    }

    @Test(arguments: grid)
    func aReaderStartingAtOldestGetsTheLastLengthItems(length: Int, start: UInt64, checked: Bool) throws {
        let ring = try InMemoryRing(length: length, at: start, checkedSlots: checked)
        var publisher = ring.publisher()
        Self.push(&publisher, start..<start + UInt64(length))
        var cursor = ring.cursor(.oldest)
        #expect(cursor.nextSequence == start)
        Self.push(&publisher, start + UInt64(length)..<start + UInt64(length) + 1)
        // The oldest item present when it opened was overwritten since: one missed.
        #expect(Self.pop(&cursor) == Self.value(start + 1))
        #expect(cursor.missed == 1)
    }

    @Test(arguments: grid)
    func aReaderStartingAtLatestSeesOnlyWhatComesAfter(length: Int, start: UInt64, checked: Bool) throws {
        let ring = try InMemoryRing(length: length, at: start, checkedSlots: checked)
        var publisher = ring.publisher()
        Self.push(&publisher, start..<start + 1)
        var cursor = ring.cursor(.latest)
        #expect(Self.pop(&cursor) == nil)
        Self.push(&publisher, start + 1..<start + 2)
        #expect(Self.pop(&cursor) == Self.value(start + 1))
        // A resuming named reader's cursor from the future is clamped to what was published.
        let resumed = ring.cursor(.at(.max))
        #expect(resumed.nextSequence == start + 2)
    }

    @Test(arguments: grid)
    func aCopyThatRacedTheWriterIsDiscarded(length: Int, start: UInt64, checked: Bool) throws {
        let ring = try InMemoryRing(length: length, at: start, checkedSlots: checked)
        var publisher = ring.publisher()
        var cursor = ring.cursor(.at(start))
        Self.push(&publisher, start..<start + UInt64(length))
        // Between the reader's copy (R2) and its check (R4), the writer laps it: the check
        // sees the new claim, so the copy is thrown away and the next one is of an intact item.
        var raced = false
        let value = cursor.read { payload -> UInt64 in
            let copied = payload.load(as: UInt64.self)
            if !raced {
                raced = true
                Self.push(&publisher, start + UInt64(length)..<start + UInt64(length) + 1)
            }
            return copied
        }
        #expect(value == Self.value(start + 1))
        #expect(cursor.missed == 1)
    }

    struct Abandoned: Error {}

    @Test(arguments: grid)
    func aWriteInPlaceThatThrowsPublishesNothingAndCountsItsSlotAsOverwritten(length: Int, start: UInt64, checked: Bool) throws {
        let ring = try InMemoryRing(length: length, at: start, checkedSlots: checked)
        var publisher = ring.publisher()
        Self.push(&publisher, start..<start + UInt64(length))      // full
        #expect(throws: Abandoned.self) {
            try publisher.publishInPlace { (payload) throws(Abandoned) in
                payload.storeBytes(of: 0xDEAD, as: UInt64.self)     // half a write, then it fails
                throw Abandoned()
            }
        }
        #expect(publisher.nextSequence == start + UInt64(length))
        #expect(ring.published == start + UInt64(length))
        #expect(ring.claimed == start + UInt64(length) + 1)
        // The oldest item's slot was written into: it is gone, and counted.
        var cursor = ring.cursor(.at(start))
        #expect(Self.pop(&cursor) == Self.value(start + 1))
        #expect(cursor.missed == 1)
        // The next write in place takes the same sequence and slot, and publishes it.
        let next = start + UInt64(length)
        publisher.publishInPlace { $0.storeBytes(of: Self.value(next), as: UInt64.self) }
        var rest: [UInt64] = []
        while let value = Self.pop(&cursor) { rest.append(value) }
        #expect(rest == (start + 2...next).map(Self.value))
        #expect(ring.claimed == ring.published)
    }
}
