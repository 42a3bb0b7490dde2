internal import SharedRingCommon
internal import SharedRingProtocol
internal import SharedRingRegistry

// What is known about buffers, for people investigating them (`cbuff inspect`, `cbuff list`).
extension DataDirectory {
    /// Everything known about buffer `name`; a damaged ring file, or one that is not the
    /// registry row's (another geometry, another buffer's file), is reported in
    /// ``BufferStatus/problem`` rather than thrown, so that it can still be inspected.
    ///
    /// - Throws: ``CBuffError/Code/notFound`` if there is no such buffer.
    public func status(of name: String) throws(CBuffError) -> BufferStatus {
        try lifted { () throws(CBuffFailure) in
            let (registry, row) = try lookUp(name)
            guard let status = settledStatus(of: row, in: registry) else { throw notFound(name) }
            return status
        }
    }

    /// The status of every buffer, by name.
    ///
    /// - Throws: ``CBuffError/Code/corrupted`` naming the first registry row that cannot be
    ///   read; ``survey()`` reports every other buffer beside such rows.
    public func statuses() throws(CBuffError) -> [BufferStatus] {
        try lifted { () throws(CBuffFailure) in
            let survey = try surveyed()
            if let damaged = survey.damaged.first { throw damaged.failure }
            return survey.buffers
        }
    }

    /// The status of every buffer whose registry row can be read, and the rows that cannot:
    /// for monitoring, which must go on reporting every healthy buffer when one row is damaged.
    public func survey() throws(CBuffError) -> DirectorySurvey {
        try lifted { () throws(CBuffFailure) in
            let survey = try surveyed()
            return DirectorySurvey(buffers: survey.buffers,
                                   damagedRows: survey.damaged.map { DamagedBufferRow(name: $0.name, problem: CBuffError($0.failure)) })
        }
    }

    /// Every readable row's status, and the damaged rows.
    func surveyed() throws(CBuffFailure) -> (buffers: [BufferStatus], damaged: [DamagedRow]) {
        guard let registry = try existingRegistry() else { return ([], []) }
        var buffers: [BufferStatus] = [], damaged: [DamagedRow] = []
        for row in try registry.eachRow() {
            switch row {
            case .success(let row):
                // A buffer removed since the rows were read is left out, as if read after.
                if let status = settledStatus(of: row, in: registry) { buffers.append(status) }
            case .failure(let row): damaged.append(row)
            }
        }
        return (buffers, damaged)
    }

    /// The status of the buffer of `row`, as it was before or after any remove, create or
    /// take-over of it that runs meanwhile (see ``openBuffer(_:holding:readOnlyOnReadOnlyMount:)``):
    /// a problem with its ring file is looked at again under the registry's write lock
    /// (``settled(_:_:)``); nil when the buffer was removed meanwhile.
    private func settledStatus(of row: BufferRow, in registry: Registry) -> BufferStatus? {
        let first = status(of: row, trust: registry.trust)
        guard first.problem != nil else { return first }
        var again: BufferStatus?? = .some(first)
        _ = settled(registry, row.name) { (now: BufferRow?) in
            again = now.map { status(of: $0, trust: registry.trust) }
        }
        return again ?? nil
    }

    /// The status of one buffer, its ring file opened once (read-only) for both its writer's
    /// liveness and its snapshot.
    private func status(of row: BufferRow, trust: FileTrust) -> BufferStatus {
        let path = trust.path(of: row.file)
        let record = BufferRecord(row)
        func liveness(_ alive: () throws(CBuffFailure) -> Bool) -> Liveness {
            switch Result(catching: alive) {
            case .success(let alive): alive ? .alive : .notAlive
            case .failure: .unknown
            }
        }
        do throws(CBuffFailure) {
            let file = try openingRing(of: row.name, in: trust) { () throws(CBuffFailure) in
                try RingFile.open(row.file, in: trust, writable: false) { missingRing(row.name, $0) }
            }
            let writer = liveness { () throws(CBuffFailure) in try file.writerIsAlive() }
            let snapshot = try file.snapshot()
            // A sound ring file that is not the row's (another geometry, another buffer's file)
            // is shown as it is, and marked: the report says what it holds and why it is refused.
            let ring = RingStatus(snapshot, writerAlive: writer == .alive)
            let problem = Self.disagreement(of: row, with: file)
            return BufferStatus(record: record, path: path, writerLiveness: writer,
                                ringFile: problem.map { .notItsOwn(ring, CBuffError($0)) } ?? .own(ring))
        } catch {
            // A ring that cannot be opened or read may still be locked by a live writer.
            let writer = liveness { () throws(CBuffFailure) in try RingFile.writerIsAlive(row.file, in: trust) }
            return BufferStatus(record: record, path: path, writerLiveness: writer, ringFile: .unreadable(CBuffError(error)))
        }
    }
}

// Checking a buffer's records (`cbuff verify`).
extension DataDirectory {
    /// Walks buffer `name`'s ring and checks what it can (see ``BufferVerification``): for
    /// messages, every record from the oldest to the newest (its framing, its sequence following
    /// the one before, and, in format version 4, its check word), resuming after damage at the
    /// next record it can prove; for items, the counters. Changes nothing; works beside a live
    /// writer (a walk its claims overtake is done again) and on a read-only data directory.
    ///
    /// - Throws: ``CBuffError/Code/notFound`` if there is no such buffer;
    ///   ``CBuffError/Code/corrupted`` if its header or counters are damaged (nothing to walk
    ///   from) or its ring file is not its registry row's; ``CBuffError/Code/writerBusy`` if a
    ///   live writer overwrote the oldest messages faster than they could be checked, every time.
    public func verify(_ name: String) throws(CBuffError) -> BufferVerification {
        try lifted { () throws(CBuffFailure) in
            let opened = try openBuffer(name, readOnlyOnReadOnlyMount: true)
            let file = opened.file
            guard file.layout.messages != nil else {
                guard file.layout.checkWordOffset != nil else {
                    return BufferVerification(name: name, layout: file.layout, snapshot: try file.snapshot())
                }
                let snapshot = try file.snapshot()
                let slots = try file.surveySlots()
                _ = try file.isStillNamed()              // throws if the file was cut short under the walk (read as zeros)
                return BufferVerification(name: name, layout: file.layout, snapshot: snapshot, slots: slots)
            }
            let pending = file.recoveryIsPending
            let (state, survey): (MessageRingState, MessageSurvey)
            do throws(CBuffFailure) {
                (state, survey) = try file.surveyMessages()
            } catch where pending && error.code == .corrupted {
                throw CBuffFailure(.corrupted, error.message + " A recovery is pending (its last writer attached before the machine restarted and did not close after a sync): the next reader or writer turns the damaged spans into lost ones and delivers the rest.")
            }
            _ = try file.isStillNamed()                  // throws if the file was cut short under the walk (read as zeros)
            let durable = file.durable
            try file.checkDurable(durable, written: state.next)
            return BufferVerification(name: name, layout: file.layout, state: state, survey: survey, durable: durable, recoveryPending: pending)
        }
    }
}
