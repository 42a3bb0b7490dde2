import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// A writer killed inside `pushInPlace`'s closure, halfway through a slot of a full ring:
/// nothing of that slot is delivered, every item published before stays readable but the one
/// whose slot was being reused (counted as missed), and the buffer says a write was interrupted.
@Suite struct InPlaceWriteProcessTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    @Test func aWriterKilledInsideAWriteInPlacePublishesNothingOfIt() throws {
        try directory.createBuffer("loaned", itemSize: 64, length: 8).close()
        let writer = try Agent(["die-in-place", dir, "loaned", "20"])
        #expect(writer.expectLine(startingWith: "pushed") == "pushed 20")
        #expect(writer.expectLine(startingWith: "inside") == "inside")
        writer.kill(SIGKILL)
        #expect(writer.wait() == 128 + SIGKILL)

        let status = try directory.status(of: "loaned")
        #expect(status.writerDied)
        #expect(status.ring?.written == 20)
        #expect(status.ring?.interruptedWrite == 20)
        #expect(status.ring?.oldest == 13)              // the slot of 12 was being rewritten

        var reader = try directory.openReader("loaned")
        var read: [UInt64] = []
        while let bytes = try reader.popBytes() {
            let sequence = try #require(TestItem.sequence(of: bytes), "a torn item was delivered: \(bytes.prefix(16))")
            read.append(sequence)
        }
        #expect(read == Array(13..<20))

        var resumed = try directory.takeOver("loaned")
        #expect(resumed.nextSequence == 20)
        let bytes = TestItem.bytes(20, size: 64)
        try resumed.pushInPlace { slot in slot.copyBytes(from: bytes) }
        #expect(try reader.popBytes().flatMap(TestItem.sequence(of:)) == 20)
        #expect(reader.missedCount == 0)
    }
}
