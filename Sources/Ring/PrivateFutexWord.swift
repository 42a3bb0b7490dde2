internal import Synchronization
internal import SharedRingSystem

/// A futex word of this process alone, where one of its threads sleeps until another of its
/// threads has something for it (a writer's syncer until the writer stops it, an event
/// sequence's watcher until a job or a park): on the heap, so that it never moves while a
/// thread sleeps on it, and freed with its owner. Not a word of the ring: no other process
/// reads it. Its stores release and its loads acquire, so what the waker did before a change is
/// seen by the sleeper that loads the change.
package final class PrivateFutexWord: @unchecked Sendable {
    private let word: UnsafeMutablePointer<Atomic<UInt32>>

    package init() {
        word = .allocate(capacity: 1)
        word.initialize(to: Atomic(0))
    }

    deinit {
        word.deinitialize(count: 1)
        word.deallocate()
    }

    /// The word now (acquire).
    package var value: UInt32 { word.pointee.load(ordering: .acquiring) }

    /// Stores `value` (release), then wakes every thread sleeping on the word.
    package func store(_ value: UInt32) {
        word.pointee.store(value, ordering: .releasing)
        _ = Sys.futexWakeAll(address)
    }

    /// Adds 1 (release), then wakes every thread sleeping on the word: a change that a sleeper
    /// which loaded the word before it cannot miss.
    package func bump() {
        word.pointee.wrappingAdd(1, ordering: .releasing)
        _ = Sys.futexWakeAll(address)
    }

    /// Sleeps while the word is `expected`, at most `timeoutNanos` (a wake-up or a signal may end
    /// it sooner: callers look again).
    package func wait(whileItIs expected: UInt32, timeoutNanos: Int64) {
        Sys.futexWait(address, expected: expected, timeoutNanos: timeoutNanos)
    }

    private var address: UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(word).assumingMemoryBound(to: UInt32.self)
    }
}
