import Foundation
import GRDB
import Testing
import TestSupport
import SharedRing

/// What a buffer's life leaves behind is never lost to an operation that did not mean to lose
/// it: a ring file without a row is someone's data (create never replaces it), a removal killed
/// half way leaves a file `rm` can finish (never a row without its file), and a take-over that
/// wrote nothing leaves a crash's evidence as it found it. Real processes: the test agent and
/// the `cbuff` binary.
@Suite struct LifecycleEvidenceTests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    func cbuff(_ arguments: String...) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments)
    }

    /// Deletes the row of `name` as a lost registry (or a removal killed after its commit)
    /// would leave it: the ring file stays, without a row.
    func forgetRow(_ name: String) throws {
        let queue = try DatabaseQueue(path: dir + "/registry.sqlite")
        try queue.write { db in try db.execute(sql: "DELETE FROM buffers WHERE name = ?", arguments: [name]) }
    }

    @Test func createNeverReplacesARingFileThatHoldsData() throws {
        var writer = try directory.createBuffer("kept", itemSize: 8, length: 4)
        for value: UInt64 in 1...3 { try writer.push(value) }
        writer.close()
        try forgetRow("kept")
        let created = try cbuff("create", "kept", "--item-size", "8", "--length", "4")
        #expect(created.status == 73 && created.stderr.contains("without a registry row and holds data (3 written)"), "\(created)")
        // The items are still there, in the file the registry lost.
        let file = try Data(contentsOf: URL(fileURLWithPath: directory.ringPath(of: "kept")))
        #expect(file.count > 0)
        // rm of that name finishes what a removal killed after its commit left: the file goes.
        #expect(try cbuff("rm", "kept").status == 0)
        #expect(!FileManager.default.fileExists(atPath: directory.ringPath(of: "kept")))
        #expect(try cbuff("create", "kept", "--item-size", "8", "--length", "4").status == 0)
    }

    /// A removal killed between its unlink and its commit (or a ring file deleted by hand)
    /// leaves a row without its file: every command says so, create says how to get out, and
    /// `rm --dead` removes it (nothing can be lost with it), beside the other dead buffers.
    @Test func aRowWithoutItsRingFileIsSaidAndSwept() throws {
        try directory.createBuffer("halfway", itemSize: 8, length: 4).close()
        try FileManager.default.removeItem(atPath: directory.ringPath(of: "halfway"))
        let inspected = try cbuff("inspect", "halfway")
        #expect(inspected.status == 65 && inspected.stderr.contains("is missing"), "\(inspected)")
        let created = try cbuff("create", "halfway", "--item-size", "8", "--length", "4")
        #expect(created.status == 73 && created.stderr.contains("is missing") && created.stderr.contains("remove the buffer"), "\(created)")
        let swept = try cbuff("rm", "--dead")
        #expect(swept.status == 0 && swept.lines == ["halfway"], "\(swept)")
        #expect(try cbuff("inspect", "halfway").status == 66)
    }

    /// A creator killed between its rename and its commit leaves a file in which nothing was
    /// written: that one is debris, and the next create replaces it.
    @Test func createReplacesTheDebrisOfAKilledCreator() throws {
        try directory.createBuffer("debris", itemSize: 8, length: 4).close()
        try forgetRow("debris")
        let created = try cbuff("create", "debris", "--item-size", "8", "--length", "4")
        #expect(created.status == 0, "\(created)")
    }

    /// A writer that takes over a buffer whose writer died and writes nothing (a push that
    /// waited for room and was interrupted, say) closes without erasing the crash: the buffer
    /// still reads as died, with the dead writer's PID. One that writes closes it as its own.
    @Test func aTakeOverThatWroteNothingLeavesTheCrashAsItFoundIt() throws {
        try directory.createBuffer("crashed", itemSize: 8, length: 4, policy: .overwrite).close()
        let agent = try Agent(["write", dir, "crashed", "4", "hang"])
        let pushed = try #require(agent.expectLine(startingWith: "pushed"))
        agent.kill()
        _ = agent.wait()
        let before = try directory.status(of: "crashed")
        #expect(before.writerDied, "\(pushed): \(before)")
        try directory.takeOver("crashed").close()
        let after = try directory.status(of: "crashed")
        #expect(after.writerDied && after.ring?.writerPID == before.ring?.writerPID, "\(after)")
        #expect(try cbuff("list", "--dead").stdout.contains("crashed"))
        // A take-over that writes is the buffer's writer from then on: closed is closed.
        var writer = try directory.takeOver("crashed")
        try writer.push(10)
        writer.close()
        #expect(try !directory.status(of: "crashed").writerDied)
    }
}
