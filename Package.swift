// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "cbuff",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SharedRing", targets: ["SharedRing"]),
        .executable(name: "cbuff", targets: ["cbuff"]),
        .executable(name: "cbuff-bench", targets: ["cbuff-bench"]),
    ],
    dependencies: [
        // SQLite access, typed errors, WAL and migrations for the registry (links the system libsqlite3).
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        // The command-line tool's parsing, help and usage errors (exit 64).
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // Only what Swift cannot call: futex(2) and membarrier(2) are reachable through the
        // variadic syscall(2) alone, and the open-file-description lock commands need _GNU_SOURCE.
        .target(
            name: "CSharedRingShims",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(
            name: "SharedRing",
            dependencies: [
                "CSharedRingShims",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            plugins: ["EmbedMigrations"]
        ),
        // The command-line tool: thin commands over SharedRing, one file each.
        .executableTarget(
            name: "cbuff",
            dependencies: [
                "SharedRing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The benchmark: SharedRing's figures in the C anchors' line format (no extra dependency).
        .executableTarget(name: "cbuff-bench", dependencies: ["SharedRing"]),
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
            dependencies: ["SharedRing", "TestSupport", "AllocationCounter"],
            path: "Tests/TestAgent"
        ),
        // Counts the agent's heap allocations (it defines malloc and friends), for the test that
        // the push/pop loop allocates nothing.
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        // Helpers shared by the test targets: temporary directories, child processes.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "SharedRingTests",
            dependencies: ["SharedRing", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // Runs the built cbuff binary as a user would.
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
