import Foundation
import Testing
import TestSupport

/// The operator's everyday (issue 17's first part): readers registered before anything is
/// pushed, a named reader that follows, waiting for a buffer to appear, where the data lives,
/// Prometheus metrics, the version, and a help text that says what the defaults are.
@Suite struct OperatorCLITests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    func cbuff(_ arguments: String..., input: String? = nil) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, input: input)
    }

    func inspect(_ name: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(try cbuff("inspect", name, "--json").stdout.utf8)) as? [String: Any])
    }

    @Test func readersRegisteredAtCreationMissNothingAndFollowAtLeastOnce() throws {
        let created = try cbuff("create", "jobs", "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "billing", "--reader", "audit")
        #expect(created.status == 0 && created.stdout.contains("named readers \"billing\", \"audit\""), "\(created)")
        let readers = try #require(try inspect("jobs")["readers"] as? [[String: Any]])
        #expect(readers.map { $0["name"] as? String } == ["billing", "audit"] && readers.allSatisfy { $0["position"] as? Int == 0 })
        #expect(try cbuff("push", "jobs", "1", "2", "3", "4").status == 0)
        #expect(try inspect("jobs")["fill"] as? Double == 1)                    // the writer would wait now
        #expect(try cbuff("tail", "jobs", "--reader", "billing", "--format", "jsonl").stdout
                == "{\"sequence\":0,\"value\":1}\n{\"sequence\":1,\"value\":2}\n{\"sequence\":2,\"value\":3}\n{\"sequence\":3,\"value\":4}\n")
        #expect(try cbuff("tail", "jobs", "--reader", "billing").stdout == "")     // committed: nothing again
        #expect(try inspect("jobs")["fill"] as? Double == 1)                    // "audit" still holds it
        #expect(try cbuff("tail", "jobs", "--reader", "audit").stdout == "1\n2\n3\n4\n")
        #expect(try inspect("jobs")["fill"] as? Double == 0)                    // everything consumed
        #expect(try cbuff("push", "jobs", "5").status == 0)
        #expect(try cbuff("tail", "jobs", "--reader", "billing").stdout == "5\n")
    }

    /// A directory where a buffer's ring file belongs (cbuff never makes one there): `rm`, with
    /// or without `--force`, removes the buffer and leaves the directory, saying so (65);
    /// `create` over it is refused in words that say "directory"; nothing else is left behind.
    @Test func aDirectoryAtTheRingPathIsNeverARingFile() throws {
        for force in [false, true] {
            #expect(try cbuff("create", "d", "--item-size", "8", "--length", "4").status == 0)
            try FileManager.default.removeItem(atPath: "\(dir)/d.ring")
            try FileManager.default.createDirectory(atPath: "\(dir)/d.ring", withIntermediateDirectories: false)
            let removed = try force ? cbuff("rm", "d", "--force") : cbuff("rm", "d")
            #expect(removed.status == 65 && removed.stderr.contains("was removed, but a directory"), "\(removed)")
            #expect(try cbuff("inspect", "d").status == 66)
            let created = try cbuff("create", "d", "--item-size", "8", "--length", "4")
            #expect(created.status == 65 && created.stderr.contains("a directory is where a file should be"), "\(created)")
            #expect(try cbuff("inspect", "d").status == 66)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tmp") } == [])
            try FileManager.default.removeItem(atPath: "\(dir)/d.ring")
        }
    }

    /// A second create of a buffer that was created without a writer says that, not that its
    /// writer is gone.
    @Test func aSecondCreateOfANeverWrittenBufferSaysItHadNoWriter() throws {
        #expect(try cbuff("create", "n", "--item-size", "8", "--length", "4").status == 0)
        let again = try cbuff("create", "n", "--item-size", "8", "--length", "4")
        #expect(again.status == 73 && again.stderr.contains("has had no writer yet"), "\(again)")
        #expect(try cbuff("push", "n", "1").status == 0)
        let written = try cbuff("create", "n", "--item-size", "8", "--length", "4")
        #expect(written.status == 73 && written.stderr.contains("its writer is gone"), "\(written)")
    }

    @Test func readerAddRegistersWithoutReading() throws {
        _ = try cbuff("create", "q", "--item-size", "8", "--length", "8")
        _ = try cbuff("push", "q", "1", "2")
        let added = try cbuff("reader", "add", "q", "late", "--from", "latest")
        #expect(added.status == 0 && added.stdout.contains("registered reader \"late\""), "\(added)")
        let again = try cbuff("reader", "add", "q", "late")
        #expect(again.status == 0 && again.stdout.contains("registered already"), "\(again)")
        _ = try cbuff("push", "q", "3")
        #expect(try cbuff("pop", "q", "--reader", "late", "-n", "5").stdout == "3\n")
        #expect(try cbuff("reader", "add", "missing", "x").status == 66)
        #expect(try cbuff("reader", "add", "q", "bad/name").status == 64)
    }

    @Test func tailWaitsForABufferToAppear() throws {
        let gone = try cbuff("tail", "later", "--wait", "--timeout", "0.3")
        #expect(gone.status == 66 && gone.stderr.contains("waiting for buffer \"later\"") && gone.stderr.contains("within 0.3 s"), "\(gone)")
        let tail = try ChildProcess("cbuff", ["--dir", dir, "tail", "soon", "--wait", "--follow"])
        _ = try cbuff("create", "soon", "--item-size", "8", "--length", "4")
        _ = try cbuff("push", "soon", "42")
        #expect(tail.expectLine(startingWith: "42") == "42")
        tail.kill(SIGTERM)
        #expect(tail.wait() == 0)
        #expect(try cbuff("tail", "x", "--timeout", "1").status == 64)           // --timeout goes with --wait
    }

    @Test func dirSaysWhereTheDataIs() throws {
        #expect(try cbuff("dir").stdout == dir + "\n")
        #expect(try run("cbuff", ["dir"], environment: ["CBUFF_DIR": dir + "/env"]).stdout == dir + "/env\n")
        let home = try run("cbuff", ["dir"], environment: ["CBUFF_DIR": "", "XDG_DATA_HOME": "", "HOME": dir + "/home"])
        #expect(home.stdout == dir + "/home/.local/share/cbuff\n", "\(home)")
    }

    @Test func prometheusTextfileMetrics() throws {
        _ = try cbuff("create", "ticks", "--item-size", "8", "--length", "16", "--reader", "r")
        _ = try cbuff("push", "ticks", "1", "2", "3")
        _ = try cbuff("create", "logs", "--messages", "--capacity", "4K", "--max-message", "100")
        let outcome = try cbuff("list", "--format", "prometheus")
        #expect(outcome.status == 0, "\(outcome)")
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        let sample = try Regex(#"^cbuff_[a-z_]+\{buffer="[^"]+",kind="(items|messages)"(,reader="[^"]+")?\} [0-9.e+-]+$"#)
        for line in lines where !line.hasPrefix("#") {
            #expect(line.wholeMatch(of: sample) != nil, "not a sample: \(line)")
        }
        #expect(lines.contains("cbuff_written_total{buffer=\"ticks\",kind=\"items\"} 3"))
        #expect(lines.contains("cbuff_reader_lag{buffer=\"ticks\",kind=\"items\",reader=\"r\"} 3"))
        #expect(lines.contains("cbuff_capacity{buffer=\"logs\",kind=\"messages\"} 4096"))
        #expect(lines.contains("# TYPE cbuff_written_total counter"))
    }

    @Test func shellCompletionsCompleteBufferNames() throws {
        _ = try cbuff("create", "ticks", "--item-size", "8", "--length", "4")
        _ = try cbuff("create", "trades", "--item-size", "8", "--length", "4")
        _ = try cbuff("create", "logs", "--item-size", "8", "--length", "4")
        let script = try run("cbuff", ["--generate-completion-script", "bash"]).stdout
        #expect(script.contains("---completion tail -- positional@0"))
        // What the script runs when completing `cbuff --dir DIR tail t<TAB>`.
        let completed = try run("cbuff", ["---completion", "tail", "--", "positional@0", "4", "1", "cbuff", "--dir", dir, "tail", "t"])
        #expect(completed.stdout.split(separator: "\n") == ["ticks", "trades"], "\(completed)")
    }

    @Test func topAndTheJSONNameTheReaderABlockedWriterWaitsFor() throws {
        _ = try cbuff("create", "jobs", "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "slow", "--reader", "fast")
        _ = try cbuff("push", "jobs", "1", "2", "3", "4")
        _ = try cbuff("tail", "jobs", "--reader", "fast")
        let pusher = try ChildProcess("cbuff", ["--dir", dir, "push", "jobs", "5"])     // waits for room
        var blockedBy: [String] = []
        for _ in 0..<250 where blockedBy.isEmpty {                       // the buffer says when the writer sleeps
            blockedBy = (try inspect("jobs")["writerBlockedBy"] as? [String]) ?? []
            if blockedBy.isEmpty { Thread.sleep(forTimeInterval: 0.02) }
        }
        #expect(blockedBy == ["slow"])
        let top = try cbuff("top", "--once", "--interval", "0.2")
        #expect(top.status == 0, "\(top)")
        let jobs = try #require(top.stdout.split(separator: "\n").first { $0.hasPrefix("jobs ") })
        #expect(jobs.hasSuffix("slow") && jobs.contains("block") && jobs.contains("100.0%"), "\(top.stdout)")
        #expect(top.stdout.contains("  slow") && top.stdout.contains("lag 4") && top.stdout.contains("  fast"), "\(top.stdout)")
        // `writerBlockedBy` is the kernel's count of sleepers at that instant: a writer between
        // two slices of its sleep (runnable, on a loaded host, for a while) is not counted, so
        // look again, as above, rather than once.
        var list: [[String: Any]] = []
        for _ in 0..<250 {
            list = try #require(try JSONSerialization.jsonObject(with: Data(try cbuff("list", "--json", "--interval", "0.1").stdout.utf8)) as? [[String: Any]])
            if list.first?["writerBlockedBy"] as? [String] == ["slow"] { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(list.first?["writerBlockedBy"] as? [String] == ["slow"] && list.first?["writtenPerSecond"] as? Double == 0)
        _ = try cbuff("tail", "jobs", "--reader", "slow")               // consumes: the pusher gets its room
        #expect(pusher.wait() == 0)
        #expect((try inspect("jobs")["writerBlockedBy"] as? [String]) == [])
    }

    @Test func topRedrawsATerminal() throws {
        _ = try cbuff("create", "ticks", "--item-size", "8", "--length", "4")
        let cbuffPath = ChildProcess.executable("cbuff").path
        let terminal = try ChildProcess("/usr/bin/script", ["-q", "-e", "-c", "'\(cbuffPath)' --dir '\(dir)' top --interval 0.2", "/dev/null"])
        let frame = terminal.expectLine(startingWith: "\u{1B}[H\u{1B}[2Jcbuff top:")
        #expect(frame?.contains("1 buffer in \(dir)") == true, "\(String(describing: frame))")
        #expect(terminal.expectLine(startingWith: "ticks") != nil)
        terminal.kill(SIGTERM)
        _ = terminal.wait()
    }

    @Test func theDemoShowsBothModesAndWhatToTryNext() throws {
        let demo = try cbuff("demo", "--seconds", "0.6", "--length", "65536")
        #expect(demo.status == 0, "\(demo)")
        #expect(demo.stdout.contains("every item read was intact and in order"), "\(demo.stdout)")
        #expect(demo.stdout.contains("stopped at") && demo.stdout.contains("missed 0, damaged 0")
                && demo.stdout.contains("nothing was lost"), "\(demo.stdout)")
        #expect(demo.stdout.contains("try next:") && demo.stdout.contains("cbuff tail jobs --reader me --follow"))
        #expect(try cbuff("list", "--json").stdout == "[]\n")                    // both buffers removed
    }

    @Test func verboseShowsTheLibrarysDiagnosticsAndOnlyThen() throws {
        let created = try cbuff("--verbose", "create", "a", "--item-size", "8", "--length", "4")
        #expect(created.stderr.contains("migrating the registry") && created.stderr.contains("0004_message_buffers"), "\(created)")
        _ = try cbuff("pop", "a", "--reader", "late", "-n", "0")
        let pushed = try cbuff("push", "a", "1", "2", "3", "4", "5", "6", "--verbose")
        #expect(pushed.status == 0 && pushed.stderr.contains("took over buffer \"a\""), "\(pushed)")
        let lapped = try cbuff("--verbose", "pop", "a", "--reader", "late", "-n", "10")
        #expect(lapped.stdout == "3\n4\n5\n6\n" && lapped.stderr.contains("was lapped by the writer: it skips 2"), "\(lapped)")
        let quiet = try cbuff("push", "a", "7")
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet)")
    }

    @Test func versionAndHelpDefaults() throws {
        #expect(try run("cbuff", ["--version"]).stdout == "2.0.0\n")
        let help = try run("cbuff", ["create", "--help"]).stdout
        #expect(help.contains("default: overwrite") && !help.contains("default: 0"), "\(help)")
    }
}
