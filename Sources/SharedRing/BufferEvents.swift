import Dispatch
import Synchronization
internal import SharedRingProtocol

/// What a reader's asynchronous sequence delivers: an item, or the news that items were lost.
public enum BufferEvent: Sendable, Hashable {
    /// The item of sequence `sequence`, as an integer.
    case item(sequence: UInt64, value: UInt64)
    /// `count` items were overwritten before this reader got to them (``OverflowPolicy/overwrite``
    /// only). Delivered in order, just before the first item after the gap, so that a caller
    /// iterating the sequence has to handle it.
    case missed(count: UInt64)
}

extension BufferReader {
    /// The reader as an `AsyncSequence` of ``BufferEvent``s: `for try await event in reader.events()`.
    ///
    /// While the buffer is empty it sleeps on the buffer's futex (on a Dispatch thread, not on
    /// the Swift concurrency pool), and cancelling the task wakes it at once: the sequence then
    /// throws `CancellationError`. A named reader acknowledges each item when the next one is
    /// requested, as with ``popItem()``. The sequence ends once the buffer has been removed and
    /// no writer can push into it any more (see ``BufferReader/canReceiveMore()``, checked when a
    /// half-second wait found nothing).
    ///
    /// ```swift
    /// for try await event in try directory.openReader("ticks", named: "billing").events() {
    ///     switch event {
    ///     case .item(let sequence, let value): handle(sequence, value)
    ///     case .missed(let count): log("lost \(count) items")
    ///     }
    /// }
    /// ```
    public consuming func events() -> BufferEvents {
        BufferEvents(box: ReaderBox(self) { (reader: inout BufferReader) throws(CBuffError) in
            try reader.popItem().map { (reader.nextSequence - 1, $0) }
        })
    }
}

/// The asynchronous sequence of a reader's events (see ``BufferReader/events()``). Iterate it
/// once, from one task.
public struct BufferEvents: AsyncSequence {
    /// An item, or the news that items were lost.
    public typealias Element = BufferEvent

    let box: ReaderBox<BufferReader, UInt64>

    /// The iterator (make one, once).
    public func makeAsyncIterator() -> Iterator {
        Iterator(box: box)
    }

    /// Delivers the reader's events, waiting for each.
    public struct Iterator: AsyncIteratorProtocol {
        let box: ReaderBox<BufferReader, UInt64>

        /// The next event, waiting for it; nil once no item can arrive any more (the buffer was
        /// removed and its writer is gone).
        ///
        /// - Throws: `CancellationError` when the task is cancelled; a ``CBuffError`` when the
        ///   ring file was damaged.
        public mutating func next() async throws -> BufferEvent? {
            switch try await box.next() {
            case .item(let sequence, let value)?: .item(sequence: sequence, value: value)
            case .missed(let count)?: .missed(count: count)
            case nil: nil
            }
        }
    }
}

@available(*, unavailable, message: "Iterate a reader's events from one task.")
extension BufferEvents: Sendable {}

/// What a ``ReaderBox`` delivers: an item of type `Value`, or a gap.
enum ReaderEvent<Value> {
    case item(UInt64, Value)
    case missed(UInt64)
}

/// What a ``ReaderBox`` needs of a reader: its gap count, and a wait it can cut short.
protocol EventSource: ~Copyable, SendableMetatype {
    var missedCount: UInt64 { get }
    var wakeUp: ReaderWakeUp { get }
    mutating func wait(timeout: Duration, stop: () -> Bool) -> Bool
    func canReceiveMore() throws(CBuffError) -> Bool
}

extension BufferReader: EventSource {}

/// Owns the reader behind a `BufferEvents`, `TypedBufferEvents` or `MessageEvents`, and takes
/// its next item with `decode` (an integer, a typed item, a message), with its sequence.
///
/// `@unchecked Sendable` because the blocking wait runs on a Dispatch thread while the iterating
/// task is suspended awaiting it: the reader is never used by two threads at once. Only the
/// immutable `wakeUp` (to end the wait) and the atomic `cancelled` are touched concurrently.
final class ReaderBox<Reader: EventSource & ~Copyable, Value>: @unchecked Sendable {
    private var reader: Reader
    private let decode: (inout Reader) throws(CBuffError) -> (UInt64, Value)?
    private let wakeUp: ReaderWakeUp
    private var reportedMissed: UInt64
    private var pending: ReaderEvent<Value>?
    private let cancelled = Atomic<Bool>(false)

