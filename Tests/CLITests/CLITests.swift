import Foundation
import Spawning
import Testing
import TestSupport

/// The built `cbuff` binary, run as a user would: stdout, stderr and exit status of every command
/// and every documented error code (docs/cli.md).
@Suite struct CLITests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// Runs `cbuff --dir DIR arguments...`.
    func cbuff(_ arguments: String..., input: String? = nil) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, input: input)
    }

    /// Runs cbuff with the data directory from the environment instead of --dir.
    func cbuffWithEnvironment(_ arguments: String...) throws -> Outcome {
        try run("cbuff", arguments, environment: ["CBUFF_DIR": dir])
    }

    func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    /// One sentence on stderr, no stack trace, no usage dump.
    func expectOneSentence(_ outcome: Outcome, _ status: Int32, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.status == status, "\(outcome)", sourceLocation: sourceLocation)
        #expect(outcome.stderr.hasPrefix("cbuff: ") && outcome.stderr.filter { $0 == "\n" }.count == 1, "\(outcome)", sourceLocation: sourceLocation)
        #expect(outcome.stderr.contains(text), "\(outcome)", sourceLocation: sourceLocation)
    }

    // MARK: create

    @Test func createMakesABufferAndRefusesADuplicateWith73() throws {
        let created = try cbuff("create", "ticks", "--item-size", "8", "--length", "16")
        #expect(created.status == 0, "\(created)")
        #expect(created.stdout.contains("ticks") && created.stderr.isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir + "/ticks.ring"))
        expectOneSentence(try cbuff("create", "ticks", "--item-size", "8", "--length", "16"), 73, mentioning: "already exists")
    }

    @Test func createRefusesBadArgumentsWith64() throws {
        expectOneSentence(try cbuff("create", "a/b", "--item-size", "8", "--length", "16"), 64, mentioning: "'/'")
        expectOneSentence(try cbuff("create", "x", "--item-size", "0", "--length", "16"), 64, mentioning: "Item size 0")
        expectOneSentence(try cbuff("create", "x", "--item-size", "8", "--length", "1"), 64, mentioning: "Length 1")
        expectOneSentence(try cbuff("create", "x", "--item-size", "8", "--length", "-5"), 64, mentioning: "Length -5 is out of range")
        expectOneSentence(try cbuff("create", "x", "--item-size", "-1", "--length", "4"), 64, mentioning: "Item size -1 is out of range")
        expectOneSentence(try cbuff("create", "x", "--item-size", "1048576", "--length", "4294967296", "--integrity", "unchecked"), 64, mentioning: "GiB")
        expectOneSentence(try cbuff("create", "x", "--item-size", "8", "--length", "2000000000", "--integrity", "checked"), 64, mentioning: "give --integrity unchecked for a longer one")
        #expect(try cbuff("create", "x", "--item-size", "8", "--length", "4", "--policy", "drop").status == 64)
        #expect(try cbuff("create", "x", "--length", "4").status == 64)
        expectOneSentence(try cbuff("create", "x", "--messages", "--capacity", "4096", "--max-message", "64", "--integrity", "unchecked"), 64,
                          mentioning: "every record of a message buffer carries a check word")
        #expect(try cbuff("list", "--json").stdout == "[]\n")
        // `auto`, the default, goes with messages too.
        #expect(try cbuff("create", "m", "--messages", "--capacity", "4096", "--max-message", "64", "--integrity", "auto").status == 0)
    }

    @Test func theDataDirectoryComesFromTheEnvironmentWithoutDir() throws {
        #expect(try cbuffWithEnvironment("create", "env", "--item-size", "1", "--length", "2").status == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/env.ring"))
        #expect(try cbuff("list").stdout.contains("env"))
    }

    // MARK: push and pop

    @Test func pushedValuesArePoppedInOrder() throws {
        _ = try cbuff("create", "p", "--item-size", "2", "--length", "8")
        #expect(try cbuff("push", "p", "1", "2", "0x10", "65535").status == 0)
        #expect(try cbuff("pop", "p", "-n", "10").lines == ["1", "2", "16", "65535"])
        #expect(try cbuff("pop", "p").lines == ["1"])
        #expect(try cbuff("pop", "p", "-n", "0").stdout.isEmpty)
        #expect(try cbuff("pop", "p", "-n", "-1").status == 64)
    }

    @Test func valuesThatDoNotFitOrAreNotIntegersAreRefusedWith65AndNothingIsPushed() throws {
        _ = try cbuff("create", "small", "--item-size", "1", "--length", "8")
        expectOneSentence(try cbuff("push", "small", "1", "256"), 65, mentioning: "does not fit")
        expectOneSentence(try cbuff("push", "small", "1", "-1"), 65, mentioning: "not an unsigned integer")
        expectOneSentence(try cbuff("push", "small", "--", "-1"), 65, mentioning: "\"-1\" is not an unsigned integer")
        expectOneSentence(try cbuff("push", "small", "twelve"), 65, mentioning: "not an unsigned integer")
        expectOneSentence(try cbuff("push", "small", "18446744073709551616"), 65, mentioning: "is larger than 18446744073709551615")
        #expect(try cbuff("pop", "small", "-n", "10").stdout.isEmpty)
        #expect(try cbuff("push", "small").status == 64)
        #expect(try cbuff("push", "small", "--").status == 64)
        #expect(try cbuff("push", "small", "7", "--", "8").status == 0)
        #expect(try cbuff("pop", "small", "-n", "10").lines == ["7", "8"])
        #expect(try cbuff("push", "small", "1", "--stdin").status == 64)
    }

    @Test func pushFromStandardInput() throws {
        _ = try cbuff("create", "seq", "--item-size", "8", "--length", "1000")
        let input = (1...100_000).map(String.init).joined(separator: "\n") + "\n"
        let pushed = try cbuff("push", "seq", "--stdin", input: input)
        #expect(pushed.status == 0 && pushed.stderr.isEmpty, "\(pushed)")
        #expect(try cbuff("pop", "seq", "-n", "3").lines == ["99001", "99002", "99003"])
        let status = try json(cbuff("inspect", "seq", "--json").stdout) as? [String: Any]
        #expect(status?["written"] as? Int == 100_000)
    }

    /// `push --sync` makes what it pushed durable and `inspect` says so; without it nothing is
    /// recorded as synced.
    @Test func pushSyncRecordsTheDurableSequence() throws {
        _ = try cbuff("create", "d", "--item-size", "8", "--length", "16")
        #expect(try cbuff("push", "d", "1", "2", "3").status == 0)
        #expect((try json(cbuff("inspect", "d", "--json").stdout) as? [String: Any])?["durable"] as? Int == 0)
        #expect(try cbuff("inspect", "d").stdout.contains("nothing synced"))
        let pushed = try cbuff("push", "d", "--sync", "--stdin", input: "4\n5\n")
        #expect(pushed.status == 0 && pushed.stderr.isEmpty, "\(pushed)")
        #expect((try json(cbuff("inspect", "d", "--json").stdout) as? [String: Any])?["durable"] as? Int == 5)
        #expect(try cbuff("inspect", "d").stdout.contains("every item below sequence 5 was synced"))
        _ = try cbuff("create", "m", "--messages", "--capacity", "4096", "--max-message", "100")
        #expect(try cbuff("push", "m", "--sync", "one", "two").status == 0)
        #expect((try json(cbuff("inspect", "m", "--json").stdout) as? [String: Any])?["durable"] as? Int == 2)
        // The word is input: one beyond what was published is damage, said, never believed.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: dir + "/m.ring"))
        try handle.seek(toOffset: 352)
        try handle.write(contentsOf: Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]))
        try handle.close()
        expectOneSentence(try cbuff("inspect", "m"), 65, mentioning: "its durable sequence (9223372036854775807) is beyond the 2 messages ever published")
        // In memory (tmpfs), a sync keeps nothing a machine crash would not lose: said so.
        if FileManager.default.fileExists(atPath: "/dev/shm") {
            let shm = try TemporaryDirectory(in: "/dev/shm")
            _ = try run("cbuff", ["--dir", shm.path, "create", "s", "--item-size", "8", "--length", "4"])
            #expect(try run("cbuff", ["--dir", shm.path, "push", "s", "--sync", "1"]).status == 0)
            #expect(try run("cbuff", ["--dir", shm.path, "inspect", "s"]).stdout.contains("the ring file is in memory (tmpfs)"))
        }
    }

    /// The boot a writer attached in is recorded (`/proc/sys/kernel/random/boot_id`; a debug
    /// build takes `CBUFF_TEST_BOOT_ID` instead, standing in for a reboot): `inspect` says when
    /// it is an earlier one, and whether the format can detect what a crash did.
    @Test func inspectSaysWhenTheLastWriterAttachedInAnEarlierBoot() throws {
        let before = ["CBUFF_TEST_BOOT_ID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"]
        let after = ["CBUFF_TEST_BOOT_ID": "11111111-2222-3333-4444-555555555555"]
        func cbuff(_ environment: [String: String], _ arguments: String...) throws -> Outcome {
            try run("cbuff", ["--dir", dir] + arguments, environment: environment)
        }
        _ = try cbuff(before, "create", "b", "--item-size", "8", "--length", "4", "--integrity", "unchecked")
        #expect((try json(cbuff(before, "inspect", "b", "--json").stdout) as? [String: Any])?["earlierBoot"] is NSNull)   // no writer yet
        #expect(try cbuff(before, "push", "b", "1").status == 0)
        #expect((try json(cbuff(before, "inspect", "b", "--json").stdout) as? [String: Any])?["earlierBoot"] as? Bool == false)
        #expect((try json(cbuff(after, "inspect", "b", "--json").stdout) as? [String: Any])?["earlierBoot"] as? Bool == true)
        #expect(try cbuff(after, "inspect", "b").stdout.contains("earlier boot: if the machine crashed, pages of the ring file may be stale or zeroed; format version 2 cannot detect it in items"))
        // Every reader of it says so once, on stderr (a reader of this boot's writing does not).
        let popped = try cbuff(after, "pop", "b")
        #expect(popped.status == 0 && popped.stdout == "1\n" && popped.stderr.contains("buffer \"b\" holds items written before the machine last restarted, and its format (version 2) carries no check words"), "\(popped)")
        #expect(try cbuff(before, "pop", "b").stderr.isEmpty)
        _ = try cbuff(before, "create", "m", "--messages", "--capacity", "4096", "--max-message", "64")
        #expect(try cbuff(before, "push", "m", "one").status == 0)
        #expect(try cbuff(after, "inspect", "m").stdout.contains("every message is checked before it is read"))
        _ = try cbuff(before, "create", "c", "--item-size", "8", "--length", "4", "--integrity", "checked")
        #expect(try cbuff(before, "push", "c", "1").status == 0)
        #expect(try cbuff(after, "inspect", "c").stdout.contains("stale or zeroed (every item is checked before it is read"))
        #expect(try cbuff(after, "pop", "c").stderr.isEmpty)
        // A writer of the new boot: item 0 was written before the restart and nothing proved it
        // (items carry no check words), until it is overwritten; a message ring's take-over
        // proves every record, so nothing of the earlier boot is left unproven after one.
        #expect(try cbuff(after, "push", "b", "2").status == 0)
        #expect(try cbuff(after, "inspect", "b").stdout.contains("items below sequence 1 were written before the machine last restarted"))
        #expect((try json(cbuff(after, "inspect", "b", "--json").stdout) as? [String: Any])?["earlierBoot"] as? Bool == true)
        #expect(try cbuff(after, "push", "b", "3", "4", "5", "6").status == 0)     // item 0 overwritten
        #expect((try json(cbuff(after, "inspect", "b", "--json").stdout) as? [String: Any])?["earlierBoot"] as? Bool == false)
        #expect(try cbuff(after, "push", "m", "two").status == 0)
        #expect((try json(cbuff(after, "inspect", "m", "--json").stdout) as? [String: Any])?["earlierBoot"] as? Bool == false)
    }

    /// `verify`: exit 0 and "intact" for an intact ring; a damaged record is exit 65 with one
    /// sentence, the report names the span and what it loses, `--json` has the documented keys.
    @Test func verifySaysWhatIsIntactAndWhatIsLost() throws {
        _ = try cbuff("create", "v", "--messages", "--capacity", "4096", "--max-message", "64")
        #expect(try cbuff("push", "v", "--stdin", input: "one\ntwo\nthree\n").status == 0)
        let intact = try cbuff("verify", "v")
        #expect(intact.status == 0 && intact.stdout.contains("sequences 0–2 (3 messages)") && intact.stdout.contains("verdict  intact"), "\(intact)")
        // The second record ("two", at 4096 + 40) gets one body byte changed.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: dir + "/v.ring"))
        try handle.seek(toOffset: 4096 + 40 + 32)
        try handle.write(contentsOf: Data("T".utf8))
        try handle.close()
        let damaged = try cbuff("verify", "v")
        expectOneSentence(damaged, 65, mentioning: "buffer \"v\" is damaged: 1 message in 1 span cannot be read")
        #expect(damaged.stdout.contains("1 message lost (sequence 1)") && damaged.stdout.contains("check word"), "\(damaged)")
        let report = try json(cbuff("verify", "v", "--json").stdout) as? [String: Any]
        #expect(Set(report?.keys.map { $0 } ?? []) == ["name", "kind", "formatVersion", "checksContent", "intact", "damaged", "countProblem", "lost", "written", "durable", "isIntact", "lostInCrash", "recoveryPending"])
        #expect(report?["lost"] as? Int == 1 && report?["isIntact"] as? Bool == false)
        _ = try cbuff("create", "i", "--item-size", "8", "--length", "4", "--integrity", "unchecked")
        let items = try cbuff("verify", "i")
        #expect(items.status == 0 && items.stdout.contains("items carry no check words"), "\(items)")
        expectOneSentence(try cbuff("verify", "nothing"), 66, mentioning: "nothing")
    }

    @Test func aMalformedLineStopsStdinWith65AfterSayingWhatWasPushed() throws {
        _ = try cbuff("create", "m", "--item-size", "8", "--length", "100")
        let outcome = try cbuff("push", "m", "--stdin", input: "5\n6\n7x\n8\n")
        expectOneSentence(outcome, 65, mentioning: "line 3 (\"7x\") is not an unsigned integer (exactly decimal digits, or 0x and hexadecimal digits, with nothing around them); pushed 2 items before it")
        #expect(try cbuff("pop", "m", "-n", "10").lines == ["5", "6"])
        // A last line without a newline counts, and \r\n line ends are accepted.
        #expect(try cbuff("push", "m", "--stdin", input: "9\r\n10").status == 0)
        #expect(try cbuff("pop", "m", "-n", "10").lines == ["5", "6", "9", "10"])
    }

    @Test func stdinAcceptsCarriageReturnLineEndsHexAndTheLargestValue() throws {
        _ = try cbuff("create", "forms", "--item-size", "8", "--length", "16")
        let pushed = try cbuff("push", "forms", "--stdin", input: "1\n2\r\n0x10\r\n0XfF\n18446744073709551615\n00000000000000000000007")
        #expect(pushed.status == 0, "\(pushed)")
        #expect(try cbuff("tail", "forms").lines == ["1", "2", "16", "255", "18446744073709551615", "7"])
        // Values are exactly digits: spaces around them are refused, never trimmed (issue 24).
        for bad in ["\n", "18446744073709551616\n", "0x\n", "1 2\n", "+1\n", " 2 \n", String(repeating: "1", count: 70_000)] {
            #expect(try cbuff("push", "forms", "--stdin", input: "3\n" + bad).status == 65, "\(bad.prefix(30).debugDescription)")
        }
        // Each refused input still pushed the valid line before its bad one.
        #expect(try cbuff("tail", "forms").lines == ["1", "2", "16", "255", "18446744073709551615", "7"] + Array(repeating: "3", count: 7))
    }

    @Test func aLiveWriterMakesPushAndRemoveExit75() throws {
        _ = try cbuff("create", "busy", "--item-size", "8", "--length", "64")
        let writer = try ChildProcess("cbuff-test-agent", ["write", dir, "busy", "3", "hang"])
        #expect(writer.expectLine(startingWith: "pushed") == "pushed 3")
        expectOneSentence(try cbuff("push", "busy", "1"), 75, mentioning: "live writer")
        expectOneSentence(try cbuff("rm", "busy"), 75, mentioning: "live writer")
        let listed = try json(cbuff("list", "--json").stdout) as? [[String: Any]]
        #expect(listed?.first?["writerAlive"] as? Bool == true)
        #expect(listed?.first?["writerPid"] as? Int == Int(writer.pid))
        writer.kill()
        writer.wait()
        #expect(try cbuff("push", "busy", "4").status == 0)
        #expect(try cbuff("pop", "busy", "-n", "10").lines == ["0", "1", "2", "4"])
    }

    // MARK: missing buffers and other errors

    @Test(arguments: [["push", "nope", "1"], ["pop", "nope"], ["tail", "nope"], ["inspect", "nope"], ["rm", "nope"]])
    func everyCommandOnAMissingBufferExits66(arguments: [String]) throws {
        let outcome = try run("cbuff", ["--dir", dir] + arguments)
        expectOneSentence(outcome, 66, mentioning: "No buffer named \"nope\"")
    }

    @Test func aDamagedRingFileExits65() throws {
        _ = try cbuff("create", "bent", "--item-size", "8", "--length", "16")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/bent.ring"))
        try handle.write(contentsOf: Data("XXXX".utf8))
        try handle.close()
        expectOneSentence(try cbuff("pop", "bent"), 65, mentioning: "magic number")
        expectOneSentence(try cbuff("push", "bent", "1"), 65, mentioning: "magic number")
        // inspect still shows what it can, and says what is wrong, with the damage's status.
        let inspected = try cbuff("inspect", "bent")
        #expect(inspected.status == 65 && inspected.stdout.contains("UNREADABLE") && inspected.stderr.contains("magic number"), "\(inspected)")
        let report = try json(cbuff("inspect", "bent", "--json").stdout) as? [String: Any]
        #expect((report?["problem"] as? String)?.contains("magic number") == true)
        #expect(report?["written"] is NSNull)
    }

    @Test func anUnwritableDataDirectoryExits77() throws {
        // sysfs refuses to create directories for every user, root included.
        let outcome = try run("cbuff", ["--dir", "/sys/kernel/cbuff-test", "create", "x", "--item-size", "1", "--length", "2"])
        expectOneSentence(outcome, 77, mentioning: "Permission denied")
    }

    @Test func usageErrorsExit64AndHelpDocumentsTheEnvironmentAndExitCodes() throws {
        #expect(try cbuff("frobnicate").status == 64)
        #expect(try cbuff("push").status == 64)
        let help = try run("cbuff", ["--help"])
        #expect(help.status == 0)
        for text in ["CBUFF_DIR", "64 usage", "65 corrupted", "66 buffer not found", "73 buffer already exists", "75 busy", "77 permission denied", "create", "push", "pop", "tail", "list", "inspect", "rm", "demo"] {
            #expect(help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains(text), "help lacks \(text)")
        }
        #expect(!help.stdout.contains("demo-writer"))
        let version = try run("cbuff", ["--version"])
        #expect(version.status == 0 && !version.stdout.isEmpty)
    }

    // MARK: tail

    @Test func tailPrintsEveryFormat() throws {
        _ = try cbuff("create", "t", "--item-size", "2", "--length", "8")
        _ = try cbuff("push", "t", "1", "258", "65535")
        #expect(try cbuff("tail", "t").lines == ["1", "258", "65535"])
        #expect(try cbuff("tail", "t", "--format", "hex").lines == ["0x0001", "0x0102", "0xffff"])
        let objects = try cbuff("tail", "t", "--format", "jsonl").lines.map { try json($0) as? [String: Int] }
        #expect(objects == [["sequence": 0, "value": 1], ["sequence": 1, "value": 258], ["sequence": 2, "value": 65535]])
        #expect(try cbuff("tail", "t", "--from", "latest").stdout.isEmpty)
        // Replay from a sequence: exactly there, or beyond what was published (64, one sentence).
        #expect(try cbuff("tail", "t", "--from", "1").lines == ["258", "65535"])
        #expect(try cbuff("tail", "t", "--from", "3").stdout.isEmpty)
        expectOneSentence(try cbuff("tail", "t", "--from", "4"), 64, mentioning: "cannot start at 4")
        #expect(try cbuff("tail", "t", "--from", "soon").status == 64)
        #expect(try cbuff("tail", "t", "--format", "xml").status == 64)
    }

    @Test func tailFollowInAPipeEndsWhenTheReaderOfItsOutputDoes() throws {
        _ = try cbuff("create", "f", "--item-size", "8", "--length", "64")
        _ = try cbuff("push", "f", "1", "2", "3", "4", "5")
        let binary = ChildProcess.executable("cbuff").path
        let shell = try Spawned("/bin/sh", ["-c", "'\(binary)' --dir '\(dir)' tail f --follow | head -3"],
                                environment: ProcessInfo.processInfo.environment, output: .pipe)
        let text = String(decoding: readToEnd(shell.output), as: UTF8.self)
        #expect(shell.wait() == 0)   // ends only if tail --follow ended too
        #expect(text == "1\n2\n3\n")
    }

    @Test func tailFollowPrintsNewItemsAndEndsOnSIGINT() throws {
        _ = try cbuff("create", "live", "--item-size", "8", "--length", "64")
        let tail = try ChildProcess("cbuff", ["--dir", dir, "tail", "live", "--follow", "--format", "jsonl"])
        #expect(try cbuff("push", "live", "7").status == 0)
        #expect(tail.readLine() == "{\"sequence\":0,\"value\":7}")
        #expect(try cbuff("push", "live", "8", "9").status == 0)
        #expect(tail.readLine() == "{\"sequence\":1,\"value\":8}")
        #expect(tail.readLine() == "{\"sequence\":2,\"value\":9}")
        tail.kill(SIGINT)
        #expect(tail.wait() == 0)
    }

    @Test func tailFollowEndsWith66OnceTheBufferIsRemoved() throws {
        _ = try cbuff("create", "going", "--item-size", "8", "--length", "8")
        _ = try cbuff("push", "going", "5")
        let tail = try ChildProcess("cbuff", ["--dir", dir, "tail", "going", "--follow"])
        #expect(tail.readLine() == "5")
        #expect(try cbuff("rm", "going").status == 0)
        #expect(tail.readLine() == nil)   // its output ends (within one 200 ms wait)
        #expect(tail.wait() == 66)
    }

    // MARK: list and inspect

    @Test func listShowsATableAndJSONWithEveryDocumentedKey() throws {
        _ = try cbuff("create", "a", "--item-size", "8", "--length", "4")
        _ = try cbuff("create", "b", "--item-size", "2", "--length", "10", "--policy", "block")
        _ = try cbuff("push", "a", "1", "2", "3", "4", "5", "6")
        let table = try cbuff("list").lines
        #expect(table.first?.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "ITEM", "LENGTH", "POLICY", "WRITER", "STATE", "WRITTEN", "FILL", "BACKLOG"])
        #expect(table.count == 3)
        #expect(table[1].split(separator: " ").map(String.init).elementsEqual(["a", "8", "4", "overwrite", table[1].split(separator: " ")[4].description, "closed", "6", "100.0%", "-"]))
        #expect(table[2].hasPrefix("b ") && table[2].contains("block") && table[2].hasSuffix("0.0%  -"))

        let array = try json(cbuff("list", "--json").stdout) as? [[String: Any]]
        #expect(array?.count == 2)
        let a = try #require(array?.first)
        #expect(Set(a.keys) == documentedKeys)
        #expect(a["name"] as? String == "a")
        #expect(a["itemSize"] as? Int == 8)
        #expect(a["length"] as? Int == 4)
        #expect(a["policy"] as? String == "overwrite")
        #expect(a["path"] as? String == dir + "/a.ring")
        #expect(a["writerPid"] as? Int != nil)
        #expect(a["writerAlive"] as? Bool == false)
        #expect(a["writerState"] as? String == "closed")
        #expect(a["written"] as? Int == 6)
        #expect(a["oldest"] as? Int == 2)
        #expect(a["count"] as? Int == 4)
        #expect(a["fill"] as? Double == 1)
        #expect(a["interruptedWrite"] is NSNull)
        #expect((a["readers"] as? [Any])?.isEmpty == true)
        #expect(a["problem"] is NSNull)
        let b = try #require(array?.last)
        #expect(b["policy"] as? String == "block")
        #expect(b["written"] as? Int == 0)
        #expect(b["oldest"] as? Int == 0)
    }

    let documentedKeys: Set<String> = [
        "name", "kind", "itemSize", "length", "capacity", "maxMessage", "preciseTime", "policy", "path", "writerPid", "writerAlive", "writerState",
        "writerStartTime", "writerSince", "writerGeneration", "written", "oldest", "count", "fill", "occupancy", "backlog",
        "lastWriteAt", "durable", "earlierBoot", "recoveryPending", "lastRecovery", "interruptedWrite", "createdAt", "formatVersion", "itemAlignment", "typeName", "fields",
        "fileSize", "sleepingReaders", "writerBlockedBy", "writtenPerSecond", "readers", "problem", "tetherTimeout", "syncPolicy",
    ]

    /// FILL is what the ring holds and BACKLOG what the slowest named reader has not consumed:
    /// two numbers, each named (they were one FILL that meant either, by policy).
    @Test func fillAndBacklogAreTwoNumbers() throws {
        _ = try cbuff("create", "j", "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "r")
        _ = try cbuff("push", "j", "1", "2", "3", "4")
        _ = try cbuff("pop", "j", "--reader", "r", "-n", "3")
        let row = try cbuff("list").lines[1].split(separator: " ").map(String.init)
        #expect(Array(row.suffix(2)) == ["100.0%", "25.0%"], "\(row)")
        let report = try #require(try json(cbuff("inspect", "j", "--json").stdout) as? [String: Any])
        #expect(report["occupancy"] as? Double == 1 && report["backlog"] as? Double == 0.25 && report["fill"] as? Double == 0.25, "\(report)")
    }

    /// A writer SIGKILLed in the middle of an item: inspect says it died, which item was
    /// interrupted, and a new writer resumes the sequence.
    @Test func inspectAfterAWriterWasKilledMidWrite() throws {
        _ = try cbuff("create", "crash", "--item-size", "8", "--length", "16")
        let writer = try ChildProcess("cbuff-test-agent", ["write", dir, "crash", "20", "hang"])
        #expect(writer.expectLine(startingWith: "pushed") == "pushed 20")
        writer.kill()
        writer.wait()
        // Reproduce the instant between W1 and W4 of sequence 20: "claimed" (offset 176 under the
        // overwrite policy) says 21 while "published" says 20, which is what a kill at that
        // instant leaves behind.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/crash.ring"))
        try handle.seek(toOffset: 176)
        try handle.write(contentsOf: withUnsafeBytes(of: UInt64(21).littleEndian) { Data($0) })
        try handle.close()

        let report = try #require(try json(cbuff("inspect", "crash", "--json").stdout) as? [String: Any])
        #expect(report["writerAlive"] as? Bool == false)
        #expect(report["writerState"] as? String == "died")
        #expect(report["writerPid"] as? Int == Int(writer.pid))
        #expect(report["written"] as? Int == 20)
        #expect(report["interruptedWrite"] as? Int == 20)
        #expect(report["oldest"] as? Int == 5)   // 4 was destroyed by the interrupted write
        // Unknown: the writer stamps the time every 1024 items and on close, and died before
        // either (create attaches no writer, so no close of create's stamped it either).
        #expect(report["lastWriteAt"] is NSNull)
        let human = try cbuff("inspect", "crash").stdout
        #expect(human.contains("DEAD") && human.contains("sequence 20") && human.contains("never be delivered"), "\(human)")
        #expect(human.contains("last write") && human.contains("unknown"), "\(human)")
        #expect(try cbuff("pop", "crash", "-n", "100").lines == (5..<20).map(String.init))

        #expect(try cbuff("push", "crash", "20").status == 0)
        let resumed = try #require(try json(cbuff("inspect", "crash", "--json").stdout) as? [String: Any])
        #expect(resumed["written"] as? Int == 21)
        #expect(resumed["interruptedWrite"] is NSNull)
        #expect(resumed["writerState"] as? String == "closed")
        #expect(try cbuff("tail", "crash").lines.last == "20")
    }

    // MARK: named readers

    /// The seed's documented session, read through one named reader across three separate
    /// `cbuff pop --reader` processes.
    @Test func aNamedReaderCarriesItsPositionAcrossInvocations() throws {
        _ = try cbuff("create", "shared_buffer_a", "--item-size", "1", "--length", "5")
        #expect(try cbuff("push", "shared_buffer_a", "50", "10", "20", "30").status == 0)
        #expect(try cbuff("pop", "shared_buffer_a", "--reader", "r").lines == ["50"])
        #expect(try cbuff("pop", "shared_buffer_a", "--reader", "r", "-n", "3").lines == ["10", "20", "30"])
        #expect(try cbuff("pop", "shared_buffer_a", "--reader", "r", "-n", "3").lines == [])
        // Anonymous pops still start at the oldest item.
        #expect(try cbuff("pop", "shared_buffer_a").lines == ["50"])

        let report = try #require(try json(cbuff("inspect", "shared_buffer_a", "--json").stdout) as? [String: Any])
        let readers = try #require(report["readers"] as? [[String: Any]])
        #expect(readers.count == 1)
        #expect(readers.first?["name"] as? String == "r")
        #expect(readers.first?["position"] as? Int == 4)
        #expect(readers.first?["lag"] as? Int == 0)
        #expect(readers.first?["alive"] as? Bool == false)
        #expect(try cbuff("inspect", "shared_buffer_a").stdout.contains("r: position 4, lag 0"))

        #expect(try cbuff("rm", "shared_buffer_a", "--reader", "r").status == 0)
        expectOneSentence(try cbuff("rm", "shared_buffer_a", "--reader", "r"), 66, mentioning: "no named reader")
        #expect(try cbuff("pop", "shared_buffer_a", "--reader", "r", "-n", "9").lines == ["50", "10", "20", "30"])
        expectOneSentence(try cbuff("pop", "shared_buffer_a", "--reader", "a/b"), 64, mentioning: "Reader name")
    }

    @Test func aNamedReaderInUseExits75() throws {
        _ = try cbuff("create", "held", "--item-size", "8", "--length", "64")
        _ = try cbuff("push", "held", "1", "2")
        let holder = try ChildProcess("cbuff-test-agent", ["read-named", dir, "held", "r", "1", "hang"])
        #expect(holder.expectLine(startingWith: "got") != nil)
        expectOneSentence(try cbuff("pop", "held", "--reader", "r"), 75, mentioning: "in use by a live process")
        expectOneSentence(try cbuff("rm", "held", "--reader", "r"), 75, mentioning: "in use by a live process")
        #expect(try cbuff("rm", "held", "--reader", "r", "--force").status == 0)
    }

    // MARK: rm

    @Test func rmRemovesTheFileAndTheRow() throws {
        _ = try cbuff("create", "gone", "--item-size", "8", "--length", "4")
        let removed = try cbuff("rm", "gone")
        #expect(removed.status == 0 && removed.stderr.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir + "/gone.ring"))
        #expect(try cbuff("list", "--json").stdout == "[]\n")
    }

    @Test func rmForceRemovesABufferWithALiveWriter() throws {
        _ = try cbuff("create", "forced", "--item-size", "8", "--length", "4")
        let writer = try ChildProcess("cbuff-test-agent", ["write", dir, "forced", "1", "hang"])
        #expect(writer.expectLine(startingWith: "pushed") != nil)
        #expect(try cbuff("rm", "forced", "--force").status == 0)
        #expect(try cbuff("inspect", "forced").status == 66)
    }

    // MARK: stale buffers

    @Test func listNotesRingFilesThatNoRowNames() throws {
        _ = try cbuff("create", "kept", "--item-size", "8", "--length", "4")
        try FileManager.default.copyItem(atPath: dir + "/kept.ring", toPath: dir + "/stray.ring")
        let listed = try cbuff("list")
        #expect(listed.status == 0 && listed.lines.count == 2)
        #expect(listed.stderr.contains("1 ring file") && listed.stderr.contains("stray.ring") && !listed.stderr.contains("kept.ring"), "\(listed)")
        #expect(try json(cbuff("list", "--json").stdout) as? [[String: Any]] != nil)
        // Creating a buffer of that name replaces the stray file; then there is none.
        #expect(try cbuff("create", "stray", "--item-size", "8", "--length", "4").status == 0)
        #expect(try cbuff("list").stderr.isEmpty)
    }

    /// `--dead` finds and removes the debris of crashed writers, never a buffer with a live
    /// writer nor one closed cleanly.
    @Test func deadBuffersAreListedAndRemovedAndNothingElse() throws {
        for name in ["alive", "crashed", "closed"] { _ = try cbuff("create", name, "--item-size", "8", "--length", "16") }
        _ = try cbuff("push", "closed", "1")
        let live = try ChildProcess("cbuff-test-agent", ["write", dir, "alive", "1", "hang"])
        #expect(live.expectLine(startingWith: "pushed") != nil)
        let doomed = try ChildProcess("cbuff-test-agent", ["write", dir, "crashed", "1", "hang"])
        #expect(doomed.expectLine(startingWith: "pushed") != nil)
        doomed.kill()
        doomed.wait()

        #expect(try cbuff("list", "--dead").lines.dropFirst().map { String($0.prefix(while: { $0 != " " })) } == ["crashed"])
        let dead = try json(cbuff("list", "--dead", "--json").stdout) as? [[String: Any]]
        #expect(dead?.map { $0["name"] as? String } == ["crashed"])
        #expect(dead?.first?["writerState"] as? String == "died")
        #expect(try cbuff("list", "--dead", "--older-than", "3600").lines.count == 1)   // header only
        #expect(try cbuff("rm", "--dead", "--older-than", "3600").stdout.isEmpty)

        // Temporary ring files as creators leave them: one whose creator is dead (the killed
        // agent), one whose creator still runs (the live agent), which must be kept.
        let ghost = dir + "/.ghost.\(doomed.pid).7.tmp", pending = dir + "/.pending.\(live.pid).8.tmp"
        for path in [ghost, pending] { #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 4096))) }

        let removed = try cbuff("rm", "--dead")
        #expect(removed.status == 0 && removed.lines == ["crashed"], "\(removed)")
        #expect(removed.stderr == "cbuff: deleted \(ghost), left by a creator that died before naming it.\n", "\(removed)")
        #expect(!FileManager.default.fileExists(atPath: ghost) && FileManager.default.fileExists(atPath: pending))
        #expect(try cbuff("list").lines.dropFirst().map { String($0.prefix(while: { $0 != " " })) } == ["alive", "closed"])
        #expect(try cbuff("rm", "--dead", "x").status == 64)
        #expect(try cbuff("rm").status == 64)
        #expect(try cbuff("list", "--older-than", "5").status == 64)
    }

    // MARK: registry queries

    /// docs/ alone is enough to write a second implementation: a Python program written from
    /// docs/registry.md and Sources/SharedRing/SharedRing.docc/RingFileFormat.md creates a buffer that cbuff then feeds and
    /// reads, and reads back what cbuff wrote.
    @Test func aSecondImplementationWrittenFromTheDocsInteroperates() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Interop/second_implementation.py").path
        guard (try? run("/usr/bin/env", ["python3", "-c", ""]))?.status == 0 else {
            print("CLITests: skipped the second-implementation check: no python3 on PATH")
            return
        }
        _ = try cbuff("create", "native", "--item-size", "8", "--length", "4")   // creates the registry
        let created = try run("/usr/bin/env", ["python3", script, "create", dir, "foreign", "8", "16"])
        #expect(created.status == 0, "\(created)")
        let listed = try cbuff("inspect", "foreign", "--json")
        #expect(listed.status == 0 && listed.stdout.contains("\"writerState\":\"closed\""), "\(listed)")
        #expect(try cbuff("push", "foreign", "1", "2", "3").status == 0)
        #expect(try cbuff("pop", "foreign", "-n", "5").lines == ["1", "2", "3"])
        let read = try run("/usr/bin/env", ["python3", script, "read", dir, "foreign"])
        #expect(read.status == 0 && read.lines == ["1", "2", "3"], "\(read)")
        #expect(try cbuff("rm", "foreign").status == 0)
    }

    /// The three sqlite3 one-liners of docs/registry.md, run exactly as written.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")))
    func theDocumentedSQLiteOneLinersWork() throws {
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/registry.md")
        let text = try String(contentsOf: document, encoding: .utf8)
        let block = try #require(text.components(separatedBy: "```sh\n").dropFirst().first?.components(separatedBy: "```").first)
        let lines = block.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)

        _ = try cbuff("create", "alive", "--item-size", "8", "--length", "16")
        _ = try cbuff("create", "closed", "--item-size", "4", "--length", "256")
        _ = try cbuff("push", "closed", "1")
        let writer = try ChildProcess("cbuff-test-agent", ["write", dir, "alive", "1", "hang"])
        #expect(writer.expectLine(startingWith: "pushed") != nil)

        func shell(_ line: String) throws -> String {
            let outcome = try run("/bin/bash", ["-c", line], environment: ["CBUFF_DIR": dir])
            #expect(outcome.status == 0, "\(line): \(outcome)")
            return outcome.stdout
        }
        let all = try shell(lines[0]).split(separator: "\n")
        #expect(all.count == 2 && all[0].hasPrefix("alive|8|16|overwrite|\(writer.pid)") && all[1].hasPrefix("closed|4|256|overwrite|"))
        #expect(try shell(lines[1]) == "closed\n")
        let mebibytes = try #require(Double(try shell(lines[2]).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(abs(mebibytes - Double(4096 + 16 * 8 + 4096 + 256 * 8) / 1_048_576) < 0.001)
    }
}
