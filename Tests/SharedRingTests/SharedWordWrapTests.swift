import Foundation
import Testing
import TestSupport
import SharedRing

/// The words of a ring file that processes bump wrap, never trap (found by the fuzzer in header
/// inputs; the seeds `Fuzz/Corpus/writer/seed-*-word-max` keep them). `Atomic.add` traps
/// on overflow, and these words are input (a damaged file may hold anything) and live as long as
/// the file: the futex word `notify` is bumped on every wake of a sleeping reader, so a buffer
/// followed by a sleeping reader trapped its writer after 2^32 wakes (50 days at 1,000 a second).
@Suite struct SharedWordWrapTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    func store<T: FixedWidthInteger>(_ value: T, at offset: UInt64, of name: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.ringPath(of: name)))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
    }

    @Test func everyBumpedWordWrapsAtItsTop() throws {
        try directory.createBuffer("wrap", itemSize: 8, length: 4, policy: .block).close()
        try store(UInt64.max, at: 160, of: "wrap")          // writer generation
        try store(UInt32.max, at: 192, of: "wrap")          // notify, the readers' futex word
        try store(UInt32(1), at: 196, of: "wrap")           // a reader sleeps (its process died asleep)
        try store(UInt32.max, at: 256, of: "wrap")          // space, the writer's futex word
        try store(UInt32(1), at: 260, of: "wrap")           // the writer waits for space
        try store(UInt32.max, at: 264, of: "wrap")          // readers version
        var reader = try directory.openReader("wrap", named: "r")            // bumps the readers version
        var writer = try directory.takeOver("wrap")                           // bumps the generation
        try writer.push(7)                                                    // wakes the sleeper: notify
        #expect(try reader.popItem() == 7)
        _ = try reader.popItem()                                              // commits, wakes the writer: space
        reader.close()
        writer.close()
        let ring = try #require(try directory.status(of: "wrap").ring)
        #expect(ring.writerGeneration == 0)
    }
}
