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
    public func statuses() throws(CBuffError) -> [BufferStatus] {
        try lifted { () throws(CBuffFailure) in try allStatuses() }
    }

    func allStatuses() throws(CBuffFailure) -> [BufferStatus] {
        let rows = try rows()
        guard !rows.isEmpty else { return [] }
        let trust = try trust()
        return rows.map { status(of: $0, trust: trust) }
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
