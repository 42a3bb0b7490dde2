internal import SharedRingSystem
package import SharedRingCommon
internal import SharedRingProtocol
internal import SharedRingRegistry

// Buffers of variable-size messages: creating one, becoming its writer, opening its readers
// (anonymous, named, replaying from a sequence or a time).
extension DataDirectory {
    /// Creates a buffer of variable-size messages and returns its writer.
    ///
    /// - Parameters:
    ///   - name: the buffer's name.
    ///   - capacity: bytes of its data area: a power of two from 4 KiB to 32 GiB. Each message
    ///     takes 32 bytes of header (its length, sequence, time and check word) and its bytes
    ///     padded to 8, so a ring of 64 MiB holds about 700,000 messages of 64 bytes.
    ///   - maxMessageSize: the largest message, in bytes: at most `capacity / 2 - 32`.
    ///   - policy: what a push does when the ring is full.
    ///   - preciseTime: stamp each message with the precise realtime clock (nanoseconds, about
    ///     25 ns a push here) instead of the coarse one (the last timer tick: 4 ms of resolution
    ///     here, 3 ns a push), which is the default: a 64-byte message then moves at about 1.6
    ///     times the rate. ``Message/time`` and replays by time are only as precise as this clock.
    /// - Throws: ``CBuffError/Code/invalidArgument`` for a bad name, capacity or size;
    ///   ``CBuffError/Code/bufferAlreadyCreated`` as ``createBuffer(_:itemSize:length:policy:)``.
    public func createMessageBuffer(_ name: String, capacity: Int, maxMessageSize: Int,
                                    policy: OverflowPolicy = .overwrite, preciseTime: Bool = false) throws(CBuffError) -> MessageWriter {
        try lifted { () throws(CBuffFailure) -> MessageWriter in
            let layout = RingLayout(messages: try MessageGeometry(capacity: capacity, maxMessage: maxMessageSize),
                                    policy: Policy(policy), preciseTime: preciseTime)
            let file = try createRing(name, layout: layout)
            let state = try file.observeMessages()
            return MessageWriter(name: name, file: file, state: state)
        }
    }

    /// Creates a buffer of variable-size messages whose records are laid out as `records` says:
    /// for tests of the earlier layout (`.unchecked`, format version 3), which only files made
    /// before version 4 (or by another program) have. The public calls make version 4.
    package func createMessageBuffer(_ name: String, capacity: Int, maxMessageSize: Int, policy: OverflowPolicy = .overwrite,
                                     preciseTime: Bool = false, records: MessageRecordFormat) throws(CBuffError) -> MessageWriter {
        try lifted { () throws(CBuffFailure) -> MessageWriter in
            let layout = RingLayout(messages: try MessageGeometry(capacity: capacity, maxMessage: maxMessageSize, records: records),
                                    policy: Policy(policy), preciseTime: preciseTime)
            let file = try createRing(name, layout: layout)
            let state = try file.observeMessages()
            return MessageWriter(name: name, file: file, state: state)
        }
    }

    /// Creates a buffer of variable-size messages whose ``OverflowPolicy/block`` writer stops
    /// waiting for a named reader that is gone after `tetherTimeout` (see
    /// ``createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)``; a returning reader counts the
    /// messages it missed).
    ///
    /// With `sync`, its writers sync on their own (see ``SyncPolicy`` and
    /// ``createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)``; each message is a batch).
    ///
    /// - Throws: as ``createMessageBuffer(_:capacity:maxMessageSize:policy:preciseTime:)`` and
    ///   ``createBuffer(_:itemSize:length:policy:tetherTimeout:sync:integrity:)``.
    public func createMessageBuffer(_ name: String, capacity: Int, maxMessageSize: Int, policy: OverflowPolicy,
                                    preciseTime: Bool = false, tetherTimeout: Duration, sync: SyncPolicy = .none) throws(CBuffError) -> MessageWriter {
        try lifted { () throws(CBuffFailure) -> MessageWriter in
            let layout = try RingLayout(messages: try MessageGeometry(capacity: capacity, maxMessage: maxMessageSize),
                                        policy: Policy(policy), preciseTime: preciseTime)
                .tethered(try Self.tetherNanos(tetherTimeout)).syncing(try sync.recorded())
            let file = try createRing(name, layout: layout)
            let state = try file.observeMessages()
            return MessageWriter(name: name, file: file, state: state)
        }
    }

