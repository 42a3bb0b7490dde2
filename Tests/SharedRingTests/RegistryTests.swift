import Foundation
import GRDB
import Testing
import TestSupport
@testable import SharedRing
import SharedRingRegistry

/// The registry: schema from migrations/, recorded and applied once, and clear errors for a
/// registry that is too new or not a database at all.
@Suite struct RegistryTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var registryPath: String { temporary.path + "/registry.sqlite" }

    init() throws { temporary = try TemporaryDirectory() }

    /// The embedded migrations are exactly the repository's migrations/*.sql, in order.
    @Test func embeddedMigrationsAreTheSQLFiles() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!files.isEmpty)
        #expect(RegistryMigration.all.map(\.identifier) == files.map { String($0.dropLast(4)) })
        for (migration, file) in zip(RegistryMigration.all, files) {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            #expect(migration.sql == text)
        }
    }

    @Test func migrationsAreRecordedAndTheSchemaHasTheDocumentedColumns() throws {
        _ = try directory.createBuffer("s", itemSize: 8, length: 4)
        let registry = try DataDirectory(path: temporary.path).registry()
        #expect(try registry.appliedMigrations() == RegistryMigration.all.map(\.identifier))
        let queue = try DatabaseQueue(path: registryPath)
        let columns = try queue.read { db in try db.columns(in: "buffers").map(\.name) }
        for column in ["name", "item_size", "length", "policy", "file", "format_version", "created_at", "writer_pid", "writer_start_time", "writer_since"] {
            #expect(columns.contains(column), "missing column \(column)")
        }
        let row = try queue.read { db in try Row.fetchOne(db, sql: "SELECT * FROM buffers WHERE name = 's'") }
        #expect(row?["item_size"] == 8)
        #expect(row?["length"] == 4)
        #expect(row?["policy"] == "overwrite")
        #expect(row?["file"] == "s.ring")
        #expect(row?["writer_pid"] == Int(getpid()))
        let mode = try queue.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }

    @Test func aRegistryFromANewerVersionIsRefused() throws {
        try directory.createBuffer("present", itemSize: 8, length: 4).close()   // creates and migrates the registry
        let queue = try DatabaseQueue(path: registryPath)
        try queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_from_the_future')") }
        do {
            _ = try directory.buffers()
            Issue.record("a superseded registry was accepted")
        } catch {
            #expect(error.code == .corrupted)
            #expect(error.message.contains("newer version"), "\(error)")
        }
    }

    @Test func aRegistryFullOfGarbageIsAClearError() throws {
        let garbage = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        try Data(garbage).write(to: URL(fileURLWithPath: registryPath))
        do {
            _ = try directory.createBuffer("x", itemSize: 8, length: 4)
            Issue.record("a garbage registry was accepted")
        } catch {
            #expect(error.code == .corrupted, "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.ringPath(of: "x")))
    }

    @Test func aDataDirectoryThatIsAFileIsAClearError() throws {
        let file = temporary.path + "/plain-file"
        try Data([1]).write(to: URL(fileURLWithPath: file))
        expectError(.invalidArgument) { _ = try DataDirectory(path: file).createBuffer("x", itemSize: 8, length: 4) }
        // Not "no buffers" or "not found": a mistyped --dir must not look like an empty directory.
        expectError(.invalidArgument) { _ = try DataDirectory(path: file).buffers() }
        expectError(.invalidArgument) { _ = try DataDirectory(path: file).openReader("x") }
        // A directory the caller named that does not exist is "not found" (a typo must not
        // look like an empty directory); only the per-user default may not exist yet.
        expectError(.notFound) { _ = try DataDirectory(path: temporary.path + "/not-yet").buffers() }
        expectError(.notFound) { _ = try DataDirectory(path: temporary.path + "/not-yet").openReader("x") }
        let unborn = DataDirectory(path: temporary.path + "/default-not-yet", access: .owner, lockTimeout: .seconds(1), isDefault: true)
        #expect(try unborn.buffers().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: unborn.path), "looking created nothing")
    }

    @Test func threadsOpeningAFreshDirectoryAtOnceAllSucceed() async throws {
        let path = temporary.path + "/fresh"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    var writer = try DataDirectory(path: path).createBuffer("t\(i)", itemSize: 8, length: 4)
                    try writer.push(UInt64(i))
                }
            }
            try await group.waitForAll()
        }
        let registry = try DataDirectory(path: path).registry()
        #expect(try registry.allRows().map(\.name) == (0..<8).map { "t\($0)" })
        #expect(try registry.appliedMigrations() == RegistryMigration.all.map(\.identifier))
    }
}
