import Foundation
import Testing
import TestSupport

/// `cbuff reader list|rm|seek` (issue 24, class 12): an operator's way out when a forgotten named
/// reader holds a `block` writer, other than removing the reader.
@Suite struct ReaderCommandsTests {
    let cbuff: CBuffTool
    var dir: String { cbuff.dir }

    init() throws { cbuff = try CBuffTool() }

    @Test func seekingAForgottenReaderReleasesABlockedWriter() throws {
        #expect(try cbuff("create", "j", "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "r").status == 0)
        #expect(try cbuff("push", "j", "1", "2", "3", "4").status == 0)
        let listed = try cbuff("reader", "list", "j")
        #expect(listed.status == 0 && listed.lines.count == 2 && listed.lines[1].hasPrefix("r ") && listed.lines[1].contains("not running"), "\(listed)")
        // The ring is full of items r has not read: a push waits for it...
        let writer = try ChildProcess("cbuff", ["--dir", dir, "push", "j", "5"])
        #expect(try eventually(within: 30) { try cbuff("inspect", "j", "--json").stdout.contains("\"writerBlockedBy\":[\"r\"]") })
        // ...until the operator moves r past everything there.
        // (Moving it releases the writer at once, so "latest" is 4, or 5 if the writer's item
        // was published before the reader was registered again.)
        let moved = try cbuff("reader", "seek", "j", "r", "--to", "latest")
        #expect(moved.status == 0 && (moved.stdout.contains("now at 4") || moved.stdout.contains("now at 5")), "\(moved)")
        let pushed = writer.wait(timeout: 30)
        #expect(pushed.status == 0 && !pushed.timedOut, "\(pushed)")
        #expect(try cbuff("pop", "j", "--reader", "r", "-n", "10").lines == (moved.stdout.contains("now at 4") ? ["5"] : []))
        // Back to a sequence, then removed.
        #expect(try cbuff("reader", "seek", "j", "r", "--to", "2").status == 0)
        #expect(try cbuff("pop", "j", "--reader", "r", "-n", "10").lines == ["3", "4", "5"])
        #expect(try cbuff("reader", "rm", "j", "r").status == 0)
        #expect(try cbuff("reader", "list", "j").lines.count == 1)
        #expect(try cbuff("reader", "rm", "j", "r").status == 66)
    }

    @Test func aRefusedSeekLeavesTheReaderWhereItWas() throws {
        #expect(try cbuff("create", "j", "--item-size", "8", "--length", "4", "--reader", "r").status == 0)
        #expect(try cbuff("push", "j", "1", "2").status == 0)
        #expect(try cbuff("reader", "seek", "j", "r", "--to", "99").status == 64)
        #expect(try cbuff("reader", "seek", "j", "r", "--to", "soon").status == 64)
        #expect(try cbuff("reader", "seek", "j", "nobody", "--to", "latest").status == 66)
        // A reader a live process has open is not moved.
        let follower = try ChildProcess("cbuff", ["--dir", dir, "tail", "j", "--reader", "r", "--follow"])
        #expect(try eventually(within: 30) { try cbuff("reader", "list", "j").lines.contains { $0.contains(" running") && !$0.contains("not running") } })
        #expect(try cbuff("reader", "seek", "j", "r", "--to", "latest").status == 75)
        follower.kill(SIGTERM)
        _ = follower.wait()
        let json = try cbuff("reader", "list", "j", "--json")
        #expect(json.status == 0 && json.stdout.contains("\"name\":\"r\""), "\(json)")
    }

    static func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    /// `create --tether-timeout`: a push held back by a reader that is not running goes on after
    /// the timeout and says so once on stderr; inspect shows the timeout and the untethered
    /// reader, which counts what it missed when it reads again, and is tethered again.
    @Test func aTetherTimeoutLetsAPushGoOnWithoutADeadReader() throws {
        #expect(try cbuff("create", "t", "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "r", "--tether-timeout", "200ms").status == 0)
        let inspected = try cbuff("inspect", "t")
        #expect(inspected.stdout.contains("200ms"), "\(inspected)")
        let pushed = try cbuff("push", "t", "1", "2", "3", "4", "5", "6")
        #expect(pushed.status == 0, "\(pushed)")
        #expect(pushed.stderr.components(separatedBy: "tether timeout").count == 2, "\(pushed)")
        let report = try #require(try Self.json(cbuff("inspect", "t", "--json").stdout) as? [String: Any])
        #expect(report["tetherTimeout"] as? Double == 0.2, "\(report)")
        let readers = try #require(report["readers"] as? [[String: Any]])
        #expect(readers.first?["untethered"] as? Bool == true, "\(report)")
        #expect(try cbuff("reader", "list", "t").lines.last?.contains("not running, untethered") == true)
        let popped = try cbuff("pop", "t", "--reader", "r", "-n", "10")
        #expect(popped.lines == ["3", "4", "5", "6"], "\(popped)")
        #expect(try cbuff("reader", "list", "t", "--json").stdout.contains("\"untethered\":false"))
        // Off, or under overwrite: as before, and refused.
        #expect(try cbuff("create", "o", "--item-size", "8", "--length", "4", "--tether-timeout", "1s").status == 64)
        #expect(try cbuff("create", "b", "--item-size", "8", "--length", "4", "--policy", "block", "--tether-timeout", "soon").status == 64)
        // Above zero but under 1 ns is no duration, never rounded to 0 (off): refused as such,
        // whatever the policy.
        for policy in ["overwrite", "block"] {
            let tiny = try cbuff("create", "tiny", "--item-size", "8", "--length", "4", "--policy", policy, "--tether-timeout", "0.4ns")
            #expect(tiny.status == 64 && tiny.stderr.contains("from 1ns to 30 days"), "\(tiny)")
        }
        #expect(try cbuff("create", "z", "--item-size", "8", "--length", "4", "--policy", "block", "--tether-timeout", "0").status == 0)
        let off = try #require(try Self.json(cbuff("inspect", "z", "--json").stdout) as? [String: Any])
        #expect(off["tetherTimeout"] is NSNull, "\(off)")
    }
}
