import Foundation
import GRDB
import SharedRing
import SharedRingCommon
import SharedRingProtocol
import SharedRingRegistry

/// A data directory where inputs are tried, one at a time: the ring templates inputs are laid
/// over, a registry, and a sentinel buffer that no input may touch. Each input replaces the
/// buffer `fuzz` (its ring file and its registry row) and leaves everything else as it was.
public final class FuzzWorkspace {
    /// The workspace's own directory (removed with the workspace); the data directory is in it.
    public let root: String
    let directory: DataDirectory
    let registry: Registry
    /// Real ring files, made by the library, that inputs are laid over.
    public private(set) var templates: [RingTemplate] = []
    /// The bytes of `sentinel.ring`, which no input may change.
    private var sentinel: [UInt8] = []
    /// A second connection to the registry, for rows the library would never write.
    private let rawRegistry: DatabaseQueue

    static let bufferName = "fuzz"
    static let sentinelName = "sentinel"
    /// The files the data directory may hold after any input.
    static let expectedEntries: Set<String> = ["registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm", "registry.lock",
                                               "fuzz.ring", "sentinel.ring"]

    /// Creates a workspace in a new directory under `parent` (default: `$TMPDIR`, else /tmp)
    /// and builds its templates.
    public init(under parent: String? = nil) throws {
        let base = parent ?? ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/cbuff-fuzz-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw FuzzSetupError("cannot create a directory under \(base)") }
        let root = String(cString: created)
        let directory = DataDirectory(path: root + "/data", lockTimeout: .seconds(2))
        do {
            try directory.createBuffer(Self.sentinelName, itemSize: 8, length: 4).close()
            let trust = try FileTrust.verify(directory: directory.path, acceptingGroupDirectory: false)
            guard let registry = try Registry.open(trust, creating: false, lockTimeoutNanos: 2_000_000_000) else {
                throw FuzzSetupError("the registry of \(directory.path) is missing after a create")
            }
            let rawRegistry = try DatabaseQueue(path: directory.path + "/" + Registry.fileName)
            try rawRegistry.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA ignore_check_constraints = ON") }
            let templates = try RingTemplate.build(in: directory)
            var writer = try directory.takeOver(Self.sentinelName)
            for value in UInt64(1)...6 { try writer.push(value) }
            writer.close()
            sentinel = try Self.contents(directory.ringPath(of: Self.sentinelName))
            self.registry = registry
            self.rawRegistry = rawRegistry
            self.templates = templates
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
        self.root = root
        self.directory = directory
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Removes the workspace's directory (for a process that ends without releasing it).
    public func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }

    static func contents(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    var ringPath: String { directory.ringPath(of: Self.bufferName) }

    /// The row `place` registered last (nil once something else may have changed the rows).
    private var placedRow: BufferRow?

    /// Makes `bytes` the ring file of buffer `fuzz`, registered with `row`.
    func place(_ bytes: [UInt8], row: BufferRow) throws {
        if row != placedRow {
            placedRow = nil
            try registry.write("replace the fuzzed buffer") { (transaction: RegistryTransaction) throws(CBuffFailure) in
                try transaction.delete(named: Self.bufferName)
                try transaction.insert(row, writerPID: 1, writerStartTime: nil)
            }
            placedRow = row
        }
        try write(bytes)
    }

    /// Makes `bytes` the ring file of buffer `fuzz`, a new file (a writer of the last input's
    /// file must not see this one's bytes).
    func write(_ bytes: [UInt8]) throws {
        _ = unlink(ringPath)
        let fd = open(ringPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FuzzSetupError("cannot create \(ringPath): errno \(errno)") }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw FuzzSetupError("cannot write \(ringPath): errno \(errno)") }
    }

    /// Checks what no input may do beyond the file under test: change the sentinel buffer,
    /// leave other files in the data directory, or change the ring file's size.
    func checkSurroundings(ringSize: Int?, _ report: inout FuzzReport) {
        let sentinelNow = (try? Self.contents(directory.ringPath(of: Self.sentinelName))) ?? []
        report.check(sentinelNow == sentinel, "the sentinel buffer's ring file changed")
        let entries = Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        report.check(entries.isSubset(of: Self.expectedEntries), "the data directory holds \(entries.subtracting(Self.expectedEntries).sorted())")
        if let ringSize, let attributes = try? FileManager.default.attributesOfItem(atPath: ringPath),
           let size = attributes[.size] as? Int {
            report.check(size == ringSize, "the ring file is \(size) bytes after the input, \(ringSize) before")
        }
    }

    // MARK: Raw registry rows

    /// The `buffers` row of the buffer `fuzz` as SQLite holds it, one value per column.
    func rawRow() throws -> [(column: String, value: DatabaseValue)] {
        try rawRegistry.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM buffers WHERE name = ?", arguments: [Self.bufferName]) else { return [] }
            return row.columnNames.map { ($0, row[$0] as DatabaseValue) }
        }
    }

    /// Replaces every row but the sentinel's by one of `values`, bypassing CHECK constraints
    /// (as a person with sqlite3 may). False if SQLite refuses it (NOT NULL, UNIQUE).
    func replaceRows(with values: [(column: String, value: RawValue)]) -> Bool {
        placedRow = nil
        let columns = values.map { "\"\($0.column)\"" }.joined(separator: ", ")
        let placeholders = values.map { $0.value.isTextFromBytes ? "CAST(? AS TEXT)" : "?" }.joined(separator: ", ")
        do {
            try rawRegistry.inTransaction { db in
                try db.execute(sql: "DELETE FROM buffers WHERE name IS NOT ?", arguments: [Self.sentinelName])
                try db.execute(sql: "INSERT INTO buffers (\(columns)) VALUES (\(placeholders))",
                               arguments: StatementArguments(values.map { $0.value.databaseValue }))
                return .commit
            }
            return true
        } catch {
            return false
        }
    }

    /// Removes every row but the sentinel's.
    func clearRows() {
        _ = try? rawRegistry.write { db in
            try db.execute(sql: "DELETE FROM buffers WHERE name IS NOT ?", arguments: [Self.sentinelName])
        }
    }
}

/// A workspace that could not be set up (not a finding: the fuzzer stops).
struct FuzzSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A value for one registry column, as an input says it.
enum RawValue {
    case value(DatabaseValue)
    /// Bytes stored as TEXT without being valid UTF-8 (`CAST(x'…' AS TEXT)`).
    case textFromBytes([UInt8])

    var isTextFromBytes: Bool {
        if case .textFromBytes = self { true } else { false }
    }

    var databaseValue: DatabaseValue {
        switch self {
        case .value(let value): value
        case .textFromBytes(let bytes): Data(bytes).databaseValue
        }
    }
}
