import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// The `block` policy across processes: a blocked writer released, ten million items moved without loss.
@Suite(.serialized) struct BlockPolicyProcessTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// A writer process blocked in push behind a registered reader that died is released by
    /// removing that reader from another process.
    @Test func removingADeadReaderReleasesABlockedWriterProcess() throws {
        try directory.createBuffer("stuck", itemSize: 8, length: 16, policy: .block).close()
        try directory.openReader("stuck", named: "crashed").close()
        let writer = try ChildProcess("cbuff-test-agent", ["write", dir, "stuck", "100"])
        // Wait (bounded) until the writer has filled the ring and sleeps for space.
        let deadline = ContinuousClock.now + .seconds(10)
        var blocked = false
        while !blocked && ContinuousClock.now < deadline {
            let written = try directory.status(of: "stuck").ring?.written
            let wchan = (try? String(contentsOfFile: "/proc/\(writer.pid)/wchan", encoding: .utf8)) ?? ""
            blocked = written == 16 && wchan.contains("futex")
            if !blocked { usleep(1000) }
        }
        #expect(blocked, "the writer never blocked")
        try directory.removeReader("crashed", of: "stuck")
        #expect(writer.expectLine(startingWith: "pushed") == "pushed 100")
        #expect(writer.wait() == 0)
    }


    /// Ten million items between two processes through a 4096-slot ring, every one delivered
    /// and checked: nothing lost, nothing damaged; pushed one by one, then in batches of 16
    /// (which wait for room part-way through a batch).
    @Test(arguments: ["single", "batch"])
    func tenMillionItemsMoveLosslesslyBetweenTwoProcesses(pushes: String) throws {
        let total = 10_000_000
        try directory.createBuffer("lossless", itemSize: 8, length: 4096, policy: .block).close()
        let reader = try ChildProcess("cbuff-test-agent", ["drain", dir, "lossless", String(total), "consumer"])
        #expect(reader.expectLine(startingWith: "ready") != nil)
        let writer = try ChildProcess("cbuff-test-agent", ["write", dir, "lossless", String(total), pushes])
        #expect(writer.expectLine(startingWith: "pushed") == "pushed \(total)")
        #expect(reader.expectLine(startingWith: "delivered") == "delivered=\(total) missed=0 bad=0 first=0")
        #expect(writer.wait() == 0)
        #expect(reader.wait() == 0)
    }
}
