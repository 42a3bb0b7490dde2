import Foundation
import Testing
import TestSupport

/// Monitoring is not blinded by one bad row (issue 24, class 5): with one registry row damaged,
/// `list` (table, JSON, Prometheus) and `top --once` still report every other buffer, mark the
/// damaged one, and `list` ends with exit 65 and one sentence saying what is wrong.
@Suite struct DamagedRowCLITests {
    let cbuff: CBuffTool
    var dir: String { cbuff.dir }

    init() throws { cbuff = try CBuffTool() }

    @Test(arguments: ["item_size = 'abc'", "length = -5", "file = '../elsewhere.ring'", "kind = 'nonsense'", "name = x'1b5b33316d'"])
    func oneDamagedRowLeavesEveryOtherBufferReported(damage: String) throws {
        for name in ["a", "b", "c"] {
            #expect(try cbuff("create", name, "--item-size", "8", "--length", "16").status == 0)
        }
        #expect(try cbuff("push", "c", "7").status == 0)
        let sql = "UPDATE buffers SET \(damage) WHERE name = 'b'"
        #expect(shell("python3 -c \"import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA ignore_check_constraints=ON'); c.execute(sys.argv[2]); c.commit()\" '\(dir)/registry.sqlite' \"\(sql)\"") == 0)

        let listed = try cbuff("list")
        #expect(listed.status == 65, "\(listed)")
        #expect(listed.lines.contains { $0.hasPrefix("a ") } && listed.lines.contains { $0.hasPrefix("c ") && $0.contains(" 1 ") }, "\(listed)")
        #expect(listed.lines.contains { $0.contains("DAMAGED") }, "\(listed)")
        #expect(listed.stderr.hasPrefix("cbuff: ") && listed.stderr.contains("registry"), "\(listed)")
        #expect(!listed.stdout.contains("\u{1B}") && !listed.stderr.contains("\u{1B}"), "\(listed)")

        let json = try cbuff("list", "--json")
        #expect(json.status == 65, "\(json)")
        let reports = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], "\(json)")
        #expect(reports.count == 3)
        #expect(Set(reports.compactMap { $0["kind"] as? String == "items" ? $0["name"] as? String : nil }) == ["a", "c"])
        #expect(reports.contains { $0["kind"] as? String == "damaged" && ($0["problem"] as? String)?.isEmpty == false })

        let prometheus = try cbuff("list", "--format", "prometheus")
        #expect(prometheus.status == 65, "\(prometheus)")
        #expect(prometheus.stdout.contains("cbuff_written_total{buffer=\"c\",kind=\"items\"} 1"), "\(prometheus)")
        #expect(prometheus.stdout.contains("kind=\"unknown\"} 1"), "\(prometheus)")

        let top = try cbuff("top", "--once", "--interval", "0.05")
        #expect(top.status == 0 && top.stdout.contains("DAMAGED") && top.lines.contains { $0.hasPrefix("c ") }, "\(top)")
    }

    /// Runs `sql` on the registry as a person with sqlite3 would (the rows' checks off).
    func edit(_ sql: String) {
        #expect(shell("python3 -c \"import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA ignore_check_constraints=ON'); c.executescript(sys.argv[2]); c.commit()\" '\(dir)/registry.sqlite' \"\(sql)\"") == 0, "\(sql)")
    }

    /// A row edited to a name no buffer can have is said once by `list`, keeps its ring file
    /// from being replaced by a `create`, and `rm` with its exact name removes the row alone:
    /// no file derived from that name (`x/../good.ring` is good's file) is ever touched.
    @Test func aRowWithAnInvalidNameIsSaidOnceAndRemovedAloneByItsExactName() throws {
        for name in ["good", "bad"] {
            #expect(try cbuff("create", name, "--item-size", "8", "--length", "4").status == 0)
        }
        #expect(try cbuff("push", "bad", "7", "7", "7").status == 0)
        edit("UPDATE buffers SET name = 'ba' || char(27) || '[2Jd' WHERE name = 'bad'")
        let escaped = "ba\u{1B}[2Jd"
        let badRing = dir + "/bad.ring"
        let before = try Data(contentsOf: URL(fileURLWithPath: badRing))

        let listed = try cbuff("list")
        #expect(listed.status == 65 && listed.stderr.split(separator: "\n").count == 1, "\(listed)")

        let create = try cbuff("create", "bad", "--item-size", "8", "--length", "16")
        #expect(create.status == 73 && create.stderr.hasPrefix("cbuff: ") && !create.stderr.contains("\u{1B}"), "\(create)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: badRing)) == before, "the damaged row's ring file is kept as it was")

        let removed = try cbuff("rm", escaped)
        #expect(removed.status == 0, "\(removed)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: badRing)) == before, "only the row went")
        let after = try cbuff("list")
        #expect(after.status == 0 && after.stderr.contains("bad.ring"), "the file is now one no row names: \(after)")
        #expect(try cbuff("rm", escaped).status == 64, "no such row any more: the name's own refusal")

        // A name whose derived file name resolves to another buffer's file.
        try FileManager.default.createDirectory(atPath: dir + "/x", withIntermediateDirectories: false)
        edit("CREATE TEMP TABLE t AS SELECT * FROM buffers WHERE name = 'good'; UPDATE t SET name = 'x/../good', file = 'elsewhere.ring'; INSERT INTO buffers SELECT * FROM t;")
        #expect(try cbuff("rm", "x/../good", "--force").status == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/good.ring"))
        #expect(try cbuff("push", "good", "5").status == 0 && cbuff("pop", "good").lines == ["5"])
        #expect(try cbuff("list").status == 0)
    }
}
