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
