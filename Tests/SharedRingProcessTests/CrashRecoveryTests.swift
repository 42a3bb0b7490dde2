import Foundation
import Testing
import TestSupport
@testable import SharedRing
import SharedRingProtocol
import SharedRingCommon

/// The recovery of a version-4 message ring after a machine crash (`Sources/Ring/MessageRecovery.swift`),
/// with real processes and real files: a writer process (its boot set by `CBUFF_TEST_BOOT_ID`)
/// pushes, syncs, pushes more and is killed (SIGKILL); the file is then damaged as a power loss
/// damages it, a page or a 512-byte sector replaced by an older version of itself (snapshots taken
/// with `pread` while the writer runs, at the points its output names) or by zeros; this test
/// process, whose boot is another, then finds the ring needing a recovery.
@Suite struct CrashRecoveryTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    static let earlierBoot = ["CBUFF_TEST_BOOT_ID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"]
    static let otherBoot = ["CBUFF_TEST_BOOT_ID": "11111111-2222-3333-4444-555555555555"]
    /// 64 KiB of data area; messages of 8–120 bytes; 300 synced, then 150 and 150 more: 600
    /// records of about 12 words, which fit without wrapping.
    static let capacity = 65536, max = 120, synced: UInt64 = 300, more: UInt64 = 150
    static let dataOffset = 4096

    /// The file at each point: after the sync, after the first `more`, and as the killed writer left it.
    struct Crash {
        let path: String
        let afterSync: [UInt8]
        let middle: [UInt8]
        let final: [UInt8]
        let durable: UInt64
        let pushed: UInt64
    }

    /// One kind of power-loss damage: which bytes of the final file go back to which version.
    struct Damage: Sendable, CustomTestStringConvertible {
        let name: String
        /// (offset, length, source: 0 zeros, 1 after the sync, 2 the middle snapshot)
        let region: @Sendable (_ final: [UInt8], _ crash: (afterSync: UInt64, middle: UInt64)) -> (offset: Int, length: Int, source: Int)
        var testDescription: String { name }
    }

    /// Byte offset in the file of word position `position` (no wrap in these rings).
    static func byte(_ position: UInt64) -> Int { dataOffset + Int(position) * 8 }

    static let damages: [Damage] = [
        // The page where the synced messages end goes back to its synced version: the first
        // unsynced records in it become zeros.
        Damage(name: "stale page at the durable end") { _, p in ((byte(p.afterSync) / 4096) * 4096, 4096, 1) },
        // A page in the middle of the synced messages is zeroed: durable messages lost there only.
        Damage(name: "zeroed page of synced messages") { _, p in ((byte(p.afterSync / 2) / 4096) * 4096, 4096, 0) },
        // The 512-byte sector where the middle snapshot ended goes back to that version.
        Damage(name: "stale sector after the middle") { _, p in ((byte(p.middle) / 512) * 512, 512, 2) },
        // The header page goes back to its synced version: its counters name 300 messages while
        // 600 lie in the data area (which a consumer may have seen).
        Damage(name: "stale header page") { _, _ in (0, 4096, 1) },
    ]

    /// Creates ring `name` here, has a writer process of an earlier boot push, sync, push more
    /// and die, snapshotting the file at each point.
    /// `whileAlive` runs before the kill (a live writer of another boot makes nothing pending).
    func crash(_ name: String, capacity: Int = Self.capacity, whileAlive: () throws -> Void = {}) throws -> Crash {
        try directory.createMessageBuffer(name, capacity: capacity, maxMessageSize: Self.max).close()
        let path = directory.ringPath(of: name)
        let writer = try ChildProcess("cbuff-test-agent", ["crash-writer", dir, name, "\(Self.synced)", "\(Self.max)"], environment: Self.earlierBoot)
        defer { writer.kill(); writer.wait() }
        let durable = try #require(writer.expectLine(startingWith: "synced").flatMap { UInt64($0.dropFirst(7)) })
        let afterSync = try Self.pread(path)
        writer.send("more \(Self.more)")
        _ = try #require(writer.expectLine(startingWith: "pushed"))
        let middle = try Self.pread(path)
        writer.send("more \(Self.more)")
        let pushed = try #require(writer.expectLine(startingWith: "pushed").flatMap { UInt64($0.dropFirst(7)) })
        try whileAlive()
        writer.kill(SIGKILL)
        #expect(writer.wait() == 128 + SIGKILL)
        return Crash(path: path, afterSync: afterSync, middle: middle, final: try Self.pread(path), durable: durable, pushed: pushed)
    }

    /// Applies `damage` to the crashed file; returns the sequences whose records are still
    /// exactly as written (the record's bytes unchanged), which must all be delivered.
    func damage(_ crash: Crash, _ damage: Damage) throws -> [UInt64] {
        let published = { (bytes: [UInt8]) in Self.word(bytes, RingLayout.Offset.published) }
        let (offset, length, source) = damage.region(crash.final, (published(crash.afterSync), published(crash.middle)))
        var bytes = crash.final
        let from: [UInt8] = source == 1 ? crash.afterSync : source == 2 ? crash.middle : [UInt8](repeating: 0, count: bytes.count)
        bytes.replaceSubrange(offset..<(offset + length), with: from[offset..<(offset + length)])
        #expect(bytes != crash.final, "the damage \(damage.name) changed nothing")
        try Self.pwrite(crash.path, bytes)
        var intact: [UInt64] = []
        for record in Self.records(crash.final) where bytes[record.bytes] == crash.final[record.bytes] {
            intact.append(record.sequence)
        }
        return intact
    }

    /// The message records of a ring that never wrapped, as its writer left them.
    static func records(_ bytes: [UInt8]) -> [(sequence: UInt64, bytes: Range<Int>)] {
        var found: [(UInt64, Range<Int>)] = []
        var position: UInt64 = 0
        let published = word(bytes, RingLayout.Offset.published)
        while position < published {
            let first = word(bytes, byte(position))
            let words = 4 + ((first & 0xFFFF_FFFF) + 7) / 8
            found.append((word(bytes, byte(position) + 8), byte(position)..<byte(position + words)))
            position += words
        }
        return found
    }

    static func word(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        bytes[offset..<(offset + 8)].enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    static func pread(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw POSIXError(.ENOENT) }
        defer { close(fd) }
        var size = stat()
        fstat(fd, &size)
        var bytes = [UInt8](repeating: 0, count: Int(size.st_size))
        let count = bytes.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress, $0.count, 0) }
        #expect(count == bytes.count)
        return bytes
    }

    static func pwrite(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw POSIXError(.ENOENT) }
        defer { close(fd) }
        let count = bytes.withUnsafeBytes { Glibc.pwrite(fd, $0.baseAddress, $0.count, 0) }
        #expect(count == bytes.count)
    }

    /// Reads everything from the oldest message; every delivered message must be exactly the one
    /// written under its sequence.
    func readAll(_ name: String) throws -> (sequences: [UInt64], missed: UInt64) {
        var reader = try directory.openMessageReader(name)
        var sequences: [UInt64] = []
        while let message = try reader.pop() {
            #expect(TestMessage.check(message.bytes, sequence: message.sequence, max: Self.max), "message \(message.sequence) is not what was written")
            sequences.append(message.sequence)
        }
        return (sequences, reader.missedCount)
    }

    /// The take-over recovers: the writer continues above every sequence any process ever saw,
    /// and the ring then holds exactly the intact messages, then the new one.
    @Test(arguments: damages)
    func takeOverRecoversAndContinuesAboveEverySequence(_ kind: Damage) throws {
        let crash = try crash("t")
        let intact = try damage(crash, kind)
        #expect(directory.recoveryPendingForTests("t"))
        var writer = try directory.takeOverMessages("t")
        #expect(writer.nextSequence >= crash.pushed, "\(kind.name): next \(writer.nextSequence), but \(crash.pushed) were pushed")
        let next = writer.nextSequence
        try writer.push(TestMessage.bytes(next, max: Self.max))
        writer.close()
        let read = try readAll("t")
        #expect(read.sequences == intact + [next], "\(kind.name): delivered \(read.sequences.count), intact \(intact.count)")
        #expect(read.missed == next + 1 - UInt64(read.sequences.count), "\(kind.name): missed \(read.missed)")
        let durable = intact.filter { $0 < crash.durable }
        #expect(Set(durable).isSubset(of: read.sequences), "\(kind.name): a durable intact message was not delivered")
        #expect(try directory.verify("t").isIntact)
        #expect(!directory.recoveryPendingForTests("t"))
    }

    /// A reader opened first recovers: it delivers exactly the intact messages, each as written,
    /// counting the lost ones as missed; a writer taking over afterwards continues, and the
    /// reader counts the jump to its first message too. A named reader committed inside a lost
    /// span resumes at the lost record before it and counts what was lost.
    @Test(arguments: damages)
    func aReaderRecoversAndDeliversExactlyTheIntactMessages(_ kind: Damage) throws {
        let crash = try crash("r")
        let intact = try damage(crash, kind)
        var reader = try directory.openMessageReader("r")
        var sequences: [UInt64] = []
        while let message = try reader.pop() {
            #expect(TestMessage.check(message.bytes, sequence: message.sequence, max: Self.max), "message \(message.sequence) is not what was written")
            sequences.append(message.sequence)
        }
        #expect(sequences == intact, "\(kind.name): delivered \(sequences.count), intact \(intact.count)")
        #expect(reader.missedCount == UInt64(intact.last! + 1) - UInt64(intact.count), "\(kind.name): missed \(reader.missedCount)")
        #expect(reader.lostInCrashCount == reader.missedCount, "\(kind.name): lost \(reader.lostInCrashCount) of \(reader.missedCount) missed")
        var writer = try directory.takeOverMessages("r")
        let next = writer.nextSequence
        #expect(next >= crash.pushed)
        try writer.push(TestMessage.bytes(next, max: Self.max))
        let message = try #require(try reader.pop())
        #expect(message.sequence == next && TestMessage.check(message.bytes, sequence: next, max: Self.max))
        #expect(reader.missedCount == next - UInt64(intact.count), "\(kind.name): missed \(reader.missedCount) in all")
        writer.close()
    }

    /// A recovery killed midway (SIGKILL inside it, at each of its steps) leaves a ring the next
    /// open recovers again, to the same messages.
    @Test(arguments: ["recovery-first-span", "recovery-repaired", "recovery-published"])
    func aRecoveryKilledMidwayRunsAgain(_ point: String) throws {
        let crash = try crash("k")
        let intact = try damage(crash, Self.damages[0])
        let opener = try ChildProcess("cbuff-test-agent", ["open-messages", dir, "k"],
                                      environment: Self.otherBoot.merging(["CBUFF_TEST_KILL_AT": point]) { $1 })
        #expect(opener.wait() == 128 + SIGKILL, "the recovery was not killed at \(point)")
        #expect(directory.recoveryPendingForTests("k"))
        let read = try readAll("k")
        #expect(read.sequences == intact, "\(point): delivered \(read.sequences.count), intact \(intact.count)")
        // What it records is what one recovery, not cut short, records.
        let recovery = try directory.status(of: "k").ring?.lastRecovery
        #expect(recovery?.lostMessages == UInt64(intact.last! + 1) - UInt64(intact.count) && recovery?.lostRanges == 1, "\(point): \(String(describing: recovery))")
        var writer = try directory.takeOverMessages("k")
        #expect(writer.nextSequence >= crash.pushed)
        writer.close()
    }

    /// The operator's view: `inspect` and `verify` say a recovery is pending and change nothing;
    /// after it, `inspect` says when it ran and what it lost, `verify` reports the lost span as
    /// lost (exit 0: nothing else is damaged).
    @Test func inspectAndVerifyShowThePendingAndTheLastRecovery() throws {
        let crash = try crash("o")
        let intact = try damage(crash, Self.damages[1])
        let lost = crash.pushed - UInt64(intact.count)
        let before = try Self.pread(crash.path)
        let pending = try run("cbuff", ["--dir", dir, "inspect", "o"])
        #expect(pending.stdout.contains("recovery") && pending.stdout.contains("pending"), "\(pending)")
        let json = try run("cbuff", ["--dir", dir, "inspect", "o", "--json"])
        #expect(json.stdout.contains("\"recoveryPending\":true") && json.stdout.contains("\"lastRecovery\":null"), "\(json)")
        let verifying = try run("cbuff", ["--dir", dir, "verify", "o"])
        #expect(verifying.status == 65 && verifying.stdout.contains("pending"), "\(verifying)")
        #expect(try Self.pread(crash.path) == before, "inspect or verify changed the file")

        _ = try directory.openMessageReader("o")                  // recovers
        let inspected = try run("cbuff", ["--dir", dir, "inspect", "o"])
        #expect(inspected.stdout.contains("after a machine crash: \(lost) messages lost in 1 range ("), "\(inspected)")
        let verified = try run("cbuff", ["--dir", dir, "verify", "o"])
        #expect(verified.status == 0 && verified.stdout.contains("\(lost) messages") && verified.stdout.contains("lost in a machine crash"), "\(verified)")
        let report = try run("cbuff", ["--dir", dir, "verify", "o", "--json"])
        #expect(report.stdout.contains("\"recoveryPending\":false") && report.stdout.contains("\"isIntact\":true"), "\(report)")
        let tail = try run("cbuff", ["--dir", dir, "tail", "o"])
        #expect(tail.status == 0 && tail.stderr.contains("skipped \(lost) messages lost in a machine crash"), "\(tail.stderr)")
        let after = try run("cbuff", ["--dir", dir, "inspect", "o", "--json"])
        #expect(after.stdout.contains("\"lostMessages\":\(lost)") && after.stdout.contains("\"lostRanges\":1"), "\(after)")
    }

    /// A named reader that committed a position inside the span a crash damaged resumes at the
    /// lost record there, counts what was lost, and goes on with the intact messages after it.
    @Test func aNamedReaderCommittedInALostSpanResumesAndCountsTheLoss() throws {
        // Commit inside the page the damage zeroes (a quarter into the ring): at the message
        // whose record starts there, while the writer lives.
        var page = 0
        var found: (sequence: UInt64, bytes: Range<Int>)?
        let crash = try crash("n") {
            let now = try Self.pread(directory.ringPath(of: "n"))
            page = (Self.byte(Self.word(now, RingLayout.Offset.published) / 4) / 4096) * 4096
            found = Self.records(now).first { $0.bytes.lowerBound > page && $0.bytes.upperBound < page + 4096 }
            var named = try directory.openMessageReader("n", named: "kept")
            while let message = try named.pop() { if message.sequence + 1 == found?.sequence { break } }
            named.close()                                       // commits the position of `inside`
        }
        let inside = try #require(found)
        var bytes = try Self.pread(crash.path)
        bytes.replaceSubrange(page..<(page + 4096), with: [UInt8](repeating: 0, count: 4096))
        try Self.pwrite(crash.path, bytes)
        let intact = Self.records(crash.final).filter { bytes[$0.bytes] == crash.final[$0.bytes] }.map(\.sequence)
        var resumed = try directory.openMessageReader("n", named: "kept")
        var sequences: [UInt64] = []
        while let message = try resumed.pop() {
            #expect(TestMessage.check(message.bytes, sequence: message.sequence, max: Self.max))
            sequences.append(message.sequence)
        }
        #expect(sequences == intact.filter { $0 >= inside.sequence })
        let firstAfter = try #require(sequences.first)
        #expect(resumed.missedCount == firstAfter - inside.sequence, "missed \(resumed.missedCount)")
    }

    /// The message records of a ring from its tail to `published`, wrapped or not, as the
    /// header of `bytes` names them (padding passed).
    static func chain(_ bytes: [UInt8]) -> [(sequence: UInt64, bytes: Range<Int>)] {
        let words = word(bytes, 464) / 8
        func at(_ position: UInt64) -> Int { dataOffset + Int(position % words) * 8 }
        var found: [(UInt64, Range<Int>)] = []
        var position = word(bytes, RingLayout.Offset.messageTail)
        let published = word(bytes, RingLayout.Offset.published)
        while position < published {
            let first = word(bytes, at(position))
            if first >> 32 == 2 { position += first & 0xFFFF_FFFF; continue }
            let recordWords = 4 + ((first & 0xFFFF_FFFF) + 7) / 8
            found.append((word(bytes, at(position) + 8), at(position)..<(at(position) + Int(recordWords) * 8)))
            position += recordWords
        }
        return found
    }

    /// In a ring that lapped many times (16 KiB: the 600 messages fill it about 3.5 times, with
    /// padding at its end): a page in the middle of what it holds zeroed, or back to its version
    /// at the sync (older laps' records, each matching its check word under its old sequence),
    /// or one sector back to the middle snapshot. Exactly the intact messages are delivered,
    /// then the take-over continues above every sequence.
    @Test(arguments: [0, 1, 2])
    func aLappedRingRecoversToExactlyItsIntactMessages(_ source: Int) throws {
        let crash = try crash("w", capacity: 16384)
        let chain = Self.chain(crash.final)
        let middle = chain[chain.count / 2].bytes.lowerBound
        let (offset, length) = source == 2 ? ((middle / 512) * 512, 512) : ((middle / 4096) * 4096, 4096)
        var bytes = crash.final
        let from = source == 1 ? crash.afterSync : source == 2 ? crash.middle : [UInt8](repeating: 0, count: bytes.count)
        bytes.replaceSubrange(offset..<(offset + length), with: from[offset..<(offset + length)])
        #expect(bytes != crash.final)
        try Self.pwrite(crash.path, bytes)
        let intact = chain.filter { bytes[$0.bytes] == crash.final[$0.bytes] }.map(\.sequence)
        #expect(intact.count < chain.count, "the damage hit no message")
        let read = try readAll("w")
        #expect(read.sequences == intact, "source \(source): delivered \(read.sequences.count), intact \(intact.count) of \(chain.count)")
        #expect(read.missed == intact.last! + 1 - intact.first! - UInt64(intact.count), "missed \(read.missed)")
        var writer = try directory.takeOverMessages("w")
        #expect(writer.nextSequence >= crash.pushed)
        for _ in 0..<200 { try writer.push(TestMessage.bytes(writer.nextSequence, max: Self.max)) }   // laps the lost records
        writer.close()
        #expect(try directory.verify("w").isIntact)
        let again = try readAll("w")
        #expect(again.sequences == Array(again.sequences.sorted()) && Set(again.sequences).count == again.sequences.count)
    }

    /// On a read-only data directory nothing is repaired: a reader says once why, and skips the
    /// damage instead of stopping at it, delivering exactly the intact messages and counting the
    /// lost ones as a recovered ring's reader does. The read-only mount is made in a private mount
    /// namespace (`unshare --mount`), as `CauseTests` does.
    @Test(arguments: [0, 1])
    func aReadOnlyDirectoryIsReadSkippingTheDamage(_ which: Int) throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            print("CrashRecoveryTests: skipped the read-only mount check: it needs root and unshare")
            return
        }
        let crash = try crash("ro")
        // A zeroed page in the middle; or the oldest records too (the tail's record damaged:
        // the reader starts there without knowing the sequence).
        var bytes = crash.final
        let pages = which == 0 ? [(Self.byte(Self.word(crash.final, RingLayout.Offset.published) / 4) / 4096) * 4096] : [4096, 3 * 4096]
        for page in pages { bytes.replaceSubrange(page..<(page + 4096), with: [UInt8](repeating: 0, count: 4096)) }
        try Self.pwrite(crash.path, bytes)
        let intact = Self.records(crash.final).filter { bytes[$0.bytes] == crash.final[$0.bytes] }.map(\.sequence)
        let mounted = temporary.path + "-ro"
        mkdir(mounted, 0o700)
        defer { rmdir(mounted) }
        let agent = ChildProcess.executable("cbuff-test-agent").path
        let script = """
            mount --bind '\(dir)' '\(mounted)' && mount -o remount,bind,ro '\(mounted)' || exit 99
            '\(agent)' list-messages '\(mounted)' ro
            """
        let outcome = try run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script], timeout: 60)
        guard outcome.status != 99 else {
            print("CrashRecoveryTests: skipped the read-only mount check: cannot mount here (\(outcome.stderr))")
            return
        }
        #expect(outcome.status == 0, "\(outcome.stderr.suffix(3000))")
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        let delivered = lines.compactMap { line -> UInt64? in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let sequence = UInt64(parts[0]) else { return nil }
            let hex = Array(parts[1].utf8)
            let bytes = stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
            #expect(TestMessage.check(bytes, sequence: sequence, max: Self.max), "message \(sequence) is not what was written")
            return sequence
        }
        #expect(delivered == intact, "delivered \(delivered.count), intact \(intact.count): \(outcome.stderr)")
        let missed = lines.first { $0.hasPrefix("missed=") }.flatMap { UInt64($0.dropFirst(7)) }
        #expect(missed == intact.last! + 1 - intact.first! - UInt64(intact.count), "\(lines.last ?? "")")
        #expect(outcome.stderr.contains("needs a recovery, which a read-only data directory does not allow"), "\(outcome.stderr)")
        #expect(try Self.pread(crash.path) == bytes, "the read-only reader changed the file")
        #expect(directory.recoveryPendingForTests("ro"))
    }

    /// A ring closed after a sync is not recovered after a restart (nothing can be lost), and a
    /// ring whose writer of this boot is alive never is.
    @Test func aCleanSyncedCloseNeedsNoRecovery() throws {
        var writer = try directory.createMessageBuffer("c", capacity: 4096, maxMessageSize: 64)
        try writer.push("one")
        _ = try writer.sync()
        writer.close()
        #expect(try run("cbuff", ["--dir", dir, "inspect", "c"], environment: Self.otherBoot).stdout.contains("recovery pending") == false)
    }
}

extension DataDirectory {
    /// Whether buffer `name`'s ring waits for a recovery, looked at without changing it.
    func recoveryPendingForTests(_ name: String) -> Bool {
        (try? status(of: name).ring?.recoveryPending) == true
    }
}
