internal import SharedRingCommon
internal import SharedRingProtocol
internal import SharedRingRegistry

// What a restartable program needs: become the writer of a buffer whether or not it exists
// yet, and register named readers before anything is published.
extension DataDirectory {
    /// Becomes the writer of buffer `name`: takes it over if it exists with this geometry (its
    /// writer gone), creates it otherwise. For a writer that restarts: no create-else-take-over
    /// by hand, and no silent take-over of a buffer of another shape.
    ///
    /// - Throws: ``CBuffError/Code/typeMismatch`` if the buffer exists with another item size,
    ///   length or policy (the message names both), or holds messages;
    ///   ``CBuffError/Code/writerBusy`` if a live writer holds it; as
    ///   ``createBuffer(_:itemSize:length:policy:)`` otherwise.
    public func openOrCreateBuffer(_ name: String, itemSize: Int, length: Int, policy: OverflowPolicy = .overwrite) throws(CBuffError) -> BufferWriter {
        while true {
            if let row = try existingRow(name) {
                guard row.messages == nil, row.itemSize == itemSize, row.length == length, row.policy == Policy(policy) else {
                    throw CBuffError(.typeMismatch, "Buffer \"\(name)\" exists with \(Self.shape(of: row)); this writer asked for \(length) items of \(itemSize) bytes, policy \(policy).")
                }
                let writer: BufferWriter
                do {
                    writer = try takeOver(name)
                } catch where error.code == .notFound {
                    continue        // removed meanwhile: create it
                }
                // Re-created with another shape between the look and the take-over: say so.
                guard writer.itemSize == itemSize, writer.length == length, writer.policy == policy else {
                    throw CBuffError(.typeMismatch, "Buffer \"\(name)\" was re-created meanwhile with \(writer.length) items of \(writer.itemSize) bytes, policy \(writer.policy); this writer asked for \(length) items of \(itemSize) bytes, policy \(policy).")
                }
                return writer
            }
            do {
                return try createBuffer(name, itemSize: itemSize, length: length, policy: policy)
            } catch where error.code == .bufferAlreadyCreated {
                continue            // another process created it meanwhile: take it over, or say it is busy
            }
        }
    }

    /// ``openOrCreateBuffer(_:itemSize:length:policy:)`` for a buffer of variable-size messages.
    public func openOrCreateMessageBuffer(_ name: String, capacity: Int, maxMessageSize: Int,
                                          policy: OverflowPolicy = .overwrite) throws(CBuffError) -> MessageWriter {
        while true {
            if let row = try existingRow(name) {
                guard row.messages?.capacity == capacity, row.messages?.maxMessage == maxMessageSize, row.policy == Policy(policy) else {
                    throw CBuffError(.typeMismatch, "Buffer \"\(name)\" exists with \(Self.shape(of: row)); this writer asked for messages of up to \(maxMessageSize) bytes in \(capacity) bytes, policy \(policy).")
                }
                do {
                    return try takeOverMessages(name)
                } catch where error.code == .notFound {
                    continue
                }
            }
            do {
                return try createMessageBuffer(name, capacity: capacity, maxMessageSize: maxMessageSize, policy: policy)
            } catch where error.code == .bufferAlreadyCreated {
                continue
            }
        }
    }

    /// Registers named reader `readerName` of buffer `name` without reading anything (see
    /// ``openReader(_:named:start:)``), so that under ``OverflowPolicy/block`` the writer waits
    /// for it from now on: what a pipeline does before its writer starts. Registering one that
    /// exists already changes nothing. Returns whether it was new.
    ///
    /// - Throws: as ``openReader(_:named:start:)``.
    @discardableResult
    public func registerReader(_ readerName: String, of name: String, start: ReadStart = .oldest) throws(CBuffError) -> Bool {
        if try record(of: name).holdsMessages {
            var reader = try openMessageReader(name, named: readerName, start: start)
            reader.commitsOnRead = false
            let isNew = reader.isNewlyRegistered
            reader.close()
            return isNew
        }
        var reader = try openReader(name, named: readerName, start: start)
        reader.commitsOnRead = false
        let isNew = reader.isNewlyRegistered
        reader.close()
        return isNew
    }

    /// The row of `name`, or nil if there is no such buffer (or no registry yet).
    private func existingRow(_ name: String) throws(CBuffError) -> BufferRow? {
        try lifted { () throws(CBuffFailure) -> BufferRow? in
            try BufferName.validate(name)
            return try existingRegistry()?.row(named: name)
        }
    }

    private static func shape(of row: BufferRow) -> String {
        if let messages = row.messages {
            return "messages of up to \(messages.maxMessage) bytes in \(messages.capacity) bytes, policy \(row.policy)"
        }
        return "\(row.length) items of \(row.itemSize) bytes, policy \(row.policy)"
    }
}
