package import SharedRingSystem

/// The end of a bounded wait for a lock another process holds: one sentence naming the file,
/// the process (when the kernel says which) and how long this one waited.
package enum LockWait {
    package static func timedOut(_ path: String, identity: Sys.FileIdentity, byte: Int, timeoutNanos: Int64, doing what: String) -> CBuffFailure {
        let holders = Sys.lockHolders(of: identity, coveringByte: byte)
        let who = holders.isEmpty
            ? "another process"
            : holders.map { pid in "PID \(pid)" + (Sys.processName(pid).map { " (\($0))" } ?? "") }.joined(separator: ", ")
        return CBuffFailure(.timedOut, "Cannot \(what): \(path) stayed locked by \(who) for \(seconds(timeoutNanos)); if that process is stopped (Ctrl-Z) resume or end it, or allow a longer lock timeout.")
    }

    /// "5 s", "0.25 s".
    package static func seconds(_ nanoseconds: Int64) -> String {
        let value = Double(nanoseconds) / 1e9
        return value == value.rounded() ? "\(Int64(value)) s" : "\(value) s"
    }
}
