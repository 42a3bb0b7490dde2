import Foundation
import Testing
import TestSupport

/// A ring file is a buffer's only if it is provably that buffer's (issue 24, "trust by
/// construction"): one name only (a hard link of buffer B's ring at A's name made pushes into A
/// appear in B), the creation time the registry row recorded (another buffer's ring of the same
/// geometry copied or renamed into place was read and written as A's), and a registry row whose
/// every column is one a buffer can have and agrees with the file (format version 99 was
/// accepted). `inspect` and `list` report such a buffer as far as they can, mark it, and end
/// with exit 65 (they exited 0 when the row and the file disagreed).
@Suite struct RingIdentityTests {
    let cbuff: CBuffTool
    var dir: String { cbuff.dir }

    init() throws { cbuff = try CBuffTool() }

    /// Runs `statement` on the registry with CHECK constraints off, as a person with sqlite3 may.
    func sql(_ statement: String) {
        let script = "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA ignore_check_constraints=ON'); c.execute(sys.argv[2]); c.commit()"
        #expect(shell("python3 -c \"\(script)\" '\(dir)/registry.sqlite' \"\(statement)\"") == 0, "\(statement)")
    }

    /// Two buffers of the same geometry, `b` holding 1 and 2, `a` holding 9.
    func twins() throws {
        for name in ["a", "b"] {
            #expect(try cbuff("create", name, "--item-size", "8", "--length", "16").status == 0)
        }
        #expect(try cbuff("push", "b", "1", "2").status == 0)
        #expect(try cbuff("push", "a", "9").status == 0)
    }

    func expectRefused(_ arguments: String..., saying words: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outcome = try run("cbuff", ["--dir", dir] + arguments, timeout: 60)
        #expect(outcome.status == 65, "\(arguments): \(outcome)", sourceLocation: sourceLocation)
        #expect(outcome.stderr.hasPrefix("cbuff: ") && outcome.stderr.contains(words), "\(arguments): \(outcome)", sourceLocation: sourceLocation)
    }

    @Test func aHardLinkOfAnotherBuffersRingIsNeverOpened() throws {
        try twins()
        #expect(Glibc.unlink(dir + "/a.ring") == 0 && Glibc.link(dir + "/b.ring", dir + "/a.ring") == 0)
        try expectRefused("push", "a", "7", saying: "has 2 names")
        try expectRefused("tail", "a", saying: "has 2 names")
        try expectRefused("tail", "b", saying: "has 2 names")   // B's file has A's name too
        try expectRefused("inspect", "a", saying: "has 2 names")
        let listed = try cbuff("list")
        #expect(listed.status == 65 && listed.lines.count == 3, "\(listed)")
        // The operator removes the name that is not A's: B is intact, nothing of A's in it.
        #expect(try cbuff("rm", "a", "--force").status == 0)
        let b = try cbuff("tail", "b")
        #expect(b.status == 0 && b.lines == ["1", "2"], "\(b)")
    }

    @Test func anotherBuffersRingCopiedOrRenamedIntoPlaceIsNotThisBuffers() throws {
        try twins()
        #expect(Glibc.unlink(dir + "/a.ring") == 0)
        try FileManager.default.copyItem(atPath: dir + "/b.ring", toPath: dir + "/a.ring")
        try expectRefused("tail", "a", saying: "is not its own")
        try expectRefused("push", "a", "7", saying: "is not its own")
        try expectRefused("pop", "a", "--reader", "r", saying: "is not its own")
        // inspect shows what the file holds, marks it, and ends with 65.
        let inspected = try cbuff("inspect", "a")
        #expect(inspected.status == 65 && inspected.stdout.contains("written") && inspected.stdout.contains("DAMAGED"), "\(inspected)")
        #expect(inspected.stderr.contains("is not its own") && inspected.stderr.filter { $0 == "\n" }.count == 1, "\(inspected)")
        let b = try cbuff("tail", "b")
        #expect(b.status == 0 && b.lines == ["1", "2"], "\(b)")

        // Renamed rather than copied: A refuses it, B's file is missing.
        #expect(Glibc.rename(dir + "/b.ring", dir + "/a.ring") == 0)
        try expectRefused("tail", "a", saying: "is not its own")
        try expectRefused("tail", "b", saying: "missing")
        // Put back, each buffer is its own again.
        #expect(Glibc.rename(dir + "/a.ring", dir + "/b.ring") == 0)
        #expect(try cbuff("tail", "b").lines == ["1", "2"])
    }

