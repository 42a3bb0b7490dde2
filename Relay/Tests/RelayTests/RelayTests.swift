import Foundation
import Testing
@testable import Relay
import SharedRing
import Spawning

/// The relays against a real nats-server with JetStream on a loopback port, in a temporary store:
/// end to end in order, a relay SIGKILLed and restarted (the stream holds each item once), the
/// server killed and restarted mid-stream, and buffers of messages and of typed items.
@Suite(.serialized) final class RelayTests {
    static let relayBinary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/cbuff-relay").path

    /// A nats-server with JetStream in a temporary store, on a free loopback port.
    final class Server {
        let store: String
        let port: Int
        let jetStream: Bool
        var process: Spawned?

        init(jetStream: Bool = true) throws {
            self.jetStream = jetStream
            store = NSTemporaryDirectory() + "cbuff-relay-test-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            port = Int.random(in: 20_000...60_000)
            try start()
        }

        var url: String { "nats://127.0.0.1:\(port)" }

        func start() throws {
            let executable = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/nats-server"
            // Its log goes to stderr: a pipe, kept (unread past "ready") as long as the server runs.
            let process = try Spawned(executable, (jetStream ? ["-js"] : []) + ["-a", "127.0.0.1", "-p", String(port), "-sd", store],
                                      output: .null, error: .pipe)
            self.process = process
            // The server says when it listens ("Server is ready"): read its log until then.
            var log = LineReader(process.error)
            var text = ""
            while !text.contains("Server is ready") {
                guard let line = log.next() else { throw RelayError("nats-server exited: \(text)") }
                text += line + "\n"
            }
        }

        func kill() {
            process?.kill(SIGTERM)
            process?.wait()
            process = nil
        }

        deinit {
            kill()
            try? FileManager.default.removeItem(atPath: store)
        }
    }

    let server: Server
    let data: String
    var directory: DataDirectory { DataDirectory(path: data) }

    init() throws {
        server = try Server()
        data = NSTemporaryDirectory() + "cbuff-relay-data-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    deinit {
        try? FileManager.default.removeItem(atPath: data)
    }

    /// Starts the relay with `arguments` (and this test's server and data directory, and
    /// `environment` added to this process's), its stderr into file `log` of the data directory
    /// if given, else nowhere.
    func relay(_ arguments: [String], log: String? = nil, server url: String? = nil, environment: [String: String] = [:]) throws -> Spawned {
        if let log {
            // A file, not a pipe: a relay never blocks on a test that does not read.
            #expect(FileManager.default.createFile(atPath: logPath(log), contents: nil))
        }
        // Stdout to /dev/null: a relay left behind must not hold the test's output open.
        return try Spawned(Self.relayBinary, arguments + ["--server", url ?? server.url, "--dir", data],
                           environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                           output: .null, error: log.map { .file(logPath($0)) } ?? .null)
    }

    func run(_ arguments: [String], log: String? = nil, server url: String? = nil) throws -> Int32 {
        let process = try relay(arguments, log: log, server: url)
        let status = process.wait()
        #expect(process.termination == .exit(status), "cbuff-relay \(arguments) died: \(String(describing: process.termination))")
        return status
    }

    func logPath(_ log: String) -> String { data + "/" + log }

