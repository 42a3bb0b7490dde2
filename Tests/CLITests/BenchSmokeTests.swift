import Foundation
import Testing
import TestSupport

/// A seconds-long run of cbuff-bench (the real figures need a release build; see Benchmarks/).
@Suite struct BenchSmokeTests {
    @Test func theBenchmarkPrintsEveryFigureInTheAnchorsFormat() throws {
        let temporary = try TemporaryDirectory()
        let outcome = try run("cbuff-bench", ["--smoke", "--dir", temporary.path + "/bench"])
        #expect(outcome.status == 0, "\(outcome)")
        let pattern = /bench=([a-z_0-9]+) metric=([a-z_0-9]+) value=([-+0-9.e]+) unit=([a-z\/]+)/
        var figures: [String: Double] = [:]
        for line in outcome.lines {
            let match = try #require(line.wholeMatch(of: pattern), "not in the anchors' format: \(line)")
            figures["\(match.1) \(match.2)"] = Double(match.3)
        }
        for figure in ["cbuff transfer_items_per_s", "cbuff_commit64 transfer_items_per_s", "cbuff_batch64 transfer_items_per_s", "cbuff_overwrite transfer_items_per_s",
                       "cbuff_overwrite lost_fraction", "cbuff pingpong_rtt_median", "cbuff pingpong_rtt_p99",
                       "cbuff create_median", "cbuff open_median"] {
            #expect((figures[figure] ?? -1) >= 0, "missing \(figure)")
        }
        #expect((figures["cbuff transfer_items_per_s"] ?? 0) > 0)
    }

    /// `--only sizes`: a lossless transfer of bytes per item size (100 is not a multiple of 8).
    @Test func theItemSizeFiguresComeInItemsAndBytes() throws {
        let temporary = try TemporaryDirectory()
        let outcome = try run("cbuff-bench", ["--smoke", "--only", "sizes,inplace,peek", "--sizes", "8,100", "--dir", temporary.path + "/bench"])
        #expect(outcome.status == 0, "\(outcome)")
        let figures = outcome.lines.map { $0.split(separator: " ") }
        let expected = ["", "_inplace", "_peek"].flatMap { kind in
            [8, 100].flatMap { size in
                ["bench=cbuff_item\(size)B\(kind) metric=transfer_items_per_s unit=items/s", "bench=cbuff_item\(size)B\(kind) metric=transfer_bytes_per_s unit=B/s"]
            }
        }
        #expect(figures.map { "\($0[0]) \($0[1]) \($0[3])" } == expected)
        for figure in figures { #expect((Double(figure[2].dropFirst("value=".count)) ?? 0) > 0, "\(figure)") }
    }
}
