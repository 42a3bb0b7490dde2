internal import SharedRingSystem
internal import SharedRingCommon
internal import SharedRingProtocol
internal import SharedRingRegistry

// Named readers: registering or resuming one, removing one.
extension DataDirectory {
    /// Opens the *named* reader `readerName` of buffer `name`: its cursor lives in the ring file,
    /// so a restarted reader resumes where it stopped. The first open registers it, starting at
    /// `start`; later opens resume and ignore `start`.
    ///
    /// Delivery is **at least once**: an item counts as consumed when the reader asks for the
    /// next one (or calls ``BufferReader/commit()``, or closes). A reader killed while processing
    /// an item gets that item again when it restarts (with ``BufferReader/popMany(_:)``, the
    /// whole last batch); it never silently skips one. Items the writer overwrote while the
    /// reader was away are counted in ``BufferReader/missedCount``.
    ///
    /// - Throws: ``CBuffError/Code/readerBusy`` if a live process has this reader open;
    ///   ``CBuffError/Code/invalidArgument`` for a bad name or when the buffer already has its
    ///   maximum of 24 named readers.
    public func openReader(_ name: String, named readerName: String, start: ReadStart = .oldest) throws(CBuffError) -> BufferReader {
        try lifted { () throws(CBuffFailure) -> BufferReader in
            try openNamedReader(name, readerName, replayingFrom: nil) { file in file.startSequence(start.cursorStart) }
        }
    }

    /// Opens the named reader `readerName` of buffer `name` as
    /// ``openReader(_:named:start:)`` does, registering it (the first time) at item `sequence`:
    /// a replay that then persists. If that item was overwritten, the reader is registered at the
    /// oldest item present and counts the gap in ``BufferReader/missedCount``. A reader already
    /// registered resumes where it stopped and ignores `sequence`.
    ///
    /// - Parameters:
    ///   - name: the buffer's name.
    ///   - readerName: the reader's name.
    ///   - sequence: the first item wanted, at most ``BufferWriter/nextSequence``.
    /// - Throws: as ``openReader(_:named:start:)``; ``CBuffError/Code/invalidArgument`` for a
    ///   sequence beyond the next one to be published.
    public func openReader(_ name: String, named readerName: String, at sequence: UInt64) throws(CBuffError) -> BufferReader {
        try lifted { () throws(CBuffFailure) -> BufferReader in
            // Registered no lower than the oldest item present, so that the `block` policy's gate
            // never waits for a cursor on items already gone; the gap is counted.
            try openNamedReader(name, readerName, replayingFrom: sequence) { file in max(sequence, file.startSequence(.oldest)) }
        }
    }

    /// Claims named reader `readerName`; a new registration starts at what `start` says (asked
    /// under the table lock); for a replay from `requested`, items between it and that start
    /// were gone and are counted as missed.
    private func openNamedReader(_ name: String, _ readerName: String, replayingFrom requested: UInt64?,
                                 start: (borrowing RingFile) -> UInt64) throws(CBuffFailure) -> BufferReader {
        try ReaderTable.validate(readerName)
        let (registry, row) = try lookUp(name)
        let file = try openRing(of: row, trust: registry.trust, holding: .items)
        if let requested, requested > file.published { throw Self.beyondPublished(name, file.published, requested) }
        let record = try file.claimReader(readerName, bufferName: name, lockTimeoutNanos: lockTimeoutNanos) { start(file) }
        var reader = BufferReader(name: name, file: file, start: .oldest, record: record)
        if record.isNew, let requested, record.committed > requested { reader.countAsMissed(record.committed - requested) }
        // The ring file's record is the reader's truth, complete now; the registry row is for
        // scripts, so failing to write it (a full disk, say) is reported, not fatal: a
        // registration is never half done.
        do throws(CBuffFailure) {
            try registry.recordReader(buffer: name, reader: readerName, slot: record.index, pid: Sys.processID())
        } catch {
            reader.registryProblem = CBuffError(error)
        }
        return reader
    }

    /// Removes named reader `readerName` of buffer `name`, so that it no longer holds a place
    /// (nor, under the `block` policy, the writer).
    ///
    /// - Throws: ``CBuffError/Code/readerBusy`` if a live process has it open and `force` is false;
    ///   ``CBuffError/Code/notFound`` if there is no such reader.
    public func removeReader(_ readerName: String, of name: String, force: Bool = false) throws(CBuffError) {
        try lifted { () throws(CBuffFailure) in
            try ReaderTable.validate(readerName)
            let (registry, row) = try lookUp(name)
            let file = try openRing(of: row, trust: registry.trust)
            try file.withReaderTableLocked(timeoutNanos: lockTimeoutNanos) { () throws(CBuffFailure) in
                guard let index = file.readerTable.index(of: readerName) else {
                    throw CBuffFailure(.notFound, "Buffer \"\(name)\" has no named reader \"\(readerName)\".")
                }
                if !force && file.isReaderAlive(index) {
                    throw CBuffFailure(.readerBusy, "Named reader \"\(readerName)\" of buffer \"\(name)\" is in use by a live process (PID \(file.readerTable.pid(index))); stop it first or force the removal.")
                }
                file.removeReader(at: index)
            }
            try registry.deleteReader(buffer: name, reader: readerName)
        }
    }
}
