internal import SharedRingSystem
internal import SharedRingCommon
internal import SharedRingProtocol
internal import SharedRingRegistry

// Removing buffers, and cleaning up after crashes: dead buffers, creators' debris, ring files
// no row names.
extension DataDirectory {
    /// Deletes a buffer's ring file and registry row, in one registry transaction. A row too
    /// damaged to read can still be removed: the ring file is the one its name gives. A name
    /// without a row whose ring file is there (a registry lost or replaced, a creator killed
    /// before its commit) has that file removed, unless a live writer holds it.
    ///
    /// - Parameters:
    ///   - name: the buffer's name.
    ///   - force: remove it even while a live writer holds it (that writer keeps its mapping,
    ///     but nobody can open the buffer again).
    /// - Throws: ``CBuffError/Code/writerBusy`` when a live writer holds it and `force` is false;
    ///   the error that kept it from telling, when it cannot tell whether a writer is alive.
    public func removeBuffer(_ name: String, force: Bool = false) throws(CBuffError) {
        try lifted { () throws(CBuffFailure) in try removeBuffer(name, force: force, unless: nil) }
    }

    /// Removes `name` as ``removeBuffer(_:force:)`` does, unless `keep`, given a snapshot of the
    /// ring file taken inside the removal's transaction, throws; a ring file that cannot be
    /// opened then keeps the buffer too (what `keep` would look at cannot be seen). With
    /// `onlyLost`, only if its ring file holds no ring (see ``LostRing``), decided inside the
    /// transaction, so that a buffer removed and created again meanwhile is never touched.
    func removeBuffer(_ name: String, force: Bool, onlyLost: Bool = false, unless keep: ((RingSnapshot) throws(CBuffFailure) -> Void)?) throws(CBuffFailure) {
        do throws(CBuffFailure) { try BufferName.validate(name) } catch {
            try removeRowOnly(named: name, invalid: error)   // a row edited to a name no buffer can have
            return
        }
        guard let registry = try existingRegistry() else { throw notFound(name) }
        let trust = registry.trust
        let file = BufferRow.fileName(of: name)
        var unlinked = false
        let leftDirectory: Bool, unsynced: CBuffFailure?
        do throws(CBuffFailure) {
            (leftDirectory, unsynced) = try registry.write("remove buffer \"\(name)\"") { (registered: RegistryTransaction) throws(CBuffFailure) -> (Bool, CBuffFailure?) in
                if try !registered.hasRow(named: name) {
                    // No row, but a ring file of that name no live writer holds: it goes, as asked.
                    guard !onlyLost, trust.kind(of: file) == .regular, (try? RingFile.writerIsAlive(file, in: trust)) == false else { throw notFound(name) }
                } else if !force {
                    let alive: Bool
                    do throws(CBuffFailure) {
                        alive = try RingFile.writerIsAlive(file, in: trust)
                    } catch {
                        throw CBuffFailure(error.code, "Buffer \"\(name)\" was not removed: cannot tell whether a writer holds it. \(error.message)", cause: error.cause)
                    }
                    if alive {
                        let pid = (try? registered.row(named: name))??.writerPID
                        throw CBuffFailure(.writerBusy, "Buffer \"\(name)\" has a live writer\(Self.describePID(pid.map { UInt32(bitPattern: $0) } ?? 0)); stop it first or force the removal.")
                    }
                    if onlyLost {
                        guard let lost = Self.lostRing(file, in: trust) else {
                            throw CBuffFailure(.writerBusy, "kept \"\(name)\": its ring file holds a ring again.")
                        }
                        // A temporary file that may be the buffer (a lost rename) keeps the row: it
                        // is what renaming that file back needs.
                        guard lost.holdsNothing else { throw CBuffFailure(.writerBusy, "kept \"\(name)\": \(lostRingSentence(name, lost)).") }
                    }
                    if let keep {
                        let snapshot: RingSnapshot
                        do throws(CBuffFailure) {
                            // Its row is read (and checked) here, and the file checked against it:
                            // a file that is not this buffer's says nothing about this buffer.
                            guard let row = try registered.row(named: name) else { throw notFound(name) }
                            let ring = try RingFile.open(file, in: trust, writable: false) { missingRing(name, $0) }
                            if let problem = Self.disagreement(of: row, with: ring) { throw problem }
                            snapshot = try ring.snapshot()
                        } catch {
                            throw CBuffFailure(error.code, "kept \"\(name)\": its ring file cannot be read now. \(error.message)")
                        }
                        try keep(snapshot)
                    }
                }
                try registered.delete(named: name)
                // unlink never follows a symbolic link: what goes is the directory entry itself. A
                // directory there was never the ring file (cbuff makes none), and no writer can
                // hold one: the buffer goes, the directory stays, and the caller hears of it.
                // (A removal killed between this unlink and the commit leaves a row without its
                // ring file: every command then says so, `rm` and `rm --dead` remove it.)
                // Its sleeping readers (event sequences, followers) are woken after the unlink,
                // through the file opened before it: they look, and find it gone now rather than
                // at the end of their own longest wait (`RingAnnouncement`).
                let announcement = RingAnnouncement(file, in: trust)
                switch trust.unlink(file) {
                case .success: unlinked = true
                case .failure(let failure) where failure.isNotFound: break
                case .failure(let failure) where failure.cause == .directory: return (true, nil)
                case .failure(let failure): throw CBuffFailure.system(failure, "delete ring file \(trust.path(of: file))")
                }
                announcement?.wakeReaders()
                // The unlink is made durable before the row's deletion commits: a machine crash
                // then leaves the row and the file, or the row without its file (which every
                // command names, and `rm` removes), never a file with data under no row (which no
                // command removes on its own). If that sync fails, the file is gone all the same:
                // the row goes too (a row over a file just deleted helps nobody), and the caller
                // hears that the removal may not survive a crash.
                do throws(CBuffFailure) {
                    try trust.synchronize(after: "deleting ring file \(trust.path(of: file))")
                    return (false, nil)
                } catch {
                    return (false, error)
                }
            }
        } catch where unlinked {
            // Only the commit fails after the unlink: the file is gone, the row may be there
            // still (see `Registry.CommitOutcomeUnknown`); a removal again finishes either way.
            throw CBuffFailure(error.code, "\(error.message) Buffer \"\(name.escapingControlCharacters)\"'s ring file \(trust.path(of: file)) is deleted already, and whether its registry row is gone cannot be told: `cbuff rm \(name.escapingControlCharacters)` again finishes the removal.", cause: error.cause)
        }
        if let unsynced {
            throw CBuffFailure(unsynced.code, "Buffer \"\(name)\" was removed, but not durably: \(unsynced.message) After a machine crash its ring file may be back without a registry row (cbuff list names it; delete it by hand).", cause: unsynced.cause)
        }
        if leftDirectory {
            throw CBuffFailure(.corrupted, "Buffer \"\(name)\" was removed, but a directory, not its ring file, is at \(trust.path(of: file)); cbuff never makes directories there and never removes one, so it is left in place.")
        }
    }

