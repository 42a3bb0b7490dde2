import Testing
import SharedRingCommon
@testable import SharedRingProtocol

/// Version 4's item slots (`Publication.swift`, "Version 4"), in one process over an anonymous
/// mapping: the layout, what a killed writer leaves at each of its steps and what its successor
/// makes of it, a damaged slot, and a stamp that aliases a reader's sequence 2^31 items later.
@Suite struct CheckedSlotTests {
    static func value(_ sequence: UInt64) -> UInt64 { PublicationGridTests.value(sequence) }

    static func ring(length: Int = 8, at start: UInt64 = 0) throws -> InMemoryRing {
        try InMemoryRing(length: length, at: start, checkedSlots: true)
    }

    static func drain(_ cursor: inout RingCursor) -> [UInt64] {
        var values: [UInt64] = []
        while let value = PublicationGridTests.pop(&cursor) { values.append(value) }
        return values
    }

    /// What a writer killed inside a batch of `count` items from `published` leaves: V1 done
    /// (every word 0), W1 done, the items written, then the words of `sealed` (offsets into the
    /// batch) stored; `published` never moved.
    static func dieInsideBatch(_ ring: borrowing InMemoryRing, count: Int, sealed: [Int]) {
        let first = ring.published
        ring.claimWithoutPublishing(UInt64(count))
        for k in 0..<count {
            ring.slots.payload(ring.slots.index(of: first + UInt64(k))).storeBytes(of: value(first + UInt64(k)), as: UInt64.self)
        }
        for k in sealed {
            ring.slots.seal(ring.slots.payload(ring.slots.index(of: first + UInt64(k))), sequence: first + UInt64(k))
        }
    }

    @Test func aSlotIsTheItemThenItsWordAndLengthIsBoundedBy2To30() throws {
        let layout = try RingLayout(itemSize: 8, length: 4, policy: .overwrite, checkedSlots: true)
        #expect(layout.version == 4)
        #expect(layout.slotStride == 16)
        #expect(layout.checkWordOffset == 8)
        #expect(layout.fileSize == RingLayout.headerSize + 4 * 16)
        let odd = try RingLayout(itemSize: 13, length: 4, policy: .block, checkedSlots: true)
        #expect(odd.slotStride == 24)
        #expect(odd.checkWordOffset == 16)
        let wide = try RingLayout(itemSize: 8, length: 4, policy: .overwrite, itemType: try ItemType(alignment: 64, name: nil, fields: nil), checkedSlots: true)
        #expect(wide.slotStride == 64)
        #expect(wide.checkWordOffset == 8)
        #expect(throws: CBuffFailure.self) { try RingLayout(itemSize: 8, length: (1 << 30) + 1, policy: .overwrite, checkedSlots: true) }
        // The header says version 4 and reads back as the same geometry.
        let header = layout.encodeHeader(createdAt: 1)
        let decoded = try RingLayout(validating: header + [UInt8](repeating: 0, count: layout.fileSize - header.count), fileSize: layout.fileSize, path: "x")
        #expect(decoded == layout)
    }

    @Test func aBatchWhoseFirstWordWasSealedIsDeliveredAndItsSuccessorContinuesAfterIt() throws {
        let ring = try Self.ring()
        var publisher = ring.publisher()
        PublicationGridTests.push(&publisher, 0..<3)
        var cursor = ring.cursor(.at(0))
        #expect(Self.drain(&cursor) == (0..<3).map(Self.value))
        // Killed after V4 (every word stored), before W4: readers go by the words.
        Self.dieInsideBatch(ring, count: 3, sealed: [1, 2, 0])
        #expect(ring.published == 3)
        #expect(Self.drain(&cursor) == (3..<6).map(Self.value))
        var successor = ring.publisher()
        #expect(successor.nextSequence == 6)
        #expect(ring.published == 6)
        PublicationGridTests.push(&successor, 6..<7)
        #expect(Self.drain(&cursor) == [Self.value(6)])
        #expect(cursor.missed == 0)
    }

    @Test func aBatchWhoseFirstWordWasNotSealedIsNeverDeliveredAndItsLaterWordsAreZeroed() throws {
        let ring = try Self.ring()
        var publisher = ring.publisher()
        PublicationGridTests.push(&publisher, 0..<2)
        var cursor = ring.cursor(.at(0))
        #expect(Self.drain(&cursor) == (0..<2).map(Self.value))
        // Killed inside V3: the words of sequences 3 and 4 stored, not 2's (the batch's first).
        Self.dieInsideBatch(ring, count: 4, sealed: [1, 2])
        #expect(Self.drain(&cursor).isEmpty)          // 2 is not ready, so nothing after it is read
        var successor = ring.publisher()
        #expect(successor.nextSequence == 2)
        for sequence: UInt64 in 3...4 {               // the strays, zeroed before anything is written
            #expect(ring.slots.word(ring.slots.payload(ring.slots.index(of: sequence))).pointee.load(ordering: .relaxed) == 0)
        }
        // The successor writes other values under 2 and 3: a reader gets those, never the dead one's.
        successor.publish { $0.storeBytes(of: 0xAAAA, as: UInt64.self) }
        #expect(Self.drain(&cursor) == [0xAAAA])
        successor.publish { $0.storeBytes(of: 0xBBBB, as: UInt64.self) }
        #expect(Self.drain(&cursor) == [0xBBBB])
        #expect(cursor.missed == 0)
    }

