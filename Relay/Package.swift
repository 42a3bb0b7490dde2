// swift-tools-version: 6.1
import Foundation
import PackageDescription

// The relay between cbuff buffers and NATS JetStream, a package of its own so that the core
// library and `cbuff` never need libnats: it depends on the repository's package by path, and on
// the official NATS C client through a system-library target (Debian's libnats-dev).
//
// A path dependency's identity is its directory's name, which is the checkout's (not always
// "cbuff"), so it is read here.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "cbuff-relay",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "cbuff-relay", targets: ["cbuff-relay"])],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // libnats 3.4 (nats.c), the official C client: `apt-get install libnats-dev`.
        .systemLibrary(name: "CNats", path: "Sources/CNats", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        // The relays: a NATS session (connection, JetStream, publishing, pull consumers) and the
        // two directions, over SharedRing's public API.
        .target(name: "Relay", dependencies: ["CNats", .product(name: "SharedRing", package: root)],
                swiftSettings: [.enableUpcomingFeature("InternalImportsByDefault")]),
        // Its usage errors are worded as cbuff's (the root package's CommandLineSupport).
        .executableTarget(name: "cbuff-relay", dependencies: ["Relay", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                                              .product(name: "CommandLineSupport", package: root)]),
        // The end-to-end latency probe of `Benchmarks/run.sh` (a writer and a reader of the two rings).
        .executableTarget(name: "relay-latency", dependencies: [.product(name: "SharedRing", package: root)], path: "Benchmarks/relay-latency"),
        // Its tests start nats-server and the relay through the root package's spawner (Spawning:
        // posix_spawn, never Foundation's Process, whose run() crashed CI).
        .testTarget(name: "RelayTests", dependencies: ["Relay", .product(name: "SharedRing", package: root),
                                                       .product(name: "Spawning", package: root)]),
    ],
    swiftLanguageModes: [.v6]
)
