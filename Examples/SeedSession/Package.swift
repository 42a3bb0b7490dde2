// swift-tools-version: 6.1
// A separate package that depends on cbuff by path and runs the seed library's documented session.
import PackageDescription

let package = Package(
    name: "SeedSession",
    dependencies: [.package(name: "cbuff", path: "../..")],
    targets: [
        .executableTarget(name: "SeedSession", dependencies: [.product(name: "SharedRing", package: "cbuff")]),
    ],
    swiftLanguageModes: [.v6]
)
