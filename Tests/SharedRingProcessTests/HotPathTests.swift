import Foundation
import Testing
import TestSupport

/// The push/pop path allocates nothing (the system-call half of that promise is checked by
/// `Benchmarks/check-hot-path.sh`, with strace).
@Suite struct HotPathTests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// The test agent counts every malloc of its process, Swift runtime included. A million
    /// items through push, tryPush, push(timeout:), push(contentsOf:), popItem, pop(timeout:),
    /// popMany(into:) and commit, named reader and block policy: not one allocation. The
    /// control (one popMany(_:), which returns an array) proves the counter counts.
    /// push(contentsOf:) of a range is generic code: in a debug build (as `swift test` runs
    /// it) it is not specialized and allocates per item, so it is held to zero only when the
    /// agent is optimized (`Benchmarks/check-hot-path.sh` runs it so); so are the message
    /// buffer's pushes and pops (`messages`), whose reads go through a generic record reader.
    @Test func aMillionPushesAndPopsAllocateNothing() throws {
        let agent = try Agent(["count-allocations", dir, "hot", "1000000"])
        let line = agent.expectLine(startingWith: "allocations") ?? ""
        if line.hasPrefix("allocations=unknown") {
            print("HotPathTests: skipped the allocation count: \(line)")
            #expect(agent.wait() == 0)
            return
        }
        let report = fields(line)
        #expect(report["allocations"] == 0, "\(line)")
        #expect(report["control", default: 0] >= 1, "\(line)")
        if line.contains("build=release") { #expect(report["generic"] == 0 && report["messages"] == 0, "\(line)") }
        #expect(agent.wait() == 0)
    }
}
