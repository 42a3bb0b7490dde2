import Foundation
import GRDB
import Testing
import TestSupport
@testable import SharedRing

/// Named readers: cursors kept in the ring file, at-least-once resumption, registration races,
/// liveness, removal, and the registry migration that records them.
@Suite(.serialized) struct NamedReaderTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    @Test func aNamedReaderResumesAfterWhatItConsumed() throws {
        var writer = try directory.createBuffer("n", itemSize: 8, length: 64)
        try writer.push(contentsOf: [0, 1, 2, 3, 4])
        var first = try directory.openReader("n", named: "worker")
        #expect(try first.popItem() == 0)
        #expect(try first.popItem() == 1)
        first.close()
        var again = try directory.openReader("n", named: "worker")
        #expect(again.readerName == "worker")
        #expect(try again.popMany(10) == [2, 3, 4])
        #expect(try again.popItem() == nil)   // acknowledges the batch
        again.close()
        try writer.push(5)
        var third = try directory.openReader("n", named: "worker", start: .latest)   // start ignored: it resumes
        #expect(try third.popMany(10) == [5])
        // An anonymous reader is unaffected and another named reader starts on its own.
        var other = try directory.openReader("n", named: "auditor")
        #expect(try other.popMany(10) == [0, 1, 2, 3, 4, 5])
    }

    @Test func aNamedReaderInUseIsBusyAndCannotBeRemovedUnlessForced() throws {
        _ = try directory.createBuffer("busy", itemSize: 8, length: 8)
        let reader = try directory.openReader("busy", named: "r")
        expectError(.readerBusy) { _ = try directory.openReader("busy", named: "r") }
        expectError(.readerBusy) { try directory.removeReader("r", of: "busy") }
        let status = try directory.status(of: "busy").ring?.readers
        #expect(status?.map(\.name) == ["r"] && status?.first?.alive == true && status?.first?.pid == getpid())
        reader.close()
        #expect(try eventually { try directory.status(of: "busy").ring?.readers.first?.alive == false })
        try directory.removeReader("r", of: "busy")
        #expect(try directory.status(of: "busy").ring?.readers.isEmpty == true)
        expectError(.notFound) { try directory.removeReader("r", of: "busy") }
    }

    @Test func theReaderTableHasTwentyFourPlacesAndSaysSoWhenFull() throws {
        _ = try directory.createBuffer("full", itemSize: 8, length: 8)
        for i in 0..<RingLayout.readerCapacity {
            try directory.openReader("full", named: "r\(i)").close()
        }
        do {
            _ = try directory.openReader("full", named: "one-too-many")
            Issue.record("a 25th named reader was registered")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("24 named readers"), "\(error)")
        }
        try directory.removeReader("r3", of: "full")
        try directory.openReader("full", named: "one-too-many").close()
        #expect(try directory.status(of: "full").ring?.readers.first { $0.name == "one-too-many" }?.slot == 3)
    }

    @Test(arguments: ["", "a/b", "..", String(repeating: "x", count: 45)])
    func badReaderNamesAreRefused(readerName: String) throws {
        _ = try directory.createBuffer("names", itemSize: 8, length: 8)
        expectError(.invalidArgument) { _ = try directory.openReader("names", named: readerName) }
    }

    @Test func readersAreRecordedInTheRegistryAndRemovedWithTheirBuffer() throws {
        try directory.createBuffer("reg", itemSize: 8, length: 8).close()
        try directory.openReader("reg", named: "alpha").close()
        let queue = try DatabaseQueue(path: dir + "/registry.sqlite")
        #expect(try queue.read { try String.fetchAll($0, sql: "SELECT name FROM readers WHERE buffer = 'reg'") } == ["alpha"])
        try directory.removeBuffer("reg")
        #expect(try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM readers") } == 0)
    }

    /// A data directory made by the first schema version is upgraded in place, its rows kept.
    @Test func anOlderRegistryIsUpgradedInPlace() throws {
        let queue = try DatabaseQueue(path: dir + "/registry.sqlite")
        let first = try #require(RegistryMigration.all.first)
        try queue.write { db in
            try db.execute(sql: first.sql)
            try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            try db.execute(sql: "INSERT INTO grdb_migrations VALUES (?)", arguments: [first.identifier])
        }
        try queue.close()
        // A buffer created by the old version (its ring file made by this one).
        try directory.createBuffer("old", itemSize: 8, length: 8).close()
        let registry = try DataDirectory(path: dir).registry()
        #expect(try registry.appliedMigrations() == RegistryMigration.all.map(\.identifier))
        #expect(try registry.allRecords().map(\.name) == ["old"])
        try directory.openReader("old", named: "new-reader").close()
    }

    /// A named reader killed with SIGKILL and restarted loses nothing, and re-reads only the
    /// item it had been given last (it never asked for the next one, so never acknowledged it).
    @Test func aKilledNamedReaderRestartsWithNoLossAndOneReRead() throws {
        var writer = try directory.createBuffer("kill", itemSize: 16, length: 4096)
        for sequence in UInt64(0)..<1000 { try writer.push(bytes: TestItem.bytes(sequence, size: 16)) }
        let first = try ChildProcess("cbuff-test-agent", ["read-named", dir, "kill", "consumer", "300", "hang"])
        var seen: [UInt64] = []
        while seen.count < 300, let line = first.readLine() {
            seen.append(UInt64(line.split(separator: " ")[1])!)
        }
        #expect(seen == Array(0..<300))
        first.kill()
        #expect(first.wait() == 128 + SIGKILL)
        #expect(try directory.status(of: "kill").ring?.readers.first?.alive == false)

        let second = try ChildProcess("cbuff-test-agent", ["read-named", dir, "kill", "consumer", "10"])
        var resumed: [UInt64] = []
        while let line = second.readLine() { resumed.append(UInt64(line.split(separator: " ")[1])!) }
        #expect(second.wait() == 0)
        #expect(resumed == Array(299..<309))
        #expect(try directory.status(of: "kill").ring?.readers.first?.position == 309)
    }

    /// Eight processes register eight readers at the same moment, and two more race for one
    /// name: every reader gets its own record, and exactly one of the two racers is refused.
    @Test func processesRegisteringAtOnceNeverShareARecord() throws {
        try directory.createBuffer("race", itemSize: 8, length: 8).close()
        let names = (0..<8).map { "reader-\($0)" } + ["twin", "twin"]
        let agents = try names.map { try ChildProcess("cbuff-test-agent", ["register", dir, "race", $0]) }
        for agent in agents { agent.send("go") }
        let answers = agents.map { $0.readLine() ?? "no answer" }
        for agent in agents { agent.closeInput() }
        for agent in agents { #expect(agent.wait() == 0) }
        let slots = answers.prefix(8).compactMap { $0.hasPrefix("slot ") ? Int($0.dropFirst(5)) : nil }
        #expect(slots.count == 8 && Set(slots).count == 8, "\(answers)")
        let twins = answers.suffix(2)
        #expect(twins.filter { $0.hasPrefix("slot ") }.count == 1 && twins.contains("refused reader busy"), "\(answers)")
        let recorded = try directory.status(of: "race").ring?.readers.map(\.name).sorted()
        #expect(recorded == (names.prefix(8) + ["twin"]).sorted())
    }
}
