internal import SharedRingSystem
internal import SharedRingCommon

/// A check of the registry's write-ahead log before SQLite reads it.
///
/// SQLite reads a WAL up to its first frame whose checksum fails and silently ignores the rest:
/// one damaged byte would unregister every buffer committed after it, with no error anywhere.
/// cbuff checkpoints after every change (see `Registry.checkpoint`), so the WAL is normally
/// empty; when it is not, this looks for the signs of lost commits and makes them a loud
/// `corrupted` error instead:
///
/// - a header that is not a WAL header (bad magic, version or checksum) on a non-empty file;
/// - a frame of the current log (its salts match the header's) that fails its checksum, when a
///   later frame belongs to the current log too, or when the WAL index (`-shm`, read first, so
///   that a writer finishing a frame meanwhile cannot fool it) counts that frame as committed.
///
/// A frame that fails its checksum at the very end, uncounted by the index, is a write a killed
/// process never finished: SQLite rightly ignores it, and so does this check.
/// (Format: https://www.sqlite.org/fileformat2.html#walformat.)
enum WALCheck {
    package static let headerSize = 32
    static let frameHeaderSize = 24

    /// Throws `corrupted` if the WAL `wal` of `trust`'s directory has lost committed frames
    /// (`shm` is its index).
    package static func verify(wal walEntry: String, shm shmEntry: String, trust: FileTrust) throws(CBuffFailure) {
        let walPath = trust.path(of: walEntry)
        // The index first (see above): how many frames of which log SQLite knows are committed.
        let index = try? readAll(shmEntry, trust: trust, limit: 136)
        guard let wal = try readAll(walEntry, trust: trust, limit: 64 << 20), !wal.isEmpty else { return }
        func damaged(_ what: String) -> CBuffFailure {
            CBuffFailure(.corrupted, "The registry's write-ahead log \(walPath) is damaged (\(what)): SQLite would silently drop the changes committed after the damage. Restore the registry from a backup (see docs/registry.md), or move the log aside to accept losing them.")
        }
        guard wal.count >= headerSize else { throw damaged("it is \(wal.count) bytes, shorter than its header") }
        let magic = load32(wal, 0, bigEndian: true)
        guard magic == 0x377F_0682 || magic == 0x377F_0683 else { throw damaged("its header has no WAL magic number") }
        let bigEndianSums = magic & 1 == 1
        guard load32(wal, 4, bigEndian: true) == 3_007_000 else { throw damaged("its header has an unknown version") }
        let pageSize = Int(load32(wal, 8, bigEndian: true))
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0 || pageSize == 1 else {
            throw damaged("its header gives a page size of \(pageSize)")
        }
        var sums = checksum(wal, 0..<24, bigEndian: bigEndianSums, seed: (0, 0))
        guard sums == (load32(wal, 24, bigEndian: true), load32(wal, 28, bigEndian: true)) else {
            throw damaged("its header checksum does not match")
        }
        let salts = (load32(wal, 16, bigEndian: true), load32(wal, 20, bigEndian: true))
        let frameSize = frameHeaderSize + pageSize
        var frame = 0
        var offset = headerSize
        while offset + frameSize <= wal.count {
            let frameSalts = (load32(wal, offset + 8, bigEndian: true), load32(wal, offset + 12, bigEndian: true))
            guard frameSalts == salts else { return }   // the rest is an older log's, reused space
            sums = checksum(wal, offset..<(offset + 8), bigEndian: bigEndianSums, seed: sums)
            sums = checksum(wal, (offset + frameHeaderSize)..<(offset + frameSize), bigEndian: bigEndianSums, seed: sums)
            guard sums == (load32(wal, offset + 16, bigEndian: true), load32(wal, offset + 20, bigEndian: true)) else {
                // Frame `frame + 1` (1-based) is broken. Lost commits follow it, or the index counts it.
                var later = offset + frameSize
                while later + frameSize <= wal.count {
                    if (load32(wal, later + 8, bigEndian: true), load32(wal, later + 12, bigEndian: true)) == salts {
                        throw damaged("frame \(frame + 1) fails its checksum and later frames follow it")
                    }
                    later += frameSize
                }
                // The index header: mxFrame at 16 (native order), the log's salts at 32 (copied
                // bytes, so in the WAL header's big-endian order).
                if let index, index.count >= 48, (load32(index, 32, bigEndian: true), load32(index, 36, bigEndian: true)) == salts,
                   Int(load32(index, 16, bigEndian: false)) > frame {
                    throw damaged("frame \(frame + 1), which SQLite recorded as committed, fails its checksum")
                }
                return
            }
            frame += 1
            offset += frameSize
        }
    }

    /// SQLite's WAL checksum: over pairs of 32-bit words, in the byte order the magic number says.
    private static func checksum(_ bytes: [UInt8], _ range: Range<Int>, bigEndian: Bool, seed: (UInt32, UInt32)) -> (UInt32, UInt32) {
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

    /// The file's first `limit` bytes, or nil if it does not exist.
    private static func readAll(_ entry: String, trust: FileTrust, limit: Int) throws(CBuffFailure) -> [UInt8]? {
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
        let size = min(limit, info.size)
        if size == 0 { return [] }
        var bytes = [UInt8](repeating: 0, count: size)
        let count = try bytes.withUnsafeMutableBytes { Sys.read(fd, into: $0, at: 0) }.orThrow { .system($0, "read the registry file \(path)") }
        return Array(bytes[..<count])
    }
}
