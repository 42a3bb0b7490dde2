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
        package let found: DeadWriter?
    }

    private static let entries = Locked<[UInt: Entry]>([:])  // by the address of the mapping
    private static let installed = Locked<Bool>(false)

    /// Lists a writer that has just attached (its header records this process), with the dead
    /// writer it took over from, if any.
    package static func add(_ header: HeaderWords, found: DeadWriter?) {
        installed.withLock { done in
            if !done { Sys.atExit { AttachedWriters.closeAll() }; done = true }
        }
        let owner = Sys.processID()
        entries.withLock { $0[UInt(bitPattern: header.base)] = Entry(header: header, owner: owner, found: found) }
    }

    /// Takes a writer off the list, before it closes (and its mapping goes): the dead writer it
    /// took over from, if any.
    package static func remove(_ header: HeaderWords) -> DeadWriter? {
        entries.withLock { $0.removeValue(forKey: UInt(bitPattern: header.base)) }?.found
    }

    /// The exit handler: closes every writer this process attached and has not closed.
    private static func closeAll() {
        let me = Sys.processID()
        let open = entries.withLock { table in
            defer { table.removeAll() }
            return table.values.filter { $0.owner == me }
        }
        for entry in open { entry.header.markClosed(leaving: entry.found) }
    }
}

/// What a take-over found in the header of a writer that died (attached, its lock free): the
/// crash's evidence, and the counters then, to tell whether the new writer wrote anything
/// (`published` and the message tail: never `claimed`, which a dead writer's interrupted write
/// may leave ahead, and a new writer's first items do not move).
package struct DeadWriter: Sendable {
    let pid: UInt32
    let startTime: UInt64
    let published: UInt64
    let messageTail: UInt64

    /// The dead writer `header` records, or nil if its last writer closed or none attached.
    init?(_ header: HeaderWords) {
        guard header.writerState.pointee.load(ordering: .acquiring) == RecordedWriterState.attached.rawValue else { return nil }
        pid = header.writerPID.pointee.load(ordering: .relaxed)
        startTime = header.writerStartTime.pointee.load(ordering: .relaxed)
        published = header.published.pointee.load(ordering: .relaxed)
        messageTail = header.messageTail.pointee.load(ordering: .relaxed)
    }
}

extension HeaderWords {
    /// The writer's last steps, from its deinit or at exit: record the time of the last write,
    /// store `closed` (release: whoever then finds the lock free and loads `closed` knows the
    /// writer left on purpose), and wake sleeping readers so that they notice. The lock itself
    /// is released when the descriptor closes (or the process ends).
    ///
    /// A writer that took over from one that died (`found`) and wrote nothing (it only waited
    /// for room, say, and was interrupted) leaves the crash's evidence as it found it: the dead
    /// writer's PID and start time, `attached` with no lock, so that the buffer still reads as
    /// died, as before this writer came. (Its own attaching is counted in the generation.)
    func markClosed(leaving found: DeadWriter? = nil) {
        if let found, published.pointee.load(ordering: .relaxed) == found.published,
           messageTail.pointee.load(ordering: .relaxed) == found.messageTail {
            writerPID.pointee.store(found.pid, ordering: .relaxed)
            writerStartTime.pointee.store(found.startTime, ordering: .relaxed)
            writerState.pointee.store(RecordedWriterState.attached.rawValue, ordering: .releasing)
        } else {
            lastWriteAt.pointee.store(Sys.realtimeNanos(), ordering: .relaxed)
            writerState.pointee.store(RecordedWriterState.closed.rawValue, ordering: .releasing)
        }
        wakeReaders()
    }
}
