import Testing
import TestSupport
@testable import SharedRing

/// Readers that start at a given sequence: exactly there while it is present, else at the
/// oldest item present with the gap counted as missed.
@Suite struct ReplayTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    @Test func aReaderStartsExactlyAtASequenceStillPresent() throws {
        var writer = try directory.createBuffer("replay", itemSize: 8, length: 8)
        try writer.push(contentsOf: (0..<20).map { UInt64($0) * 10 })      // 12 ..< 20 present
        for start: UInt64 in [12, 15, 19] {
            var reader = try directory.openReader("replay", at: start)
            #expect(reader.nextSequence == start)
            #expect(try reader.popMany(100) == (start..<20).map { $0 * 10 })
            #expect(reader.missedCount == 0)
        }
    }

    @Test func aSequenceAlreadyOverwrittenStartsAtTheOldestAndCountsTheGap() throws {
        var writer = try directory.createBuffer("gone", itemSize: 8, length: 8)
        try writer.push(contentsOf: (0..<20).map { UInt64($0) })
        var reader = try directory.openReader("gone", at: 5)
        #expect(try reader.popItem() == 12)
        #expect(reader.missedCount == 7)
        #expect(try reader.popMany(100) == Array(13..<20))
    }

    @Test func theNextSequenceWaitsForNewItemsAndBeyondItIsRefused() throws {
        var writer = try directory.createBuffer("ahead", itemSize: 8, length: 8)
        try writer.push(contentsOf: [1, 2, 3])
        var reader = try directory.openReader("ahead", at: 3)
        #expect(try reader.popItem() == nil)
        try writer.push(4)
        #expect(try reader.popItem() == 4)
        do {
            _ = try directory.openReader("ahead", at: 5)
            Issue.record("a reader started beyond what was published")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("published 4 items") && error.message.contains("5"), "\(error)")
        }
    }

    @Test(arguments: [OverflowPolicy.overwrite, .block])
    func aNamedReaderRegisteredAtASequenceKeepsItsPlaceAndCountsTheGapOnce(policy: OverflowPolicy) throws {
        var writer = try directory.createBuffer("named-\(policy)", itemSize: 8, length: 8, policy: policy)
        try writer.push(contentsOf: (0..<8).map { UInt64($0) })
        var reader = try directory.openReader("named-\(policy)", named: "audit", at: 6)
        #expect(try reader.popMany(100) == [6, 7])
        #expect(reader.missedCount == 0)
        reader.close()
        // A resumed reader ignores the sequence: it goes on where it stopped.
        try writer.push(8)
        var resumed = try directory.openReader("named-\(policy)", named: "audit", at: 0)
        #expect(try resumed.popItem() == 8)
        resumed.close()
        // Registered at an item already gone: at the oldest present, the gap counted, and under
        // `block` the writer waits only for items still present, never for the ones gone.
        var late = try directory.openReader("named-\(policy)", named: "late", at: 0)
        #expect(late.missedCount == 1)                   // sequence 0 was overwritten by 8
        #expect(try late.popItem() == 1)
        if policy == .block {
            #expect(try !writer.tryPush(9))             // full: "late" has not consumed item 1
            _ = try late.popItem()                       // commits item 1
        }
        #expect(try writer.tryPush(9))
    }
}
