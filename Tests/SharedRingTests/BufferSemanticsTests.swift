import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// The guarantees (SharedRing.docc/Guarantees.md) in one process: values, names, sizes, lifecycle, lapping, waiting.
@Suite struct BufferSemanticsTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    // MARK: Values

    @Test(arguments: [1, 2, 3, 7, 8, 9, 16])
    func largestValueFitsAndOneMoreIsRefused(itemSize: Int) throws {
        var writer = try directory.createBuffer("v", itemSize: itemSize, length: 4)
        var reader = try directory.openReader("v")
        let largest: UInt64 = itemSize >= 8 ? .max : (1 << (8 * UInt64(itemSize))) - 1
        #expect(writer.maxValue == largest)
        try writer.push(largest)
        #expect(try reader.popItem() == largest)
        if itemSize < 8 {
            expectError(.valueDoesNotFit) { try writer.push(largest + 1) }
        }
        expectError(.valueDoesNotFit) { try writer.push(-1) }
        // Nothing was pushed by the refused calls.
        #expect(writer.nextSequence == 1)
        #expect(try reader.popItem() == nil)
    }

    @Test func integersAreLittleEndianInTheSlot() throws {
        var writer = try directory.createBuffer("le", itemSize: 3, length: 2)
        var reader = try directory.openReader("le")
        try writer.push(0x030201)
        #expect(try reader.popBytes() == [0x01, 0x02, 0x03])
    }

    @Test func bytesArePaddedAndTooManyAreRefused() throws {
        var writer = try directory.createBuffer("b", itemSize: 5, length: 2)
        var reader = try directory.openReader("b")
        try writer.push(bytes: [9, 8])
        #expect(try reader.popBytes() == [9, 8, 0, 0, 0])
        expectError(.valueDoesNotFit) { try writer.push(bytes: [1, 2, 3, 4, 5, 6]) }
        #expect(try reader.popBytes() == nil)
    }

    @Test func anIntegerWiderThan64BitsIsNotTruncated() throws {
        var writer = try directory.createBuffer("wide", itemSize: 12, length: 2)
        var reader = try directory.openReader("wide")
        try writer.push(bytes: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        expectError(.valueDoesNotFit) { try reader.popItem() }
        // The item is left unread, and can be read as bytes.
        #expect(try reader.popBytes() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        try writer.push(7)
        #expect(try reader.popItem() == 7)
    }

    @Test func batchPushIsAllOrNothing() throws {
        var writer = try directory.createBuffer("batch", itemSize: 1, length: 8)
        var reader = try directory.openReader("batch")
        expectError(.valueDoesNotFit) { try writer.push(contentsOf: [1, 2, 300]) }
        try writer.push(contentsOf: [1, 2, 3])
        #expect(try reader.popMany(10) == [1, 2, 3])
    }

    /// Every batch path (array, buffer pointer, range, lazy collection) lands the same items,
    /// across the end of the ring and in runs longer than the ring, for every item width path.
    @Test(arguments: [3, 8, 12])
    func batchPushesOfEveryKindWrapAroundTheRing(itemSize: Int) throws {
        var writer = try directory.createBuffer("kinds-\(itemSize)", itemSize: itemSize, length: 8)
        var reader = try directory.openReader("kinds-\(itemSize)")
        try writer.push(contentsOf: 0..<5 as Range<UInt64>)                 // slots 0–4
        #expect(try reader.popMany(10) == [0, 1, 2, 3, 4])
        try writer.push(contentsOf: (5..<11 as Range<UInt64>).lazy.map { $0 })   // wraps: slots 5–7, 0–2
        #expect(try reader.popMany(10) == [5, 6, 7, 8, 9, 10])
        try [UInt64](11..<14).withUnsafeBufferPointer { try writer.push(contentsOf: $0) }
        try writer.push(contentsOf: [UInt64](14..<16))
        #expect(try reader.popMany(10) == Array(11..<16))
        try writer.push(contentsOf: 16..<36 as Range<UInt64>)               // 20 items into 8 slots
        #expect(try reader.popMany(10) == Array(28..<36))
        #expect(reader.missedCount == 12)
        if itemSize == 3 { expectError(.valueDoesNotFit) { try writer.push(contentsOf: [1, 1 << 24] as Set<UInt64>) } }
        #expect(writer.nextSequence == 36)
    }

    @Test func withNextItemReadsInPlaceAndNeverReturnsWhatWasOverwrittenMeanwhile() throws {
        var writer = try directory.createBuffer("in-place", itemSize: 16, length: 4)
        var reader = try directory.openReader("in-place")
        #expect(try reader.withNextItem { _ in 1 } == nil)
        for value in UInt64(0)..<3 { try writer.push(value) }
        #expect(try reader.withNextItem { $0.count } == 16)
        // Lapped while the body runs: the writer overwrites the slot being read, and more.
        var seen: [UInt64] = []
        let returned = try reader.withNextItem { bytes -> UInt64 in
            let value = bytes.load(as: UInt64.self)
            seen.append(value)
            if seen.count == 1 { for next in UInt64(3)..<10 { try? writer.push(next) } }
            return value
        }
        #expect(seen == [1, 6])          // it looked at item 1, which was overwritten meanwhile,
        #expect(returned == 6)           // so it returns the oldest item left (length 4 of 10),
        #expect(reader.missedCount == 5) // and counts 1 ... 5 as missed
        #expect(try reader.withNextItem { $0.load(as: UInt64.self) } == 7)
    }

    @Test func popManyIntoACallersBufferCopiesWithoutAllocating() throws {
        var writer = try directory.createBuffer("into", itemSize: 4, length: 8)
        var reader = try directory.openReader("into")
        try writer.push(contentsOf: [1, 2, 3, 4, 5])
        var destination = [UInt64](repeating: 0, count: 3)
        let first = try destination.withUnsafeMutableBufferPointer { try reader.popMany(into: $0) }
        #expect(first == 3 && destination == [1, 2, 3])
        let second = try destination.withUnsafeMutableBufferPointer { try reader.popMany(into: $0) }
        #expect(second == 2 && destination[0..<2] == [4, 5])
        #expect(try destination.withUnsafeMutableBufferPointer { try reader.popMany(into: $0) } == 0)
    }

    // MARK: Wrap-around, every start position

    /// For small rings, every count of pushes around the wrap: a reader opened afterwards sees
    /// exactly the `length` most recent items, and one that was open all along sees the same
    /// and counts the rest as missed.
    @Test(arguments: [2, 3, 5, 8])
    func theRingHoldsTheLengthMostRecentItems(length: Int) throws {
        for pushes in 0...(3 * length + 1) {
            let name = "wrap-\(length)-\(pushes)"
            var writer = try directory.createBuffer(name, itemSize: 8, length: length)
            var early = try directory.openReader(name)
            for value in 0..<UInt64(pushes) { try writer.push(value) }
            var late = try directory.openReader(name)
            let expected = (max(0, pushes - length)..<pushes).map(UInt64.init)
            #expect(try late.popMany(100) == expected, "length \(length), pushes \(pushes)")
            #expect(late.missedCount == 0)
            #expect(try early.popMany(100) == expected, "length \(length), pushes \(pushes)")
            #expect(early.missedCount == UInt64(max(0, pushes - length)), "length \(length), pushes \(pushes)")
            #expect(writer.usage == min(pushes, length))
        }
    }

    @Test func aLappedReaderSkipsToTheOldestItemAndCountsItsLosses() throws {
        var writer = try directory.createBuffer("lap", itemSize: 8, length: 8)
        var reader = try directory.openReader("lap")
        for value in 0..<3 { try writer.push(value) }
        #expect(try reader.popItem() == 0)
        for value in 3..<100 { try writer.push(value) }
        #expect(try reader.popMany(100) == Array(92..<100))
        #expect(reader.missedCount == 91)   // 1 and 2 were waiting too: 1..91 were overwritten
        #expect(reader.nextSequence == 100)
    }

    @Test func aReaderCanStartAtTheLatestItem() throws {
        var writer = try directory.createBuffer("latest", itemSize: 8, length: 8)
        for value in 0..<5 { try writer.push(value) }
        var reader = try directory.openReader("latest", start: .latest)
        #expect(try reader.popItem() == nil)
        try writer.push(5)
        #expect(try reader.popMany(10) == [5])
    }

    // MARK: Names and sizes

    @Test(arguments: ["", ".", "..", "../x", "a/b", "/abs", ".hidden", "nul\0byte", "tab\there", "sp ace", "ünï", String(repeating: "x", count: 201)])
    func badNamesAreRefusedBeforeAnythingIsCreated(name: String) throws {
        expectError(.invalidArgument) {
            _ = try directory.createBuffer(name, itemSize: 8, length: 4)
        }
        expectError(.invalidArgument) { _ = try directory.openReader(name) }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        #expect(entries.allSatisfy { !$0.hasSuffix(".ring") && !$0.hasSuffix(".tmp") })
    }

    @Test func aNameWithControlCharactersIsShownEscapedInOneLine() throws {
        for (name, shown) in [("new\nline", "new\\u{a}line"), ("bell\u{7}", "bell\\u{7}"), ("nul\0", "nul\\u{0}"), (".\t", ".\\u{9}")] {
            do {
                _ = try directory.createBuffer(name, itemSize: 8, length: 4)
                Issue.record("\(shown) was accepted")
            } catch {
                #expect(error.message.contains("\"\(shown)\""), "\(error.message)")
                #expect(!error.message.unicodeScalars.contains { $0.value < 0x20 }, "\(error.message)")
            }
        }
    }

    @Test func validNamesWork() throws {
        for name in ["a", "sensor.temp", "x_y-z:1@host+2", String(repeating: "n", count: 200)] {
            var writer = try directory.createBuffer(name, itemSize: 1, length: 2)
            try writer.push(1)
            var reader = try directory.openReader(name)
            #expect(try reader.popItem() == 1)
        }
    }

    @Test(arguments: [(0, 4), (-1, 4), (1, 1), (1, 0), (1, -5), (1 << 25, 2), (1 << 20, 1 << 21), (Int.max, Int.max), (8, Int.max)])
    func badSizesAreRefusedBeforeAnythingIsCreated(itemSize: Int, length: Int) throws {
        expectError(.invalidArgument) {
            _ = try directory.createBuffer("sized", itemSize: itemSize, length: length)
        }
        expectError(.notFound) { _ = try directory.openReader("sized") }
        #expect(!FileManager.default.fileExists(atPath: directory.ringPath(of: "sized")))
    }

    @Test func aReaderDiscoversSizesAndChecksThoseItIsGiven() throws {
        _ = try directory.createBuffer("sizes", itemSize: 24, length: 100)
        let reader = try SharedCircularBuffer(name: "sizes", directory: directory)
        #expect(reader.itemSize == 24 && reader.length == 100)
        expectError(.invalidArgument) {
            _ = try SharedCircularBuffer(name: "sizes", itemSize: 8, directory: directory)
        }
        expectError(.invalidArgument) {
            _ = try SharedCircularBuffer(name: "sizes", length: 99, directory: directory)
        }
    }

    @Test func openingAMissingNameIsNotFound() throws {
        expectError(.notFound) { _ = try directory.openReader("nobody") }
        expectError(.notFound) { _ = try directory.takeOver("nobody") }
        expectError(.notFound) { try directory.removeBuffer("nobody") }
        expectError(.notFound) { _ = try SharedCircularBuffer(name: "nobody", directory: directory) }
    }

    // MARK: Writers: create, close, take over, remove

    @Test func creatingANameWithALiveWriterNamesItsPID() throws {
        let writer = try directory.createBuffer("live", itemSize: 8, length: 4)
        do {
            _ = try directory.createBuffer("live", itemSize: 8, length: 4)
            Issue.record("a second create succeeded")
        } catch {
            #expect(error.code == .bufferAlreadyCreated)
            #expect(error.message.contains("PID \(getpid())"), "\(error)")
            #expect(error.message.contains("alive"))
        }
        expectError(.writerBusy) { _ = try directory.takeOver("live") }
        writer.close()
    }

    @Test func creatingANameWhoseWriterIsGoneSaysHowToTakeOver() throws {
        var writer = try directory.createBuffer("gone", itemSize: 8, length: 4)
        try writer.push(1)
        writer.close()
        do {
            _ = try directory.createBuffer("gone", itemSize: 8, length: 4)
            Issue.record("a second create succeeded")
        } catch {
            #expect(error.code == .bufferAlreadyCreated)
            #expect(error.message.contains("gone") && error.message.contains("take it over"), "\(error)")
        }
    }

    @Test func aTakenOverBufferContinuesItsSequence() throws {
        var writer = try directory.createBuffer("resume", itemSize: 8, length: 16)
        for value in 0..<10 { try writer.push(value) }
        writer.close()
        #expect(try eventually { try directory.hasLiveWriter("resume") == false })

        var next = try directory.takeOver("resume")
        #expect(next.nextSequence == 10)
        #expect(try directory.hasLiveWriter("resume"))
        try next.push(10)
        var reader = try directory.openReader("resume")
        #expect(try reader.popMany(100) == Array(0...10))
        #expect(try directory.record(of: "resume").writerPID == getpid())
    }

    @Test func removeIsRefusedWhileAWriterLivesUnlessForced() throws {
        let writer = try directory.createBuffer("rm", itemSize: 8, length: 4)
        expectError(.writerBusy) { try directory.removeBuffer("rm") }
        try directory.removeBuffer("rm", force: true)
        expectError(.notFound) { _ = try directory.openReader("rm") }
        #expect(!FileManager.default.fileExists(atPath: directory.ringPath(of: "rm")))
        writer.close()

        let other = try directory.createBuffer("rm2", itemSize: 8, length: 4)
        other.close()
        try SharedCircularBuffer.remove(name: "rm2", directory: directory)
        #expect(try directory.buffers().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary.path).filter { $0.hasSuffix(".ring") }.isEmpty)
    }

    @Test func filesAreOwnerOnly() throws {
        let nested = DataDirectory(path: temporary.path + "/nested/data")
        _ = try nested.createBuffer("perm", itemSize: 8, length: 4)
        let attributes = { (path: String) in
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        }
        #expect(try attributes(nested.ringPath(of: "perm")) == 0o600)
        #expect(try attributes(nested.path + "/registry.sqlite") == 0o600)
        #expect(try attributes(nested.path) == 0o700)
        #expect(try attributes(temporary.path + "/nested") == 0o700)
    }

    @Test(.enabled(if: FileManager.default.isWritableFile(atPath: "/dev/shm")))
    func aDataDirectoryUnderDevShmWorks() throws {
        let path = "/dev/shm/cbuff-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let shm = DataDirectory(path: path)
        var writer = try shm.createBuffer("in-memory", itemSize: 8, length: 64)
        var reader = try shm.openReader("in-memory")
        try writer.push(contentsOf: [1, 2, 3])
        #expect(try reader.popMany(5) == [1, 2, 3])
        #expect(FileManager.default.fileExists(atPath: path + "/in-memory.ring"))
    }

    /// `ItemIntegrity.automatic`, the default: check words where a machine crash can tear the
    /// file (on a disk), none in memory (`/dev/shm`), where it loses the file whole; the other
    /// two wherever asked.
    @Test(.enabled(if: FileManager.default.isWritableFile(atPath: "/dev/shm")))
    func slotsCarryCheckWordsByDefaultOnlyWhereAMachineCrashCanTearThem() throws {
        let path = "/dev/shm/cbuff-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let shm = DataDirectory(path: path)
        func version(_ directory: DataDirectory, _ name: String) throws -> (version: Int, inMemory: Bool?) {
            let ring = try #require(try directory.status(of: name).ring)
            return (ring.formatVersion, ring.inMemory)
        }
        try shm.createBuffer("auto", itemSize: 8, length: 64).close()
        try shm.createBuffer("checked", itemSize: 8, length: 64, integrity: .checked).close()
        try shm.createBuffer("fields", layout: try ItemLayout("time:u64"), length: 64).close()
        #expect(try version(shm, "auto") == (2, true) && version(shm, "checked") == (4, true) && version(shm, "fields") == (3, true))
        try directory.createBuffer("auto", itemSize: 8, length: 64).close()
        try directory.createBuffer("unchecked", itemSize: 8, length: 64, integrity: .unchecked).close()
        let here = try version(directory, "auto")
        #expect(here.version == (here.inMemory == true ? 2 : 4), "\(directory.path) in memory: \(String(describing: here.inMemory))")
        #expect(try version(directory, "unchecked").version == 2)
        // A ring longer than check words allow is refused when they are asked for, and made
        // without them by default (on a disk too: ItemIntegrity.checksSlots).
        expectError(.invalidArgument) { try shm.createBuffer("long", itemSize: 1, length: (1 << 30) + 1, integrity: .checked).close() }
        #expect(!ItemIntegrity.automatic.checksSlots(inMemory: false, length: (1 << 30) + 1))
        #expect(ItemIntegrity.automatic.checksSlots(inMemory: false, length: 1 << 30))
        // A data directory reached through a symbolic link is where the link leads (in memory).
        let link = temporary.path + "/to-shm"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        try DataDirectory(path: link).createBuffer("linked", itemSize: 8, length: 64).close()
        #expect(try version(shm, "linked") == (2, true))
    }

    /// A writer taking over a ring with check words settles what its predecessor left ahead of
    /// it (`RingPublisher.settle`): after a clean close in this boot, nothing; it does not read
    /// the ring (16,384 pages here), which a whole-lap look would fault in.
    @Test func aTakeOverAfterACleanCloseDoesNotReadTheWholeRing() throws {
        var writer = try directory.createBuffer("long", itemSize: 8, length: 1 << 22, integrity: .checked)
        try writer.push(contentsOf: UInt64(0)..<1000)
        writer.close()
        func minorFaults() -> Int {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return usage.ru_minflt
        }
        let before = minorFaults()
        var taken = try directory.takeOver("long")
        let faults = minorFaults() - before
        #expect(faults < 100, "the take-over faulted in \(faults) times (a whole-lap look: some 440, the kernel mapping up to 16 pages a fault)")
        try taken.push(1000)
        var reader = try directory.openReader("long", at: 998)
        #expect(try reader.popMany(5) == [998, 999, 1000])
    }

    @Test func theDataDirectoryComesFromTheArgumentThenTheEnvironment() {
        #expect(DataDirectory.resolve("/x/y/").path == "/x/y")
        if let fromEnvironment = ProcessInfo.processInfo.environment["CBUFF_DIR"], !fromEnvironment.isEmpty {
            #expect(DataDirectory.resolve().path == DataDirectory(path: fromEnvironment).path)
        } else {
            #expect(DataDirectory.resolve().path == DataDirectory.defaultPath)
        }
        #expect(DataDirectory.defaultPath.hasPrefix("/"))
    }

    // MARK: Waiting

    @Test func aBlockingPopTimesOut() throws {
        _ = try directory.createBuffer("idle", itemSize: 8, length: 4)
        var reader = try directory.openReader("idle")
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try reader.pop(timeout: .milliseconds(120)) == nil)
        let elapsed = clock.now - start
        #expect(elapsed >= .milliseconds(120) && elapsed < .seconds(5), "\(elapsed)")
    }

    @Test func aBlockingPopIsWokenByAPushFromAnotherThread() async throws {
        var writer = try directory.createBuffer("wake", itemSize: 8, length: 4)
        let path = temporary.path
        let waiter = Task.detached { () throws -> UInt64? in
            var reader = try DataDirectory(path: path).openReader("wake")
            return try reader.pop(timeout: .seconds(20))
        }
        // The reader may or may not be asleep yet: either way it must get the item.
        try writer.push(77)
        #expect(try await waiter.value == 77)
    }
}
