internal import SharedRingCommon
internal import SharedRingProtocol
internal import SharedRingRegistry

// What is known about buffers, for people investigating them (`cbuff inspect`, `cbuff list`).
extension DataDirectory {
    /// Everything known about buffer `name`; a damaged ring file is reported in
    /// ``BufferStatus/problem`` rather than thrown, so that it can still be inspected.
    ///
    /// - Throws: ``CBuffError/Code/notFound`` if there is no such buffer.
    public func status(of name: String) throws(CBuffError) -> BufferStatus {
        try lifted { () throws(CBuffFailure) in
            let row = try lookUp(name).row
            return status(of: row, trust: try trust())
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
        guard try hasRegistry() else { return ([], []) }
        let rows = try registry().eachRow()
        guard !rows.isEmpty else { return ([], []) }
        let trust = try trust()
        var buffers: [BufferStatus] = [], damaged: [DamagedRow] = []
        for row in rows {
            switch row {
            case .success(let row): buffers.append(status(of: row, trust: trust))
            case .failure(let row): damaged.append(row)
            }
        }
        return (buffers, damaged)
    }

    private func status(of row: BufferRow, trust: FileTrust) -> BufferStatus {
        let path = ringPath(of: row.name)
        let liveness: Liveness
        switch Result(catching: { () throws(CBuffFailure) in try RingFile.writerIsAlive(at: path, trust: trust) }) {
        case .success(let alive): liveness = alive ? .alive : .notAlive
        case .failure: liveness = .unknown
        }
        let record = BufferRecord(row)
        do throws(CBuffFailure) {
            let snapshot = try RingFile.open(at: path, trust: trust, writable: false) { missingRing(row.name, $0) }.snapshot()
            return BufferStatus(record: record, path: path, writerLiveness: liveness,
                                ring: RingStatus(snapshot, writerAlive: liveness == .alive), problem: nil)
        } catch {
            return BufferStatus(record: record, path: path, writerLiveness: liveness, ring: nil, problem: CBuffError(error))
        }
    }
}
