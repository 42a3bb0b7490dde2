internal import SharedRingProtocol
internal import SharedRingCommon

/// What ``DataDirectory/verify(_:)`` found in one buffer (`cbuff verify NAME`): which sequences
/// lie intact in the ring, and the spans between them that hold nothing it could prove.
///
/// Only records and slots that carry a check word can be proven intact, content and all: those
/// of format version 4. Elsewhere (items and messages of earlier versions) ``checksContent`` is false:
/// the counters and the records' framing were checked, and ``intact`` says what they account
/// for, but a stale or zeroed page inside an item or a version-3 message cannot be seen.
public struct BufferVerification: Sendable {
    /// A span of the data area where no record could be proven.
    public struct DamagedSpan: Sendable, Equatable {
        /// Byte offsets in the data area's positions (counted from the ring's start, as the
        /// counters count them: they grow past the area's size; the offset in the file is
        /// `4096 + (offset mod capacity)`).
        public let bytes: Range<UInt64>
        /// The messages it accounts for nothing of: from the one after the last intact message
        /// before it to the first intact one after it (`next` when none follows).
        public let lostSequences: Range<UInt64>
        /// What was found where it starts.
        public let problem: String
    }

    /// A span a recovery after a machine crash turned into lost records (format version 4): its
    /// messages were lost, not damaged now; readers count them as missed.
    public struct LostSpan: Sendable, Equatable {
        /// Byte offsets in the data area's positions, as ``DamagedSpan/bytes``.
        public let bytes: Range<UInt64>
        /// The sequences it skips: from the one expected before it to the next message's
        /// (empty when nothing after it says more).
        public let lostSequences: Range<UInt64>
    }

    /// The buffer's name.
    public let name: String
    /// Its ring file's format version.
    public let formatVersion: Int
    /// Whether it holds messages (else items).
    public let holdsMessages: Bool
    /// Whether every record's content was proven against its check word (version-4 messages).
    public let checksContent: Bool
    /// The sequence the next item or message will get.
    public let written: UInt64
    /// The durable sequence (see ``BufferWriter/sync()``).
    public let durable: UInt64
    /// The runs of consecutive sequences found intact, oldest first.
    public let intact: [Range<UInt64>]
    /// The spans between them, in order; empty when nothing is damaged.
    public let damaged: [DamagedSpan]
    /// The spans a recovery after a machine crash turned into lost records, in order (not
    /// damage: ``isIntact`` does not count them).
    public let lostInCrash: [LostSpan]
    /// Whether a recovery after a machine crash is pending (the next reader or writer runs it).
    public let recoveryPending: Bool
    /// The chain ended at `published` intact but the header's count of messages says another
    /// next sequence, or nil.
    public let countProblem: String?

    /// Bytes of the data area (0 for a buffer of items without check words): a span's byte
    /// offsets are counted as the counters count, so the file holds offset `b` at
    /// `4096 + b mod dataAreaBytes`.
    public let dataAreaBytes: UInt64

    /// Whether nothing was found damaged.
    public var isIntact: Bool { damaged.isEmpty && countProblem == nil }

    /// Items or messages the damage accounts for nothing of.
    public var lost: UInt64 { damaged.reduce(0) { $0 + UInt64($1.lostSequences.count) } }

    /// A ring of items. With `slots` (version 4: each slot proven against its check word), the
    /// runs of sequences that hold what was written under them and that do not; without, the
    /// counters' account only (what they say is present, nothing checked inside).
    init(name: String, layout: RingLayout, snapshot: RingSnapshot, slots: (intact: [Range<UInt64>], damaged: [Range<UInt64>])? = nil) {
        self.name = name
        formatVersion = Int(layout.version)
        holdsMessages = false
        checksContent = slots != nil
        written = snapshot.published
        durable = snapshot.durable
        let stride = UInt64(layout.slotStride), length = UInt64(layout.length)
        dataAreaBytes = slots == nil ? 0 : stride * length
        intact = slots?.intact ?? (snapshot.oldest < snapshot.published ? [snapshot.oldest..<snapshot.published] : [])
        damaged = (slots?.damaged ?? []).map { run in
            // Whole slots: from the first one's (slot `s mod length`), the run's (within one lap),
            // so that sequences near 2^63 of a damaged header overflow nothing.
            let first = run.lowerBound % length * stride
            return DamagedSpan(bytes: first..<(first + UInt64(run.count) * stride), lostSequences: run,
                        problem: run.count == 1 ? "the slot does not hold what its check word vouches for" : "these slots do not hold what their check words vouch for")
        }
        lostInCrash = []
        recoveryPending = false
        countProblem = nil
    }

    init(name: String, layout: RingLayout, state: MessageRingState, survey: MessageSurvey, durable: UInt64, recoveryPending: Bool) {
        self.name = name
        formatVersion = Int(layout.version)
        holdsMessages = true
        checksContent = layout.messages?.records.isChecked ?? false
        written = state.next
        self.durable = durable
        dataAreaBytes = UInt64(layout.messages?.capacity ?? 0)
        intact = survey.runs.map { $0.firstSequence..<($0.firstSequence + $0.count) }
        // Runs and gaps both come in position order: one pass over each (a search of the runs
        // for every gap was quadratic in a ring with many damaged spans).
        let runs = survey.runs
        var endedBefore = 0, startsAfter = 0   // runs ending at or before the gap; the first run starting at or after it
        damaged = survey.gaps.map { gap in
            while endedBefore < runs.count, runs[endedBefore].end <= gap.start { endedBefore += 1 }
            startsAfter = max(startsAfter, endedBefore)
            while startsAfter < runs.count, runs[startsAfter].start < gap.end { startsAfter += 1 }
            let before = endedBefore > 0 ? runs[endedBefore - 1].firstSequence + runs[endedBefore - 1].count : (state.oldestSequence ?? state.next)
            let after = startsAfter < runs.count ? runs[startsAfter].firstSequence : state.next
            return DamagedSpan(bytes: (gap.start * 8)..<(gap.end * 8), lostSequences: before..<max(before, after), problem: "\(gap.damage)")
        }
        lostInCrash = survey.lost.map { LostSpan(bytes: ($0.start * 8)..<($0.end * 8), lostSequences: $0.from..<max($0.from, $0.to)) }
        self.recoveryPending = recoveryPending
        countProblem = survey.end.map { "\($0)" }
    }
}
