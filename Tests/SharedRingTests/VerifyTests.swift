import Foundation
import Synchronization
import Testing
import TestSupport
import SharedRing

/// `DataDirectory.verify` (issue 26, `cbuff verify`): every record of a message ring walked and
/// checked, damage reported as spans with the sequences they lose, the walk resumed after them at
/// the next record provable on its own; a ring of items reported as not checked. (Beside a live
/// writer: `MessageProcessTests`.)
@Suite struct VerifyTests {
    let temporary: TemporaryDirectory
    let directory: DataDirectory

    init() throws {
        temporary = try TemporaryDirectory()
        directory = try DataDirectory(path: temporary.path)
    }

    /// Twenty messages "message number N"; the byte offsets of their records in the file.
    func twentyMessages() throws -> [Int] {
        var writer = try directory.createMessageBuffer("m", capacity: 4096, maxMessageSize: 64)
        for index in 1...20 { try writer.push("message number \(index)") }
        writer.close()
        var offsets: [Int] = [], offset = 4096
        for index in 1...20 {
            offsets.append(offset)
            offset += 32 + ("message number \(index)".utf8.count + 7) / 8 * 8
        }
        return offsets
    }

    func damage(at offset: Int, _ bytes: [UInt8]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: temporary.path + "/m.ring"))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }

    @Test func anIntactRingOfMessagesIsOneRun() throws {
        _ = try twentyMessages()
        let found = try directory.verify("m")
        #expect(found.isIntact && found.checksContent && found.holdsMessages)
        #expect(found.intact == [0..<20] && found.written == 20 && found.lost == 0)
    }

    @Test func damageIsSpansOfLostSequencesAndTheWalkResumesAfterThem() throws {
        let records = try twentyMessages()
        try damage(at: records[4] + 40, [0xFF])                 // a body byte: the check word fails
        try damage(at: records[11], [UInt8](repeating: 0, count: 8))   // a zeroed length and kind
        let found = try directory.verify("m")
        #expect(!found.isIntact)
        #expect(found.intact == [0..<4, 5..<11, 12..<20])
        #expect(found.damaged.map(\.lostSequences) == [4..<5, 11..<12])
        #expect(found.damaged.map(\.bytes.lowerBound) == [UInt64(records[4] - 4096), UInt64(records[11] - 4096)])
        #expect(found.damaged[0].problem.contains("check word") && found.lost == 2)
    }

    @Test func damageToTheNewestRecordLosesItAndNothingBefore() throws {
        let records = try twentyMessages()
        try damage(at: records[19] + 33, [0x00])
        let found = try directory.verify("m")
        #expect(found.intact == [0..<19])
        #expect(found.damaged.map(\.lostSequences) == [19..<20])
    }

    @Test func itemsWithoutCheckWordsAreSaidNotToBeChecked() throws {
        var writer = try directory.createBuffer("i", itemSize: 8, length: 16, integrity: .unchecked)
        try writer.push(contentsOf: Array(UInt64(1)...40))
        writer.close()
        let found = try directory.verify("i")
        #expect(!found.checksContent && !found.holdsMessages && found.isIntact)
        #expect(found.intact == [24..<40] && found.written == 40)
    }

    /// A ring of items of version 4 (a check word in every slot) is checked slot by slot: a slot
    /// whose byte changed and a run of zeroed words are reported as damaged spans losing exactly
    /// their sequences, at their places in the file, and everything else as intact.
    @Test func checkedItemsAreCheckedSlotBySlot() throws {
        var writer = try directory.createBuffer("c", itemSize: 8, length: 16, integrity: .checked)
        try writer.push(contentsOf: Array(UInt64(1)...40))                // sequences 0..<40; 24..<40 present
        writer.close()
        #expect(try directory.verify("c").isIntact)
        let path = directory.ringPath(of: "c")
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        func write(_ bytes: [UInt8], atSlotOf sequence: UInt64, offset: UInt64) throws {
            try handle.seek(toOffset: 4096 + (sequence % 16) * 16 + offset)
            try handle.write(contentsOf: Data(bytes))
        }
        try write([0xFF], atSlotOf: 27, offset: 3)                          // an item's byte
        try write([UInt8](repeating: 0, count: 8), atSlotOf: 30, offset: 8)  // two check words zeroed
        try write([UInt8](repeating: 0, count: 8), atSlotOf: 31, offset: 8)
        let found = try directory.verify("c")
        #expect(found.checksContent && !found.holdsMessages && !found.isIntact)
        #expect(found.intact == [24..<27, 28..<30, 32..<40])
        #expect(found.damaged.map(\.lostSequences) == [27..<28, 30..<32])
        let area = found.dataAreaBytes
        let fileOffsets: [UInt64] = found.damaged.map { 4096 + $0.bytes.lowerBound % area }
        #expect(area == 16 * 16 && fileOffsets == [4096 + 11 * 16, 4096 + 14 * 16])
        #expect(found.lost == 3)
        // Readers agree: the three are skipped and counted, never delivered.
        var reader = try directory.openReader("c")
        var values: [UInt64] = []
        while let value = try reader.popItem() { values.append(value) }
        #expect(values == (25...40).filter { ![28, 31, 32].contains($0) }.map(UInt64.init))
        #expect(reader.missedCount == 3)
    }

    static let farCounters: [UInt64] = [1 << 58, 1 << 60, 1 << 62, (1 << 63) - 1024, (1 << 63) - 1, 1 << 63]

    /// Counters edited far up the sequence space (they are outside the header's checksum): the
    /// report of a checked ring's damaged slots overflows nothing; it says what it finds, or the
    /// counters' damage, as one error.
    @Test(arguments: farCounters)
    func countersNearTheEndOfTheSequenceSpaceAreReportedNotATrap(counter: UInt64) throws {
        var writer = try directory.createBuffer("far", itemSize: 8, length: 16, integrity: .checked)
        try writer.push(contentsOf: Array(UInt64(1)...20))
        writer.close()
        let handle = try #require(FileHandle(forUpdatingAtPath: directory.ringPath(of: "far")))
        defer { try? handle.close() }
        for offset: UInt64 in [128, 176] {                                  // published, claimed (overwrite)
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: withUnsafeBytes(of: counter.littleEndian) { Data($0) })
        }
        let outcome = Result { () throws(CBuffError) in try directory.verify("far") }
        if case .success(let found) = outcome {
            #expect(!found.isIntact && found.damaged.allSatisfy { $0.bytes.upperBound - $0.bytes.lowerBound <= found.dataAreaBytes })
        } else if case .failure(let error) = outcome {
            #expect(error.code == .corrupted, "\(error)")
        }
    }

    /// A writer's check word is a function of the bytes its record holds, whatever it copied
    /// them from: here bytes another thread keeps changing while they are pushed (as bytes in
    /// memory another process shares would). A record may hold a mixture; it must match its
    /// check, and be read as it is. (Computed over the source instead, 1 record in about 20,000
    /// failed its check and stopped every reader there.)
    @Test func aMessageCopiedFromBytesThatChangeMeanwhileMatchesItsCheck() throws {
        var writer = try directory.createMessageBuffer("m", capacity: 1 << 20, maxMessageSize: 1024)
        nonisolated(unsafe) let source = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 16)
        source.initializeMemory(as: UInt8.self, repeating: 0)
        defer { source.deallocate() }
        let stop = Atomic<Bool>(false)
        let changer = Thread {
            var value: UInt8 = 0
            while !stop.load(ordering: .relaxed) {
                value &+= 1
                for index in stride(from: 0, to: 1024, by: 64) { source[index] = value }
            }
        }
        changer.start()
        defer { stop.store(true, ordering: .relaxed) }
        for _ in 0..<40_000 { try writer.push(UnsafeRawBufferPointer(source)) }
        stop.store(true, ordering: .relaxed)
        writer.close()
        let found = try directory.verify("m")
        #expect(found.isIntact, "\(found.damaged.prefix(3))")
    }
}
