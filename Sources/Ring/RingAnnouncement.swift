package import SharedRingCommon
internal import SharedRingSystem

/// A ring file held open so that its sleeping readers can be told of a change that moves none
/// of its counters: its removal. Opened before the change (afterwards the name is gone), it
/// wakes them after it (``wakeReaders()``): each then looks at the file and finds it unlinked
/// at once, where otherwise it would find out at the end of its own longest wait (`RingWatch`,
/// "Being told, instead of looking every so often").
///
/// The file is not validated: only opened as every ring file is (a regular file the directory
/// trusts, with one name: never another buffer's), and only if it is at least a header long,
/// of which just the first page is mapped (guarded against a truncation as every mapping is).
/// The wake is K3–K5 of `FutexSleep` on the readers' futex word, what any waker does: harmless
/// to a ring in any state. A file that cannot be opened wakes nobody; its readers notice later.
package struct RingAnnouncement: ~Copyable {
    let descriptor: CInt
    let size: Int

    /// Opens ring file `entry` of `directory`, or nil if it cannot be (missing, not a ring file
    /// the directory trusts, shorter than a header).
    package init?(_ entry: String, in directory: FileTrust) {
        guard let (fd, info) = try? directory.open(entry, writable: true, "ring file", notFound: { .system($0, "") }) else { return nil }
        guard info.links == 1, info.size >= RingLayout.headerSize else {
            Sys.close(fd)
            return nil
        }
        descriptor = fd
        size = info.size
    }

    deinit {
        Sys.close(descriptor)
    }

    /// Wakes every reader sleeping on the ring (they look again, and sleep on if nothing changed).
    package func wakeReaders() {
        guard case .success(let mapping) = Sys.mapShared(descriptor, size: RingLayout.headerSize) else { return }
        HeaderWords(base: mapping.base, claimedOffset: RingLayout.Offset.claimed(.overwrite)).wakeReaders()
        Sys.unmap(mapping)
    }
}
