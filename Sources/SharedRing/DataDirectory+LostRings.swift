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
    /// No file at all; `temporaries` are the temporary ring files of that name that are there
    /// and hold something (`.NAME.PID.N.tmp`, no live creator): a machine crash that loses a
    /// create's rename leaves the buffer, items and all, under such a name (issue 26), and
    /// renaming it back recovers it (the same file: its creation time is the row's).
    case missing(temporaries: [String])
    /// A regular file of `size` bytes, every one of them zero.
    case zeroed(size: Int)

    /// Whether nothing of the buffer can be anywhere: no file, or only zeros, and no temporary
    /// file that may be it. Only then may `rm --dead` remove its row on its own.
    var holdsNothing: Bool {
        if case .missing(let temporaries) = self { temporaries.isEmpty } else { true }
    }
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
        guard present != nil else { return .missing(temporaries: temporaryRings(of: entry, in: trust)) }
        let fd: CInt, info: Sys.FileInfo
        do throws(CBuffFailure) {
            (fd, info) = try trust.open(entry, writable: false, "ring file") { CBuffFailure(.notFound, "", cause: $0) }
        } catch {
            return error.code == .notFound ? .missing(temporaries: temporaryRings(of: entry, in: trust)) : nil
        }
        defer { Sys.close(fd) }
        return zeroed(fd, info)
    }

    /// The temporary ring files of ring file `entry`'s buffer (`.NAME.PID.N.tmp`) that may be
    /// that buffer: no live process holds them (a creator at work does) and they hold
    /// something (not only zeros). In name order.
    static func temporaryRings(of entry: String, in trust: FileTrust) -> [String] {
        let name = entry.dropLast(".ring".count)
        guard let entries = try? trust.entries() else { return [] }
        return entries.filter { candidate in
            guard candidate.hasPrefix(".\(name)."), creatorOfTemporaryRing(candidate) != nil,
                  candidate.dropFirst(name.count + 2).split(separator: ".").count == 3,
                  (try? RingFile.writerIsAlive(candidate, in: trust)) == false,
                  let (fd, info) = try? trust.open(candidate, writable: false, "ring file", notFound: { CBuffFailure(.notFound, "", cause: $0) })
            else { return false }
            defer { Sys.close(fd) }
            return zeroed(fd, info) == nil
        }.sorted()
    }

    /// `.zeroed` when every byte of open file `fd` is zero, else nil.
    private static func zeroed(_ fd: CInt, _ info: Sys.FileInfo) -> LostRing? {
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
        case .missing(let temporaries) where !temporaries.isEmpty:
            let there = temporaries.map { entryPath($0) }
            let recovery = there.count == 1 ? "`mv \(there[0]) \(path)` recovers the buffer if it is that file"
                : "renaming the one that is the buffer's back to \(path) (`mv`) recovers it"
            return "its ring file \(path) is missing, and \(there.joined(separator: ", ")) \(there.count == 1 ? "is" : "are") there under the temporary name a create gives its ring file (a machine crash can lose the rename that names it): \(recovery); otherwise `cbuff rm \(quoted)` removes its registry row"
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
