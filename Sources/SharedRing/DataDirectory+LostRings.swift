internal import SharedRingSystem
internal import SharedRingCommon
internal import SharedRingProtocol
internal import SharedRingRegistry

/// A registered buffer's ring file that holds no ring: what a machine crash can leave under a
/// registry row even though creation syncs the file before the row commits (issue 26), on a
/// file system that lost the file's data or its name anyway, or what a file deleted or zeroed
/// by hand leaves.
///
/// The one rule for the library, the CLI and the Python package (`python/src/cbuff/_api.py`,
/// `_lost_ring`): a file is lost when it is missing, or when every byte of it is zero (an empty
/// file included; the header's place is read first, the rest only when that is all zeros).
/// Such a file holds nothing: deleting it loses nothing. A file with any byte set, however
/// damaged — a zeroed header over slots that still hold items, say, which a machine crash can
/// leave when the header's page is lost and the others are not — could be read by hand: it is
/// never lost, and keeps the rules of a damaged file (refused with `corrupted`, removed only by
/// an explicit `rm NAME`). (The first version looked at the header alone, and `rm --dead`
/// deleted such a file's items.)
enum LostRing: Equatable {
    /// No file at all.
    case missing
    /// A regular file of `size` bytes, every one of them zero.
    case zeroed(size: Int)
}

extension DataDirectory {
    /// What is at ring file `entry` of `trust` when it holds no ring (see ``LostRing``); nil for
    /// anything else: a ring file, sound or damaged; a link, FIFO or other file cbuff does not
    /// open; a file that cannot be examined or read (which therefore keeps its rules).
    static func lostRing(_ entry: String, in trust: FileTrust) -> LostRing? {
        let present: Sys.FileInfo?
        do throws(CBuffFailure) {
            present = try trust.checkIfPresent(entry, "ring file")
        } catch {
            return nil
        }
        guard present != nil else { return .missing }
        let fd: CInt, info: Sys.FileInfo
        do throws(CBuffFailure) {
            (fd, info) = try trust.open(entry, writable: false, "ring file") { CBuffFailure(.notFound, "", cause: $0) }
        } catch {
            return error.code == .notFound ? .missing : nil
        }
        defer { Sys.close(fd) }
        var header = [UInt8](repeating: 0xFF, count: min(info.size, RingLayout.headerSize))
        guard !header.isEmpty else { return .zeroed(size: 0) }
        guard case .success(let count) = header.withUnsafeMutableBytes({ Sys.read(fd, into: $0, at: 0) }),
              count == header.count, header.allSatisfy({ $0 == 0 }) else { return nil }
        var chunk = [UInt8](repeating: 0xFF, count: 1 << 16)
        var offset = header.count
        while offset < info.size {
            guard case .success(let read) = chunk.withUnsafeMutableBytes({ Sys.read(fd, into: $0, at: offset) }), read > 0,
                  chunk[..<read].allSatisfy({ $0 == 0 }) else { return nil }
            offset += read
        }
        return .zeroed(size: info.size)
    }

    /// The state of buffer `name`'s lost ring file, in words, and the one command that
    /// recovers it.
    func lostRingSentence(_ name: String, _ lost: LostRing) -> String {
        let path = ringPath(of: name)
        let quoted = name.escapingControlCharacters
        switch lost {
        case .missing:
            return "its ring file \(path) is missing (lost in a machine crash, deleted by hand, or its removal was interrupted); nothing is left to read: `cbuff rm \(quoted)` removes its registry row"
        case .zeroed(let size):
            let what = size == 0 ? "is empty (0 bytes)" : "holds only zeros (\(size) bytes)"
            return "its ring file \(path) \(what), with no ring header (what a machine crash soon after its creation can leave); nothing is left to read: `cbuff rm \(quoted)` removes the row and the file"
        }
    }

    /// The failure of every command that opens buffer `name`, whose ring file is lost.
    func lostRingFailure(_ name: String, _ lost: LostRing, cause: (any Error & Sendable)? = nil) -> CBuffFailure {
        CBuffFailure(.corrupted, "Buffer \"\(name.escapingControlCharacters)\" is registered but \(lostRingSentence(name, lost)).", cause: cause)
    }

    /// `failure`, met opening buffer `name`'s ring file, said as the lost-ring sentence when
    /// the file holds no ring (see ``LostRing``); otherwise `failure` itself.
    func explainingLostRing(_ failure: CBuffFailure, of name: String, in trust: FileTrust) -> CBuffFailure {
        guard failure.code == .corrupted || failure.code == .notFound,
              let lost = Self.lostRing(BufferRow.fileName(of: name), in: trust) else { return failure }
        return lostRingFailure(name, lost, cause: failure.cause)
    }
}
