public import SharedRingProtocol
public import SharedRingSystem
internal import SharedRingCommon

/// One message: its sequence number, its publish time and its bytes.
public struct Message: Sendable, Hashable {
    /// Its sequence number: 0 for the buffer's first message, then 1, 2, …
    public let sequence: UInt64
    /// When it was published, in nanoseconds since the Unix epoch: the writer's coarse realtime
    /// clock (the last timer tick, 1–4 ms of resolution), or the precise one for a buffer
    /// created with `preciseTime`.
    public let time: UInt64
    /// Its bytes.
    public let bytes: [UInt8]

    /// Its bytes as UTF-8 text, or nil if they are not valid UTF-8.
    public var text: String? { String(validating: bytes, as: UTF8.self) }

    /// The message as one JSON object, what `cbuff tail --format jsonl` prints:
    /// `{"sequence":0,"time":1764637200123456789,"text":"hello"}` (`time` in nanoseconds since
    /// the Unix epoch), with `"base64"` instead of `"text"` when its bytes are not UTF-8.
    public var json: String {
        let body = text.map { "\"text\":" + JSONValue.quoted($0) } ?? "\"base64\":\"" + JSONValue.base64(bytes) + "\""
        return "{\"sequence\":\(sequence),\"time\":\(time),\(body)}"
    }
}

/// A reader of a buffer of variable-size messages, with its own cursor, made by
/// ``DataDirectory/openMessageReader(_:start:)`` and its named and replaying variants.
///
/// Everything a ``BufferReader`` guarantees holds: a message is returned only once the reader has
/// checked that the writer did not overwrite it while it was read (never a torn one); a reader
/// the writer lapped resumes at the *oldest* message still intact, and counts exactly what it
/// missed (``missedCount``) from the messages' sequence numbers; a named reader's cursor lives
/// in the ring file, and under ``OverflowPolicy/block`` the writer never overwrites what it has
/// not consumed; waiting sleeps on the buffer's futex.
///
/// ```swift
/// var logs = try directory.openMessageReader("logs")
/// while let message = try logs.pop() { print(message.sequence, message.text ?? "(binary)") }
/// ```
public struct MessageReader: ~Copyable {
    /// The buffer's name.
    public let name: String
    /// Bytes of the ring's data area.
    public let capacity: Int
    /// The largest message, in bytes.
    public let maxMessageSize: Int
    /// What the writer does when the ring is full.
    public let policy: OverflowPolicy
    /// For a named reader, why the registry's `readers` row could not be written, or nil.
    public internal(set) var registryProblem: CBuffError?

    private let file: RingFile
    @usableFromInline var cursor: MessageCursor
    @usableFromInline let record: NamedReaderRecord?
    /// What a read acknowledges into (see ``BufferReader``): nil for anonymous readers and when
    /// ``commitsOnRead`` is false.
    @usableFromInline var acknowledgement: ReaderCommit?
    /// For a named reader, the state word of its record (see ``BufferReader``).
    @usableFromInline let registration: ReaderCommit?
    @usableFromInline let cutShort: CutShortFlag

    /// A reader of `file` with `cursor` (made by `RingFile.messageCursor`, which checks the ring
    /// where it starts).
    init(name: String, file: consuming RingFile, cursor: MessageCursor, record: NamedReaderRecord? = nil) {
        let geometry = file.layout.messages!
        self.name = name
        capacity = geometry.capacity
        maxMessageSize = geometry.maxMessage
        policy = OverflowPolicy(file.layout.policy)
        self.cursor = cursor
        self.record = record
        acknowledgement = record?.commit
        registration = record?.commit
        cutShort = file.cutShort
        file.warnIfCrashDamageIsUndetectable(bufferName: name)
        self.file = file
    }

    deinit {
        acknowledgement?.store(cursor.commitPoint)
    }

    /// Closes the reader; a named reader first commits every message it returned (unless
    /// ``commitsOnRead`` is false).
    public consuming func close() {}

    /// The sequence number of the next message this reader will return.
    public var nextSequence: UInt64 { cursor.nextSequence }

    /// How many messages were published that this reader has not returned yet (including any
    /// the writer overwrote first, which it will count as missed): its lag, for status lines.
    public var usage: Int { Int(clamping: cursor.backlog) }

    /// How many messages this reader missed because the writer overwrote them first.
    public var missedCount: UInt64 { cursor.missed }

    /// Of ``missedCount``, the messages a machine crash lost: a recovery marked the words they
    /// lay in lost (or, on a read-only data directory that could not be recovered, they were
    /// damaged and skipped). See ``RingStatus/lastRecovery``.
    public var lostInCrashCount: UInt64 { cursor.lostInCrash }

    /// The name this reader registered under, or nil for an anonymous reader.
    public var readerName: String? { record?.name }

    /// Whether opening this named reader registered it (see ``BufferReader/isNewlyRegistered``).
    public var isNewlyRegistered: Bool { record?.isNew ?? false }

