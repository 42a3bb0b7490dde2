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
        BufferEvents(box: ReaderBox(self))
    }
}

/// The asynchronous sequence of a reader's events (see ``BufferReader/events()``). Iterate it
/// once, from one task.
public struct BufferEvents: AsyncSequence {
    /// An item, or the news that items were lost.
    public typealias Element = BufferEvent

    let box: ReaderBox

    /// The iterator (make one, once).
    public func makeAsyncIterator() -> Iterator {
        Iterator(box: box)
    }

    /// Delivers the reader's events, waiting for each.
    public struct Iterator: AsyncIteratorProtocol {
        let box: ReaderBox

        /// The next event, waiting for it; nil once no item can arrive any more (the buffer was
        /// removed and its writer is gone).
        ///
        /// - Throws: `CancellationError` when the task is cancelled; a ``CBuffError`` when the
        ///   ring file was damaged.
        public mutating func next() async throws -> BufferEvent? {
            while true {
                try Task.checkCancellation()
                if let event = try box.nextEvent() { return event }
                guard try await box.waitForItem() else { return try box.nextEvent() }
            }
        }
    }
}

@available(*, unavailable, message: "Iterate a reader's events from one task.")
extension BufferEvents: Sendable {}

/// Owns the reader behind a `BufferEvents`.
///
/// `@unchecked Sendable` because the blocking wait runs on a Dispatch thread while the iterating
/// task is suspended awaiting it: the reader is never used by two threads at once. Only the
/// immutable `wakeUp` (to end the wait) and the atomic `cancelled` are touched concurrently.
final class ReaderBox: @unchecked Sendable {
    private var reader: BufferReader
    private let wakeUp: ReaderWakeUp
    private var reportedMissed: UInt64
    private var pending: BufferEvent?
    private let cancelled = Atomic<Bool>(false)
    /// How often a wait that found nothing checks whether items can still arrive (the buffer
    /// may have been removed).
    static let removalCheckInterval: Duration = .milliseconds(500)

    init(_ reader: consuming BufferReader) {
        reportedMissed = reader.missedCount
        wakeUp = reader.wakeUp
        self.reader = reader
    }

    /// The next event if one is ready: a gap first, then the item that followed it.
    func nextEvent() throws(CBuffError) -> BufferEvent? {
        if let event = pending {
            pending = nil
            return event
        }
        guard let value = try reader.popItem() else { return nil }
        let item = BufferEvent.item(sequence: reader.nextSequence - 1, value: value)
        let missed = reader.missedCount
        guard missed > reportedMissed else { return item }
        defer { reportedMissed = missed }
        pending = item
        return .missed(count: missed - reportedMissed)
    }

    /// Sleeps until an item may be ready, without holding a Swift concurrency thread; returns
    /// early (throwing) when the task is cancelled, and false when no item can come any more.
    func waitForItem() async throws -> Bool {
        try await withTaskCancellationHandler {
            let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Bool, CBuffError>, Never>) in
                DispatchQueue.global().async {
                    let woken = self.reader.wait(timeout: ReaderBox.removalCheckInterval) { self.cancelled.load(ordering: .acquiring) }
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
