import Foundation
import Testing
import FuzzTargets

/// Replays the checked-in fuzz corpus (`Fuzz/Corpus/<kind>/`, the seeds and what the fuzzer
/// found interesting) through the fuzz targets: every input must end in success or the
/// `CBuffError` it deserves, deliver nothing inconsistent and touch nothing else (see
/// `Tests/FuzzTargets/FuzzTargets.swift`). A trap here is a failure too, of the whole run.
@Suite struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz/Corpus")

    static func inputs(_ kind: FuzzKind) throws -> [URL] {
        let folder = corpus.appendingPathComponent(kind.rawValue)
        return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test(arguments: FuzzKind.allCases)
    func corpusKeepsEveryPromise(kind: FuzzKind) throws {
        let workspace = try FuzzWorkspace()
        defer { workspace.remove() }
        let inputs = try Self.inputs(kind)
        #expect(inputs.count >= 10, "Fuzz/Corpus/\(kind.rawValue) holds \(inputs.count) inputs")
        var outcomes: [String: Int] = [:]
        for input in inputs {
            let report = fuzz(kind, [UInt8](try Data(contentsOf: input)), in: workspace)
            #expect(report.violations.isEmpty, "Fuzz/Corpus/\(kind.rawValue)/\(input.lastPathComponent):\n\(report)")
            for step in report.steps { outcomes[step, default: 0] += 1 }
        }
        // The corpus reaches both sides: inputs accepted and inputs refused.
        #expect(outcomes.keys.contains { $0.hasSuffix(": ok") }, "\(kind.rawValue): \(outcomes)")
        #expect(outcomes.keys.contains { !$0.hasSuffix(": ok") }, "\(kind.rawValue): \(outcomes)")
    }
}

/// Replays the known findings (`Fuzz/Findings/<kind>/`): inputs that still break a promise in
/// code being changed by others, described in Fuzz/Findings/README.md. Each must still fail
/// (a known issue); once one passes, the fix has landed, and the input moves to Fuzz/Corpus.
@Suite struct KnownFindingsTests {
    static let findings = CorpusReplayTests.corpus.deletingLastPathComponent().appendingPathComponent("Findings")

    @Test(arguments: FuzzKind.allCases)
    func findingsStillBreakTheirPromise(kind: FuzzKind) throws {
        let folder = Self.findings.appendingPathComponent(kind.rawValue)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
        let workspace = try FuzzWorkspace()
        defer { workspace.remove() }
        for name in names.sorted() where !name.hasPrefix(".") {
            let report = fuzz(kind, [UInt8](try Data(contentsOf: folder.appendingPathComponent(name))), in: workspace)
            withKnownIssue("Fuzz/Findings/\(kind.rawValue)/\(name) (see Fuzz/Findings/README.md)") {
                #expect(report.violations.isEmpty, "Fuzz/Findings/\(kind.rawValue)/\(name):\n\(report)")
            }
        }
    }
}

/// Writes the seeds (`Tests/FuzzTargets/Seeds.swift`) into Fuzz/Corpus as `seed-NAME`,
/// replacing the older seeds and keeping what the fuzzer added: run with
/// CBUFF_FUZZ_WRITE_SEEDS=1 after changing the seeds or the templates.
@Suite struct CorpusSeedWriter {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["CBUFF_FUZZ_WRITE_SEEDS"] == "1"))
    func writeSeeds() throws {
        let workspace = try FuzzWorkspace()
        defer { workspace.remove() }
        let files = FileManager.default
        for kind in FuzzKind.allCases {
            let folder = CorpusReplayTests.corpus.appendingPathComponent(kind.rawValue)
            try files.createDirectory(at: folder, withIntermediateDirectories: true)
            for old in try files.contentsOfDirectory(atPath: folder.path) where old.hasPrefix("seed-") {
                try files.removeItem(at: folder.appendingPathComponent(old))
            }
            for seed in workspace.seeds(kind) {
                try Data(seed.bytes).write(to: folder.appendingPathComponent("seed-" + seed.name))
            }
        }
    }
}
