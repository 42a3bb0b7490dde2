import Foundation
import Testing
import TestSupport

/// Buffers of variable-size messages from the command line: create, push (lines, NUL-separated,
/// arguments), pop and tail in every format, replay, the JSON keys, the limits.
@Suite struct MessagesCLITests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    func cbuff(_ arguments: String..., input: String? = nil) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, input: input)
    }

    func createLogs(_ extra: String...) throws {
        let created = try run("cbuff", ["--dir", dir, "create", "logs", "--messages", "--capacity", "64K", "--max-message", "1K"] + extra)
        #expect(created.status == 0 && created.stdout.contains("messages of up to 1024 bytes in 65536 bytes"), "\(created)")
    }

    @Test func linesGoInAsMessagesAndComeOutInEveryFormat() throws {
        try createLogs()
        #expect(try cbuff("push", "logs", "--stdin", input: "hello\nwörld\n\nlast").status == 0)
        #expect(try cbuff("push", "logs", "two words", "-x").status == 0)
        #expect(try cbuff("tail", "logs").stdout == "hello\nwörld\n\nlast\ntwo words\n-x\n")
        let lines = try cbuff("tail", "logs", "--format", "jsonl").stdout.split(separator: "\n")
        #expect(lines.count == 6)
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects.map { $0["sequence"] as? Int } == [0, 1, 2, 3, 4, 5])
        #expect(objects.map { $0["text"] as? String } == ["hello", "wörld", "", "last", "two words", "-x"])
        let now = Date().timeIntervalSince1970
        #expect(objects.allSatisfy { abs(Double(($0["time"] as? Int) ?? 0) / 1e9 - now) < 60 })
        #expect(try cbuff("tail", "logs", "--format", "base64", "--from", "3").stdout == "bGFzdA==\ndHdvIHdvcmRz\nLXg=\n")
        #expect(try cbuff("pop", "logs", "--format", "hex").stdout == "68656c6c6f\n")
        #expect(try cbuff("pop", "logs", "-n", "2").stdout == "hello\nwörld\n")
    }

    @Test func nulSeparatedInputAndBinaryMessages() throws {
        try createLogs()
        // Raw bytes (not valid UTF-8) go through a file: a String would replace them.
        let file = dir + "/input.bin"
        try Data([0x61, 0x0A, 0x62, 0, 0xFF, 0xFE, 0]).write(to: URL(fileURLWithPath: file))
        let pushed = try run("/bin/sh", ["-c", "'\(ChildProcess.executable("cbuff").path)' --dir '\(dir)' push logs --stdin --null < '\(file)'"])
        #expect(pushed.status == 0, "\(pushed)")
        #expect(try cbuff("tail", "logs", "--format", "jsonl").stdout.contains("{\"sequence\":0,"))
        let json = try cbuff("tail", "logs", "--format", "jsonl").stdout
        #expect(json.contains("\"text\":\"a\\nb\"") && json.contains("\"base64\":\"//4=\""), "\(json)")
    }

    @Test func aMessageOverTheLimitIsExit65SayingIt() throws {
        try createLogs()
        let long = String(repeating: "x", count: 1025)
        let line = try cbuff("push", "logs", "--stdin", input: "ok\n" + long + "\nnot pushed\n")
        #expect(line.status == 65 && line.stderr.contains("line 2 is 1025 bytes") && line.stderr.contains("at most 1024 bytes")
                && line.stderr.contains("pushed 1 message before it"), "\(line)")
        let argument = try cbuff("push", "logs", "fine", long)
        #expect(argument.status == 65 && argument.stderr.contains("value 2") && argument.stderr.contains("nothing was pushed"), "\(argument)")
        #expect(try cbuff("tail", "logs").stdout == "ok\n")
    }

    @Test func listAndInspectSayItHoldsMessages() throws {
        try createLogs("--policy", "block")
        _ = try cbuff("push", "logs", "a", "b", "c")
        _ = try cbuff("pop", "logs", "--reader", "audit")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(try cbuff("inspect", "logs", "--json").stdout.utf8)) as? [String: Any])
        #expect(object["kind"] as? String == "messages")
        #expect(object["capacity"] as? Int == 65536 && object["maxMessage"] as? Int == 1024)
        #expect(object["itemSize"] is NSNull && object["length"] is NSNull)
        #expect(object["written"] as? Int == 3 && object["oldest"] as? Int == 0 && object["count"] as? Int == 3)
        let readers = try #require(object["readers"] as? [[String: Any]])
        #expect(readers.first?["position"] as? Int == 1 && readers.first?["lag"] as? Int == 2)
        _ = try cbuff("create", "ints", "--item-size", "8", "--length", "4")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(try cbuff("list", "--json").stdout.utf8)) as? [[String: Any]])
        #expect(list.map { $0["kind"] as? String } == ["items", "messages"])
        #expect(list.first?["capacity"] is NSNull && list.first?["itemSize"] as? Int == 8)
        #expect(try cbuff("inspect", "logs").stdout.contains("messages     up to 1024 bytes each, in 65536 bytes, policy block"))
    }

    @Test func replayFromASequenceOrATime() throws {
        try createLogs()
        _ = try cbuff("push", "logs", "zero", "one", "two")
        let middle = Date().timeIntervalSince1970
        Thread.sleep(forTimeInterval: 0.01)
        _ = try cbuff("push", "logs", "three")
        #expect(try cbuff("tail", "logs", "--from", "2").stdout == "two\nthree\n")
        #expect(try cbuff("tail", "logs", "--since", String(format: "%.6f", middle)).stdout == "three\n")
        #expect(try cbuff("tail", "logs", "--since", "2000-01-01T00:00:00Z").stdout == "zero\none\ntwo\nthree\n")
        #expect(try cbuff("tail", "logs", "--since", "yesterday").status == 64)
        #expect(try cbuff("tail", "logs", "--from", "5").status == 64)
    }

    @Test func optionsForTheOtherKindAreUsageErrors() throws {
        try createLogs()
        _ = try cbuff("create", "ints", "--item-size", "8", "--length", "4")
        for arguments in [["tail", "logs", "--format", "int"], ["push", "logs", "--format", "jsonl", "x"],
                          ["tail", "ints", "--format", "text"], ["tail", "ints", "--since", "0"], ["push", "ints", "--null", "--stdin"],
                          ["create", "m", "--messages", "--capacity", "4K"], ["create", "m", "--messages", "--capacity", "4K", "--max-message", "1K", "--length", "4"],
                          ["create", "m", "--capacity", "4K", "--item-size", "8", "--length", "4"], ["create", "m", "--messages", "--capacity", "4Q", "--max-message", "1"]] {
            let outcome = try run("cbuff", ["--dir", dir] + arguments, input: "")
            #expect(outcome.status == 64, "\(arguments): \(outcome)")
            #expect(outcome.stderr.hasPrefix("cbuff: "), "\(arguments): \(outcome)")
        }
        let odd = try cbuff("create", "m", "--messages", "--capacity", "5000", "--max-message", "1")
        #expect(odd.status == 64 && odd.stderr.contains("power of two"), "\(odd)")
    }
}
