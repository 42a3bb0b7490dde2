import Foundation
import GRDB
import Testing
import TestSupport
@testable import SharedRing
import SharedRingProtocol
import SharedRingRegistry

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
        #expect(try registry.allRows().map(\.name) == ["old"])
        try directory.openReader("old", named: "new-reader").close()
    }

}
