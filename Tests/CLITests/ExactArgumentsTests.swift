import Foundation
import Testing
import TestSupport

/// A value is exactly what it claims to be, or it is refused with one sentence; it is never
/// normalised into another (issue 24, class 7): a date that does not exist, an offset past a
/// day, an integer with a space or a sign, an option that would change nothing.
@Suite struct ExactArgumentsTests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    func cbuff(_ arguments: String..., input: String? = nil) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, input: input)
    }

    func expectOneSentence(_ outcome: Outcome, status: Int32, _ what: String) {
        #expect(outcome.status == status, "\(what): \(outcome)")
        #expect(outcome.stderr.hasPrefix("cbuff: ") && outcome.stderr.filter { $0 == "\n" }.count == 1, "\(what): \(outcome)")
    }

    @Test func sinceRefusesTimesThatDoNotExist() throws {
        #expect(try cbuff("create", "m", "--messages", "--capacity", "4K", "--max-message", "100").status == 0)
        #expect(try cbuff("push", "m", "x", "y").status == 0)
        let refused = [
            "2026-02-30T00:00:00Z", "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-00T00:00:00Z",
            "2026-12-02T25:00:00Z", "2026-12-02T24:00:00Z", "2026-12-02T01:60:00Z", "2026-12-02T01:00:60Z",
            "2026-12-02T01:00:00+99:00", "2026-12-02T01:00:00+24:00", "2026-12-02T01:00:00+01:60",
            "2026-12-02T01:00:00", "2026-12-02 01:00:00Z", " 1764637200", "1764637200 ", "+1764637200",
            "1e9", "-1", "1.", ".5", "0x10", "nan", "2026-12-02T01:00:00.Z", "9999-12-31T23:59:59Z",
            "18446744074", "2554-07-21T23:34:34Z",
        ]
        for text in refused {
            expectOneSentence(try cbuff("tail", "m", "--since", text), status: 64, "--since \(text.debugDescription)")
        }
        // Times that exist, in every spelling, are read; the two messages were published now.
        let accepted = [
            "0", "1764637200.5", "2024-02-29T00:00:00Z", "2026-12-02T01:00:00+01:00", "2026-12-02T01:00:00-23:59",
            "2026-12-02T01:00:00.9999999999999999999999Z", "2554-07-21T23:34:33.709551615Z",
        ]
        for text in accepted {
            let outcome = try cbuff("tail", "m", "--since", text)
            #expect(outcome.status == 0, "--since \(text): \(outcome)")
        }
        #expect(try cbuff("tail", "m", "--since", "2024-02-29T00:00:00Z").lines == ["x", "y"])
        #expect(try cbuff("tail", "m", "--since", "2554-07-21T23:34:33.709551615Z").lines == [])
    }

    @Test func integersAreExactlyDigitsAsArgumentsAndAsLines() throws {
        #expect(try cbuff("create", "a", "--item-size", "8", "--length", "16").status == 0)
        // A line may end in \r\n (that \r is the line's end, not the value's); an argument has no end.
        expectOneSentence(try cbuff("push", "a", "1\r"), status: 65, "push \"1\\r\"")
        for text in [" 1", "1 ", "\t1", "+1", "-0", "1\r\r", "0x", "0x 1", "1_000"] {
            expectOneSentence(try cbuff("push", "a", text), status: 65, "push \(text.debugDescription)")
            let line = try cbuff("push", "a", "--stdin", input: "5\n\(text)\n6\n")
            expectOneSentence(line, status: 65, "push --stdin line \(text.debugDescription)")
            #expect(line.stderr.contains("line 2"), "\(line)")
        }
        #expect(try cbuff("push", "a", "7", "0x10", "0X1f").status == 0)
        #expect(try cbuff("push", "a", "--stdin", input: "8\n0x10\r\n").status == 0)
        // Each refused --stdin run pushed its first line, 5, and stopped at the second.
        let items = try cbuff("pop", "a", "-n", "16")
        #expect(items.lines == Array(repeating: "5", count: 9) + ["7", "16", "31", "8", "16"], "\(items)")
    }

    @Test func anOptionThatChangesNothingIsAUsageError() throws {
        #expect(try cbuff("create", "m", "--messages", "--capacity", "4K", "--max-message", "100").status == 0)
        expectOneSentence(try cbuff("push", "m", "--null", "x"), status: 64, "push --null without --stdin")
        #expect(try cbuff("pop", "m").stdout == "", "nothing was pushed")
    }

    /// The data directory's path is untrusted text (the user's, the environment's): every line
    /// that shows it, the confirmation of `create` as `inspect` and every error, escapes it.
    @Test func aPathWithEscapeBytesIsShownEscaped() throws {
        let odd = dir + "/a\u{1B}[2Jb"
        try FileManager.default.createDirectory(atPath: odd, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let created = try run("cbuff", ["--dir", odd, "create", "x", "--item-size", "8", "--length", "4"])
        #expect(created.status == 0 && created.stdout.contains("a\\u{1b}[2Jb"), "\(created)")
        let inspected = try run("cbuff", ["--dir", odd, "inspect", "x"])
        for outcome in [created, inspected] {
            #expect(!outcome.stdout.contains("\u{1B}") && !outcome.stderr.contains("\u{1B}"), "\(outcome)")
        }
    }
}