    /// How long a waiting reader may leave a message unnoticed so that several messages cost
    /// it one wake-up: see ``BufferReader/wakeUpCoalescing``. Zero (the default): one wake-up
    /// per message, as soon as it is published.
    public var wakeUpCoalescing: Duration {
        get { .nanoseconds(cursor.coalescingNanos) }
        set { cursor.coalescingNanos = WakeUpCoalescing.clamped(newValue.nanoseconds) }
    }

    /// For a named reader: whether asking for the next message (and closing) commits the ones
    /// returned before (the default); see ``BufferReader/commitsOnRead``.
    public var commitsOnRead: Bool {
        get { acknowledgement != nil || record == nil }
        set { acknowledgement = newValue ? record?.commit : nil }
    }

    /// Records, for a named reader, that every message returned so far was processed.
    public func commit() {
        record?.commit.store(cursor.commitPoint)
    }

    /// Whether a live process currently holds the writer lock.
    public var writerIsAlive: Bool { (try? file.writerIsAlive()) ?? false }

    /// Whether the buffer was removed under this reader, or removed and created again (see
    /// ``BufferReader/isRemoved()``).
    public func isRemoved() throws(CBuffError) -> Bool {
        try lifted { () throws(CBuffFailure) in try !file.isStillAtItsPath() }
    }

    /// Whether more messages can still arrive (see ``BufferReader/canReceiveMore()``).
    public func canReceiveMore() throws(CBuffError) -> Bool {
        try lifted { () throws(CBuffFailure) in
            if try file.isStillNamed() { return true }
            return try file.writerIsAlive()
        }
    }


    @usableFromInline @inline(never)
    static func removed(_ name: String, _ reader: String?) -> CBuffError {
        CBuffError.readerRemoved(name, reader: reader)
    }

    /// Whether a forced removal freed this named reader's record (false for an anonymous one).
    var wasRemoved: Bool {
        registration?.isRemoved ?? false
    }

    // MARK: Reading

    /// Returns the next message, or nil if there is none yet.
    ///
    /// - Throws: ``CBuffError/Code/corrupted`` if the ring file is damaged there, or was
    ///   truncated by another process.
    public mutating func pop() throws(CBuffError) -> Message? {
        try read { Array($0) }.map { Message(sequence: $0.sequence, time: $0.time, bytes: $0.value) }
    }

    /// Waits up to `timeout` for the next message, sleeping (not spinning); nil if none came.
    public mutating func pop(timeout: Duration) throws(CBuffError) -> Message? {
        if let message = try pop() { return message }
        guard wait(timeout: timeout) else { return nil }
        return try pop()
    }

