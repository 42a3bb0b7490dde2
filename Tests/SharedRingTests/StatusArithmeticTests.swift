import Foundation
import Testing
import TestSupport
import SharedRing

/// What `cbuff inspect` and `cbuff list` compute from a ring file's words must not trap,
/// whatever the file says (found by the fuzzer: Fuzz/Corpus/records/regression-count-traps-ead3eed6). A message
/// ring whose last record says sequence 2^63 + 5 made `RingStatus.count` convert 2^63 + 6
/// messages to an `Int`, and the process (the CLI's inspect, list and top) trapped.
@Suite struct StatusArithmeticTests {
    @Test func aMessageRingWhoseRecordsSayAHugeSequenceIsInspectedWithoutTrapping() throws {
        let temporary = try TemporaryDirectory()
        let directory = temporary.directory
        var writer = try directory.createMessageBuffer("logs", capacity: 4096, maxMessageSize: 100)
        for text in ["a", "b", "c"] { try writer.push(text) }
        writer.close()
        // Each record is 5 words (4 of header, 1 of text): the third starts at word 10 of the
        // data area, its sequence is the word after its first.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.ringPath(of: "logs")))
        try handle.seek(toOffset: 4096 + 10 * 8 + 8)
        try handle.write(contentsOf: (0..<8).map { UInt8(truncatingIfNeeded: ((UInt64(1) << 63) + 5) >> (8 * $0)) })
        try handle.close()

        // Beyond the counters' limit (2^63 − 1) and not the successor of the record before it:
        // the ring is damaged, said in the status, never a trap.
        let status = try directory.status(of: "logs")
        #expect(status.ring == nil && status.problem?.code == .corrupted, "\(String(describing: status.problem))")
    }
}
