internal import SharedRingProtocol
internal import SharedRingCommon
internal import SharedRingSystem

/// When a buffer's writer makes what it pushed durable on its own, chosen once at creation and
/// recorded in the ring file (bytes 104–119, see <doc:RingFileFormat>), so that every writer that
/// takes the buffer over follows it. A sync is what ``BufferWriter/sync()`` does: `fsync` of the
/// ring file, then the durable sequence recorded (``BufferWriter/durableSequence``), then `msync`
/// of its header page; items below the durable sequence survive a machine crash or power loss.
///
/// Whatever the policy, ``BufferWriter/sync()`` syncs at once, and a push never makes a system
/// call of its own unless the policy asks for a sync there. When a sync the policy asked for
/// fails, the push that triggered it throws its error (``CBuffError/Code/systemFailure``)
/// **after** its items are published: they are in the buffer, not known to be durable, and the
/// next sync (the policy's or yours) rewrites every page before its `fsync`.
///
/// Closing a writer (``BufferWriter/close()``, or the end of its scope) syncs under every policy
/// but ``none``.
public enum SyncPolicy: Hashable, Sendable, CustomStringConvertible {
    /// No sync but ``BufferWriter/sync()``: today's speed, and what every buffer made before
    /// the policy existed records.
    case none
    /// A sync at the end of every push call: a single push is a batch of one; a push of many
    /// items (`push(contentsOf:)`), a message, or an in-place push is one batch.
    case eachBatch
    /// A sync whenever `n` (1 … 2^40) items or messages were pushed since the last sync: at
    /// exactly every multiple of `n` for single pushes from a synced start; at the end of the
    /// batch that reaches it for batches.
    case everyN(Int)
    /// A sync at most this long (1 ms … 1 hour, whole nanoseconds) after something was
    /// published, by a **syncer thread** the writer starts when it attaches and stops and
    /// joins when it closes; it does nothing while nothing is published, and syncs at most
    /// once per interval however fast the writer pushes. The bound is the interval plus the
    /// sync's own duration. The writer's pushes are not slowed: the syncer waits on the ring
    /// as a reader does (and counts among its sleeping readers meanwhile). Its failures are
    /// retried at the next interval and readable as ``BufferWriter/syncerFailure``.
    case interval(Duration)

    public var description: String {
        switch self {
        case .none: "none"
        case .eachBatch: "each batch"
        case .everyN(let count): "every \(count)"
        case .interval(let duration): "interval \(duration)"
        }
    }

    /// The policy the command line's text names (`none`, `each-batch`, `every:N`,
    /// `interval:MS`), or the sentence that says why the text names none.
    package static func parsing(_ text: String) -> Result<SyncPolicy, UsageProblem> {
        switch RingSyncPolicy.parse(text) {
        case .success(let policy): .success(SyncPolicy(policy))
        case .failure(let problem): .failure(UsageProblem(sentence: problem.what))
        }
    }

    /// Why a text names no sync policy.
    package struct UsageProblem: Error {
        package let sentence: String
    }

    /// The command line's (and `inspect`'s) spelling: `none`, `each-batch`, `every:N`, `interval:MS`.
    package var commandLineText: String {
        (try? recorded())?.description ?? description
    }

    /// The policy as the ring file records it, checked.
    func recorded() throws(CBuffFailure) -> RingSyncPolicy {
        let policy: RingSyncPolicy
        switch self {
        case .none: policy = .none
        case .eachBatch: policy = .eachBatch
        case .everyN(let count):
            guard count > 0 else { throw CBuffFailure(.invalidArgument, "A sync every \(count) items cannot be: N must be from 1 to \(RingSyncPolicy.maxCount).") }
            policy = .everyN(UInt64(count))
        case .interval(let duration):
            let (seconds, attoseconds) = duration.components
            guard seconds >= 0, attoseconds >= 0, seconds <= 3600 else {
                throw CBuffFailure(.invalidArgument, "A sync interval of \(duration) cannot be: it must be from 1 ms to 1 hour.")
            }
            policy = .interval(nanoseconds: UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000))
        }
        if let problem = policy.problem { throw CBuffFailure(.invalidArgument, "Sync policy \(self) cannot be recorded: \(problem).") }
        return policy
    }

    /// The public face of a recorded policy.
    init(_ recorded: RingSyncPolicy) {
        switch recorded {
        case .none: self = .none
        case .eachBatch: self = .eachBatch
        case .everyN(let count): self = .everyN(Int(clamping: count))
        case .interval(let nanoseconds): self = .interval(.nanoseconds(Int64(clamping: nanoseconds)))
        }
    }
}

/// What every kind of writer does for its buffer's sync policy when it attaches and closes.
struct WriterSync {
    let policy: SyncPolicy
    /// The syncer thread, under `interval`.
    let syncer: IntervalSyncer?
    /// The first sequence at which a sync is due (see `PublicationCounters.syncDueAt`).
    let firstDue: UInt64

    /// Attaches to `file`'s policy: starts the syncer of `interval` (should the thread not
    /// start, the writer syncs after each batch instead, which keeps the bound, and says so).
    init(_ file: borrowing RingFile) {
        let recorded = file.layout.syncPolicy
        var policy = SyncPolicy(recorded)
        var syncer: IntervalSyncer?
        if case .interval(let nanoseconds) = recorded {
            switch IntervalSyncer.start(file.durability, header: file.header, intervalNanos: nanoseconds) {
            case .success(let started): syncer = started
            case .failure(let failure):
                Diagnostics.warn(.writer, "the syncer thread of the writer of \(file.path) could not start (\(failure)): this writer syncs after every push instead")
                policy = .eachBatch
            }
        }
        self.policy = policy
        self.syncer = syncer
        self.firstDue = Self.due(after: file.durable, policy)
    }

    /// The sequence at which the next sync is due after one made everything below `durable`
    /// durable: at once for `eachBatch`, `n` later for `everyN(n)`, never for the others.
    static func due(after durable: UInt64, _ policy: SyncPolicy) -> UInt64 {
        switch policy {
        case .eachBatch: 0
        case .everyN(let count): durable &+ UInt64(count)
        case .none, .interval: .max
        }
    }

    /// A writer's close: stops and joins the syncer, then syncs unless the policy is `none`
    /// (a failure is logged: `close()` cannot throw; `sync()` before it can).
    static func close(_ file: borrowing RingFile, syncer: IntervalSyncer?, policy: SyncPolicy) {
        syncer?.stop()
        guard policy != .none, file.isWritable else { return }
        do {
            _ = try file.synchronize()
        } catch {
            Diagnostics.warn(.writer, "the closing writer of \(file.path) could not sync what it pushed: \(error)")
        }
    }
}