    /// Becomes the writer of an existing message buffer whose writer is gone; the sequence
    /// continues after the last published message (see ``takeOver(_:)``).
    ///
    /// - Throws: as ``takeOver(_:)``; ``CBuffError/Code/typeMismatch`` for a buffer of items.
    public func takeOverMessages(_ name: String) throws(CBuffError) -> MessageWriter {
        try lifted { () throws(CBuffFailure) -> MessageWriter in
            let taken = try takeOverRing(name, holding: .messages)
            let problem = taken.registryProblem
            var writer = MessageWriter(name: name, file: taken.file, state: taken.messages!)
            writer.registryProblem = problem
            return writer
        }
    }

    /// Opens a reader of message buffer `name`, at its oldest message still present (default)
    /// or only at messages pushed from now on.
    ///
    /// - Throws: ``CBuffError/Code/notFound``; ``CBuffError/Code/typeMismatch`` for a buffer of items.
    public func openMessageReader(_ name: String, start: ReadStart = .oldest) throws(CBuffError) -> MessageReader {
        try lifted { () throws(CBuffFailure) -> MessageReader in
            let opened = try openBuffer(name, holding: .messages, readOnlyOnReadOnlyMount: true)
            let file = opened.file
            let cursor = try file.messageCursor(start: start.messageStart, record: nil)
            return MessageReader(name: name, file: file, cursor: cursor)
        }
    }

    /// Opens the named reader `readerName` of message buffer `name` (see
    /// ``openReader(_:named:start:)``: its cursor lives in the ring file, delivery is at least
    /// once, and under ``OverflowPolicy/block`` the writer waits for it).
    public func openMessageReader(_ name: String, named readerName: String, start: ReadStart = .oldest) throws(CBuffError) -> MessageReader {
        try lifted { () throws(CBuffFailure) -> MessageReader in
            try ReaderTable.validate(readerName)
            let opened = try openBuffer(name, holding: .messages)
            let registry = opened.registry
            let file = opened.file
            // Where a new reader starts (a resuming one ignores it): checked before anything is
            // registered, then found again under the table lock, where the ring is then.
            var first = try file.messageCursor(start: start.messageStart, record: nil).commitPoint
            let record = try file.claimReader(readerName, bufferName: name, lockTimeoutNanos: lockTimeoutNanos) {
                if let now = try? file.messageCursor(start: start.messageStart, record: nil) { first = now.commitPoint }
                return first.position
            }
            if record.isNew { record.commit.store(first) }
            let cursor = try file.messageCursor(start: .oldest, record: record)
            var reader = MessageReader(name: name, file: file, cursor: cursor, record: record)
            do throws(CBuffFailure) {
                try registry.recordReader(buffer: name, reader: readerName, slot: record.index, pid: Sys.processID())
            } catch {
                reader.registryProblem = CBuffError(error)
            }
            return reader
        }
    }

    /// Opens a reader of message buffer `name` that starts at message `sequence`: exactly there
    /// if it is still present, else at the oldest present, every message skipped counted as
    /// missed. Finding it reads the headers of the messages before it (a scan of the ring).
    ///
    /// - Throws: ``CBuffError/Code/invalidArgument`` for a sequence beyond the next one to be published.
    public func openMessageReader(_ name: String, at sequence: UInt64) throws(CBuffError) -> MessageReader {
        var reader = try openMessageReader(name, start: .oldest)
        let published = try reader.sequenceAtEnd()
        guard sequence <= published else {
            throw CBuffError(Self.beyondPublished(name, published, sequence))
        }
        try reader.skip { found, _ in found >= sequence }
        reader.expect(sequence)
        return reader
    }

    /// Opens a reader of message buffer `name` that starts at the first message published at
    /// or after `time` (nanoseconds since the Unix epoch, as ``Message/time``); at the oldest
    /// present if all of them are that recent, at the next one pushed if none is. Messages
    /// before it are not counted as missed.
    public func openMessageReader(_ name: String, since time: UInt64) throws(CBuffError) -> MessageReader {
        var reader = try openMessageReader(name, start: .oldest)
        try reader.skip { _, published in published >= time }
        return reader
    }
}
