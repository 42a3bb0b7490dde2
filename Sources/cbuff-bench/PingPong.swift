import Foundation
import SharedRing

/// Round trips between two processes through two buffers: this process (CPU 0) pushes i into
/// "ping" and spins until i comes back on "pong", which the ponger process (CPU 1) echoes.
/// Every round trip is timed (two clock reads included, as in the anchors); median and p99.
enum PingPong {
    struct Result { var median: Double; var p99: Double }

    static func run(roundTrips: Int, in directory: DataDirectory) throws -> Result {
        for name in ["ping", "pong"] { try? directory.removeBuffer(name, force: true) }
        defer { for name in ["ping", "pong"] { try? directory.removeBuffer(name, force: true) } }
        var ping = try directory.createBuffer("ping", itemSize: 8, length: 1024)
        try directory.createBuffer("pong", itemSize: 8, length: 1024).close()
        var pong = try directory.openReader("pong", start: .latest)
        let ponger = try Child(cpu: 1, ["ponger", directory.path, String(roundTrips)])
        guard ponger.line() == "ready" else { throw CBuffError(.systemFailure, "the ponger did not start") }
        pinSelf(0)
        var samples = [UInt64](repeating: 0, count: roundTrips)
        for i in 0..<roundTrips {
            let start = now()
            try ping.push(UInt64(i))
            while true {
                if let echo = try pong.popItem() {
                    guard echo == UInt64(i) else { throw CBuffError(.corrupted, "round trip \(i) came back as \(echo)") }
                    break
                }
            }
            samples[i] = now() - start
        }
        try ponger.finish()
        samples.sort()
        return Result(median: Double(samples[roundTrips / 2]), p99: Double(samples[roundTrips * 99 / 100]))
    }

    /// `ponger DIR ROUND_TRIPS`: echoes every item of "ping" into "pong".
    static func ponger(_ arguments: [String]) throws {
        guard arguments.count == 2, let roundTrips = Int(arguments[1]) else { throw CBuffError(.invalidArgument, "bad arguments") }
        let directory = DataDirectory(path: arguments[0])
        var ping = try directory.openReader("ping", start: .latest)
        var pong = try directory.takeOver("pong")
        say("ready")
        var echoed = 0
        while echoed < roundTrips {
            if let value = try ping.popItem() {
                try pong.push(value)
                echoed += 1
            }
        }
    }
}

/// Creating a buffer, and opening one by name (registry look-up, mapping, validation), in this
/// process, one after the other.
enum Latency {
    struct Result { var create: Double; var open: Double }

    static func run(count: Int, in directory: DataDirectory) throws -> Result {
        var creates: [Double] = [], opens: [Double] = []
        for i in 0..<count {
            let start = now()
            let writer = try directory.createBuffer("latency-\(i)", itemSize: 8, length: 1024)
            creates.append(Double(now() - start) / 1000)
            writer.close()
        }
        for i in 0..<count {
            let start = now()
            let reader = try directory.openReader("latency-\(i)")
            opens.append(Double(now() - start) / 1000)
            reader.close()
        }
        for i in 0..<count { try directory.removeBuffer("latency-\(i)") }
        return Result(create: median(creates), open: median(opens))
    }
}
