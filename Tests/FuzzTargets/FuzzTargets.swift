// The fuzz targets: one function per kind of input cbuff reads from a file, a registry row or
// the command line, each driving the real parsing and validation code with the input's bytes.
// The fuzzer (`Fuzz/Driver`, built only with CBUFF_FUZZ=1, see Fuzz/README.md) calls them
// from libFuzzer's `LLVMFuzzerTestOneInput`; `Tests/FuzzReplayTests` replays the checked-in
// corpus (`Fuzz/Corpus/<kind>/`) through the same functions in every `swift test`.
//
// What an input must never do is what the product promises about its input: trap, hang
// (every loop here is bounded by the geometry), raise SIGBUS, write outside the file under
// test, end in an error that is not a `CBuffError` with the code that input deserves, or
// deliver something inconsistent (a message longer than the largest, a sequence that does not
// increase, more items than the ring holds, anything other than what a writer just pushed).
// Each such finding is a `violation` in the report; the fuzzer turns it into a crash.
import SharedRing

/// A kind of input, and the part of the product that reads it.
public enum FuzzKind: String, CaseIterable, Sendable {
    /// Lines 0–15 of a ring file (geometry, checksums, writer words, item description), laid
    /// over a real ring file; opened, read, inspected, taken over.
    case header
    /// Lines 6–15 of a version-3 ring file: the item description (alignment, type name, field
    /// records) or a message ring's geometry, with its checksum made right.
    case description
    /// Lines 2–5 of a ring file: the writer's words (published, claimed, state, identity, the
    /// `block` policy's words, a message ring's tail, last record and message count).
    case writer
    /// Bytes 1024–4095 of a ring file: the named-reader table (cursors, states, names).
    case readers
    /// The data area of a message ring: the message records.
    case records
    /// One row of the registry's `buffers` table, column by column, any SQLite type.
    case registry
    /// What `cbuff push --fields … --format jsonl` reads: a field spec, then JSON lines.
    case layout

    /// What the kind's input is, for `Fuzz/README.md` and failure messages.
    public var summary: String {
        switch self {
        case .header: "a template selector, then up to 1024 bytes laid over lines 0-15 (checksums made right unless flags 0x10/0x20 say not)"
        case .description: "a template selector, then up to 632 bytes laid over bytes 384-1015 (version set to 3, checksums made right unless flag 0x10)"
        case .writer: "a template selector, then up to 256 bytes laid over bytes 128-383"
        case .readers: "a template selector, then up to 3072 bytes laid over bytes 1024-4095"
        case .records: "a message-template selector, then up to 4096 bytes laid over the data area"
        case .registry: "a template selector, then one tagged value per column of `buffers`"
        case .layout: "text: a field spec on the first line, JSON objects on the following ones"
        }
    }
}

/// What one input did: each step's outcome, and every broken promise.
public struct FuzzReport: Sendable, CustomStringConvertible {
    /// "step: ok" or "step: code", in order.
    public internal(set) var steps: [String] = []
    /// What must never happen and did: empty for a sound input.
    public internal(set) var violations: [String] = []

    public var description: String {
        (steps + violations.map { "VIOLATION " + $0 }).joined(separator: "\n")
    }

    mutating func violation(_ what: String) {
        violations.append(what)
    }

    mutating func check(_ condition: Bool, _ what: @autoclosure () -> String) {
        if !condition { violations.append(what()) }
    }

    /// Runs one step: it must succeed or throw a `CBuffError` whose code is in `allowed`.
    mutating func step(_ name: String, allowing allowed: Set<CBuffError.Code>, _ body: (inout FuzzReport) throws -> Void) {
        do {
            try body(&self)
            steps.append("\(name): ok")
        } catch let error as CBuffError {
            steps.append("\(name): \(error.code)")
            if !allowed.contains(error.code) {
                violations.append("\(name) failed with \(error.code), which this input does not deserve: \(error.message)")
            }
        } catch {
            violations.append("\(name) threw \(error), not a CBuffError")
        }
    }
}

/// Runs `input` through the target of `kind` in `workspace`.
public func fuzz(_ kind: FuzzKind, _ input: [UInt8], in workspace: FuzzWorkspace) -> FuzzReport {
    var report = FuzzReport()
    switch kind {
    case .header, .description, .writer, .readers, .records:
        let ring = RingInput(kind: kind, input: input, templates: workspace.templates)
        workspace.exercise(ring, &report)
    case .registry:
        workspace.exerciseRow(input, &report)
    case .layout:
        exerciseLayout(input, &report)
    }
    return report
}
