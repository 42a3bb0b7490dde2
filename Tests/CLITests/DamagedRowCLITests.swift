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
}
