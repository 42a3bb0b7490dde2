import ArgumentParser
import Foundation
import SharedRing

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every record of a buffer and report its intact and damaged ranges.",
        discussion: """
            For a buffer of messages, walks every record from the oldest to the newest: its \
            framing, its sequence following the one before, and (format version 4) its check \
            word, resuming after damage at the next record it can prove. For a buffer of items made \
            with --integrity checked, checks every slot against its check word; for other buffers \
            of items, the counters only: damage inside an item cannot be seen (said in the report). Changes nothing; works beside a live writer and on a \
            read-only data directory. Exit 0 when nothing is damaged, 65 when something is.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The buffer's name.", completion: BufferNames.completion)
    var name: String

    @Flag(help: "Print one JSON object (keys documented in docs/cli.md).")
    var json = false

    func run() throws {
        try reportingErrors {
            let found = try global.directory.verify(name)
            try Output.print(json ? BufferReport.json(Report(found)) + "\n" : describe(found))
            guard found.isIntact else {
                throw failure(ExitStatus.dataError, "buffer \(Values.quoted(name)) is damaged: \(found.lost) \(found.holdsMessages ? "message" : "item")\(found.lost == 1 ? "" : "s") in \(found.damaged.count) span\(found.damaged.count == 1 ? "" : "s") cannot be read\(found.countProblem.map { "; \($0)" } ?? "").")
            }
        }
    }

    private func describe(_ found: BufferVerification) -> String {
        let noun = found.holdsMessages ? "message" : "item"
        func plural(_ count: UInt64) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
        func range(_ sequences: Range<UInt64>) -> String {
            sequences.count == 1 ? "sequence \(sequences.lowerBound)" : "sequences \(sequences.lowerBound)–\(sequences.upperBound - 1)"
        }
        var rows: [(String, String)] = [
            ("buffer", found.name),
            ("checked", found.checksContent && !found.holdsMessages ? "every item's slot: its check word over its bytes and sequence (format version \(found.formatVersion))"
                : found.checksContent ? "every \(noun)'s record: framing, sequence and check word (format version \(found.formatVersion))"
                        : found.holdsMessages ? "every message's framing and sequence; format version \(found.formatVersion) has no check words, so a damaged body cannot be seen"
                        : "the counters only: items carry no check words (format version \(found.formatVersion)), so damage inside an item cannot be seen"),
        ]
        // In ring order: each damaged span sits after the intact run it follows.
        var spans = found.damaged[...]
        // Items are not checked: what the counters account for is "present", not "intact".
        let label = found.checksContent || found.holdsMessages ? "intact" : "present"
        for run in found.intact {
            while let span = spans.first, span.lostSequences.lowerBound < run.lowerBound {
                rows.append(("damaged", describe(span, in: found, plural: plural, range: range)))
                spans = spans.dropFirst()
            }
            rows.append((label, "\(range(run)) (\(plural(UInt64(run.count))))"))
        }
        for span in spans { rows.append(("damaged", describe(span, in: found, plural: plural, range: range))) }
        for span in found.lostInCrash {
            let lost = span.lostSequences.isEmpty ? "messages" : "\(plural(UInt64(span.lostSequences.count))) (\(range(span.lostSequences)))"
            rows.append(("lost", "\(lost) lost in a machine crash, \(place(span.bytes, found)): a recovery marked them lost (readers count them as missed)"))
        }
        if found.recoveryPending {
            rows.append(("recovery", "pending: the last writer attached before the machine restarted and did not close after a sync; the next reader or writer checks every record first"))
        }
        if found.intact.isEmpty && found.damaged.isEmpty { rows.append((label, "nothing to check: the ring is empty")) }
        if let problem = found.countProblem { rows.append(("count", problem)) }
        rows.append(("written", "\(plural(found.written)) (the next gets sequence \(found.written))"))
        rows.append(("durable", found.durable == 0 ? "nothing synced" : "every \(noun) below sequence \(found.durable) was synced"))
        rows.append(("verdict", !found.isIntact ? "damaged: \(plural(found.lost)) cannot be read"
                                : found.checksContent ? "intact" : "nothing found damaged in what could be checked"))
        return LabelledRows.format(rows)
    }

    private func describe(_ span: BufferVerification.DamagedSpan, in found: BufferVerification, plural: (UInt64) -> String, range: (Range<UInt64>) -> String) -> String {
        let lost = span.lostSequences.isEmpty ? "no message lost" : "\(plural(UInt64(span.lostSequences.count))) lost (\(range(span.lostSequences)))"
        return "\(lost), \(place(span.bytes, found)): \(span.problem)"
    }

    /// Where a span lies in the file: its length and first byte (the data area starts at 4096;
    /// a span that runs past its end goes on at its start).
    private func place(_ bytes: Range<UInt64>, _ found: BufferVerification) -> String {
        let first = found.dataAreaBytes == 0 ? bytes.lowerBound : 4096 + bytes.lowerBound % found.dataAreaBytes
        return "\(bytes.count) bytes from byte \(first) of the file"
    }

    /// `verify --json`: camelCase keys, documented in docs/cli.md.
    struct Report: Encodable {
        struct Span: Encodable {
            let from: UInt64, to: UInt64
        }
        struct Damaged: Encodable {
            let firstByte: UInt64, endByte: UInt64, lostFrom: UInt64, lostTo: UInt64, problem: String
        }
        let name: String
        let kind: String
        let formatVersion: Int
        let checksContent: Bool
        let intact: [Span]
        let damaged: [Damaged]
        let countProblem: String?
        let lost: UInt64
        let written: UInt64
        let durable: UInt64
        let isIntact: Bool
        let lostInCrash: [Damaged]
        let recoveryPending: Bool

        init(_ found: BufferVerification) {
            name = found.name
            kind = found.holdsMessages ? "messages" : "items"
            formatVersion = found.formatVersion
            checksContent = found.checksContent
            intact = found.intact.map { Span(from: $0.lowerBound, to: $0.upperBound) }
            damaged = found.damaged.map {
                Damaged(firstByte: $0.bytes.lowerBound, endByte: $0.bytes.upperBound, lostFrom: $0.lostSequences.lowerBound,
                        lostTo: $0.lostSequences.upperBound, problem: $0.problem)
            }
            countProblem = found.countProblem
            lost = found.lost
            written = found.written
            durable = found.durable
            isIntact = found.isIntact
            lostInCrash = found.lostInCrash.map {
                Damaged(firstByte: $0.bytes.lowerBound, endByte: $0.bytes.upperBound, lostFrom: $0.lostSequences.lowerBound,
                        lostTo: $0.lostSequences.upperBound, problem: "lost in a machine crash")
            }
            recoveryPending = found.recoveryPending
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(kind, forKey: .kind)
            try c.encode(formatVersion, forKey: .formatVersion)
            try c.encode(checksContent, forKey: .checksContent)
            try c.encode(intact, forKey: .intact)
            try c.encode(damaged, forKey: .damaged)
            try c.encode(countProblem, forKey: .countProblem)          // null, not missing
            try c.encode(lost, forKey: .lost)
            try c.encode(written, forKey: .written)
            try c.encode(durable, forKey: .durable)
            try c.encode(isIntact, forKey: .isIntact)
            try c.encode(lostInCrash, forKey: .lostInCrash)
            try c.encode(recoveryPending, forKey: .recoveryPending)
        }

        enum CodingKeys: String, CodingKey {
            case name, kind, formatVersion, checksContent, intact, damaged, countProblem, lost, written, durable, isIntact, lostInCrash, recoveryPending
        }
    }
}
