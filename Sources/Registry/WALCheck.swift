internal import SharedRingSystem
package import SharedRingCommon

/// A check of the registry's write-ahead log before SQLite reads it: the one place that
/// decides whether what a crash left in the log is SQLite's to recover or a loss to report.
///
/// ### How SQLite reads a log after a crash
///
/// (Format: https://www.sqlite.org/fileformat2.html#walformat; the reading is SQLite's
/// recovery, `walIndexRecover` and `walDecodeFrame` in `wal.c`, which the first process to open
/// the registry after a crash runs: it discards the old index, `-shm`, and rebuilds it from the
/// log.) A log shorter than its 32-byte header, or whose header has a wrong magic number, an
/// impossible page size or a checksum that does not match, is ignored whole. A header whose
/// checksum matches but whose version is unknown makes SQLite refuse to open the database.
/// Otherwise frames are read in order; a frame is valid when its salts equal the header's, its
/// page number is not 0 and its checksum, cumulative over the header and every frame before it,
/// matches. The first invalid frame ends the reading, and the log SQLite uses ends at the last
/// valid *commit* frame (one whose "database size after commit" is not 0): every frame after
/// it, whole or broken, is dropped as a transaction that never committed.
///
/// ### Why dropping that tail is a normal state, not damage
///
/// The registry commits with `synchronous = FULL` (set on every connection, see `Registry`):
/// a commit returns only after its frames were synced, the next transaction writes nothing
/// before that, and a log that restarts writes and syncs its new header before any frame of
/// its own. So after a machine crash the frames past the last commit are those of the one
/// transaction that was being written, never acknowledged to anyone: torn, half written,
/// written out of order (its commit frame on disk, an earlier frame not: issue 26's false
/// alarm), or an older log's frames under other salts. cbuff accepts every such log, exactly as
/// SQLite does, and SQLite drops exactly that tail.
///
/// ### What is damage
///
/// Only what no crash leaves, and what SQLite itself would not recover from:
///
/// - a header with a matching checksum and an unknown version (SQLite refuses the database);
/// - a WAL index (`-shm`) *changed during this boot* that records as committed frames SQLite's
///   reading of the log does not reach and that are not yet copied into `registry.sqlite`: its
///   header (both copies equal, initialised, its checksum matching, the log's salts) counts
///   `mxFrame` frames, more than the last valid commit frame and more than the checkpoint
///   copied (`nBackfill`). SQLite updates the index only after those frames were synced, so
///   they were on disk and were damaged since (a bad sector, a hostile edit): a transaction
///   acknowledged to its writer, and every one after it, would vanish silently. The index is
///   read before the log, so that a transaction committing meanwhile is only ever seen in the
///   log, never counted by an index it outran.
///
/// ### An index from before this boot says nothing
///
/// SQLite never syncs the index: it is a shared memory map of `-shm`, whose pages reach the
/// disk whenever the kernel writes them back. Within one boot every process sees its current
/// version (the page cache), so its words are exact. After a machine crash the file on disk
/// holds *some* past version of it, and its `nBackfill` is as stale as its `mxFrame`: frames
/// it counts as not yet copied may have been copied into `registry.sqlite` (and synced) by a
/// checkpoint it never recorded, and then overwritten by a log that restarted (issue 26, F5:
/// every command exited 65 over a registry SQLite reads whole). SQLite itself throws that
/// index away at the first open after a reboot and rebuilds it from the log. So does this:
/// an index whose file was last changed before this boot began (its `st_mtime` before the
/// real-time clock less `CLOCK_BOOTTIME`) is not read, and the log is judged as SQLite reads
/// it. Any use of the registry during this boot changes the file (the first connection resets
/// it), so an index that counts is one of this boot. A state this cannot tell from damage is
/// accepted, as SQLite accepts it: a real-time clock set back after boot (or a board with no
/// clock that starts in 1970), which makes a current index look older than the boot, only
/// makes this check SQLite's own.
///
/// A committed transaction whose frames are damaged with no index counting them (the index
/// was lost too, never written back before a power loss, or is from before the reboot)
/// cannot be told from the tail of a transaction that never committed, by cbuff or by SQLite:
/// SQLite drops it, and so does this. The registry file alone, checkpointed after every
/// change, is the record that survives.
package enum WALCheck {
    package static let headerSize = 32
    static let frameHeaderSize = 24
    /// The bytes of the WAL index that hold its two header copies and the checkpoint record.
    static let indexHeaderBytes = 136

    /// What SQLite makes of a log (see above).
    package struct Reading: Sendable {
        /// The log's salts (its header's bytes 16–23, as big-endian words), or nil when SQLite
        /// ignores the whole log or refuses it.
        package var salts: (UInt32, UInt32)?
        /// The number of the last valid commit frame (1-based); 0 when none.
        package var lastCommit = 0
        /// Why the reading stopped before the end of the file, if it did: for the sentence.
        package var stop: String?
        /// The unknown version of a header SQLite refuses (its checksum matches), if it is one.
        package var refusedVersion: UInt32?
    }

    /// Throws `corrupted` if the WAL `wal` of `trust`'s directory is damaged in a way no crash
    /// leaves (`shm` is its index); see above.
    package static func verify(wal walEntry: String, shm shmEntry: String, trust: FileTrust) throws(CBuffFailure) {
        let walPath = trust.path(of: walEntry)
        // The index first (see above), and only one changed during this boot.
        let index = (try? readAll(shmEntry, trust: trust, limit: indexHeaderBytes)).flatMap { $0 }
            .flatMap { $0.info.modifiedNanos >= Sys.bootRealtimeNanos() ? $0.bytes : nil }
        // A log larger than this (the registry's is a few pages: every change is checkpointed)
        // is left to SQLite whole: a prefix of it could not be judged.
        guard let wal = try readAll(walEntry, trust: trust, limit: 64 << 20, whole: true)?.bytes, !wal.isEmpty else { return }
        if let problem = damage(wal: wal, index: index) {
            throw CBuffFailure(.corrupted, "The registry's write-ahead log \(walPath) is damaged (\(problem)): SQLite would silently drop the changes committed there. Restore the registry from a backup (see docs/registry.md), or move the log and its index (registry.sqlite-wal, registry.sqlite-shm) aside to accept losing them.")
        }
    }

    /// Why log `wal` with index `index` is damaged, or nil when SQLite's reading of it loses
    /// nothing that was committed (see above).
    package static func damage(wal: [UInt8], index: [UInt8]?) -> String? {
        let reading = read(wal)
        if let version = reading.refusedVersion {
            return "its header has the unknown version \(version), which SQLite refuses"
        }
        guard let index = IndexHeader(index), index.maxFrame > index.backfilled, index.maxFrame > reading.lastCommit else { return nil }
        guard let salts = reading.salts else {
            // SQLite ignores the whole log. Lost commits only if the index counts frames of
            // this log: the salts its header's place holds, or its first frame's.
            let logs = [16, 40].filter { wal.count >= $0 + 8 }.map { (load32(wal, $0, bigEndian: true), load32(wal, $0 + 4, bigEndian: true)) }
            guard logs.contains(where: { $0 == index.salts }) else { return nil }
            return "its header is not a valid log header, so SQLite ignores the log, but its index records frames up to \(index.maxFrame) as committed"
        }
        guard index.salts == salts else { return nil }
        return "its index records frames up to \(index.maxFrame) as committed, but \(reading.stop ?? "the log ends") after frame \(reading.lastCommit)"
    }

    /// The log as SQLite's recovery reads it (see above).
    package static func read(_ wal: [UInt8]) -> Reading {
        var reading = Reading()
        guard wal.count >= headerSize else { return reading }
        let magic = load32(wal, 0, bigEndian: true)
        let pageSize = Int(load32(wal, 8, bigEndian: true))
        guard magic & 0xFFFF_FFFE == 0x377F_0682, pageSize & (pageSize - 1) == 0, pageSize >= 512, pageSize <= 65536 else { return reading }
        let bigEndianSums = magic & 1 == 1
        var sums = checksum(wal, 0..<24, bigEndian: bigEndianSums, seed: (0, 0))
        guard sums == (load32(wal, 24, bigEndian: true), load32(wal, 28, bigEndian: true)) else { return reading }
        let version = load32(wal, 4, bigEndian: true)
        guard version == 3_007_000 else {
            reading.refusedVersion = version
            return reading
        }
        let salts = (load32(wal, 16, bigEndian: true), load32(wal, 20, bigEndian: true))
        reading.salts = salts
        let frameSize = frameHeaderSize + pageSize
        var frame = 1
        var offset = headerSize
        while offset + frameSize <= wal.count {
            guard (load32(wal, offset + 8, bigEndian: true), load32(wal, offset + 12, bigEndian: true)) == salts else {
                reading.stop = "frame \(frame) has other salts"
                return reading
            }
            guard load32(wal, offset, bigEndian: true) != 0 else {
                reading.stop = "frame \(frame) names page 0"
                return reading
            }
            sums = checksum(wal, offset..<(offset + 8), bigEndian: bigEndianSums, seed: sums)
            sums = checksum(wal, (offset + frameHeaderSize)..<(offset + frameSize), bigEndian: bigEndianSums, seed: sums)
            guard sums == (load32(wal, offset + 16, bigEndian: true), load32(wal, offset + 20, bigEndian: true)) else {
                reading.stop = "frame \(frame) fails its checksum"
                return reading
            }
            if load32(wal, offset + 4, bigEndian: true) != 0 { reading.lastCommit = frame }
            frame += 1
            offset += frameSize
        }
        if offset < wal.count { reading.stop = "frame \(frame) is cut short" }
        return reading
    }

    /// The header of a WAL index (the first 136 bytes of `-shm`), when it is one SQLite would
    /// use: its two copies equal, initialised, its checksum matching. Its words are in the
    /// host's byte order (little-endian: every host cbuff runs on), the salts copied bytes of
    /// the log's header; the checkpoint's `nBackfill` follows the two copies, at 96.
    struct IndexHeader {
        let maxFrame: Int
        let salts: (UInt32, UInt32)
        let backfilled: Int

        init?(_ bytes: [UInt8]?) {
            guard let bytes, bytes.count >= indexHeaderBytes, bytes[0..<48] == bytes[48..<96], bytes[12] == 1,
                  checksum(bytes, 0..<40, bigEndian: false, seed: (0, 0)) == (load32(bytes, 40, bigEndian: false), load32(bytes, 44, bigEndian: false))
            else { return nil }
            maxFrame = Int(load32(bytes, 16, bigEndian: false))
            salts = (load32(bytes, 32, bigEndian: true), load32(bytes, 36, bigEndian: true))
            backfilled = Int(load32(bytes, 96, bigEndian: false))
        }
    }

    /// SQLite's WAL checksum: over pairs of 32-bit words, in the byte order the magic number says.
    package static func checksum(_ bytes: [UInt8], _ range: Range<Int>, bigEndian: Bool, seed: (UInt32, UInt32)) -> (UInt32, UInt32) {
        var (s0, s1) = seed
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            s0 = s0 &+ load32(bytes, i, bigEndian: bigEndian) &+ s1
            s1 = s1 &+ load32(bytes, i + 4, bigEndian: bigEndian) &+ s0
            i += 8
        }
        return (s0, s1)
    }

    private static func load32(_ bytes: [UInt8], _ offset: Int, bigEndian: Bool) -> UInt32 {
        let b = (UInt32(bytes[offset]), UInt32(bytes[offset + 1]), UInt32(bytes[offset + 2]), UInt32(bytes[offset + 3]))
        return bigEndian ? b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3 : b.3 << 24 | b.2 << 16 | b.1 << 8 | b.0
    }

    /// The file's first `limit` bytes and what it is, or nil if it does not exist (or, when
    /// `whole`, if it is longer than `limit`).
    private static func readAll(_ entry: String, trust: FileTrust, limit: Int, whole: Bool = false) throws(CBuffFailure) -> (bytes: [UInt8], info: Sys.FileInfo)? {
        let path = trust.path(of: entry)
        let fd: CInt
        let info: Sys.FileInfo
        do {
            (fd, info) = try trust.open(entry, writable: false, "registry file") { failure in CBuffFailure(.notFound, "", cause: failure) }
        } catch {
            if error.code == .notFound { return nil }
            throw error
        }
        defer { Sys.close(fd) }
        if whole && info.size > limit { return nil }
        let size = min(limit, info.size)
        if size == 0 { return ([], info) }
        var bytes = [UInt8](repeating: 0, count: size)
        let count = try bytes.withUnsafeMutableBytes { Sys.read(fd, into: $0, at: 0) }.orThrow { .system($0, "read the registry file \(path)") }
        return (Array(bytes[..<count]), info)
    }
}