    /// Copies the next message into `destination` without allocating and returns its sequence,
    /// time and length; nil if there is none yet.
    ///
    /// - Throws: ``CBuffError/Code/valueDoesNotFit`` if the message is longer than
    ///   `destination` (it is then left unread: read it with a larger one, or with ``pop()``).
    public mutating func pop(into destination: UnsafeMutableRawBufferPointer) throws(CBuffError) -> (sequence: UInt64, time: UInt64, count: Int)? {
        let room = destination.count
        if ReaderCommit.acknowledge(cursor.commitPoint, into: acknowledgement, checking: registration) { throw Self.removed(name, record?.name) }
        let outcome = cursor.read({ bytes -> Int in
            guard bytes.count <= room else { return -bytes.count }
            if bytes.count > 0 { destination.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            return bytes.count
        }, acceptIf: { _, _, count in count >= 0 })
        if cutShort.isRaised { throw Self.cutShortError(name) }
        switch outcome {
        case .message(let sequence, let time, let count):
            guard count >= 0 else { throw Self.tooSmall(name, sequence, -count, room) }
            return (sequence, time, count)
        case .caughtUp: return nil
        case .damaged: throw Self.damaged(name, cursor.damage)
        }
    }

    /// Calls `body` with the next message's bytes where they lie in the ring, without copying
    /// them, and returns its result with the message's sequence and time; nil if there is none.
    ///
    /// `body` must only read the bytes and compute from them, and must not keep the pointer:
    /// unless this is a named reader under ``OverflowPolicy/block``, the writer may overwrite
    /// the message meanwhile; the result is then thrown away, the loss counted, and `body`
    /// called again on the oldest message still present. Whatever is returned was computed
    /// from an intact message.
    public mutating func withNextMessage<Result>(_ body: (UnsafeRawBufferPointer) -> Result) throws(CBuffError) -> (sequence: UInt64, time: UInt64, value: Result)? {
        try read(body)
    }

    @inlinable
    mutating func read<T>(_ body: (UnsafeRawBufferPointer) -> T) throws(CBuffError) -> (sequence: UInt64, time: UInt64, value: T)? {
        if ReaderCommit.acknowledge(cursor.commitPoint, into: acknowledgement, checking: registration) { throw Self.removed(name, record?.name) }
        let outcome = cursor.read(body)
        if cutShort.isRaised { throw Self.cutShortError(name) }
        switch outcome {
        case .message(let sequence, let time, let value): return (sequence, time, value)
        case .caughtUp: return nil
        case .damaged: throw Self.damaged(name, cursor.damage)
        }
    }

    // The helpers below are static and take what they need: a method on `self` made the
    // optimizer copy the whole reader (two memcpy calls, 150 instructions per pop).

    /// What a read that found damage throws: what contradicts what, in one sentence. Every
    /// message before it was delivered; the reader stays where it is, so the next read says the
    /// same.
    @usableFromInline @inline(never)
    static func damaged(_ name: String, _ damage: MessageDamage?) -> CBuffError {
        CBuffError(.corrupted, "The ring file of buffer \"\(name)\" is damaged: \(damage.map { "\($0)" } ?? "a record contradicts the others"); nothing past it is delivered.")
    }

    @usableFromInline @inline(never)
    static func cutShortError(_ name: String) -> CBuffError {
        CBuffError(.corrupted, "The ring file of buffer \"\(name)\" was truncated by another process while this one was reading it; nothing more can be read from it.")
    }

    @usableFromInline @inline(never)
    static func tooSmall(_ name: String, _ sequence: UInt64, _ length: Int, _ room: Int) -> CBuffError {
        CBuffError(.valueDoesNotFit, "Message \(sequence) of buffer \"\(name)\" is \(length) bytes; the destination holds \(room).")
    }

    /// Waits up to `timeout` until a message can be read. Returns false on timeout. A reader
    /// of a read-only data directory polls (see ``BufferReader/wait(timeout:)``).
    public mutating func wait(timeout: Duration) -> Bool {
        guard file.isWritable else {
            let ready = Sys.poll(timeoutNanos: timeout.nanoseconds) { () -> Bool in cursor.backlog > 0 || wasRemoved }
            return ready && (cursor.backlog > 0 || wasRemoved)
        }
        // A named reader removed under it ends its wait as a message would: its next read
        // throws (see ``BufferReader``).
        guard let registration else { return cursor.wait(timeoutNanos: timeout.nanoseconds) }
        return cursor.wait(timeoutNanos: timeout.nanoseconds, orUntil: { registration.isRemoved })
    }

    /// What another thread waits on for this reader's next item (its event sequence's watcher).
    var watch: RingWatch {
        RingWatch(file: file, registration: registration, coalescingNanos: cursor.coalescingNanos)
    }

    /// Moves to the first message for which `isWanted(sequence, time)` holds (a replay's start).
    mutating func skip(until isWanted: (UInt64, UInt64) -> Bool) throws(CBuffError) {
        if let damage = cursor.skip(until: isWanted) { throw Self.damaged(name, damage) }
    }

    /// The sequence the next message published will get (see `MessageCursor.sequenceAtEnd`).
    func sequenceAtEnd() throws(CBuffError) -> UInt64 {
        do {
            return try cursor.sequenceAtEnd()
        } catch {
            throw Self.damaged(name, error)
        }
    }

    /// Makes the reader expect `sequence` next, so that messages from it on that are gone count
    /// as missed (a replay from a sequence).
    mutating func expect(_ sequence: UInt64) {
        cursor.expect(sequence)
    }
}

extension MessageReader: EventSource {}

/// What a message reader's asynchronous sequence delivers: a message, or the news that messages
/// were lost.
public enum MessageEvent: Sendable, Hashable {
    case message(Message)
    /// `count` messages were overwritten before this reader got to them; delivered just before
    /// the first message after the gap.
    case missed(count: UInt64)
}

extension MessageReader {
    /// The reader as an `AsyncSequence` of ``MessageEvent``s, with everything
    /// ``BufferReader/events()`` does: sleeping while the buffer is empty, prompt on
    /// cancellation, ending once the buffer is gone for good. Iterate it in
    /// `Task(executorPreference: events.executor)` to follow a stream cheaply (one thread
    /// wake-up per item instead of two: see ``BufferReader/events()``).
    public consuming func events() -> MessageEvents {
        MessageEvents(box: ReaderBox(self) { (reader: inout MessageReader) throws(CBuffError) in
            try reader.pop().map { ($0.sequence, $0) }
        })
    }
}

/// The asynchronous sequence of a message reader's events (see ``MessageReader/events()``).
/// Iterate it once, from one task.
public struct MessageEvents: AsyncSequence {
    /// A message, or the news that messages were lost.
    public typealias Element = MessageEvent

    let box: ReaderBox<MessageReader, Message>

    /// The iterator (make one, once).
    public func makeAsyncIterator() -> Iterator {
        Iterator(box: box)
    }

    /// The thread this sequence waits on, as an executor (see ``BufferEvents/executor``).
    public var executor: any TaskExecutor { box.executor }

    /// Delivers the reader's events, waiting for each.
    public struct Iterator: AsyncIteratorProtocol {
        let box: ReaderBox<MessageReader, Message>

        /// The next event, waiting for it; nil once no message can arrive any more.
        ///
        /// - Throws: `CancellationError` when the task is cancelled; a ``CBuffError`` when the
        ///   ring file was damaged.
        public mutating func next() async throws -> MessageEvent? {
            switch try await box.next() {
            case .item(_, let message)?: .message(message)
            case .missed(let count)?: .missed(count: count)
            case nil: nil
            }
        }
    }
}

@available(*, unavailable, message: "Iterate a reader's events from one task.")
extension MessageEvents: Sendable {}