    /// After a machine crash any page may be newer than the header and the pages between: here
    /// sequence 7's slot holds its sealed item (a page that reached the disk) beyond two slots
    /// that never did. The successor must zero that word before it writes 5, 6 and 7 itself, or
    /// a reader would deliver the old 7 under the sequence the successor reuses.
    @Test func aSealedSlotBeyondAGapIsZeroedBeforeTheSuccessorReusesItsSequence() throws {
        let ring = try Self.ring()
        var publisher = ring.publisher()
        PublicationGridTests.push(&publisher, 0..<3)
        Self.dieInsideBatch(ring, count: 2, sealed: [1, 0])               // 3 and 4 reached readers
        let seven = ring.slots.payload(ring.slots.index(of: 7))
        seven.storeBytes(of: 0xDEAD, as: UInt64.self)
        ring.slots.seal(seven, sequence: 7)
        var successor = ring.publisher()
        #expect(successor.nextSequence == 5)
        #expect(ring.slots.word(seven).pointee.load(ordering: .relaxed) == 0)
        var cursor = ring.cursor(.at(0))
        #expect(Self.drain(&cursor) == (0..<5).map(Self.value))
        successor.publish { $0.storeBytes(of: 0xA5, as: UInt64.self) }
        successor.publish { $0.storeBytes(of: 0xA6, as: UInt64.self) }
        #expect(Self.drain(&cursor) == [0xA5, 0xA6])                      // and not the old 7
        successor.publish { $0.storeBytes(of: 0xA7, as: UInt64.self) }
        #expect(Self.drain(&cursor) == [0xA7])
        #expect(cursor.missed == 0)
    }

    /// A stamp over bytes it does not vouch for (a crash's torn slot, a forged word) does not
    /// make a successor continue past it: readers count that slot as lost, and the successor
    /// writes its sequence again.
    @Test func aSuccessorDoesNotStepOverAStampWithoutItsBytes() throws {
        let ring = try Self.ring()
        var publisher = ring.publisher()
        PublicationGridTests.push(&publisher, 0..<2)
        Self.dieInsideBatch(ring, count: 1, sealed: [0])                  // 2 sealed, then its byte changes
        ring.slots.payload(2).storeBytes(of: 0x77, toByteOffset: 5, as: UInt8.self)
        let successor = ring.publisher()
        #expect(successor.nextSequence == 2)
    }

    @Test(arguments: [false, true])
    func aDamagedSlotIsSkippedAndCountedNeverDelivered(batch: Bool) throws {
        let ring = try Self.ring()
        var publisher = ring.publisher()
        PublicationGridTests.push(&publisher, 0..<6)
        // One byte of item 2 changes under its word (a stale or torn page after a machine crash,
        // or a stray write), and item 4's word is zeroed (a page of zeros).
        ring.slots.payload(2).storeBytes(of: 0xFF, toByteOffset: 3, as: UInt8.self)
        ring.slots.word(ring.slots.payload(4)).pointee.store(0, ordering: .relaxed)
        var cursor = ring.cursor(.at(0))
        var values: [UInt64] = []
        if batch {
            var buffer = [UInt64](repeating: 0, count: 8)
            while true {
                let slots = ring.slots
                let count = buffer.withUnsafeMutableBufferPointer { target in
                    cursor.read(upTo: 8) { index, run, offset in
                        for i in 0..<run { target[offset + i] = slots.payload(index + i).load(as: UInt64.self) }
                    }
                }
                if count == 0 { break }
                values += buffer[0..<count]
            }
        } else {
            values = Self.drain(&cursor)
        }
        #expect(values == [0, 1, 3, 5].map(Self.value))
        #expect(cursor.missed == 2)
    }

    @Test func aStampThatAliasesTheReadersSequenceTwoTo31ItemsLaterIsNotDelivered() throws {
        // Item 2^31 lies in slot 0 of 8 with the stamp of item 0: a reader paused at 0 since
        // would take it for item 0 by the stamp alone.
        let ring = try Self.ring(length: 8, at: 1 << 31)
        var publisher = ring.publisher()
        PublicationGridTests.push(&publisher, (1 << 31)..<((1 << 31) + 1))
        let word = ring.slots.word(ring.slots.payload(0)).pointee.load(ordering: .relaxed)
        #expect(SlotArray.stamps(word, 0))
        var cursor = ring.cursor(.at(0))
        #expect(Self.drain(&cursor) == [Self.value(1 << 31)])
        #expect(cursor.missed == 1 << 31)
    }
}
