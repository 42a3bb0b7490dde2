// swift-tools-version: 6.1
// Programs that use cbuff as a client would, depending on it by path, built (and the session run)
// by the test script, so that what the documentation shows keeps compiling:
//
// - SeedSession: the seed library's documented session, run by `Examples/check.sh`.
// - one target per Swift snippet of README.md and the DocC catalog, extracted into Generated/ by
//   `Examples/extract-snippets.sh` (generated, not committed) and built as they are written.
import Foundation
import PackageDescription

let snippets = (try? FileManager.default.contentsOfDirectory(atPath: Context.packageDirectory + "/Generated"))?.sorted() ?? []

let package = Package(
    name: "Examples",
    dependencies: [.package(name: "cbuff", path: "..")],
    targets: [
        .executableTarget(name: "SeedSession", dependencies: [.product(name: "SharedRing", package: "cbuff")], path: "SeedSession"),
    ] + snippets.map { name in
        .executableTarget(name: name, dependencies: [.product(name: "SharedRing", package: "cbuff")], path: "Generated/" + name)
    },
    swiftLanguageModes: [.v6]
)