    /// Removes the temporary ring files of creators that died before naming them (a creator
    /// killed between building its file and renaming it leaves one behind), and returns their
    /// paths. A file is debris only when the process its name records is gone, no process
    /// holds its writer lock (so a creation in progress is never touched), and it holds nothing
    /// (only zeros, or a ring in which nothing was written: a rename lost in a machine crash
    /// leaves a buffer's items under the temporary name, and that file stays).
    public func removeDebris() throws(CBuffError) -> [String] {
        try lifted { () throws(CBuffFailure) in try debris() }
    }

    func debris() throws(CBuffFailure) -> [String] {
        guard let trust = try existingRegistry()?.trust else { return [] }
        var removed: [String] = []
        for entry in try trust.entries() {
            guard let pid = Self.creatorOfTemporaryRing(entry), !Sys.processExists(pid) else { continue }
            // Only a regular file of ours whose lock is provably free and that holds nothing
            // (what `create` would replace: no ring header at all, or a ring in which nothing was
            // ever written): a machine crash can lose a create's rename and leave a buffer's only
            // copy, items and all, under its temporary name. Anything else stays.
            guard (try? RingFile.writerIsAlive(entry, in: trust)) == false else { continue }
            do throws(CBuffFailure) {
                try Self.checkReplaceable(entry, of: entry, in: trust)
            } catch {
                continue
            }
            guard case .success = trust.unlink(entry) else { continue }
            removed.append(trust.path(of: entry))
        }
        return removed
    }

    /// Ring files in this directory that no registry row names and no live writer holds (left
    /// by a lost or replaced registry, or copied in by hand): nothing can open them by name, and
    /// creating a buffer of the same name replaces the file. Listed for people to decide; cbuff
    /// never deletes them on its own, since they may be the only copy of a buffer's items.
    ///
    /// With no registry at all (`registry.sqlite` lost, say), no row names any of them: every
    /// ring file is one. (The first version returned none then: `cbuff list` printed an empty
    /// table and no word about ring files holding items.)
    public func unregisteredRingFiles() throws(CBuffError) -> [String] {
        try lifted { () throws(CBuffFailure) in
            guard let trust = try existingTrust() else { return [] }
            let registry = try Registry.open(trust, creating: false, lockTimeoutNanos: lockTimeoutNanos)
            let registered = try registry?.registeredFiles() ?? []   // a damaged row's file is no stray
            let strays = try trust.entries().filter { entry in
                entry.hasSuffix(".ring") && !entry.hasPrefix(".") && !registered.contains(entry)
                    && (try? RingFile.writerIsAlive(entry, in: trust)) == false
            }.sorted()
            guard !strays.isEmpty, let registry else { return strays }
            // A create or remove in progress renames or unlinks its ring file before its row
            // commits: a stray gets a second look under the registry's write lock, where none
            // is half done (see `settled`). Without that lock, the first look stands.
            let settled = try? registry.readUnderWriteLock("look again at ring files without a registry row") { (registered: RegistryTransaction) throws(CBuffFailure) -> [String] in
                let present = Set(try trust.entries())
                var settled: [String] = []
                for entry in strays where present.contains(entry) {
                    if try !registered.hasRow(named: String(entry.dropLast(".ring".count))) { settled.append(entry) }
                }
                return settled
            }
            return settled ?? strays
        }
    }

