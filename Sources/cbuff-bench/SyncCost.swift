// `cbuff-bench --only sync`: what durability costs a writer on the data directory's file system
// (run it on a disk, not /dev/shm, where a sync returns at once: `--dir` or TMPDIR).
//
//   sync_latency_median / _p99    one `sync()` after each batch of 64 8-byte items (a page of
//                                 data dirtied, and the header), --runs x 200 syncs
//   push_items_per_s              one writer alone, pushing 8-byte items (into a ring of 1 Mi
//                                 slots, overwrite, nobody reading) for about 2 s, under each
//                                 policy: none, each batch, every 1000, interval 10 ms; in
//                                 batches of 64 (`_batch64`) and one at a time (`_single`)
import Foundation
import SharedRing

enum SyncCost {
    static let policies: [(String, SyncPolicy)] = [("none", .none), ("each_batch", .eachBatch), ("every1000", .everyN(1000)),
                                                   ("interval10ms", .interval(.milliseconds(10)))]

    static func run(runs: Int, in data: DataDirectory) throws {
        var latencies: [Double] = []
        for run in 0..<runs {
            let name = "sync-latency-\(run)"
            var writer = try data.createBuffer(name, itemSize: 8, length: 1 << 20)
            var next: UInt64 = 0
            for _ in 0..<200 {
                try writer.push(contentsOf: next ..< next + 64)
                next += 64
                let start = now()
                try writer.sync()
                latencies.append(Double(now() - start))
            }
            writer.close()
            try data.removeBuffer(name)
        }
        latencies.sort()
        emit("cbuff_sync", "sync_latency_median", latencies[latencies.count / 2] / 1000, "us")
        emit("cbuff_sync", "sync_latency_p99", latencies[latencies.count * 99 / 100] / 1000, "us")
        for batched in [true, false] {
            for (label, policy) in policies {
                let rates = try (0..<runs).map { run in try pushRate(policy, batched: batched, name: "sync-\(label)-\(run)", in: data) }
                emit("cbuff_sync_\(label)_\(batched ? "batch64" : "single")", "push_items_per_s", median(rates), "items/s")
            }
        }
    }

    /// Items a second one writer pushes for about two seconds under `policy` (the close's sync
    /// not counted).
    static func pushRate(_ policy: SyncPolicy, batched: Bool, name: String, in data: DataDirectory) throws -> Double {
        var writer = try data.createBuffer(name, itemSize: 8, length: 1 << 20, policy: .overwrite, tetherTimeout: .zero, sync: policy)
        let start = now()
        var pushed: UInt64 = 0
        while now() - start < 2_000_000_000 {
            for _ in 0..<16 {
                if batched {
                    try writer.push(contentsOf: pushed ..< pushed + 64)
                    pushed += 64
                } else {
                    for _ in 0..<64 {
                        try writer.push(pushed)
                        pushed += 1
                    }
                }
            }
        }
        let rate = Double(pushed) / (Double(now() - start) / 1e9)
        writer.close()
        try data.removeBuffer(name)
        return rate
    }
}
