import Foundation
import Testing

/// The layers, as rules on the sources. The compiler refuses a cycle between targets and a name
/// a file did not import, but SwiftPM 6.3 lets a target import a sibling module it does not
/// depend on, as long as that module happens to be built (`--explicit-target-dependency-import-check
/// error` did not catch it here): so every import of every file is checked against its layer's
/// list, and the places allowed to touch libc, the C shim and atomics are checked too.
@Suite struct LayeringTests {
    /// The repository's root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// What each source folder may import (beyond Swift itself).
    static let allowed: [String: Set<String>] = [
        "Sources/System": ["Glibc", "CSharedRingShims", "Synchronization"],
        "Sources/Common": ["SharedRingSystem", "Logging"],
        "Sources/Ring": ["SharedRingSystem", "SharedRingCommon", "Synchronization", "CSharedRingChecksum"],
        "Sources/Registry": ["SharedRingSystem", "SharedRingCommon", "GRDB", "Synchronization"],
        "Sources/SharedRing": ["SharedRingSystem", "SharedRingCommon", "SharedRingProtocol", "SharedRingRegistry", "Synchronization", "Dispatch"],
        "Sources/cbuff": ["SharedRing", "Spawning", "CommandLineSupport", "ArgumentParser", "Foundation", "Synchronization", "Glibc", "Logging"],
        // Beside the library: how the command-line tools (cbuff, cbuff-relay) word usage errors.
        "Sources/CommandLineSupport": ["ArgumentParser"],
        // Beside the library, not in it: how the repository starts a program (its own system calls).
        "Sources/Spawning": ["Glibc", "CSharedRingShims"],
    ]

    /// The files, under `folder`, and their import lines' module names.
    static func imports(under folder: String) throws -> [(file: String, module: String)] {
        let base = root.appendingPathComponent(folder)
        let files = FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        #expect(!files.isEmpty, "no sources under \(folder)")
        return try files.flatMap { file -> [(String, String)] in
            let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
            return text.split(separator: "\n").compactMap { line -> (String, String)? in
                let words = line.split(separator: " ").map(String.init).filter { !$0.hasPrefix("@") }
                guard let index = words.firstIndex(of: "import"), index + 1 < words.count,
                      words[..<index].allSatisfy({ ["internal", "package", "public"].contains($0) }) else { return nil }
                return ("\(folder)/\(file)", words[index + 1])
            }
        }
    }

    @Test(arguments: allowed.keys.sorted())
    func eachLayerImportsOnlyWhatIsBelowIt(folder: String) throws {
        for (file, module) in try Self.imports(under: folder) {
            #expect(Self.allowed[folder]!.contains(module), "\(file) imports \(module)")
        }
    }

    @Test func libcAndTheShimAreImportedOnlyByTheSystemLayerTheSpawnerAndTheToolsPlatformFile() throws {
        for folder in Self.allowed.keys {
            for (file, module) in try Self.imports(under: folder) where module == "Glibc" || module == "CSharedRingShims" {
                #expect(["Sources/System", "Sources/Spawning"].contains(folder) || file == "Sources/cbuff/Support/Platform.swift", "\(file) imports \(module)")
            }
        }
    }

    @Test func theLibraryHidesGRDBGlibcAndTheShimFromItsClients() throws {
        for folder in ["Sources/System", "Sources/Common", "Sources/Ring", "Sources/Registry", "Sources/SharedRing", "Sources/Spawning"] {
            let base = Self.root.appendingPathComponent(folder)
            for file in FileManager.default.enumerator(atPath: base.path)?.compactMap({ $0 as? String }).filter({ $0.hasSuffix(".swift") }) ?? [] {
                let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                for line in text.split(separator: "\n") where line.contains("import GRDB") || line.contains("import Glibc") || line.contains("import CSharedRingShims") {
                    #expect(line.contains("internal import"), "\(folder)/\(file): \(line)")
                }
            }
        }
    }

    /// Every memory ordering of the library is in the Ring layer, next to its argument, except
    /// process-local flags declared in the same file (the SIGBUS guard's flag, a cancelled flag).
    @Test func everyMemoryOrderingIsInTheRingLayer() throws {
        let processLocal: Set<String> = ["Sources/System/Syscalls.swift", "Sources/SharedRing/BufferEvents.swift"]
        for folder in ["Sources/System", "Sources/Common", "Sources/Registry", "Sources/SharedRing"] {
            let base = Self.root.appendingPathComponent(folder)
            for file in FileManager.default.enumerator(atPath: base.path)?.compactMap({ $0 as? String }).filter({ $0.hasSuffix(".swift") }) ?? [] {
                let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                let code = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }
                if code.contains(where: { $0.contains("ordering:") || $0.contains("atomicMemoryFence") }) {
                    #expect(processLocal.contains("\(folder)/\(file)"), "\(folder)/\(file) orders memory outside Sources/Ring")
                }
            }
        }
    }
}
