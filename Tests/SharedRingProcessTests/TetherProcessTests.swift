import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// The tether timeout of the `block` policy across processes (issue 24, class 12): a named reader
/// whose process is gone stops holding the writer back after the timeout, and counts what it
/// missed when it returns; a live reader never does; without a timeout nothing changes. And
/// `seekReader` is one atomic change against a process opening the reader meanwhile.
@Suite(.serialized) struct TetherProcessTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// Creates `name` (16 slots of 8 bytes, `block`, the given tether), pushes items 0..<10
    /// (values: their sequences), and leaves named reader "gone" killed (SIGKILL) after it
    /// acknowledged items 0...2 (its cursor is 3: the fourth pop returned item 3, unacknowledged).
    func bufferWithADeadReader(_ name: String, tether: Duration) throws {
        var writer = try directory.createBuffer(name, itemSize: 8, length: 16, policy: .block, tetherTimeout: tether)
        for value in UInt64(0)..<10 { try writer.push(value) }
        writer.close()
        let reader = try ChildProcess("cbuff-test-agent", ["read-named", dir, name, "gone", "4", "hang"])
        for sequence in 0..<4 { #expect(reader.expectLine(startingWith: "got") == "got \(sequence) at \(sequence)") }
        reader.kill()
        #expect(reader.wait() == 128 + SIGKILL)
        let gone = try #require(try directory.status(of: name).ring?.readers.first)
        #expect(gone.name == "gone" && gone.position == 3 && !gone.alive && !gone.untethered)
    }

    /// A `block` writer held back by a dead named reader goes on after the 200 ms tether
    /// timeout, not before (the push that found the ring full took at least 200 ms); the reader,
    /// opened again, counts exactly the items overwritten, reads the rest, and holds the writer
    /// back again.
    @Test func aDeadReaderIsUntetheredAfterTheTimeoutAndCountsWhatItMissed() throws {
        try bufferWithADeadReader("t", tether: .milliseconds(200))
        #expect(try directory.status(of: "t").ring?.tetherTimeout == .milliseconds(200))
        let writer = try ChildProcess("cbuff-test-agent", ["tether-write", dir, "t", "100"])
        let report = try #require(writer.expectLine(startingWith: "pushed"))
        #expect(writer.wait() == 0)
        let figures = fields(report)
        // Sequence 19 was the first the reader's cursor (3) held back: 3 + 16.
        #expect(report.hasPrefix("pushed 110 ") && figures["at"] == 19 && figures["untethered"] == 1, "\(report)")
        #expect((figures["longest"] ?? 0) >= 200, "the writer went on before the timeout: \(report)")
        #expect((figures["longest"] ?? .max) < 5_000, "the writer waited far beyond the timeout: \(report)")
        let gone = try #require(try directory.status(of: "t").ring?.readers.first)
        #expect(gone.untethered && gone.untetherCount == 1 && gone.untetheredAt != nil && gone.position == 3)

        var reader = try directory.openReader("t", named: "gone")
        #expect(try directory.status(of: "t").ring?.readers.first?.untethered == false)
        var values: [UInt64] = []
        while let value = try reader.popItem() { values.append(value) }
        // 110 published through 16 slots: 94...109 remain; 3...93 were overwritten.
        #expect(reader.missedCount == 91)
        #expect(values == Array(94..<110))
        reader.commit()
        // Tethered again: the writer gets 16 slots beyond the reader's cursor (110), no more,
        // however long it waits (the reader is alive).
        var again = try directory.takeOver("t")
        for value in UInt64(110)..<126 { #expect(try again.tryPush(value)) }
        #expect(try again.push(126, timeout: .milliseconds(500)) == false)
        #expect(again.untetheredReaders == 0)
        again.close()
        reader.close()
    }

    /// A reader that is alive is never untethered, however slow: the writer times out after
    /// three tether timeouts and the reader reads everything.
    @Test func aLiveSlowReaderIsNeverUntethered() throws {
        var writer = try directory.createBuffer("live", itemSize: 8, length: 8, policy: .block, tetherTimeout: .milliseconds(100))
        let reader = try ChildProcess("cbuff-test-agent", ["read-named", dir, "live", "slow", "1", "hang"])
        // Synchronised on the buffer: the reader's process has registered (at 0) and waits.
        let deadline = ContinuousClock.now + .seconds(30)
        while try directory.status(of: "live").ring?.readers.isEmpty != false && ContinuousClock.now < deadline { usleep(1000) }
        for value in UInt64(0)..<8 { #expect(try writer.tryPush(value)) }
        #expect(reader.expectLine(startingWith: "got") == "got 0 at 0")
        // Its cursor is 0 (item 0 returned, not yet acknowledged): 0 + 8 = 8 items, then full,
        // for three tether timeouts.
        #expect(try writer.push(8, timeout: .milliseconds(300)) == false)
        #expect(writer.untetheredReaders == 0)
        let slow = try #require(try directory.status(of: "live").ring?.readers.first)
        #expect(slow.alive && !slow.untethered)
        reader.kill()
        #expect(reader.wait() == 128 + SIGKILL)
        writer.close()
    }

    /// Without a tether timeout the writer waits for a dead reader as before: without limit.
    @Test func withoutATimeoutADeadReaderHoldsTheWriterAsBefore() throws {
        try bufferWithADeadReader("off", tether: .zero)
        #expect(try directory.status(of: "off").ring?.tetherTimeout == nil)
        var writer = try directory.takeOver("off")
        for value in UInt64(10)..<19 { #expect(try writer.tryPush(value)) }
        #expect(try writer.push(19, timeout: .milliseconds(400)) == false)
        #expect(writer.untetheredReaders == 0)
        #expect(try directory.status(of: "off").ring?.readers.first?.untethered == false)
        writer.close()
    }

    /// Seeking a named reader while another process keeps opening and closing it: every open
    /// resumes the reader (never registers it anew) at one of the positions it was given, and
    /// every seek is either done whole or refused as busy. (Seek used to remove the reader and
    /// register it again: an open in between registered a new reader at its own start.)
    @Test func seekIsAtomicAgainstAConcurrentReaderProcess() throws {
        var writer = try directory.createBuffer("s", itemSize: 8, length: 256, policy: .block)
        for value in UInt64(0)..<100 { try writer.push(value) }
        writer.close()
        let first = try directory.openReader("s", named: "r", at: 50)
        first.close()
        let opener = try ChildProcess("cbuff-test-agent", ["reopen-named", dir, "s", "r", "400"])
        var moved = 0, busy = 0
        for round in 0..<400 {
            do {
                let at = try directory.seekReader("r", of: "s", to: .sequence(round % 2 == 0 ? 40 : 60))
                #expect(at == (round % 2 == 0 ? 40 : 60))
                moved += 1
            } catch where error.code == .readerBusy {
                busy += 1
            } catch {
                throw error    // (a catch-all: Swift 6.3.1 crashes on a do/catch that has none here)
            }
        }
        let report = try #require(opener.expectLine(startingWith: "opens"))
        #expect(opener.wait() == 0)
        let figures = fields(report)
        #expect(figures["new"] == 0, "\(report)")
        let positions = Set((report.split(separator: "positions=").last ?? "").split(separator: ",").compactMap { UInt64($0) })
        #expect(positions.isSubset(of: [40, 50, 60]), "\(report)")
        #expect(moved > 0 && moved + busy == 400)
        let r = try #require(try directory.status(of: "s").ring?.readers)
        #expect(r.count == 1 && r[0].name == "r")
    }

    /// The same gate serves message buffers: a dead named reader is untethered after the
    /// timeout, and counts the messages it missed when it returns.
    @Test func messageBuffersUntetherADeadReaderToo() throws {
        var writer = try directory.createMessageBuffer("m", capacity: 4096, maxMessageSize: 64, policy: .block, tetherTimeout: .milliseconds(100))
        let gone = try directory.openMessageReader("m", named: "gone")
        gone.close()   // registered at 0, and not alive: no process has it open
        let message = [UInt8](repeating: 7, count: 40)   // 8 words a message: 64 fit in 4096 bytes
        var pushed = 0
        while pushed < 200, try writer.push(message, timeout: .seconds(5)) { pushed += 1 }
        #expect(pushed == 200 && writer.untetheredReaders == 1)
        writer.close()
        var reader = try directory.openMessageReader("m", named: "gone")
        var delivered = 0
        while try reader.pop() != nil { delivered += 1 }
        #expect(delivered > 0 && reader.missedCount + UInt64(delivered) == 200, "delivered \(delivered), missed \(reader.missedCount)")
        reader.close()
    }
}
