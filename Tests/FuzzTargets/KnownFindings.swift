/// Findings in code other engineers are changing, which the exercise steps around until they are
/// fixed (each is described in Fuzz/Findings/README.md). Remove a guard once its fix lands: the
/// fuzzer then checks the fix.
enum KnownFindings {
    /// `FutexSleep.wait` counts a sleeper with `Atomic.add` (Sources/Ring/FutexSleep.swift, the
    /// waiting code), which traps when the file's count is already 2^32 − 1: `waiters` (byte 196)
    /// for a reader, `writerWaiting` (byte 260) for a writer under `block`. Whether the steps may
    /// wait, given the file's bytes: (readers, writer).
    static func sleeperCountsAllowWaiting(_ bytes: [UInt8]) -> (readers: Bool, writer: Bool) {
        guard bytes.count >= 264 else { return (true, true) }
        return (bytes.le32(at: 196) != .max, bytes.le32(at: 260) != .max)
    }
}
