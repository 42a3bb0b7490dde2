@preconcurrency internal import Glibc

/// A value guarded by a process-private pthread mutex, for state shared by the threads of one
/// process (never by processes: the ring file uses atomics and OFD locks for that).
///
/// The mutex lives in its own allocation, never in a Swift variable, so that no Swift access
/// (and no ThreadSanitizer exclusivity report) ever covers it; `@unchecked Sendable` because
/// every access to `value` happens between `pthread_mutex_lock` and `pthread_mutex_unlock`.
///
/// Why not `Synchronization.Mutex`: it was tried (2026-12-01), and ThreadSanitizer then reports
/// a "Swift access race" on every `withLock` from two threads (`AttachedWriters.add` from two
/// tests creating buffers), because the standard library's lock is not instrumented and TSan sees
/// no happens-before between the two accesses. pthread mutexes are intercepted by TSan, so the
/// concurrency suites stay checkable.
package final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    package init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    package func withLock<T>(_ body: (inout Value) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&value)
    }
}