    init(_ reader: consuming Reader, decode: @escaping (inout Reader) throws(CBuffError) -> (UInt64, Value)?) {
        reportedMissed = reader.missedCount
        wakeUp = reader.wakeUp
        self.decode = decode
        self.reader = reader
    }

    /// The next event, waiting for it; nil once no item can arrive any more.
    func next() async throws -> ReaderEvent<Value>? {
        while true {
            try Task.checkCancellation()
            if let event = try nextEvent() { return event }
            guard try await waitForItem() else { return try nextEvent() }
        }
    }

    /// The next event if one is ready: a gap first, then the item that followed it.
    private func nextEvent() throws(CBuffError) -> ReaderEvent<Value>? {
        if let event = pending {
            pending = nil
            return event
        }
        guard let (sequence, value) = try decode(&reader) else { return nil }
        let item = ReaderEvent.item(sequence, value)
        let missed = reader.missedCount
        guard missed > reportedMissed else { return item }
        defer { reportedMissed = missed }
        pending = item
        return .missed(missed - reportedMissed)
    }

    /// Sleeps until an item may be ready, without holding a Swift concurrency thread; returns
    /// early (throwing) when the task is cancelled, and false when no item can come any more.
    private func waitForItem() async throws -> Bool {
        try await withTaskCancellationHandler {
            let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Bool, CBuffError>, Never>) in
                DispatchQueue.global().async {
                    let woken = self.reader.wait(timeout: ReaderBoxTiming.removalCheckInterval) { self.cancelled.load(ordering: .acquiring) }
                    continuation.resume(returning: woken ? .success(true) : Result { () throws(CBuffError) in try self.reader.canReceiveMore() })
                }
            }
            try Task.checkCancellation()
            return try outcome.get()
        } onCancel: {
            cancelled.store(true, ordering: .releasing)
            wakeUp()
        }
    }
}

enum ReaderBoxTiming {
    /// How often a wait that found nothing checks whether items can still arrive (the buffer
    /// may have been removed).
    static let removalCheckInterval: Duration = .milliseconds(500)
}

/// What a typed reader's asynchronous sequence delivers: an item, or the news that items were lost.
public enum TypedBufferEvent<Item: BitwiseCopyable> {
    /// The item of sequence `sequence`.
    case item(sequence: UInt64, value: Item)
    /// `count` items were overwritten before this reader got to them; delivered just before the
    /// first item after the gap.
    case missed(count: UInt64)
}

extension TypedBufferEvent: Sendable where Item: Sendable {}

extension TypedBufferReader {
    /// The reader as an `AsyncSequence` of ``TypedBufferEvent``s, with everything
    /// ``BufferReader/events()`` does: sleeping while the buffer is empty, prompt on
    /// cancellation, ending once the buffer is gone for good.
    public consuming func events() -> TypedBufferEvents<Item> {
        TypedBufferEvents(box: ReaderBox(reader) { (reader: inout BufferReader) throws(CBuffError) in
            try Self.pop(from: &reader).map { (reader.nextSequence - 1, $0) }
        })
    }
}

/// The asynchronous sequence of a typed reader's events (see ``TypedBufferReader/events()``).
/// Iterate it once, from one task.
public struct TypedBufferEvents<Item: BitwiseCopyable>: AsyncSequence {
    /// An item, or the news that items were lost.
    public typealias Element = TypedBufferEvent<Item>

    let box: ReaderBox<BufferReader, Item>

    /// The iterator (make one, once).
    public func makeAsyncIterator() -> Iterator {
        Iterator(box: box)
    }

    /// Delivers the reader's events, waiting for each.
    public struct Iterator: AsyncIteratorProtocol {
        let box: ReaderBox<BufferReader, Item>

        /// The next event, waiting for it; nil once no item can arrive any more.
        ///
        /// - Throws: `CancellationError` when the task is cancelled; a ``CBuffError`` when the
        ///   ring file was damaged.
        public mutating func next() async throws -> TypedBufferEvent<Item>? {
            switch try await box.next() {
            case .item(let sequence, let value)?: .item(sequence: sequence, value: value)
            case .missed(let count)?: .missed(count: count)
            case nil: nil
            }
        }
    }
}

@available(*, unavailable, message: "Iterate a reader's events from one task.")
extension TypedBufferEvents: Sendable {}
