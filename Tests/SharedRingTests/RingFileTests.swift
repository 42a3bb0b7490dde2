import Foundation
import Testing
import TestSupport
@testable import SharedRing
import SharedRingProtocol
import SharedRingSystem

/// The ring file format (Sources/SharedRing/SharedRing.docc/RingFileFormat.md): golden header bytes, and every way a damaged
/// file must be refused with a clear error before any slot is touched.
@Suite struct RingFileTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    func fileBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory.ringPath(of: name))))
    }

    func overwrite(_ name: String, at offset: Int, with bytes: [UInt8]) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.ringPath(of: name)))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: bytes)
    }

    func truncate(_ name: String, to size: Int) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.ringPath(of: name)))
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(size))
    }

    /// An accidental format change must fail here. One line per field of header line 0: a
    /// buffer whose slots carry check words (format version 4)...
    @Test func headerLineZeroOfVersionFourHasTheseExactBytes() throws {
        _ = try directory.createBuffer("golden", itemSize: 8, length: 16, integrity: .checked)
        let bytes = try fileBytes("golden")
        let golden: [UInt8] = [
            0x43, 0x42, 0x55, 0x46, 0x52, 0x49, 0x4E, 0x47,   //  0 magic "CBUFRING"
            0x04, 0x00, 0x00, 0x00,                           //  8 format version 4
            0x00, 0x10, 0x00, 0x00,                           // 12 header size 4096
            0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // 16 item size 8
            0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // 24 length 16
            0x10, 0x00, 0x00, 0x00,                           // 32 slot stride 16: the item, then its check word
            0x00, 0x00, 0x00, 0x00,                           // 36 policy overwrite
            0x18, 0x00, 0x00, 0x00,                           // 40 reader capacity 24
            0x04, 0x03, 0x02, 0x01,                           // 44 byte-order mark 0x01020304
            0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // 48 file size 4096 + 16 * 16 = 4352
        ]
        #expect(Array(bytes[0..<56]) == golden)
        #expect(bytes.count == 4352)
        let checksum = bytes[56..<64].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        // Computed independently (Python, from the format document's definition of FNV-1a 64).
        #expect(checksum == 0xaf3c_e1d4_15b1_f306)
    }

    /// ... and one created without check words (format version 2).
    @Test func headerLineZeroHasTheseExactBytes() throws {
        _ = try directory.createBuffer("golden", itemSize: 8, length: 16, integrity: .unchecked)
        let bytes = try fileBytes("golden")
        let golden: [UInt8] = [
            0x43, 0x42, 0x55, 0x46, 0x52, 0x49, 0x4E, 0x47,   //  0 magic "CBUFRING"
            0x02, 0x00, 0x00, 0x00,                           //  8 format version 2
            0x00, 0x10, 0x00, 0x00,                           // 12 header size 4096
            0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // 16 item size 8
            0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // 24 length 16
            0x08, 0x00, 0x00, 0x00,                           // 32 slot stride 8
            0x00, 0x00, 0x00, 0x00,                           // 36 policy overwrite
            0x18, 0x00, 0x00, 0x00,                           // 40 reader capacity 24
            0x04, 0x03, 0x02, 0x01,                           // 44 byte-order mark 0x01020304
            0x80, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // 48 file size 4096 + 16 * 8 = 4224
        ]
        #expect(Array(bytes[0..<56]) == golden)
        #expect(bytes.count == 4224)
        // 56: FNV-1a 64 of bytes 0..<56, little-endian.
        let checksum = bytes[56..<64].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        // Computed independently (Python, from the format document's definition of FNV-1a 64).
        #expect(checksum == 0x1dde_a566_3bc7_65cf)
    }

    @Test func theWriterAndSlotWordsAreWhereTheFormatSaysAndLittleEndian() throws {
        var writer = try directory.createBuffer("words", itemSize: 8, length: 4, integrity: .unchecked)
        for value: UInt64 in [0x1122_3344_5566_7788, 2, 3, 4, 5] { try writer.push(value) }
        let bytes = try fileBytes("words")
        func u64(_ offset: Int) -> UInt64 {
            bytes[offset..<(offset + 8)].enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        }
        func u32(_ offset: Int) -> UInt32 { UInt32(truncatingIfNeeded: u64(offset)) }
        #expect(u64(128) == 5)                            // published
        #expect(u64(176) == 5)                            // claimed (beside published under overwrite)
        #expect(u64(320) == 0)
        #expect(u32(144) == UInt32(getpid()))             // writer PID
        #expect(u32(148) == 1)                            // writer state: attached
        #expect(u64(152) == Sys.processStartTime(getpid()))
        #expect(u64(160) == 1)                            // writer generation
        // Slot 0 was reused by sequence 4 (the value 5); slot 1 holds sequence 1 (the value 2).
        #expect(u64(4096) == 5 && u64(4104) == 2 && u64(4112) == 3 && u64(4120) == 4)
        writer.close()
        #expect(u32(148) == 1, "the array above was read while the writer was open")
        var blocking = try directory.createBuffer("words-block", itemSize: 8, length: 4, policy: .block)
        try blocking.push(contentsOf: [1, 2, 3] as [UInt64])
        let block = try fileBytes("words-block")
        func u64b(_ offset: Int) -> UInt64 { block[offset..<(offset + 8)].enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        #expect(u64b(128) == 3 && u64b(320) == 3 && u64b(176) == 0)   // claimed on its own line under block
        #expect(try fileBytes("words")[148] == 2)         // writer state: closed
    }

    /// The boot id is line 1's bytes 80–95, the text of `/proc/sys/kernel/random/boot_id` as 16
    /// bytes in order: what a writer of this boot stores when it attaches.
    @Test func theWritersBootIsWhereTheFormatSays() throws {
        let text = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
        let hex = Array(text.filter(\.isHexDigit))
        let expected = stride(from: 0, to: 32, by: 2).map { UInt8(String(hex[$0..<($0 + 2)]), radix: 16)! }
        let writer = try directory.createBuffer("booted", itemSize: 8, length: 2)
        // A debug test run may stand in for a reboot (CBUFF_TEST_BOOT_ID): then that is stored.
        if ProcessInfo.processInfo.environment["CBUFF_TEST_BOOT_ID"] == nil {
            #expect(Array(try fileBytes("booted")[80..<96]) == expected)
        }
        #expect(try fileBytes("booted")[96..<104].allSatisfy { $0 == 0 })           // nothing from an earlier boot
        writer.close()
    }

    /// The tether timeout is line 1's second word (offset 72, nanoseconds, little-endian);
    /// untethering a reader writes its record's words 16 (flag), 20 (count) and 24 (time), and
    /// reopening it clears the flag. Zero everywhere without a tether (as earlier files).
    @Test func theTetherTimeoutAndTheUntetheredWordsAreWhereTheFormatSays() throws {
        var writer = try directory.createBuffer("tether", itemSize: 8, length: 2, policy: .block, tetherTimeout: .milliseconds(1))
        _ = try directory.createBuffer("plain", itemSize: 8, length: 2, policy: .block)
        #expect(Array(try fileBytes("tether")[72..<80]) == [0x40, 0x42, 0x0F, 0, 0, 0, 0, 0])   // 1,000,000 ns
        #expect(try fileBytes("plain")[72..<80].allSatisfy { $0 == 0 })
        #expect(try fileBytes("plain")[96..<128].allSatisfy { $0 == 0 })              // 80..<96: the writer's boot
        try directory.openReader("tether", named: "gone").close()
        for value: UInt64 in [1, 2, 3] { #expect(try writer.push(value, timeout: .seconds(10))) }
        #expect(writer.untetheredReaders == 1)
        let record = 1024
        var bytes = try fileBytes("tether")
        #expect(Array(bytes[(record + 16)..<(record + 24)]) == [1, 0, 0, 0, 1, 0, 0, 0])  // untethered, once
        #expect(bytes[(record + 24)..<(record + 32)].contains { $0 != 0 })                   // when
        var reader = try directory.openReader("tether", named: "gone")
        bytes = try fileBytes("tether")
        #expect(Array(bytes[(record + 16)..<(record + 24)]) == [0, 0, 0, 0, 1, 0, 0, 0])  // tethered again, the count kept
        #expect(try reader.popItem() == 2 && reader.missedCount == 1)
        reader.close()
        writer.close()
    }

    /// A live reader is never untethered, even one whose opener left the flag set (an earlier
    /// version, another language, or a record registered over a flag an earlier version left):
    /// the writer finds its liveness lock held and ties it again itself.
    @Test func aLiveReaderLeftUntetheredByItsOpenerIsTiedAgainByTheWriter() throws {
        var writer = try directory.createBuffer("left", itemSize: 8, length: 4, policy: .block, tetherTimeout: .milliseconds(50))
        var reader = try directory.openReader("left", named: "r")
        // As an opener that does not clear the flag would leave it: flag set, version bumped.
        let version = try fileBytes("left")[264..<268].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        try overwrite("left", at: 1024 + 16, with: [1, 0, 0, 0])
        try overwrite("left", at: 264, with: withUnsafeBytes(of: (version &+ 1).littleEndian) { Array($0) })
        for value: UInt64 in [1, 2, 3, 4] { #expect(try writer.tryPush(value)) }
        #expect(try writer.push(5, timeout: .milliseconds(300)) == false)    // it waits for the live reader
        #expect(try directory.status(of: "left").ring?.readers.first?.untethered == false)
        #expect(try reader.popItem() == 1 && reader.missedCount == 0)
        reader.close()
        writer.close()
    }

    /// A tether timeout under `overwrite`, or beyond 30 days, is damage; so are they refused at
    /// creation.
    @Test func anImpossibleTetherTimeoutIsRefused() throws {
        _ = try directory.createBuffer("o", itemSize: 8, length: 16)
        try overwrite("o", at: 72, with: [1])
        expectError(.corrupted) { _ = try directory.openReader("o") }
        _ = try directory.createBuffer("b", itemSize: 8, length: 16, policy: .block)
        try overwrite("b", at: 72, with: [0, 0, 0, 0, 0, 0, 0, 0x10])
        expectError(.corrupted) { _ = try directory.openReader("b") }
        expectError(.invalidArgument) { _ = try directory.createBuffer("c", itemSize: 8, length: 16, policy: .overwrite, tetherTimeout: .seconds(1)) }
        expectError(.invalidArgument) { _ = try directory.createBuffer("d", itemSize: 8, length: 16, policy: .block, tetherTimeout: .seconds(-1)) }
        expectError(.invalidArgument) { _ = try directory.createBuffer("e", itemSize: 8, length: 16, policy: .block, tetherTimeout: .seconds(31 * 86_400)) }
    }

    // MARK: Damage

    @Test(arguments: [
        (0, [UInt8(ascii: "X")], "magic number"),
        (8, [1], "format version 1"),
        (8, [9], "format version 9"),
        (16, [9], "checksum"),
        (24, [0xFF], "checksum"),
        (56, [0], "checksum"),
    ])
    func aDamagedHeaderIsRefused(offset: Int, bytes: [UInt8], mention: String) throws {
        _ = try directory.createBuffer("damaged", itemSize: 8, length: 16)
        try overwrite("damaged", at: offset, with: bytes)
        do {
            _ = try directory.openReader("damaged")
            Issue.record("a damaged header was accepted")
        } catch {
            #expect(error.code == .corrupted)
            #expect(error.message.contains(mention) && error.message.contains("damaged.ring"), "\(error)")
        }
        expectError(.corrupted) { _ = try directory.takeOver("damaged") }
    }

    @Test(arguments: [0, 10, 63, 4095, 4096, 4223])
    func aTruncatedFileIsRefused(size: Int) throws {
        let writer = try directory.createBuffer("cut", itemSize: 8, length: 16)
        writer.close()
        try truncate("cut", to: size)
        expectError(.corrupted) { _ = try directory.openReader("cut") }
        expectError(.corrupted) { _ = try directory.takeOver("cut") }
    }

    @Test func anExtendedFileIsRefused() throws {
        _ = try directory.createBuffer("long", itemSize: 8, length: 16)
        try truncate("long", to: 4224 + 4096)
        expectError(.corrupted) { _ = try directory.openReader("long") }
    }

    @Test func aRingFileThatDisagreesWithItsRowIsRefused() throws {
        _ = try directory.createBuffer("a", itemSize: 8, length: 16)
        _ = try directory.createBuffer("b", itemSize: 4, length: 16)
        // Put b's (valid) ring file where a's should be.
        try FileManager.default.removeItem(atPath: directory.ringPath(of: "a"))
        try FileManager.default.copyItem(atPath: directory.ringPath(of: "b"), toPath: directory.ringPath(of: "a"))
        do {
            _ = try directory.openReader("a")
            Issue.record("a mismatched ring file was accepted")
        } catch {
            #expect(error.code == .corrupted)
            #expect(error.message.contains("registry says item size 8"), "\(error)")
        }
    }

    @Test func aMissingRingFileIsReportedAndTheRowCanBeRemoved() throws {
        let writer = try directory.createBuffer("lost", itemSize: 8, length: 16)
        writer.close()
        try FileManager.default.removeItem(atPath: directory.ringPath(of: "lost"))
        do {
            _ = try directory.openReader("lost")
            Issue.record("a missing ring file was accepted")
        } catch {
            #expect(error.code == .corrupted)
            #expect(error.message.contains("missing"), "\(error)")
        }
        try directory.removeBuffer("lost")
        expectError(.notFound) { _ = try directory.openReader("lost") }
    }

    /// A ring file deleted while a writer and a reader have it mapped: both go on (the mapping
    /// keeps the file's pages alive), and opening it by name again is a clear error.
    @Test func aRingFileDeletedUnderAReaderKeepsWorkingForThoseWhoHaveIt() throws {
        var writer = try directory.createBuffer("deleted", itemSize: 8, length: 16)
        var reader = try directory.openReader("deleted")
        try writer.push(1)
        try FileManager.default.removeItem(atPath: directory.ringPath(of: "deleted"))
        try writer.push(2)
        #expect(try reader.popMany(10) == [1, 2])
        expectError(.corrupted) { _ = try directory.openReader("deleted") }
        writer.close()
        try directory.removeBuffer("deleted")
        #expect(try directory.buffers().isEmpty)
    }

    /// A follower (`tail --follow`, `events()`) must end when its buffer is gone for good, and not
    /// before: a writer removed from under by force still pushes into the file it has.
    @Test func aReaderKnowsWhenNothingMoreCanArrive() throws {
        var writer = try directory.createBuffer("ending", itemSize: 8, length: 16)
        var reader = try directory.openReader("ending")
        #expect(try reader.canReceiveMore())
        try directory.removeBuffer("ending", force: true)
        #expect(try reader.canReceiveMore())
        try writer.push(3)
        #expect(try reader.popItem() == 3)
        writer.close()
        #expect(try !reader.canReceiveMore())
    }

    /// A writer or reader learns that its buffer was removed, or removed and created again
    /// (another file under the name), and not before: the relay stops on it.
    @Test func writersAndReadersKnowWhenTheirBufferWasRemovedOrReplaced() throws {
        var writer = try directory.createBuffer("replaced", itemSize: 8, length: 16)
        let reader = try directory.openReader("replaced")
        let messages = try directory.createMessageBuffer("replaced-messages", capacity: 4096, maxMessageSize: 100)
        let messageReader = try directory.openMessageReader("replaced-messages")
        #expect(try !writer.isRemoved() && !reader.isRemoved() && !messages.isRemoved() && !messageReader.isRemoved())
        try directory.removeBuffer("replaced", force: true)
        #expect(try writer.isRemoved() && reader.isRemoved())
        try writer.push(1)                                  // it still works, on a file nobody can open
        try directory.createBuffer("replaced", itemSize: 8, length: 16).close()
        #expect(try writer.isRemoved() && reader.isRemoved())
        #expect(try !directory.openReader("replaced").isRemoved())
        try directory.removeBuffer("replaced-messages", force: true)
        _ = try directory.createMessageBuffer("replaced-messages", capacity: 4096, maxMessageSize: 100)
        #expect(try messages.isRemoved() && messageReader.isRemoved())
    }

    @Test(arguments: [ItemIntegrity.unchecked, .checked])
    func aCaughtUpReaderLearnsThatItsFileWasTruncated(integrity: ItemIntegrity) throws {
        var writer = try directory.createBuffer("cut-behind", itemSize: 8, length: 1024, integrity: integrity)
        var reader = try directory.openReader("cut-behind")
        try writer.push(1)
        #expect(try reader.popItem() == 1)
        try truncate("cut-behind", to: 4096)   // the header stays
        if integrity == .checked {
            // The reader looks at the next slot's check word first: the slots are gone.
            expectError(.corrupted) { _ = try reader.popItem() }
        } else {
            #expect(try reader.popItem() == nil)    // the unchecked one reads only the header: no read faults
        }
        expectError(.corrupted) { _ = try reader.canReceiveMore() }
    }

    @Test func eventsEndOnceTheBufferIsRemovedAndItsWriterGone() async throws {
        var writer = try directory.createBuffer("short-lived", itemSize: 8, length: 16)
        try writer.push(contentsOf: [1, 2])
        writer.close()
        let events = try directory.openReader("short-lived").events()
        try directory.removeBuffer("short-lived")
        var seen: [BufferEvent] = []
        for try await event in events { seen.append(event) }
        #expect(seen == [.item(sequence: 0, value: 1), .item(sequence: 1, value: 2)])
    }

    @Test func damageToOneBufferLeavesTheOthersIntact() throws {
        var healthy = try directory.createBuffer("healthy", itemSize: 8, length: 16)
        try healthy.push(42)
        _ = try directory.createBuffer("broken", itemSize: 8, length: 16)
        try truncate("broken", to: 100)
        expectError(.corrupted) { _ = try directory.openReader("broken") }
        var reader = try directory.openReader("healthy")
        #expect(try reader.popItem() == 42)
    }
}