    /// The buffers whose writer died (see ``BufferStatus/writerDied``) at least `age` ago.
    public func deadBuffers(olderThan age: Duration = .zero) throws(CBuffError) -> [BufferStatus] {
        try lifted { () throws(CBuffFailure) in Self.dead(try surveyed().buffers, olderThan: age) }
    }

    /// Those of `buffers` whose writer died at least `age` ago. (Only buffers whose rows can be
    /// read: a damaged row is no dead buffer; list and rm --dead mark it.)
    static func dead(_ buffers: [BufferStatus], olderThan age: Duration) -> [BufferStatus] {
        let cutoff = Sys.realtimeNanos() &- UInt64(max(0, age.nanoseconds))
        return buffers.filter { $0.writerDied && ($0.lastActivity ?? 0) <= cutoff }
    }

    /// Removes the buffers whose writer died at least `age` ago, and the temporary files of
    /// creators that died. A buffer whose named readers have items left to consume is kept
    /// (they are data someone registered to receive) unless `includingUnconsumed`; so is one
    /// whose writer came back, or whose state could not be read. Each removal re-checks, inside
    /// its registry transaction, what decided it.
    public func removeDeadBuffers(olderThan age: Duration = .zero, includingUnconsumed: Bool = false) throws(CBuffError) -> DeadBufferSweep {
        try lifted { () throws(CBuffFailure) -> DeadBufferSweep in
            var sweep = DeadBufferSweep()
            let survey = try surveyed()   // once: the damaged rows and the dead buffers from one look
            sweep.damagedRows = survey.damaged.map { DamagedBufferRow(name: $0.name, problem: CBuffError($0.failure)) }
            // A row whose ring file holds no ring (missing, or no header: see `LostRing`)
            // holds nothing: it goes, whatever its age, with the file, unless a live process
            // holds that file's writer lock.
            let trust = try existingRegistry()?.trust
            for status in survey.buffers where status.ring == nil {
                let name = status.record.name
                guard let trust, Self.lostRing(BufferRow.fileName(of: name), in: trust) != nil else { continue }
                // (One whose temporary file may be the buffer is kept, saying so: see `removeBuffer`.)
                do throws(CBuffFailure) {
                    try removeBuffer(name, force: false, onlyLost: true, unless: nil)
                    sweep.removed.append(name)
                } catch {
                    sweep.kept.append((name, error.message.hasPrefix("kept ") ? error.message : "kept \"\(name)\": \(error.message)"))
                }
            }
            for status in Self.dead(survey.buffers, olderThan: age) {
                let name = status.record.name
                do throws(CBuffFailure) {
                    try removeBuffer(name, force: false) { (now: RingSnapshot) throws(CBuffFailure) in
                        guard now.writerState == .attached else {
                            throw CBuffFailure(.writerBusy, "kept \"\(name)\": a writer attached to it meanwhile.")
                        }
                        // Lags as RingStatus counts them: in items, or in messages for a ring
                        // of messages (whose cursors are byte positions: 255 messages were
                        // reported as "2040 items").
                        let noun = now.messages == nil ? "item" : "message"
                        let waiting = RingStatus(now, writerAlive: false).readers.filter { $0.lag > 0 }
                        if !includingUnconsumed, !waiting.isEmpty {
                            let list = waiting.map { reader -> String in
                                "\"\(reader.name)\" (\(reader.lag) \(noun)\(reader.lag == 1 ? "" : "s"))"
                            }.joined(separator: ", ")
                            throw CBuffFailure(.writerBusy, "kept \"\(name)\": its named reader\(waiting.count == 1 ? "" : "s") \(list) \(waiting.count == 1 ? "has" : "have") not consumed everything; remove \(waiting.count == 1 ? "it" : "them") first, or pass --force.")
                        }
                    }
                    sweep.removed.append(name)
                } catch {
                    sweep.kept.append((name, error.message.hasPrefix("kept ") ? error.message : "kept \"\(name)\": \(error.message)"))
                }
            }
            sweep.debris = try debris()
            return sweep
        }
    }
}

/// What ``DataDirectory/removeDeadBuffers(olderThan:includingUnconsumed:)`` did.
public struct DeadBufferSweep: Sendable {
    /// The buffers removed.
    public var removed: [String] = []
    /// The buffers kept, each with the sentence saying why.
    public var kept: [(name: String, reason: String)] = []
    /// Temporary files of creators that died before naming their buffer, deleted.
    public var debris: [String] = []
    /// Registry rows that cannot be read, left alone (each needs `removeBuffer` by name).
    public var damagedRows: [DamagedBufferRow] = []
}
