import Foundation
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
}
