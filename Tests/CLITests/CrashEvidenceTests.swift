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

    /// Creating is not writing: after `cbuff create`, the buffer shows no writer ever attached
    /// (state "never", no writer PID in the header, the registry or the JSON), and each
    /// `--reader` is registered with no process (the create command's PID was recorded as the
    /// writer and as every named reader's process). The readers are there before anything can
    /// be pushed, and a writer and a reader that come later are recorded as themselves.
    @Test func createRecordsNoWriterAndNoReaderProcess() throws {
        #expect(try cbuff("create", "a", "--item-size", "8", "--length", "4", "--reader", "r1", "--reader", "r2").status == 0)
        #expect(try cbuff("create", "m", "--messages", "--capacity", "4096", "--max-message", "64", "--reader", "r").status == 0)
        #expect(try cbuff("create", "f", "--fields", "time:u64", "--length", "4", "--policy", "block", "--reader", "r").status == 0)
        for name in ["a", "m", "f"] {
            let json = try cbuff("inspect", name, "--json")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
            #expect(report["writerPid"] is NSNull && report["writerState"] as? String == "never attached" && report["writerAlive"] as? Bool == false, "\(name): \(json)")
            #expect(report["writerSince"] is NSNull && report["writerGeneration"] as? Int == 0, "\(name): \(json)")
            let readers = try #require(report["readers"] as? [[String: Any]])
            #expect(!readers.isEmpty && readers.allSatisfy { $0["pid"] as? Int == 0 && $0["alive"] as? Bool == false && $0["position"] as? Int == 0 },
                    "\(name): \(readers)")
        }
        let listed = try cbuff("list")
        #expect(listed.lines.count == 4 && listed.lines.dropFirst().allSatisfy { $0.contains(" never ") && $0.contains(" - ") }, "\(listed)")
        let rows = try run("/usr/bin/env", ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('SELECT count(*) FROM buffers WHERE writer_pid IS NULL AND writer_start_time IS NULL AND writer_since IS NULL AND ring_created_ns > 0').fetchone()[0], c.execute('SELECT count(*) FROM readers WHERE pid IS NULL').fetchone()[0])", dir + "/registry.sqlite"], timeout: 60)
        #expect(rows.lines == ["3 4"], "\(rows)")
        // The registered readers hold a block writer from the start, and get what comes.
        #expect(try cbuff("push", "f", "{\"time\":1}", "{\"time\":2}", "{\"time\":3}", "{\"time\":4}").status == 0)
        let full = try #require(try JSONSerialization.jsonObject(with: Data(try cbuff("inspect", "f", "--json").stdout.utf8)) as? [String: Any])
        #expect(full["backlog"] as? Double == 1.0, "reader r holds the writer from the start: \(full)")
        #expect(try cbuff("push", "a", "5").status == 0)
        #expect(try cbuff("pop", "a", "--reader", "r1").lines == ["5"])
        #expect(try cbuff("push", "m", "hi").status == 0)
        #expect(try cbuff("pop", "m", "--reader", "r").lines == ["hi"])
        let after = try #require(try JSONSerialization.jsonObject(with: Data(try cbuff("inspect", "a", "--json").stdout.utf8)) as? [String: Any])
        #expect(after["writerState"] as? String == "closed" && after["writerPid"] as? Int != nil, "\(after)")
        let readers = try #require(after["readers"] as? [[String: Any]])
        #expect(readers.first { $0["name"] as? String == "r1" }?["pid"] as? Int != 0 && readers.first { $0["name"] as? String == "r2" }?["pid"] as? Int == 0)
    }

    /// A create refused for one of its readers creates nothing: the reader names and their number
    /// are checked before the buffer exists (a bad --reader used to be refused after the buffer
    /// was made, leaving a buffer the command said it failed to create).
    @Test func aCreateRefusedForAReaderCreatesNothing() throws {
        let many = (1...25).flatMap { ["--reader", "r\($0)"] }
        for readers in [["--reader", "no/slash"], ["--reader", String(repeating: "x", count: 45)], many] {
            let refused = try run("cbuff", ["--dir", dir, "create", "y", "--item-size", "8", "--length", "4"] + readers, timeout: 60)
            #expect(refused.status == 64, "\(refused)")
            #expect(try cbuff("inspect", "y").status == 66)
        }
        #expect(try cbuff("list").lines.count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".ring") || $0.hasSuffix(".tmp") }.isEmpty)
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
