/// When a buffer's writers make what they push durable on their own, as the ring file records
/// it at creation (line 1, bytes 104–119: u32 kind, u32 zero, u64 parameter; zero in files
/// made before the policy existed, which therefore read as ``none``). The public API's
/// `SyncPolicy` has the same cases.
package enum RingSyncPolicy: Equatable, Sendable, CustomStringConvertible {
    /// Only an explicit sync makes anything durable (the default, and every older file).
    case none
    /// Every push call ends with a sync: a single push is a batch of one.
    case eachBatch
    /// A sync whenever this many items or messages were pushed since the last one (at least 1).
    case everyN(UInt64)
    /// A syncer thread of the writer's process syncs at most this long (nanoseconds, from
    /// ``minIntervalNanos`` to ``maxIntervalNanos``) after something was published.
    case interval(nanoseconds: UInt64)

    /// The shortest interval: 1 ms (a disk's `fsync` takes about that long, so a shorter one
    /// would be a sync after every batch, which ``eachBatch`` says plainly).
    package static let minIntervalNanos: UInt64 = 1_000_000
    /// The longest interval: one hour (beyond it the policy protects next to nothing).
    package static let maxIntervalNanos: UInt64 = 3_600_000_000_000
    /// The largest count between syncs: anything larger is a typo (2^40 items).
    package static let maxCount: UInt64 = 1 << 40

    /// The kind word (byte 104).
    package var kind: UInt32 {
        switch self {
        case .none: 0
        case .eachBatch: 1
        case .everyN: 2
        case .interval: 3
        }
    }

    /// The parameter word (byte 112): N, the interval in nanoseconds, or 0.
    package var parameter: UInt64 {
        switch self {
        case .none, .eachBatch: 0
        case .everyN(let count): count
        case .interval(let nanoseconds): nanoseconds
        }
    }

    /// The policy the three words of a header say, or why they say none: a kind no writer
    /// writes, a non-zero reserved word, a parameter a kind does not take or one out of range.
    /// The reason names the byte, for a `corrupted` error.
    package static func decode(kind: UInt32, reserved: UInt32, parameter: UInt64) -> Result<RingSyncPolicy, Problem> {
        guard reserved == 0 else { return .failure(Problem("its sync policy's reserved word (byte 108) holds \(reserved), not 0")) }
        let policy: RingSyncPolicy
        switch kind {
        case 0: policy = .none
        case 1: policy = .eachBatch
        case 2: policy = .everyN(parameter)
        case 3: policy = .interval(nanoseconds: parameter)
        default: return .failure(Problem("its sync policy (byte 104) is \(kind); a writer records only 0 (none), 1 (each batch), 2 (every N) or 3 (interval)"))
        }
        if parameter != 0 && (policy == .none || policy == .eachBatch) {
            return .failure(Problem("its sync policy's parameter (byte 112) is \(parameter), where policy \(policy) takes none (0)"))
        }
        if let problem = policy.problem {
            return .failure(Problem("its sync policy's parameter (byte 112) is \(parameter): \(problem)"))
        }
        return .success(policy)
    }

    /// Why this policy cannot be recorded, or nil.
    package var problem: String? {
        switch self {
        case .none, .eachBatch:
            nil
        case .everyN(let count):
            count == 0 || count > Self.maxCount ? "a sync every N needs N from 1 to \(Self.maxCount)" : nil
        case .interval(let nanoseconds):
            (Self.minIntervalNanos...Self.maxIntervalNanos).contains(nanoseconds) ? nil
                : "a sync interval must be from 1 ms to 1 hour (\(Self.minIntervalNanos) to \(Self.maxIntervalNanos) ns)"
        }
    }

    /// Why a header's policy words are damaged (``decode(kind:reserved:parameter:)``).
    package struct Problem: Error {
        package let what: String
        init(_ what: String) { self.what = what }
    }

    /// `none`, `each-batch`, `every:N`, `interval:MS` (whole milliseconds when it is one), as
    /// the command line takes it and `inspect` shows it.
    package var description: String {
        switch self {
        case .none: "none"
        case .eachBatch: "each-batch"
        case .everyN(let count): "every:\(count)"
        case .interval(let nanoseconds):
            nanoseconds % 1_000_000 == 0 ? "interval:\(nanoseconds / 1_000_000)" : "interval:\(Double(nanoseconds) / 1e6)"
        }
    }

    /// The policy the command line's text names (see ``description``), or why not, as a
    /// sentence for a usage error.
    package static func parse(_ text: String) -> Result<RingSyncPolicy, Problem> {
        let usage = Problem("give none, each-batch, every:N (N from 1 to \(maxCount)) or interval:MS (1 to 3600000 milliseconds)")
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        // Digits only ("+3" is not a count here, as Python's reading of the same text says).
        if parts.count == 2, !parts[1].utf8.allSatisfy({ (0x30...0x39).contains($0) }) { return .failure(usage) }
        let policy: RingSyncPolicy
        switch (parts[0], parts.count) {
        case ("none", 1): policy = .none
        case ("each-batch", 1): policy = .eachBatch
        case ("every", 2):
            guard let count = UInt64(parts[1]) else { return .failure(usage) }
            policy = .everyN(count)
        case ("interval", 2):
            guard let milliseconds = UInt64(parts[1]), milliseconds <= maxIntervalNanos / 1_000_000 else {
                return .failure(usage)
            }
            policy = .interval(nanoseconds: milliseconds * 1_000_000)
        default:
            return .failure(usage)
        }
        if policy.problem != nil { return .failure(usage) }
        return .success(policy)
    }
}
