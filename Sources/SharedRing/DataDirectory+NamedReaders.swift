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
        let opened = try openBuffer(name, holding: .items)
        let registry = opened.registry
        let file = opened.file
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
            let opened = try openBuffer(name)
            let registry = opened.registry
            let file = opened.file
            try file.withReaderTableLocked(timeoutNanos: lockTimeoutNanos) { () throws(CBuffFailure) in
                try file.checkReaderTable()
                guard let index = file.readerTable.index(of: readerName) else {
                    throw CBuffFailure(.notFound, "Buffer \"\(name)\" has no named reader \"\(readerName)\".")
                }
                if !force && file.readerIsAliveForRemoval(index) {
                    throw CBuffFailure(.readerBusy, "Named reader \"\(readerName)\" of buffer \"\(name)\" is in use by a live process (PID \(file.readerTable.pid(index))); stop it first or force the removal.")
                }
                file.removeReader(at: index)
            }
            try registry.deleteReader(buffer: name, reader: readerName)
        }
    }
}

/// Where ``DataDirectory/seekReader(_:of:to:)`` moves a named reader.
public enum ReaderPosition: Sendable, Hashable {
    /// The oldest item (or message) still in the ring.
    case oldest
    /// The next one to be published: it skips everything there now.
    case latest
    /// Item `sequence` (buffers of items): at most the next one to be published; one already
    /// overwritten moves it to the oldest present.
    case sequence(UInt64)
}

extension DataDirectory {
    /// Moves named reader `readerName` of buffer `name` to `position`, for an operator whose
    /// reader fell behind (or whose `block` writer waits for a reader that will not come back):
    /// it then resumes from there. Refused while a live process has the reader open.
    ///
    /// - Returns: the reader's new position (the next sequence it delivers).
    /// - Throws: ``CBuffError/Code/notFound`` if there is no such reader;
    ///   ``CBuffError/Code/readerBusy`` if a live process has it open (or opened it meanwhile);
    ///   ``CBuffError/Code/invalidArgument`` for a sequence beyond the next one to be published,
    ///   or a sequence in a buffer of messages (seek those to oldest or latest).
    @discardableResult
    public func seekReader(_ readerName: String, of name: String, to position: ReaderPosition) throws(CBuffError) -> UInt64 {
        // Everything that can refuse the move is checked before the reader is touched: a
        // refused seek leaves it where it was.
        let status = try status(of: name)
        let messages = status.record.holdsMessages
        if case .sequence(let sequence) = position {
            if messages {
                throw CBuffError(CBuffFailure(.invalidArgument, "A named reader of buffer \"\(name)\" (messages) moves to oldest or latest; a sequence is for buffers of items."))
            }
            if let written = status.ring?.written, sequence > written {
                throw CBuffError(CBuffFailure(.invalidArgument, "Buffer \"\(name)\" has published \(written) items (the next is sequence \(written)); reader \"\(readerName)\" cannot move to \(sequence). It was not moved."))
            }
        }
        guard status.ring?.readers.contains(where: { $0.name == readerName }) == true else {
            if let problem = status.problem { throw problem }
            throw CBuffError(CBuffFailure(.notFound, "Buffer \"\(name)\" has no named reader \"\(readerName)\"."))
        }
        // One change of the reader's record under the table lock (see `RingFile.seekReader`): a
        // process that opens the reader meanwhile either waits for the move to be complete or,
        // having it open first, makes the move refused; never does it see it half done.
        return try lifted { () throws(CBuffFailure) -> UInt64 in
            let opened = try openBuffer(name, holding: messages ? .messages : .items)
            let file = opened.file
            var sequenceThere: UInt64?
            let at = try file.seekReader(readerName, bufferName: name, lockTimeoutNanos: lockTimeoutNanos) { () throws(CBuffFailure) -> (position: UInt64, sequence: UInt64?) in
                if messages {
                    let point = try file.messageCursor(start: position == .oldest ? .oldest : .latest, record: nil).commitPoint
                    sequenceThere = point.sequence
                    return point
                }
                switch position {
                case .oldest: return (file.startSequence(.oldest), nil)
                case .latest: return (file.published, nil)
                case .sequence(let sequence):
                    guard sequence <= file.published else { throw Self.beyondPublished(name, file.published, sequence) }
                    // Never below the oldest item present: the gate must not wait for items gone.
                    return (max(sequence, file.startSequence(.oldest)), nil)
                }
            }
            return messages ? sequenceThere ?? (try? file.snapshot().messages?.written) ?? 0 : at
        }
    }
}
