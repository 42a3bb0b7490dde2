// swift-tools-version: 6.1
// Is crc32c.h's CRC32C reachable from Swift at full speed? A header-only C module (the header is
// ../crc32c.h, included by Sources/CRC32C/include/crc32c_swift.h) and a release-built Swift loop;
// run.sh builds it, times it against the same loop in C, and counts the instructions in the
// Swift loop's machine code (crc32 inlined, or a call).
import PackageDescription

let package = Package(
    name: "integrity-swift",
    targets: [
        .target(name: "CRC32C"),
        .executableTarget(name: "crc-from-swift", dependencies: ["CRC32C"]),
    ],
    swiftLanguageModes: [.v6]
)
