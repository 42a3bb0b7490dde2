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
}
