// The fuzzer over the fuzz targets (`Tests/FuzzTargets`), built only with CBUFF_FUZZ=1 (see
// `Fuzz/run.sh` and Fuzz/README.md), never by a plain build.
//
// CBUFF_FUZZ_KIND names the target (header, description, writer, readers, records, registry,
// layout); CBUFF_FUZZ_WORKDIR is where the workspace's data directory goes (default $TMPDIR);
// CBUFF_FUZZ_IGNORE lists, separated by `|`, parts of violation messages that are known
// findings (Fuzz/Findings), to keep fuzzing past them.
// Every other argument is libFuzzer's. An input that breaks one of the product's promises
// becomes a crash, which libFuzzer saves as `crash-…`.
import CLibFuzzer
import Foundation
import FuzzTargets

func say(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

let environment = ProcessInfo.processInfo.environment
guard let name = environment["CBUFF_FUZZ_KIND"], let kind = FuzzKind(rawValue: name) else {
    say("cbuff-fuzz: set CBUFF_FUZZ_KIND to one of \(FuzzKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    exit(64)
}

/// The workspace of this process (libFuzzer calls back on this thread only).
nonisolated(unsafe) var workspace: FuzzWorkspace?
do {
    workspace = try FuzzWorkspace(under: environment["CBUFF_FUZZ_WORKDIR"])
} catch {
    say("cbuff-fuzz: cannot set up the workspace: \(error)")
    exit(1)
}
atexit { workspace?.remove() }

let fuzzedKind = kind
let ignored = (environment["CBUFF_FUZZ_IGNORE"] ?? "").split(separator: "|").map(String.init)
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    guard let workspace else { return 0 }
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let report = fuzz(fuzzedKind, input, in: workspace)
    if let first = report.violations.first(where: { violation in !ignored.contains { violation.contains($0) } }) {
        say(report.description)
        fatalError("cbuff-fuzz \(fuzzedKind.rawValue): \(first)")
    }
    return 0
}
exit(status)
