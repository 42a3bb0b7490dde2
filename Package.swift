// swift-tools-version: 6.1
import PackageDescription

// Every import in the library says its access level (`internal import GRDB`), and a file sees
// only the members of the modules it imports itself: what a layer uses, it names.
let layered: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "cbuff",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SharedRing", targets: ["SharedRing"]),
        // How this repository starts a program (Sources/Spawning): a product so that the relay's
        // package (its tests) uses it too. Not part of SharedRing's API.
        .library(name: "Spawning", targets: ["Spawning"]),
        // How the command-line tools word a usage error and read a negative number
        // (Sources/CommandLineSupport): a product so that the relay's `cbuff-relay` uses it too.
        .library(name: "CommandLineSupport", targets: ["CommandLineSupport"]),
        .executable(name: "cbuff", targets: ["cbuff"]),
        .executable(name: "cbuff-bench", targets: ["cbuff-bench"]),
    ],
    dependencies: [
        // SQLite access, typed errors, WAL and migrations for the registry (links the system libsqlite3).
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        // The command-line tool's parsing, help and usage errors (exit 64).
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        // Diagnostics (take-overs, lock retries, migrations, lapped readers) through the logging
        // API applications already configure; silent unless they do (or `cbuff --verbose`).
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
    ],
    targets: [
        // The library, in layers the compiler keeps apart: each target may use only those below
        // it, and everything below the public API is `package`, invisible to clients.
        //
        //   SharedRing          the public API: DataDirectory, BufferWriter, BufferReader, errors
        //   ├─ SharedRingProtocol  Sources/Ring: the ring file's format and the publication
        //   │                      protocol (every access to mapped memory, every ordering)
        //   └─ SharedRingRegistry  Sources/Registry: the SQLite registry (GRDB)
        //      SharedRingCommon    Sources/Common: what both share: failures, names, file trust
        //      SharedRingSystem    Sources/System: system calls, and nothing else
        //      CSharedRingShims    what Swift cannot call
        //      CSharedRingChecksum the records' CRC-32 (inline assembly)
        //
        // Beside them, not under SharedRing: Spawning (Sources/Spawning), the one way this
        // repository starts a program (posix_spawn, never Foundation's Process; see Spawned),
        // used by `cbuff demo`, cbuff-bench, TestSupport and the relay's tests. It needs only
        // Glibc and two GNU functions of the shims.
        //
        // Only what Swift cannot call: futex(2) and membarrier(2) are reachable through the
        // variadic syscall(2) alone, and the open-file-description lock commands need _GNU_SOURCE.
        .target(
            name: "CSharedRingShims",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // The CRC-32 of a message record (format version 4): PCLMULQDQ folding (VPCLMULQDQ on 256-bit registers where the CPU has it) in inline
        // assembly, which inlines into Swift, and tables elsewhere (see its header).
        .target(name: "CSharedRingChecksum", path: "Sources/CChecksum"),
        .target(name: "Spawning", dependencies: ["CSharedRingShims"], swiftSettings: layered),
        .target(name: "CommandLineSupport", dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
                swiftSettings: layered),
        .target(name: "SharedRingSystem", dependencies: ["CSharedRingShims"], path: "Sources/System",
                swiftSettings: layered),
        .target(name: "SharedRingCommon", dependencies: ["SharedRingSystem", .product(name: "Logging", package: "swift-log")],
                path: "Sources/Common", swiftSettings: layered),
        .target(name: "SharedRingProtocol", dependencies: ["SharedRingCommon", "SharedRingSystem", "CSharedRingChecksum"], path: "Sources/Ring",
                swiftSettings: layered),
        .target(
            name: "SharedRingRegistry",
            dependencies: ["SharedRingCommon", "SharedRingSystem", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Sources/Registry",
            swiftSettings: layered,
            plugins: ["EmbedMigrations"]
        ),
        .target(
            name: "SharedRing",
            dependencies: ["SharedRingProtocol", "SharedRingRegistry", "SharedRingCommon", "SharedRingSystem"],
            swiftSettings: layered
        ),
        // The command-line tool: thin commands over SharedRing, one file each.
        .executableTarget(
            name: "cbuff",
            dependencies: [
                "SharedRing",
                "Spawning",
                "CommandLineSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The benchmark: SharedRing's figures in the C anchors' line format (no package dependency).
        .executableTarget(name: "cbuff-bench", dependencies: ["SharedRing", "Spawning"]),
        // Turns the top-level migrations/*.sql into Swift string literals at build time, so an
        // installed binary never reads repository paths.
        .executableTarget(name: "embed-migrations"),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["embed-migrations"]
        ),
        // A small program the multi-process tests run as writers, readers and racers.
        .executableTarget(
            name: "cbuff-test-agent",
            dependencies: ["SharedRing", "SharedRingSystem", "TestSupport", "AllocationCounter"],
            path: "Tests/TestAgent"
        ),
        // Counts the agent's heap allocations (it defines malloc and friends), for the test that
        // the push/pop loop allocates nothing.
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        // Helpers shared by the test targets: temporary directories, child processes, and the
        // helpers of SharedRing's tests.
        .target(name: "TestSupport", dependencies: ["SharedRing", "Spawning"], path: "Tests/TestSupport"),
        // The tests mirror the layers. The Ring layer's own, through its `package` hooks: the
        // publication protocol at any sequence over an anonymous mapping, the header's bytes.
        // zlib's `crc32`, the reference the record check is tested against (tests only).
        .systemLibrary(name: "CZlib", path: "Tests/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .testTarget(name: "RingTests", dependencies: ["SharedRingProtocol", "SharedRingSystem", "SharedRingCommon", "CZlib"]),
        // The public API in one process.
        .testTarget(
            name: "SharedRingTests",
            dependencies: ["SharedRing", "SharedRingProtocol", "SharedRingRegistry", "SharedRingSystem", "TestSupport",
                           .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The public API across real processes (the test agent), signals, full disks, intruders.
        .testTarget(
            name: "SharedRingProcessTests",
            dependencies: ["SharedRing", "SharedRingProtocol", "SharedRingRegistry", "SharedRingSystem", "TestSupport", "Spawning",
                           .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // Runs the built cbuff binary as a user would.
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "Spawning"]),
        // The fuzz targets: one function per kind of input read from a file, a registry row or
        // the command line, each driving the real parsing and validation code. The fuzzer calls
        // them (CBUFF_FUZZ=1 below; Fuzz/README.md), and FuzzReplayTests replays the checked-in
        // corpus (Fuzz/Corpus) through them in every `swift test`.
        .target(
            name: "FuzzTargets",
            dependencies: ["SharedRing", "SharedRingProtocol", "SharedRingRegistry", "SharedRingCommon",
                           .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/FuzzTargets"
        ),
        .testTarget(name: "FuzzReplayTests", dependencies: ["FuzzTargets"]),
    ],
    swiftLanguageModes: [.v6]
)

// The documentation (`CBUFF_DOCS=1 swift package generate-documentation --target SharedRing`)
// needs swift-docc-plugin, whose plugin scripts every build would otherwise compile (about 3 s
// of each clean build): it is a dependency only when asked for, as GRDB does with SPI_BUILDER.
if Context.environment["CBUFF_DOCS"] == "1" {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", exact: "1.5.0"))
}

// The libFuzzer executable over the fuzz targets (`Fuzz/run.sh KIND [SECONDS]` builds and runs
// it): only when asked for, since it needs libFuzzer's runtime (CBUFF_FUZZ_RUNTIME, the path of
// libclang_rt.fuzzer_no_main, which run.sh finds in the toolchain) and CI only replays the
// corpus. The library's targets are then compiled with the fuzzer's coverage instrumentation
// (and AddressSanitizer with CBUFF_FUZZ_ASAN=1). Not with `swift build --sanitize fuzzer` or
// `-Xswiftc -sanitize=fuzzer`: those reach the build-time tool `embed-migrations` too, which
// then fails (its top-level `main.swift` under -parse-as-library, or two `main`s at its link).
if Context.environment["CBUFF_FUZZ"] == "1" {
    let asan = Context.environment["CBUFF_FUZZ_ASAN"] == "1"
    let instrumentation = asan ? "-sanitize=fuzzer,address" : "-sanitize=fuzzer"
    let instrumented: Set<String> = ["SharedRingSystem", "SharedRingCommon", "SharedRingProtocol", "SharedRingRegistry",
                                     "SharedRing", "FuzzTargets"]
    for target in package.targets where instrumented.contains(target.name) {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags([instrumentation])]
    }
    package.products.append(.executable(name: "cbuff-fuzz", targets: ["cbuff-fuzz"]))
    package.targets += [
        .target(name: "CLibFuzzer", path: "Fuzz/Sources/CLibFuzzer"),
        .executableTarget(
            name: "cbuff-fuzz", dependencies: ["FuzzTargets", "CLibFuzzer"], path: "Fuzz/Sources/cbuff-fuzz",
            linkerSettings: [
                .unsafeFlags(["-Xlinker", Context.environment["CBUFF_FUZZ_RUNTIME"] ?? "libclang_rt.fuzzer_no_main.a"]
                             + (asan ? ["-sanitize=address"] : [])),
                .linkedLibrary("stdc++"), .linkedLibrary("m"),
            ]
        ),
    ]
}