    /// The lines the relay wrote into `log`.
    func lines(_ log: String) -> [String] {
        ((try? String(contentsOfFile: logPath(log), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func streamCount(_ stream: String) throws -> UInt64 {
        try NatsSession(url: server.url, window: 1).messageCount(stream)
    }

    @Test func itemsGoRingToStreamToRingInOrder() throws {
        let total: UInt64 = 1_000_000
        try filledBuffer("a", count: total)
        try directory.createBuffer("b", itemSize: 8, length: Int(total), policy: .block).close()
        #expect(try run(["out", "a", "--stream", "S", "--subject", "s.a", "--once"]) == 0)
        #expect(try streamCount("S") == total)
        #expect(try run(["in", "b", "--stream", "S", "--consumer", "c", "--once"]) == 0)
        var reader = try directory.openReader("b")
        var next: UInt64 = 0
        while let value = try reader.popItem() {
            if value != next { Issue.record("item \(next) is \(value)"); break }
            next += 1
        }
        #expect(next == total)
        // A second pass finds nothing new: the out relay's cursor and the consumer both moved.
        #expect(try run(["out", "a", "--stream", "S", "--subject", "s.a", "--once"]) == 0)
        #expect(try streamCount("S") == total)
    }

    @Test func aRelayKilledMidStreamAndRestartedStoresEachItemOnce() throws {
        let total: UInt64 = 200_000
        try filledBuffer("a", count: total)
        for round in 0..<3 {
            let running = try relay(["out", "a", "--stream", "K", "--subject", "k.a", "--window", "512"])
            // Kill it once the stream has some of the items (a point that moves with the host's speed).
            let target = total / 4 * UInt64(round + 1)
            let deadline = Date().addingTimeInterval(60)
            while (try? streamCount("K")) ?? 0 < target, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            running.kill(SIGKILL)
            running.wait()
        }
        #expect(try run(["out", "a", "--stream", "K", "--subject", "k.a", "--once"]) == 0)
        #expect(try streamCount("K") == total)          // every item exactly once
    }

    /// Creates buffer `name` holding the 8-byte items 0 ..< `count`.
    func filledBuffer(_ name: String, count: UInt64) throws {
        var writer = try directory.createBuffer(name, itemSize: 8, length: Int(count))
        try writer.push(contentsOf: 0..<count)
        writer.close()
    }

    /// Pops every item of buffer `name` (8-byte integers) and checks they are 0, 1, 2, … `total` - 1.
    func expectEveryItemOnceInOrder(_ name: String, total: UInt64) throws {
        var reader = try directory.openReader(name)
        var next: UInt64 = 0
        while let value = try reader.popItem() {
            if value != next { Issue.record("item \(next) of \(name) is \(value)"); return }
            next += 1
        }
        #expect(next == total)
    }

    @Test func anInRelayKilledMidStreamAndRestartedPushesEachItemOnceInOrder() throws {
        let total: UInt64 = 200_000
        try filledBuffer("a", count: total)
        #expect(try run(["out", "a", "--stream", "J", "--subject", "j.a", "--once"]) == 0)
        try directory.createBuffer("b", itemSize: 8, length: Int(total), policy: .block).close()
        var killedAt: [UInt64] = []
        for round in 0..<4 {
            // An odd batch, so that kills fall at every point of a batch: before its journal
            // entry, among its pushes, among its acknowledgements.
            let running = try relay(["in", "b", "--stream", "J", "--consumer", "j", "--batch", "97"])
            let target = total / 5 * UInt64(round + 1)
            let deadline = Date().addingTimeInterval(60)
            while (try? directory.status(of: "b").ring?.written) ?? 0 < target, Date() < deadline { Thread.sleep(forTimeInterval: 0.002) }
            running.kill(SIGKILL)
            running.wait()
            killedAt.append(try directory.status(of: "b").ring?.written ?? 0)
        }
        #expect(try run(["in", "b", "--stream", "J", "--consumer", "j", "--once"]) == 0)
        try expectEveryItemOnceInOrder("b", total: total)
        #expect(killedAt.count == 4, "killed with \(killedAt) items in the ring")
    }

    /// A ring whose sync policy is not `none` (here every 2^40 items: only the relay's own sync
    /// makes anything durable while it runs): the in relay acknowledges only what is durable.
    /// Whenever the consumer's acknowledged floor is seen at n (stream sequences 1 ... n, items
    /// 0 ..< n), the ring's durable sequence, read after, is at least n.
    @Test func anInRelayAcknowledgesOnlyWhatIsDurable() throws {
        let total: UInt64 = 20_000
        try filledBuffer("a", count: total)
        #expect(try run(["out", "a", "--stream", "D", "--subject", "d.a", "--once"]) == 0)
        try directory.createBuffer("b", itemSize: 8, length: Int(total), policy: .block, tetherTimeout: .zero, sync: .everyN(1 << 40)).close()
        let running = try relay(["in", "b", "--stream", "D", "--consumer", "d", "--batch", "97"])
        let session = try NatsSession(url: server.url, window: 1)
        var floor: UInt64 = 0, looks = 0
        let deadline = Date().addingTimeInterval(60)
        while floor < total, Date() < deadline {
            floor = try session.consumerState(stream: "D", durable: "d")?.acknowledgedFloor ?? 0
            let durable = try directory.status(of: "b").ring?.durable ?? 0
            #expect(durable >= floor, "acknowledged through stream sequence \(floor), durable below item \(durable)")
            if durable < floor { break }
            looks += 1
        }
        running.kill(SIGTERM)
        running.wait()
        #expect(floor == total, "after \(looks) looks")
        try expectEveryItemOnceInOrder("b", total: total)
    }

    @Test func theInRelaysJournalIsCheckedAsInput() throws {
        try directory.createBuffer("a", itemSize: 8, length: 1000).close()
        var writer = try directory.takeOver("a")
        try writer.push(contentsOf: 0..<1000)
        writer.close()
        #expect(try run(["out", "a", "--stream", "G", "--subject", "g.a", "--once"]) == 0)
        try directory.createBuffer("b", itemSize: 8, length: 1000, policy: .block).close()
        let journal = directory.ringPath(of: "b") + ".in-g"
        // A symlink planted where the journal goes is refused, and its target left alone.
        let target = data + "/elsewhere"
        #expect(FileManager.default.createFile(atPath: target, contents: Data("keep".utf8)))
        try FileManager.default.createSymbolicLink(atPath: journal, withDestinationPath: target)
        #expect(try run(["in", "b", "--stream", "G", "--consumer", "g", "--once"]) == 1)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep")
        try FileManager.default.removeItem(atPath: journal)
        // A journal damaged after a first pass: reported, ignored, and the consumer (everything
        // acknowledged) delivers nothing again.
        #expect(try run(["in", "b", "--stream", "G", "--consumer", "g", "--once"]) == 0)
        let handle = try #require(FileHandle(forUpdatingAtPath: journal))
        try handle.seek(toOffset: 600)
        handle.write(Data([0xFF, 0xEE]))
        try handle.close()
        #expect(try run(["in", "b", "--stream", "G", "--consumer", "g", "--once"]) == 0)
        try expectEveryItemOnceInOrder("b", total: 1000)
        // The consumer deleted behind the relay's back: the journal says where the ring stands.
        let session = try NatsSession(url: server.url, window: 1)
        try session.resetConsumer(stream: "G", durable: "g", subject: "g.a", start: nil)
        #expect(try run(["in", "b", "--stream", "G", "--consumer", "g", "--once"]) == 0)
        try expectEveryItemOnceInOrder("b", total: 1000)
    }

    /// A journal with a valid checksum whose numbers no relay writes (a checksum is no proof
    /// against whoever computes it): sequences that do not grow, a resume point beyond the
    /// stream, the largest sequence there is (whose successor overflowed). Each is reported and
    /// ignored, and delivery goes on, none twice.
    @Test func aJournalThatLiesIsIgnored() throws {
        try filledBuffer("a", count: 10)
        #expect(try run(["out", "a", "--stream", "H", "--subject", "h.a", "--once"]) == 0)
        try directory.createBuffer("b", itemSize: 8, length: 100, policy: .block).close()
        #expect(try run(["in", "b", "--stream", "H", "--consumer", "h", "--once"]) == 0)
        let journal = try InJournal(path: directory.ringPath(of: "b") + ".in-h")
        let entry = try #require(try journal.read())
        #expect(entry.sequences.last == 10)
        let lies: [InJournal.Entry] = [
            .init(identity: entry.identity, ringStart: 10, before: .max, sequences: []),
            .init(identity: entry.identity, ringStart: 10, before: 1_000_000, sequences: []),
            .init(identity: entry.identity, ringStart: 8, before: 0, sequences: [9, 3]),
        ]
        for (round, lie) in lies.enumerated() {
            try journal.write(lie)
            #expect(try run(["in", "b", "--stream", "H", "--consumer", "h", "--once"], log: "lie-\(round).log") == 0)
            #expect(lines("lie-\(round).log").contains { $0.contains("journal") }, "\(lines("lie-\(round).log"))")
        }
        var writer = try directory.takeOver("a")
        try writer.push(contentsOf: 10..<15 as Range<UInt64>)
        writer.close()
        #expect(try run(["out", "a", "--stream", "H", "--subject", "h.a", "--once"]) == 0)
        #expect(try run(["in", "b", "--stream", "H", "--consumer", "h", "--once"]) == 0)
        try expectEveryItemOnceInOrder("b", total: 15)
    }

    @Test func theServerRestartedMidStreamLosesNothing() throws {
        let total: UInt64 = 150_000
        try filledBuffer("a", count: total)
        let running = try relay(["out", "a", "--stream", "R", "--subject", "r.a"])
        let deadline = Date().addingTimeInterval(60)
        while (try? streamCount("R")) ?? 0 < total / 3, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        server.kill()
        Thread.sleep(forTimeInterval: 0.5)
        try server.start()
        while (try? streamCount("R")) ?? 0 < total, Date() < deadline.addingTimeInterval(60) { Thread.sleep(forTimeInterval: 0.05) }
        running.kill(SIGTERM)                            // ends cleanly, cursor committed
        #expect(running.wait() == 0)
        #expect(try streamCount("R") == total)
        #expect(try directory.status(of: "a").ring?.readers.first?.position == total)
    }

    @Test func theServerRestartedUnderAnInRelayLosesAndDuplicatesNothing() throws {
        let total: UInt64 = 150_000
        try filledBuffer("a", count: total)
        #expect(try run(["out", "a", "--stream", "V", "--subject", "v.a", "--once"]) == 0)
        try directory.createBuffer("b", itemSize: 8, length: Int(total), policy: .block).close()
        let running = try relay(["in", "b", "--stream", "V", "--consumer", "v"])
        let deadline = Date().addingTimeInterval(60)
        func written() -> UInt64 { (try? directory.status(of: "b").ring?.written) ?? 0 }
        while written() < total / 3, Date() < deadline { Thread.sleep(forTimeInterval: 0.002) }
        server.kill()
        let atKill = written()
        try server.start()
        while written() < total, Date() < deadline.addingTimeInterval(60) { Thread.sleep(forTimeInterval: 0.05) }
        running.kill(SIGTERM)                            // ends cleanly
        #expect(running.wait() == 0)
        #expect(atKill < total, "the server was killed with \(atKill) of \(total) items pushed")
        try expectEveryItemOnceInOrder("b", total: total)
    }

    /// A stop while the ring is full (a `block` buffer whose named reader does not read) ends
    /// the relay at once, in the middle of a batch; restarted, it pushes the rest, none twice.
    @Test func anInRelayStoppedWhileTheRingIsFullEndsAndLosesNothing() throws {
        let total: UInt64 = 5_000
        try filledBuffer("a", count: total)
        #expect(try run(["out", "a", "--stream", "F", "--subject", "f.a", "--once"]) == 0)
        try directory.createBuffer("b", itemSize: 8, length: 1000, policy: .block).close()
        var slow = try directory.openReader("b", named: "slow")
        let running = try relay(["in", "b", "--stream", "F", "--consumer", "f"])
        let deadline = Date().addingTimeInterval(60)
        while (try? directory.status(of: "b").ring?.written) ?? 0 < 1000, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        running.kill(SIGTERM)                            // while the push waits for room
        #expect(ended(running, within: 10), "the relay did not end within 10 s of SIGTERM")
        #expect(running.termination == .exit(0))
        var first: [UInt64] = []
        while let value = try slow.popItem() { first.append(value) }
        #expect(first == Array(0..<1000))
        slow.close()
        try directory.removeReader("slow", of: "b")
        #expect(try run(["in", "b", "--stream", "F", "--consumer", "f", "--once"]) == 0)
        #expect(try directory.status(of: "b").ring?.written == total)   // none lost, none twice
        var rest: [UInt64] = []
        var reader = try directory.openReader("b")
        while let value = try reader.popItem() { rest.append(value) }
        #expect(rest == Array(total - 1000 ..< total))
    }

    @Test func messagesAndTypedItemsEndToEnd() throws {
        var logs = try directory.createMessageBuffer("logs", capacity: 1 << 17, maxMessageSize: 1000)   // holds all 500 (68 KiB of records)
        for i in 0..<500 { try logs.push("message \(i) " + String(repeating: "x", count: i % 200)) }
        logs.close()
        #expect(try run(["out", "logs", "--stream", "M", "--subject", "m.logs", "--once"]) == 0)
        #expect(try run(["in", "logs-copy", "--stream", "M", "--consumer", "m", "--once"]) == 0)
        var copy = try directory.openMessageReader("logs-copy")
        var texts: [String] = []
        while let message = try copy.pop() { texts.append(message.text ?? "") }
        #expect(texts.count == 500 && texts[7] == "message 7 " + String(repeating: "x", count: 7))
        #expect(try directory.record(of: "logs-copy").maxMessageSize == 1000)

        var ticks = try directory.createBuffer("ticks", layout: ItemLayout("time:u64,price:f64,qty:u32"), length: 64)
        let layout = try ItemLayout("time:u64,price:f64,qty:u32")
        for i in 0..<10 { try ticks.push(bytes: try layout.encode(json: "{\"time\":\(i),\"price\":\(Double(i) / 2),\"qty\":\(i * 3)}")) }
        ticks.close()
        #expect(try run(["out", "ticks", "--stream", "T", "--subject", "t.ticks", "--once"]) == 0)
        #expect(try run(["in", "ticks-copy", "--stream", "T", "--consumer", "t", "--once"]) == 0)
        #expect(try directory.record(of: "ticks-copy").itemLayout == layout)           // created from the headers
        var reader = try directory.openReader("ticks-copy")
        let third = try #require(try reader.popBytes().flatMap { _ in try reader.popBytes() }.flatMap { _ in try reader.popBytes() })
        #expect(third.withUnsafeBytes { layout.json(of: $0) } == "{\"time\":2,\"price\":1.0,\"qty\":6}")
    }
}