    @Test(arguments: ["format_version = 99", "format_version = 1", "format_version = 'two'", "format_version = 3",
                      "created_at = 'yesterday'", "writer_pid = NULL", "writer_since = NULL", "ring_created_ns = 1",
                      "ring_created_ns = -1", "ring_created_ns = 'soon'", "length = 17", "item_size = 4"])
    func aRowThatIsNotTheRingFilesIsRefusedEverywhere(damage: String) throws {
        try twins()
        sql("UPDATE buffers SET \(damage) WHERE name = 'a'")
        for arguments in [["tail", "a"], ["push", "a", "7"], ["pop", "a", "--reader", "r"], ["inspect", "a"], ["inspect", "a", "--json"]] {
            let outcome = try run("cbuff", ["--dir", dir] + arguments, timeout: 60)
            #expect(outcome.status == 65, "\(damage), \(arguments): \(outcome)")
            #expect(outcome.stderr.hasPrefix("cbuff: ") && outcome.stderr.filter { $0 == "\n" }.count == 1, "\(damage), \(arguments): \(outcome)")
        }
        // list reports the healthy buffer, marks the bad one, and ends with 65.
        let listed = try cbuff("list")
        #expect(listed.status == 65, "\(damage): \(listed)")
        #expect(listed.lines.contains { $0.hasPrefix("b ") && $0.contains(" 2 ") } && listed.lines.contains { $0.hasPrefix("a ") && $0.lowercased().contains("damaged") },
                "\(damage): \(listed)")
        let json = try cbuff("list", "--json")
        #expect(json.status == 65, "\(damage): \(json)")
        let reports = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], "\(json)")
        #expect(reports.contains { $0["name"] as? String == "a" && $0["problem"] is String }, "\(damage): \(json)")
        #expect(reports.contains { $0["name"] as? String == "b" && $0["problem"] is NSNull && $0["written"] as? Int == 2 }, "\(damage): \(json)")
        #expect(try cbuff("tail", "b").lines == ["1", "2"])
    }

    /// Another buffer's ring file at A's path: every command that shows a buffer's state shows
    /// nothing of it as A's (issue 26, F3: `reader list a` printed B's named readers as A's,
    /// exit 0). The readers exist only in a status whose file is the row's; `inspect` alone
    /// shows what the file holds, marked.
    @Test func noCommandShowsAnotherBuffersReadersAsThisOnes() throws {
        try twins()
        #expect(try cbuff("pop", "b", "--reader", "theirs").status == 0)
        #expect(try cbuff("pop", "a", "--reader", "mine").status == 0)
        #expect(Glibc.unlink(dir + "/a.ring") == 0)
        try FileManager.default.copyItem(atPath: dir + "/b.ring", toPath: dir + "/a.ring")
        try expectRefused("reader", "list", "a", saying: "is not its own")
        try expectRefused("reader", "list", "a", "--json", saying: "is not its own")
        try expectRefused("reader", "seek", "a", "theirs", "--to", "oldest", saying: "is not its own")
        // list and its JSON, top's report: a is marked, and none of B's state is A's.
        let json = try cbuff("list", "--json")
        #expect(json.status == 65, "\(json)")
        let reports = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], "\(json)")
        let a = try #require(reports.first { $0["name"] as? String == "a" }, "\(json)")
        #expect(a["problem"] is String && (a["readers"] as? [Any])?.isEmpty == true && a["written"] is NSNull, "\(json)")
        let prometheus = try cbuff("list", "--format", "prometheus")
        #expect(prometheus.status == 65 && prometheus.stdout.contains("cbuff_damaged{buffer=\"a\",kind=\"items\"} 1")
                && !prometheus.stdout.contains("buffer=\"a\",kind=\"items\",reader=\"theirs\""), "\(prometheus)")
        // inspect shows what the file holds, and says whose it is not.
        let inspected = try cbuff("inspect", "a")
        #expect(inspected.status == 65 && inspected.stdout.contains("NOT THIS BUFFER'S") && inspected.stdout.contains("theirs"), "\(inspected)")
        // Put back, A's own readers again.
        try FileManager.default.removeItem(atPath: dir + "/a.ring")
        #expect(try cbuff("rm", "a").status == 0)
        #expect(try cbuff("reader", "list", "b").stdout.contains("theirs"))
    }

    /// A sound ring file whose geometry disagrees with its row: inspect prints what the file
    /// holds (the JSON too), names the disagreement, and exits 65.
    @Test func inspectShowsADisagreeingBufferAndExits65() throws {
        try twins()
        sql("UPDATE buffers SET length = 32 WHERE name = 'a'")
        let json = try cbuff("inspect", "a", "--json")
        #expect(json.status == 65, "\(json)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
        #expect(report["written"] as? Int == 1 && (report["problem"] as? String)?.contains("32") == true, "\(json)")
        #expect(json.stderr.contains("length 32") || json.stderr.contains("32"), "\(json)")
    }

    /// A buffer created before registry schema 5 (ring_created_ns NULL) is not tied to its file,
    /// and works as before.
    @Test func aBufferWithoutARecordedCreationTimeIsNotChecked() throws {
        try twins()
        sql("UPDATE buffers SET ring_created_ns = NULL WHERE name = 'a'")
        #expect(try cbuff("push", "a", "8").status == 0)
        #expect(try cbuff("tail", "a").lines == ["9", "8"])
        #expect(try cbuff("inspect", "a").status == 0)
    }
}
