import Foundation
import Synchronization
import Testing
import TestSupport
@testable import SharedRing

/// A reader as an AsyncSequence: items in order, gaps reported as events, prompt cancellation.
@Suite struct BufferEventsTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    @Test func eventsDeliverItemsThenWaitForMore() async throws {
        var writer = try directory.createBuffer("e", itemSize: 8, length: 16)
        try writer.push(contentsOf: [10, 11])
        let path = temporary.path
        let consumer = Task.detached { () throws -> [BufferEvent] in
            var events: [BufferEvent] = []
            for try await event in try DataDirectory(path: path).openReader("e").events() {
                events.append(event)
                if events.count == 4 { break }
            }
            return events
        }
        // The consumer gets the first two, then sleeps until these arrive.
        try writer.push(12)
        try writer.push(13)
        #expect(try await consumer.value == [
            .item(sequence: 0, value: 10), .item(sequence: 1, value: 11),
            .item(sequence: 2, value: 12), .item(sequence: 3, value: 13),
        ])
    }

    @Test func aGapIsAnEventBeforeTheItemAfterIt() async throws {
        var writer = try directory.createBuffer("gap", itemSize: 8, length: 4)
        let reader = try directory.openReader("gap")
        for value in UInt64(0)..<10 { try writer.push(value) }
        var iterator = reader.events().makeAsyncIterator()
        #expect(try await iterator.next() == .missed(count: 6))
        #expect(try await iterator.next() == .item(sequence: 6, value: 6))
        #expect(try await iterator.next() == .item(sequence: 7, value: 7))
    }

    @Test func cancellingAWaitingSequenceEndsItPromptly() async throws {
        _ = try directory.createBuffer("idle", itemSize: 8, length: 4)
        let path = temporary.path
        // The consumer and this test both run on a thread of their own (see DedicatedExecutor).
        let executor = DedicatedExecutor()
        try await withTaskExecutorPreference(executor) {
            try await cancelWhileAsleep(path: path, executor: executor)
        }
    }

    private func cancelWhileAsleep(path: String, executor: DedicatedExecutor) async throws {
        let consumer = Task(executorPreference: executor) { () async -> String in
            do {
                for try await _ in try DataDirectory(path: path).openReader("idle").events() {}
                return "ended"
            } catch is CancellationError {
                return "cancelled"
            } catch {
                return "\(error)"
            }
        }
        // Wait (bounded) until the consumer sleeps on the buffer's futex, so that cancelling
        // really has to wake it.
        let deadline = ContinuousClock.now + .seconds(10)
        var asleep = false
        while !asleep, ContinuousClock.now < deadline {
            asleep = try directory.status(of: "idle").ring?.sleepingReaders == 1
            if !asleep { try await Task.sleep(for: .milliseconds(1)) }
        }
        #expect(asleep, "the consumer never slept on the buffer")
        let cancelled = ContinuousClock.now
        consumer.cancel()
        #expect(await consumer.value == "cancelled")
        // A wait slice is 500 ms: well under it means the cancellation woke the sleeper.
        #expect(ContinuousClock.now - cancelled < .milliseconds(250))
    }

    /// A task on the sequence's own executor gets every item in order, releases the sequence on
    /// that thread (which then ends without waiting for itself), and goes on running elsewhere.
    @Test func aTaskOnTheSequencesExecutorGetsEveryItemAndOutlivesTheSequence() async throws {
        // The test runs on a thread of its own too: a pool starved by the process tests of the
        // same run would otherwise decide its timing (see `cancellingAWaitingSequenceEndsItPromptly`).
        try await withTaskExecutorPreference(DedicatedExecutor()) { try await feedATaskOnTheSequencesExecutor() }
    }

    private func feedATaskOnTheSequencesExecutor() async throws {
        var writer = try directory.createBuffer("here", itemSize: 8, length: 16)
        let handoff = Handoff(try directory.openReader("here").events())
        let executor = try #require(handoff.events).executor
        let consumer = Task(executorPreference: executor) { () async throws -> [UInt64] in
            var events = handoff.events.take()
            var values: [UInt64] = []
            for try await event in events! {
                guard case .item(_, let value) = event else { continue }
                values.append(value)
                if values.count == 200 { break }
            }
            events = nil                                    // released here, on its own thread
            try await Task.sleep(for: .milliseconds(1))     // a job enqueued after that still runs
            return values
        }
        // In step with the consumer (length 16: the writer must not lap it): push, then wait
        // until the reader has taken what came before, looking at the ring itself.
        for value in UInt64(0)..<200 {
            try writer.push(value)
            if value % 8 == 7 { await Task.yield() }
            if value % 16 == 15 { _ = await eventuallyAsync { try directory.status(of: "here").ring?.sleepingReaders == 1 } }
        }
        // Bounded: a job lost after the release would leave the task suspended for good.
        #expect(await value(of: consumer, within: .seconds(30)) == Array(0..<200))
    }

    @Test func cancellingATaskWaitingOnTheSequencesExecutorEndsItPromptly() async throws {
        try await withTaskExecutorPreference(DedicatedExecutor()) { try await cancelATaskOnTheSequencesExecutor() }
    }

    private func cancelATaskOnTheSequencesExecutor() async throws {
        _ = try directory.createBuffer("idle-here", itemSize: 8, length: 4)
        let handoff = Handoff(try directory.openReader("idle-here").events())
        let executor = try #require(handoff.events).executor
        let consumer = Task(executorPreference: executor) { () async -> String in
            do {
                for try await _ in handoff.events.take()! {}
                return "ended"
            } catch is CancellationError {
                return "cancelled"
            } catch {
                return "\(error)"
            }
        }
        #expect(await eventuallyAsync { try directory.status(of: "idle-here").ring?.sleepingReaders == 1 }, "the consumer never slept on the buffer")
        let cancelled = ContinuousClock.now
        consumer.cancel()
        #expect(await consumer.value == "cancelled")
        #expect(ContinuousClock.now - cancelled < .milliseconds(250))
    }

    /// The removal check is a deadline, not a timeout that every wake-up starts again: a task
    /// on the sequence's executor whose other work wakes the thread (a heartbeat every 50 ms,
    /// as a child task inherits the executor) still sees the sequence end once the buffer is gone.
    @Test func aSequenceOnItsExecutorEndsAfterRemovalWhateverElseRunsThere() async throws {
        try await withTaskExecutorPreference(DedicatedExecutor()) { try await removeUnderABusyExecutor() }
    }

    private func removeUnderABusyExecutor() async throws {
        var writer = try directory.createBuffer("gone-here", itemSize: 8, length: 16)
        try writer.push(1)
        let handoff = Handoff(try directory.openReader("gone-here").events())
        let executor = try #require(handoff.events).executor
        let consumer = Task(executorPreference: executor) { () async throws -> (Int, ContinuousClock.Instant) in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) } }
                defer { group.cancelAll() }
                var count = 0
                for try await _ in handoff.events.take()! { count += 1 }
                return (count, ContinuousClock.now)         // when the sequence ended, on its thread
            }
        }
        #expect(await eventuallyAsync { try directory.status(of: "gone-here").ring?.sleepingReaders == 1 })
        writer.close()
        try directory.removeBuffer("gone-here")
        let removed = ContinuousClock.now
        let (count, ended) = try #require(await value(of: consumer, within: .seconds(30)))
        #expect(count == 1)
        // The check is due 0.5 s after the last news; well under this.
        #expect(ended - removed < .seconds(3), "the sequence ended \(ended - removed) after the removal")
    }

    /// A coalescing sequence's sleep before it watches (C1) is cut short by a job for its
    /// executor: another task there, resumed from another thread, is not held for the 800 ms
    /// delay.
    @Test func aJobForACoalescingSequencesExecutorIsNotHeldByTheCoalescingSleep() async throws {
        try await withTaskExecutorPreference(DedicatedExecutor()) { try await resumeBesideACoalescingSequence() }
    }

    private func resumeBesideACoalescingSequence() async throws {
        _ = try directory.createBuffer("coalesce-here", itemSize: 8, length: 16)
        var reader = try directory.openReader("coalesce-here")
        reader.wakeUpCoalescing = .milliseconds(800)
        let handoff = Handoff(reader.events())
        let executor = try #require(handoff.events).executor
        let waiting = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let consumer = Task(executorPreference: executor) { () async throws -> ContinuousClock.Instant in
            try await withThrowingTaskGroup(of: ContinuousClock.Instant.self) { group in
                group.addTask {
                    for try await _ in handoff.events.take()! {}
                    return ContinuousClock.now
                }
                // Parks after the sequence did (one thread: the child's job runs first), and the
                // watcher then sleeps its coalescing delay.
                await Task.yield()
                await withCheckedContinuation { continuation in waiting.withLock { $0 = continuation } }
                let resumed = ContinuousClock.now
                group.cancelAll()
                return resumed
            }
        }
        #expect(eventually(within: 10) { waiting.withLock { $0 != nil } })
        let resuming = ContinuousClock.now
        waiting.withLock { $0.take() }?.resume()            // from this thread, not the watcher's
        let resumed = try #require(await value(of: consumer, within: .seconds(30)))
        #expect(resumed - resuming < .milliseconds(300), "a job for the executor waited \(resumed - resuming)")
    }

    /// The task's value, or nil if it has none within `limit` (a failure; the task is left as it is).
    private func value<Value: Sendable>(of task: Task<Value, any Error>, within limit: Duration) async -> Value? {
        let first = Mutex<CheckedContinuation<Value?, Never>?>(nil)
        return await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
            first.withLock { $0 = continuation }
            let answer = { @Sendable (value: Value?) in
                first.withLock { pending in
                    defer { pending = nil }
                    return pending
                }?.resume(returning: value)
            }
            Task { answer(try? await task.value) }
            Task { try? await Task.sleep(for: limit); answer(nil) }
        }
    }

    /// Whether `condition` holds within 10 s, looking every millisecond (a plain sleep of this
    /// test's own thread: nothing else to schedule).
    private func eventuallyAsync(_ condition: () throws -> Bool) async -> Bool {
        eventually(within: 10) { (try? condition()) == true }
    }
}

/// Hands a (non-`Sendable`) event sequence to the one task that iterates it.
private final class Handoff: @unchecked Sendable {
    var events: BufferEvents?
    init(_ events: BufferEvents) { self.events = events }
}
