import Foundation
import Testing
import TestSupport

/// A refused operation changes nothing (issue 24, class 11): a push refused for its arguments
/// used to take over a buffer whose writer had died, close it cleanly, and so erase the crash
/// that `list --dead` and `inspect` show. The table's STATE column tells a crash from a close.
@Suite struct CrashEvidenceTests {
    let cbuff: CBuffTool
    var dir: String { cbuff.dir }

    init() throws { cbuff = try CBuffTool() }

    /// Kills a `push --stdin` writer of `name` once its first line is in the buffer.
    func crashWriter(_ name: String, first: String) throws {
        let writer = try ChildProcess("cbuff", ["--dir", dir, "push", name, "--stdin"])
        writer.send(first)
        #expect(try eventually(within: 30) { try cbuff("tail", name).lines == [first] })
        writer.kill(SIGKILL)
        #expect(writer.wait() == 128 + SIGKILL)
    }

    @Test func aRefusedPushLeavesADeadWritersBufferAsItWas() throws {
        #expect(try cbuff("create", "a", "--item-size", "1", "--length", "16").status == 0)
        #expect(try cbuff("create", "m", "--messages", "--capacity", "4096", "--max-message", "8").status == 0)
        try crashWriter("a", first: "7")
        try crashWriter("m", first: "hello")
        let before = try cbuff("inspect", "a", "--json").stdout
        for (name, arguments) in [("a", ["not-a-number"]), ("a", ["1", "256"]), ("m", ["this message is too long"])] {
            let refused = try run("cbuff", ["--dir", dir, "push", name] + arguments, timeout: 60)
            #expect(refused.status == 65, "\(refused)")
        }
        let dead = try cbuff("list", "--dead")
        #expect(dead.lines.contains { $0.hasPrefix("a ") } && dead.lines.contains { $0.hasPrefix("m ") }, "\(dead)")
        let table = try cbuff("list")
        #expect(table.lines.contains { $0.hasPrefix("a ") && $0.contains(" died ") }, "\(table)")
        #expect(try cbuff("inspect", "a", "--json").stdout == before)
        // A push that is accepted takes over, as before.
        #expect(try cbuff("push", "a", "8").status == 0)
        #expect(try cbuff("list").lines.contains { $0.hasPrefix("a ") && $0.contains(" closed ") })
    }

    /// `rm --dead` counts a named reader's backlog in messages for a ring of messages (it said
    /// "2040 items" for 255 messages: byte positions over 8).
    @Test func rmDeadCountsMessagesAsMessages() throws {
        #expect(try cbuff("create", "m", "--messages", "--capacity", "4096", "--max-message", "64", "--reader", "r").status == 0)
        let writer = try ChildProcess("cbuff", ["--dir", dir, "push", "m", "--stdin"])
        for line in ["one", "two", "three"] { writer.send(line) }
        #expect(try eventually(within: 30) { try cbuff("tail", "m").lines.count == 3 })
        writer.kill(SIGKILL)
        _ = writer.wait()
        let swept = try cbuff("rm", "--dead")
        #expect(swept.stderr.contains("\"r\" (3 messages)"), "\(swept)")
    }
}
