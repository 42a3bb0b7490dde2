import Foundation
import Testing
import TestSupport
import SharedRing

/// Positions never wrap (found by the fuzzer: Fuzz/Corpus/header/seed-counters-at-max). A ring
/// file whose counters say 2^64 − 2, say, passed every check (`published <= claimed <=
/// published + length`), and a writer that took it over wrapped to 0: its pushes were accepted
/// and never delivered. A file that records a position beyond `Limits.maxCount` (2^63 − 1), which
/// no writer reaches, is damaged.
@Suite struct PositionLimitTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    /// Sets `published` (128) and `claimed` (176 under `overwrite`) of buffer `name`'s file.
    func setCounters(_ name: String, to position: UInt64) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.ringPath(of: name)))
        defer { try? handle.close() }
        let bytes = (0..<8).map { UInt8(truncatingIfNeeded: position >> (8 * $0)) }
        try handle.seek(toOffset: 128)
        try handle.write(contentsOf: bytes)
        try handle.seek(toOffset: 176)
        try handle.write(contentsOf: bytes)
    }

    @Test(arguments: [UInt64.max, UInt64.max - 2, (UInt64(1) << 63) + 1, UInt64(1) << 63])
    func aPositionBeyondTwoToThe63IsDamage(position: UInt64) throws {
        var writer = try directory.createBuffer("items", itemSize: 8, length: 16)
        try writer.push(1)
        writer.close()
        try directory.createMessageBuffer("messages", capacity: 4096, maxMessageSize: 100).close()
        try setCounters("items", to: position)
        try setCounters("messages", to: position)
        expectError(.corrupted) { try directory.takeOver("items").close() }
        expectError(.corrupted) { try directory.openReader("items").close() }
        expectError(.corrupted) { try directory.takeOverMessages("messages").close() }
        expectError(.corrupted) { try directory.openMessageReader("messages").close() }
        for name in ["items", "messages"] {
            #expect(try directory.status(of: name).problem?.code == .corrupted)
        }
    }

    @Test func aWriterJustBelowTheLimitStillDeliversWhatItPushes() throws {
        let start = UInt64(Int64.max) - 40
        try directory.createBuffer("items", itemSize: 8, length: 16).close()
        try setCounters("items", to: start)
        var writer = try directory.takeOver("items")
        var reader = try directory.openReader("items", start: .latest)
        for value in UInt64(1)...20 { try writer.push(value) }
        #expect(try reader.popMany(100) == Array(5...20))
        #expect(reader.nextSequence == start + 20)
        writer.close()
    }
}
