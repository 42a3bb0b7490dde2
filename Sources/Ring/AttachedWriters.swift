internal import Synchronization
internal import SharedRingSystem

/// The writers this process has attached, so that a normal exit closes them cleanly.
///
/// A writer held in a global (a `main.swift` variable, a static) is never deinitialised: the
/// process simply ends. Without this, its buffer would read as "died without closing", which
/// must mean a crash, a kill or a power loss. So every writer is listed here while it is open,
/// and an `atexit` handler marks the ones still listed closed, as `BufferWriter`'s deinit
/// would. Only the process that attached a writer closes it: a child that forked without exec
/// and then exits leaves its parent's writer alone. A process that dies by a signal or `_exit`
/// runs no handler, and its writers read as died, which they did.
package enum AttachedWriters {
    private struct Entry {
        package let header: HeaderWords
        package let owner: Int32
    }

    private static let entries = Locked<[UInt: Entry]>([:])  // by the address of the mapping
    private static let installed = Locked<Bool>(false)

    /// Lists a writer that has just attached (its header records this process).
    package static func add(_ header: HeaderWords) {
        installed.withLock { done in
            if !done { Sys.atExit { AttachedWriters.closeAll() }; done = true }
        }
        let owner = Sys.processID()
        entries.withLock { $0[UInt(bitPattern: header.base)] = Entry(header: header, owner: owner) }
    }

    /// Takes a writer off the list, before it closes (and its mapping goes).
    package static func remove(_ header: HeaderWords) {
        _ = entries.withLock { $0.removeValue(forKey: UInt(bitPattern: header.base)) }
    }

    /// The exit handler: closes every writer this process attached and has not closed.
    private static func closeAll() {
        let me = Sys.processID()
        let open = entries.withLock { table in
            defer { table.removeAll() }
            return table.values.filter { $0.owner == me }
        }
        for entry in open { entry.header.markClosed() }
    }
}

extension HeaderWords {
    /// The writer's last steps, from its deinit or at exit: record the time of the last write,
    /// store `closed` (release: whoever then finds the lock free and loads `closed` knows the
    /// writer left on purpose), and wake sleeping readers so that they notice. The lock itself
    /// is released when the descriptor closes (or the process ends).
    func markClosed() {
        lastWriteAt.pointee.store(Sys.realtimeNanos(), ordering: .relaxed)
        writerState.pointee.store(RecordedWriterState.closed.rawValue, ordering: .releasing)
        wakeReaders()
    }
}
