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
        #expect(try eventually(within: 30) { try cbuff("tail", name).lines.count == 1 })
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

    /// `push --stdin` becomes the writer only once it holds a valid value: a first line that is
    /// not one (an integer that is not, or does not fit; a JSON line without a field; a message
    /// too long), an input without any line, or a stop signal before the first line, leave a
    /// dead writer's buffer as it was (it took the buffer over first, and `list --dead` lost it).
    /// A later bad line stops with 65 after pushing the lines before it.
    @Test func aPushFromStandardInputTakesOverOnlyWithAValidFirstValue() throws {
        #expect(try cbuff("create", "a", "--item-size", "1", "--length", "16").status == 0)
        #expect(try cbuff("create", "m", "--messages", "--capacity", "4096", "--max-message", "8").status == 0)
        #expect(try cbuff("create", "f", "--fields", "time:u64,qty:u32", "--length", "8").status == 0)
        try crashWriter("a", first: "7")
        try crashWriter("m", first: "hello")
        try crashWriter("f", first: "{\"time\":1,\"qty\":2}")
        let before = try ["a", "m", "f"].map { try cbuff("inspect", $0, "--json").stdout }
        for (name, input, status) in [("a", "x\n1\n", Int32(65)), ("a", "\n1\n", 65), ("a", "256\n", 65), ("a", "", 0),
                                      ("m", "far too long for eight\nok\n", 65), ("m", "", 0),
                                      ("f", "\n  \n{\"time\":1}\n", 65), ("f", "\n\n", 0), ("f", "[1,2]\n", 65)] {
            let refused = try run("cbuff", ["--dir", dir, "push", name, "--stdin"], input: input, timeout: 60)
            #expect(refused.status == status, "\(name) \(input.debugDescription): \(refused)")
            if status == 65 { #expect(refused.stderr.contains("not taken over"), "\(refused)") }
        }
        #expect(try ["a", "m", "f"].map { try cbuff("inspect", $0, "--json").stdout } == before)
        let dead = try cbuff("list", "--dead")
        #expect(["a ", "m ", "f "].allSatisfy { name in dead.lines.contains { $0.hasPrefix(name) } }, "\(dead)")

        // A stop signal before any line: nothing taken over either.
        let waiting = try ChildProcess("cbuff", ["--dir", dir, "push", "a", "--stdin"])
        waiting.kill(SIGTERM)
        #expect(waiting.wait() == 128 + SIGTERM)
        #expect(try cbuff("inspect", "a", "--json").stdout == before[0])

        // Blank lines before a good JSON line are skipped and counted; a later bad line stops the
        // push after the earlier lines were pushed.
        let mixed = try run("cbuff", ["--dir", dir, "push", "f", "--stdin"], input: "\n{\"time\":3,\"qty\":4}\nnot json\n", timeout: 60)
        #expect(mixed.status == 65 && mixed.stderr.contains("line 3") && mixed.stderr.contains("pushed 1 item"), "\(mixed)")
        let pushed = try run("cbuff", ["--dir", dir, "push", "a", "--stdin"], input: "5\n6\nx\n9\n", timeout: 60)
        #expect(pushed.status == 65 && pushed.stderr.contains("line 3") && pushed.stderr.contains("pushed 2 items"), "\(pushed)")
        #expect(try cbuff("tail", "a").lines == ["7", "5", "6"])
        let messages = try run("cbuff", ["--dir", dir, "push", "m", "--stdin"], input: "one\ntwo", timeout: 60)
        #expect(messages.status == 0, "\(messages)")
        #expect(try cbuff("tail", "m").lines == ["hello", "one", "two"])
    }

    /// A tail or pop refused for its arguments registers no named reader (a `block` writer
    /// would wait for it): every argument is checked before the reader is opened.
    @Test func aRefusedTailOrPopRegistersNoReader() throws {
        #expect(try cbuff("create", "a", "--item-size", "8", "--length", "4").status == 0)
        #expect(try cbuff("create", "m", "--messages", "--capacity", "4096", "--max-message", "64").status == 0)
        for arguments in [["tail", "a", "--reader", "x", "--format", "text"], ["tail", "m", "--reader", "x", "--format", "int"],
                          ["pop", "a", "--reader", "x", "--format", "base64"], ["pop", "m", "--reader", "x", "--format", "int"]] {
            let refused = try run("cbuff", ["--dir", dir] + arguments, timeout: 60)
            #expect(refused.status == 64, "\(arguments): \(refused)")
        }
        for name in ["a", "m"] {
            #expect(try cbuff("reader", "list", name).lines.count == 1, "\(name) has no named reader")
        }
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
