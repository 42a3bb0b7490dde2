import Testing
import TestSupport
@testable import SharedRing

/// Open-or-create for restartable writers, and named readers registered without reading.
@Suite struct OpenOrCreateTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    @Test func aRestartableWriterCreatesThenResumesAndRefusesAnotherShape() throws {
        var first = try directory.openOrCreateBuffer("jobs", itemSize: 8, length: 16)
        try first.push(contentsOf: [1, 2, 3] as [UInt64])
        expectError(.writerBusy) { _ = try directory.openOrCreateBuffer("jobs", itemSize: 8, length: 16) }
        first.close()
        var second = try directory.openOrCreateBuffer("jobs", itemSize: 8, length: 16)
        #expect(second.nextSequence == 3)
        try second.push(4)
        second.close()
        do {
            _ = try directory.openOrCreateBuffer("jobs", itemSize: 8, length: 32)
            Issue.record("another shape was taken over")
        } catch {
            #expect(error.code == .typeMismatch && error.message.contains("16 items of 8 bytes") && error.message.contains("32 items"), "\(error)")
        }
        expectError(.typeMismatch) { _ = try directory.openOrCreateBuffer("jobs", itemSize: 8, length: 16, policy: .block) }
        expectError(.typeMismatch) { _ = try directory.openOrCreateMessageBuffer("jobs", capacity: 4096, maxMessageSize: 10) }
        var logs = try directory.openOrCreateMessageBuffer("logs", capacity: 4096, maxMessageSize: 100)
        try logs.push("a")
        logs.close()
        #expect(try directory.openOrCreateMessageBuffer("logs", capacity: 4096, maxMessageSize: 100).nextSequence == 1)
        expectError(.typeMismatch) { _ = try directory.openOrCreateBuffer("logs", itemSize: 8, length: 512) }
    }

    @Test func readersRegisteredBeforeTheWriterPushesHoldItBack() throws {
        var writer = try directory.createBuffer("held", itemSize: 8, length: 2, policy: .block)
        #expect(try directory.registerReader("slow", of: "held"))
        #expect(try !directory.registerReader("slow", of: "held"))             // already there: nothing changes
        try writer.push(1)
        try writer.push(2)
        #expect(try !writer.tryPush(3))                                         // "slow" has read nothing
        var reader = try directory.openReader("held", named: "slow")
        #expect(try reader.popItem() == 1 && reader.popItem() == 2)
        reader.commit()
        #expect(try writer.tryPush(3))
        var messages = try directory.createMessageBuffer("m", capacity: 4096, maxMessageSize: 10)
        #expect(try directory.registerReader("r", of: "m", start: .latest))
        try messages.push("x")
        var named = try directory.openMessageReader("m", named: "r")
        #expect(try named.pop()?.text == "x")
    }
}
