import Foundation
import Testing
import TestSupport

/// Standard streams are input too (issue 24, class 1): a `cbuff` started with descriptor 0, 1 or
/// 2 closed must never let a ring, lock or registry descriptor take its place (the next `open`
/// returns the lowest free number, and what the command prints would then land in that file),
/// and with standard error closed an error still ends with its own exit status.
@Suite struct StandardStreamsTests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// Runs `cbuff --dir DIR arguments...` through the shell with descriptor `closed` closed.
    func cbuff(closing closed: Int32, _ arguments: [String], input: String? = nil) throws -> Outcome {
        let binary = ChildProcess.executable("cbuff").path
        return try run("/bin/sh", ["-c", "exec \"$0\" \"$@\" \(closed)>&-", binary, "--dir", dir] + arguments, input: input, timeout: 60)
    }

    func cbuff(_ arguments: String...) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, timeout: 60)
    }

    /// Every command that opens files, with each standard stream closed in turn: afterwards the
    /// buffers still hold exactly what was pushed, and their headers still validate.
    @Test(arguments: [Int32(0), 1, 2])
    func aClosedStandardStreamNeverBecomesOneOfOurFiles(closed: Int32) throws {
        // create prints what it made: with standard output closed that is a write error (74),
        // and a create that fails is undone (exit 0 if and only if the buffer exists), so it is
        // made again with the output open.
        for create in [["create", "a", "--item-size", "8", "--length", "16"], ["create", "m", "--messages", "--capacity", "4096", "--max-message", "64"]] {
            #expect(try cbuff(closing: closed, create).status == (closed == 1 ? 74 : 0))
            if closed == 1 {
                let listed = try run("cbuff", ["--dir", dir, "list"], timeout: 60)
                #expect(listed.status == 0 && !listed.lines.contains { $0.hasPrefix(create[1] + " ") }, "\(listed)")
                #expect(try run("cbuff", ["--dir", dir] + create, timeout: 60).status == 0)
            }
        }
        #expect(try cbuff(closing: closed, ["push", "a", "1", "2", "3"]).status == 0)
        if closed == 0 {
            // Standard input is /dev/null then: --stdin pushes nothing.
            #expect(try cbuff(closing: closed, ["push", "a", "--stdin"]).status == 0)
            #expect(try cbuff(closing: closed, ["push", "a", "4", "5"]).status == 0)
            #expect(try cbuff(closing: closed, ["push", "m", "hello", "world"]).status == 0)
        } else {
            #expect(try cbuff(closing: closed, ["push", "a", "--stdin"], input: "4\n5\n").status == 0)
            #expect(try cbuff(closing: closed, ["push", "m", "--stdin"], input: "hello\nworld\n").status == 0)
        }
        // With standard output closed, what prints fails as a write error (74): nothing a named
        // reader printed to nobody is committed.
        for arguments in [["tail", "a"], ["tail", "m"], ["pop", "a", "-n", "2"], ["pop", "a", "--reader", "r", "-n", "2"],
                          ["inspect", "a"], ["list"], ["list", "--json"], ["tail", "a", "--format", "jsonl"]] {
            let outcome = try cbuff(closing: closed, arguments)
            #expect(outcome.status == (closed == 1 ? 74 : 0), "\(arguments) with descriptor \(closed) closed: \(outcome)")
        }
        let items = try cbuff("pop", "a", "-n", "100")
        #expect(items.status == 0 && items.lines == ["1", "2", "3", "4", "5"], "\(items)")
        let messages = try cbuff("tail", "m")
        #expect(messages.status == 0 && messages.lines == ["hello", "world"], "\(messages)")
        let named = try cbuff("pop", "a", "--reader", "r", "-n", "100")
        #expect(named.status == 0 && named.lines == (closed == 1 ? ["1", "2", "3", "4", "5"] : ["3", "4", "5"]), "\(named)")
    }

    /// An error with standard error closed still exits with its code (a write to a closed
    /// standard error used to trap: SIGILL, status 132).
    @Test func anErrorWithStandardErrorClosedKeepsItsStatus() throws {
        #expect(try cbuff(closing: 2, ["pop", "missing"]).status == 66)
        #expect(try cbuff(closing: 2, ["create", "a", "--item-size", "8", "--length", "16"]).status == 0)
        #expect(try cbuff(closing: 2, ["create", "a", "--item-size", "8", "--length", "16"]).status == 73)
        #expect(try cbuff(closing: 2, ["push", "a", "not-a-number"]).status == 65)
        #expect(try cbuff(closing: 2, ["create", "b", "--length", "1"]).status == 64)
    }

    /// Runs `cbuff --dir DIR arguments...` with standard output, standard error or both a pipe
    /// whose reader has gone (its read end closed before the start), SIGPIPE at its default as a
    /// shell leaves it; returns the exit status, or minus the signal that ended it.
    func cbuff(readerGoneFrom streams: String, _ arguments: [String]) throws -> Int32? {
        let script = """
            import os, subprocess, sys
            r, w = os.pipe(); os.close(r)
            out = w if sys.argv[1] in ("stdout", "both") else subprocess.DEVNULL
            err = w if sys.argv[1] in ("stderr", "both") else subprocess.DEVNULL
            print(subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60).returncode)
            """
        let outcome = try run("/usr/bin/env", ["python3", "-c", script, streams, ChildProcess.executable("cbuff").path, "--dir", dir] + arguments, timeout: 90)
        return Int32(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A reader of stderr or stdout that has gone costs the lines, never the exit status: an
    /// error message written to a closed pipe killed the tool with SIGPIPE (141 in a shell)
    /// instead of its code, and so did `list` or `inspect` printing to one. A closed stdout pipe
    /// is not an error (docs/cli.md): the command ends as it would have.
    @Test func aGoneReaderOfStderrOrStdoutNeverChangesTheExitStatus() throws {
        #expect(try cbuff("create", "a", "--item-size", "8", "--length", "16").status == 0)
        #expect(try cbuff("push", "a", "1", "2").status == 0)
        let cases: [(streams: String, arguments: [String], status: Int32)] = [
            ("stderr", ["pop", "missing"], 66), ("stderr", ["tail", "missing"], 66), ("stderr", ["inspect", "missing"], 66),
            ("stderr", ["push", "a", "not-a-number"], 65), ("stderr", ["create", "a", "--item-size", "8", "--length", "16"], 73),
            ("stderr", ["create", "b", "--length", "1"], 64), ("stderr", ["no-such-command"], 64),
            ("stdout", ["list"], 0), ("stdout", ["list", "--json"], 0), ("stdout", ["inspect", "a"], 0), ("stdout", ["tail", "a"], 0),
            ("stdout", ["pop", "a"], 0), ("stdout", ["--help"], 0), ("stdout", ["create", "c", "--item-size", "8", "--length", "4"], 0),
            ("both", ["tail", "missing"], 66), ("both", ["list"], 0),
        ]
        for (streams, arguments, status) in cases {
            #expect(try cbuff(readerGoneFrom: streams, arguments) == status, "\(arguments) with no reader of \(streams)")
        }
        // Nothing it printed to nobody was taken as read: pop's anonymous reader commits nothing.
        #expect(try cbuff("tail", "a").lines == ["1", "2"])
    }

    /// `tail --follow NAME | head -1` ends promptly once head has gone, with status 0, and its
    /// named reader commits no more than the lines it wrote.
    @Test func aFollowerEndsWhenItsReaderHasGone() throws {
        #expect(try cbuff("create", "a", "--item-size", "8", "--length", "16").status == 0)
        #expect(try cbuff("push", "a", "1", "2", "3").status == 0)
        let binary = ChildProcess.executable("cbuff").path
        let piped = try run("/bin/bash", ["-c", "\"$0\" --dir \"$1\" tail a --follow --reader r | head -1; echo \"status ${PIPESTATUS[0]}\"", binary, dir],
                            timeout: 30)
        #expect(!piped.timedOut && piped.lines == ["1", "status 0"], "\(piped)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(try cbuff("inspect", "a", "--json").stdout.utf8)) as? [String: Any])
        let readers = try #require(report["readers"] as? [[String: Any]])
        #expect(readers.count == 1 && (readers[0]["position"] as? Int ?? 99) <= 3, "\(readers)")
    }

    /// The library itself, in a program that does not reopen its standard streams (the test
    /// agent): with descriptor 1 closed, the ring, lock and registry descriptors stay above 2,
    /// so the agent's "pushed 3" goes nowhere instead of over the ring file's header.
    @Test func theLibraryNeverHandsOutAStandardStreamNumber() throws {
        let agent = ChildProcess.executable("cbuff-test-agent").path
        let created = try run("/bin/sh", ["-c", "exec \"$0\" \"$@\" 0>&- 1>&-", agent, "create", dir, "a", "8", "16"], timeout: 60)
        #expect(created.status == 0, "\(created)")
        let written = try run("/bin/sh", ["-c", "exec \"$0\" \"$@\" 1>&-", agent, "write", dir, "a", "3"], timeout: 60)
        #expect(written.status == 0, "\(written)")
        let items = try cbuff("pop", "a", "-n", "100")
        #expect(items.status == 0 && items.lines == ["0", "1", "2"], "\(items)")
    }
}
