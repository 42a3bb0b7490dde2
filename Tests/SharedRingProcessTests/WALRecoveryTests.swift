import Foundation
import GRDB
import Testing
import TestSupport
import SharedRing

/// The registry's write-ahead log after a crash (issue 26): what SQLite recovers by dropping
/// the frames after the last valid commit is accepted, exactly as SQLite accepts it; only a
/// loss of what was committed is an error. Each log is built byte by byte (SQLite's WAL format)
/// from the real pages of a real registry, which the `cbuff` tool wrote: the pages of a
/// registry holding buffer "a", then "a" and "b", then "a", "b" and "c". Each case puts the
/// first as `registry.sqlite` and a log over it, then asks the `cbuff` binary, the library,
/// and SQLite itself (through GRDB, on a copy) which buffers are registered.
@Suite struct WALRecoveryTests {
    /// The three registry images, and the data directory they came from (its ring files).
    struct Images {
        let source: TemporaryDirectory
        let pageSize: Int
        /// Registry file bytes: with "a"; with "a", "b"; with "a", "b", "c".
        let a: [UInt8], ab: [UInt8], abc: [UInt8]
    }

    static func images() throws -> Images {
        let source = try TemporaryDirectory()
        func registry() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: source.path + "/registry.sqlite"))) }
        var shots: [[UInt8]] = []
        for name in ["a", "b", "c"] {
            let created = try run("cbuff", ["--dir", source.path, "create", name, "--item-size", "8", "--length", "16"])
            #expect(created.status == 0, "\(created)")
            shots.append(try registry())   // every change is checkpointed into the file
        }
        try FileManager.default.removeItem(atPath: source.path + "/c.ring")   // "c" is the transaction that never commits
        let raw = Int(shots[0][16]) << 8 | Int(shots[0][17])
        return Images(source: source, pageSize: raw == 1 ? 65536 : raw, a: shots[0], ab: shots[1], abc: shots[2])
    }

    /// A WAL written as SQLite writes one (https://www.sqlite.org/fileformat2.html#walformat),
    /// little-endian checksums (magic 0x377f0682), as on this host.
    struct Log {
        let pageSize: Int
        let salts: (UInt32, UInt32)
        var bytes: [UInt8] = []
        var sums: (UInt32, UInt32) = (0, 0)

        init(pageSize: Int, salts: (UInt32, UInt32) = (0x1234_5678, 0x9ABC_DEF0)) {
            self.pageSize = pageSize
            self.salts = salts
            for word in [0x377F_0682, 3_007_000, UInt32(pageSize), 0, salts.0, salts.1] { append32(word) }
            sums = Self.checksum(bytes, seed: (0, 0))
            append32(sums.0)
            append32(sums.1)
        }

        mutating func append32(_ word: UInt32) {
            bytes += [UInt8(word >> 24), UInt8(word >> 16 & 0xFF), UInt8(word >> 8 & 0xFF), UInt8(word & 0xFF)]
        }

        static func checksum(_ bytes: some Collection<UInt8>, seed: (UInt32, UInt32)) -> (UInt32, UInt32) {
            var (s0, s1) = seed
            let words = Array(bytes)
            for i in stride(from: 0, to: words.count, by: 8) {
                func le(_ at: Int) -> UInt32 { UInt32(words[at]) | UInt32(words[at + 1]) << 8 | UInt32(words[at + 2]) << 16 | UInt32(words[at + 3]) << 24 }
                s0 = s0 &+ le(i) &+ s1
                s1 = s1 &+ le(i + 4) &+ s0
            }
            return (s0, s1)
        }

        /// The frames of one transaction: every page of `after` that differs from `before`, in
        /// page order, the last one its commit frame; salted with `salts` (the log's unless given).
        mutating func transaction(from before: [UInt8], to after: [UInt8], salts other: (UInt32, UInt32)? = nil) -> [Range<Int>] {
            let pages = stride(from: 0, to: after.count, by: pageSize).filter { start in
                start + pageSize > before.count || before[start..<(start + pageSize)] != after[start..<(start + pageSize)]
            }
            var frames: [Range<Int>] = []
            for (index, start) in pages.enumerated() {
                let begin = bytes.count
                let salt = other ?? salts
                append32(UInt32(start / pageSize + 1))
                append32(index == pages.count - 1 ? UInt32(after.count / pageSize) : 0)
                append32(salt.0)
                append32(salt.1)
                let page = after[start..<(start + pageSize)]
                sums = Self.checksum(Array(bytes[begin..<(begin + 8)]) + page, seed: sums)
                append32(sums.0)
                append32(sums.1)
                bytes += page
                frames.append(begin..<bytes.count)
            }
            return frames
        }

        /// A WAL index header (`-shm`) as SQLite keeps it, counting `maxFrame` frames of this log
        /// as committed and none copied into the database.
        func index(maxFrame: Int) -> [UInt8] {
            var header = [UInt8](repeating: 0, count: 48)
            func put(_ word: UInt32, at offset: Int) { for i in 0..<4 { header[offset + i] = UInt8(word >> (8 * i) & 0xFF) } }
            put(3_007_000, at: 0)
            put(1, at: 8)                       // iChange
            header[12] = 1                      // isInit
            header[14] = UInt8(pageSize & 0xFF) // szPage (u16, native)
            header[15] = UInt8(pageSize >> 8 & 0xFF)
            put(UInt32(maxFrame), at: 16)
            put(sums.0, at: 24)
            put(sums.1, at: 28)
            header.replaceSubrange(32..<40, with: bytes[16..<24])   // the salts: the log header's bytes
            let check = Self.checksum(header[0..<40], seed: (0, 0))
            put(check.0, at: 40)
            put(check.1, at: 44)
            return header + header + [UInt8](repeating: 0, count: 40)   // nBackfill 0
        }
    }

    /// Puts `registry` and `log` (and `index`, or no index) into a copy of the images' data
    /// directory, and returns it.
    static func directory(_ images: Images, log: [UInt8], index: [UInt8]? = nil, registry: [UInt8]? = nil) throws -> TemporaryDirectory {
        let copy = try TemporaryDirectory()
        for name in ["a.ring", "b.ring"] {
            try FileManager.default.copyItem(atPath: images.source.path + "/" + name, toPath: copy.path + "/" + name)
        }
        try Data(registry ?? images.a).write(to: URL(fileURLWithPath: copy.path + "/registry.sqlite"))
        try Data(log).write(to: URL(fileURLWithPath: copy.path + "/registry.sqlite-wal"))
        if let index {
            try Data(index + [UInt8](repeating: 0, count: 32768 - index.count)).write(to: URL(fileURLWithPath: copy.path + "/registry.sqlite-shm"))
        }
        for entry in try FileManager.default.contentsOfDirectory(atPath: copy.path) {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: copy.path + "/" + entry)
        }
        return copy
    }

    /// The buffers SQLite itself reads from `directory`'s registry and log (on a copy: opening
    /// recovers the log and may rewrite it).
    static func sqliteReads(_ directory: TemporaryDirectory) throws -> [String] {
        let copy = try TemporaryDirectory()
        for suffix in ["", "-wal"] {
            try FileManager.default.copyItem(atPath: directory.path + "/registry.sqlite" + suffix, toPath: copy.path + "/registry.sqlite" + suffix)
        }
        let queue = try DatabaseQueue(path: copy.path + "/registry.sqlite")
        return try queue.read { try String.fetchAll($0, sql: "SELECT name FROM buffers ORDER BY name") }
    }

    /// What a crash can leave after the transaction registering "b" committed, while the one
    /// registering "c" was being written: each is SQLite's to drop, and cbuff accepts it.
    enum Tail: String, CaseIterable, CustomStringConvertible {
        /// "c"'s frames written out of order: its first frame's page never reached the disk
        /// (zeros), its header and the later frames, its commit frame included, did (issue
        /// 26's false alarm).
        case outOfOrder
        /// "c"'s first frame never reached the disk at all, the later ones did.
        case firstFrameMissing
        /// "c"'s frames under other salts: an older log's frames in reused space.
        case wrongSalts
        /// "c"'s commit frame cut short: the file ends half way through it.
        case halfWrittenLastFrame
        /// "c"'s commit frame whole in length, but one 512-byte sector of its page holds other
        /// bytes than were written (the sector never reached the disk).
        case tornCommitFrame
        /// Nothing after "b".
        case none
        var description: String { rawValue }
    }

    @Test(arguments: Tail.allCases) func aTornUncommittedTransactionIsDroppedAsSQLiteDropsIt(tail: Tail) throws {
        let images = try Self.images()
        var log = Log(pageSize: images.pageSize)
        _ = log.transaction(from: images.a, to: images.ab)
        switch tail {
        case .outOfOrder:
            let frames = log.transaction(from: images.ab, to: images.abc)
            try #require(frames.count >= 2, "the transaction of \"c\" has \(frames.count) frame(s)")
            let page = (frames[0].lowerBound + 24)..<frames[0].upperBound
            log.bytes.replaceSubrange(page, with: [UInt8](repeating: 0, count: page.count))
        case .firstFrameMissing:
            let frames = log.transaction(from: images.ab, to: images.abc)
            try #require(frames.count >= 2, "the transaction of \"c\" has \(frames.count) frame(s)")
            log.bytes.replaceSubrange(frames[0], with: [UInt8](repeating: 0, count: frames[0].count))
        case .wrongSalts:
            _ = log.transaction(from: images.ab, to: images.abc, salts: (log.salts.0 &+ 1, log.salts.1))
        case .halfWrittenLastFrame:
            let frames = log.transaction(from: images.ab, to: images.abc)
            log.bytes.removeLast(frames.last!.count / 2)
        case .tornCommitFrame:
            let frames = log.transaction(from: images.ab, to: images.abc)
            let page = frames.last!.lowerBound + 24
            for offset in (page + 512)..<(page + 1024) { log.bytes[offset] ^= 0x5A }   // one sector holds what was there
        case .none:
            break
        }
        let directory = try Self.directory(images, log: log.bytes)
        #expect(try Self.sqliteReads(directory) == ["a", "b"], "\(tail): SQLite's own reading")
        let listed = try run("cbuff", ["--dir", directory.path, "list"])
        #expect(listed.status == 0 && listed.lines.dropFirst().map { String($0.prefix { $0 != " " }) } == ["a", "b"], "\(tail): \(listed)")
        #expect(try DataDirectory(path: directory.path).buffers().map(\.name) == ["a", "b"], "\(tail)")
        #expect(try run("cbuff", ["--dir", directory.path, "pop", "b"]).status == 0)
    }

    /// A frame of a committed transaction damaged while the WAL index records the transaction
    /// as committed: no crash leaves that (SQLite counts a frame only once it is synced), and
    /// SQLite would drop the transaction silently. It is an error, in words.
    @Test func aCommittedTransactionDamagedUnderItsIndexIsAnError() throws {
        let images = try Self.images()
        var log = Log(pageSize: images.pageSize)
        let frames = log.transaction(from: images.a, to: images.ab)
        let index = log.index(maxFrame: frames.count)
        log.bytes[frames[0].lowerBound + 24 + 200] ^= 0xFF
        let directory = try Self.directory(images, log: log.bytes, index: index)
        #expect(try Self.sqliteReads(directory) == ["a"], "SQLite drops \"b\" silently")
        let listed = try run("cbuff", ["--dir", directory.path, "list"])
        #expect(listed.status == 65 && listed.stderr.contains("write-ahead log") && listed.stderr.contains("frame 1 fails its checksum"), "\(listed)")
        #expect { try DataDirectory(path: directory.path).buffers() } throws: { ($0 as? CBuffError)?.code == .corrupted }
        // The same log whose index was lost too: nothing tells a damaged commit from a torn
        // one; SQLite drops it, and so does cbuff.
        let unindexed = try Self.directory(images, log: log.bytes)
        let again = try run("cbuff", ["--dir", unindexed.path, "list"])
        #expect(again.status == 0 && again.lines.count == 2, "\(again)")
    }

    /// What a machine crash can leave of an index SQLite never syncs (issue 26, F5): the `-shm`
    /// on disk an old version of itself, counting "b"'s transaction as committed and not yet
    /// copied, while in fact a checkpoint copied it into `registry.sqlite` (synced) and the log
    /// then restarted in place: its first frame is the next log's (other salts), or its header
    /// was torn. SQLite discards that index at its first open and loses nothing ("b" is in the
    /// file); so does cbuff, because the index's file was last changed before this boot. The
    /// same files with an index changed during this boot are damage (an index in the page
    /// cache is exact), and stay an error.
    enum Restart: String, CaseIterable, CustomStringConvertible {
        /// The next log's first frame (salt 1 + 1, as SQLite restarts a log) over frame 1.
        case firstFrameOfTheNextLog
        /// The log's header torn (its magic number zeros): SQLite ignores the log.
        case tornHeader
        var description: String { rawValue }
    }

    @Test(arguments: Restart.allCases) func anIndexFromBeforeThisBootSaysNothing(restart: Restart) throws {
        let images = try Self.images()
        var log = Log(pageSize: images.pageSize)
        let frames = log.transaction(from: images.a, to: images.ab)
        let index = log.index(maxFrame: frames.count)
        switch restart {
        case .firstFrameOfTheNextLog:
            let salt = log.salts.0 &+ 1
            for (offset, word) in [(8, salt), (12, UInt32.random(in: 0...UInt32.max))] {
                for b in 0..<4 { log.bytes[frames[0].lowerBound + offset + b] = UInt8(word >> (24 - 8 * b) & 0xFF) }
            }
        case .tornHeader:
            for b in 0..<4 { log.bytes[b] = 0 }
        }
        let directory = try Self.directory(images, log: log.bytes, index: index, registry: images.ab)
        #expect(try Self.sqliteReads(directory) == ["a", "b"], "\(restart): SQLite loses nothing")
        // Changed during this boot: an exact index over lost commits. An error, as before.
        let current = try run("cbuff", ["--dir", directory.path, "list"])
        #expect(current.status == 65 && current.stderr.contains("write-ahead log"), "\(restart): \(current)")
        // Last changed before this boot (a file that survived a reboot): SQLite's reading.
        var times = [timespec(tv_sec: 0, tv_nsec: 0), timespec(tv_sec: 0, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, directory.path + "/registry.sqlite-shm", &times, 0) == 0)
        let listed = try run("cbuff", ["--dir", directory.path, "list"])
        #expect(listed.status == 0 && listed.lines.dropFirst().map { String($0.prefix { $0 != " " }) } == ["a", "b"], "\(restart): \(listed)")
        #expect(try DataDirectory(path: directory.path).buffers().map(\.name) == ["a", "b"], "\(restart)")
    }

    /// A log header whose checksum matches but whose version SQLite does not know: SQLite
    /// refuses the database, and cbuff says why first.
    @Test func aLogOfAnUnknownVersionIsAnError() throws {
        let images = try Self.images()
        var log = Log(pageSize: images.pageSize)
        _ = log.transaction(from: images.a, to: images.ab)
        log.bytes[7] &+= 1
        let sums = Log.checksum(log.bytes[0..<24], seed: (0, 0))
        for (i, word) in [sums.0, sums.1].enumerated() {
            for b in 0..<4 { log.bytes[24 + 4 * i + b] = UInt8(word >> (24 - 8 * b) & 0xFF) }
        }
        let directory = try Self.directory(images, log: log.bytes)
        let listed = try run("cbuff", ["--dir", directory.path, "list"])
        #expect(listed.status == 65 && listed.stderr.contains("unknown version 3007001"), "\(listed)")
    }
}
