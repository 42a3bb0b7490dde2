// relay-latency: end-to-end latency through the relays. One thread writes the monotonic clock
// (nanoseconds) into buffer OUT at RATE items per second, COUNT times, while `cbuff-relay out`
// moves OUT into JetStream and `cbuff-relay in` moves the stream into buffer IN; the main thread
// reads IN and records, for each item, the clock now minus the clock it carries. Both buffers
// exist beforehand (8-byte items). First it sends a probe every 10 ms until one comes back (the
// relays are connected and subscribed), then measures; prints p50, p99 and max in the
// benchmarks' line format.
//
//   relay-latency DIR OUT IN RATE COUNT
import Dispatch
import Foundation
import SharedRing

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

let arguments = CommandLine.arguments
guard arguments.count == 6, let rate = Double(arguments[4]), rate > 0, let count = Int(arguments[5]), count > 20 else {
    FileHandle.standardError.write(Data("usage: relay-latency DIR OUT IN RATE COUNT\n".utf8))
    exit(64)
}
let directory = DataDirectory(path: arguments[1])
let (outName, inName) = (arguments[2], arguments[3])

do {
    var reader = try directory.openReader(inName, start: .latest)
    do {
        var probe = try directory.takeOver(outName)
        let giveUp = now() + 60_000_000_000
        var back = false
        while !back {
            guard now() < giveUp else { throw CBuffError(.timedOut, "no probe came back through the relays within 60 s") }
            try probe.push(now())
            back = reader.wait(timeout: .milliseconds(10))
        }
        while reader.wait(timeout: .milliseconds(200)) { while try reader.popItem() != nil {} }   // the probes still on their way
        probe.close()
    }
    let stamping = Thread {
        do {
            var writer = try directory.takeOver(outName)
            let start = now(), interval = 1e9 / rate
            for index in 0..<count {
                let due = start + UInt64(Double(index) * interval)
                while now() < due { usleep(UInt32(min(1000, (due - now()) / 1000))) }
                try writer.push(now())
            }
        } catch {
            FileHandle.standardError.write(Data("relay-latency: the writer failed: \(error)\n".utf8))
            exit(1)
        }
    }
    stamping.start()
    var latencies: [UInt64] = []
    latencies.reserveCapacity(count)
    let deadline = now() + UInt64(Double(count) / rate * 1e9) + 60_000_000_000
    while latencies.count < count {
        if let stamp = try reader.popItem() {
            latencies.append(now() - stamp)
        } else if now() > deadline {
            FileHandle.standardError.write(Data("relay-latency: only \(latencies.count) of \(count) items came back through the relays within 60 s of the last one sent\n".utf8))
            exit(1)
        } else {
            _ = reader.wait(timeout: .milliseconds(100))
        }
    }
    let measured = latencies.sorted()
    func percentile(_ p: Double) -> Double { Double(measured[min(measured.count - 1, Int(Double(measured.count) * p))]) / 1000 }
    for (metric, value) in [("latency_p50", percentile(0.5)), ("latency_p99", percentile(0.99)), ("latency_max", Double(measured.last!) / 1000)] {
        print("bench=relay_end_to_end metric=\(metric) value=\(String(format: "%.1f", value)) unit=us rate=\(Int(rate))")
    }
} catch {
    FileHandle.standardError.write(Data("relay-latency: \(error)\n".utf8))
    exit(1)
}
