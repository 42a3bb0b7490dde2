import Foundation
import GRDB
import SharedRing

// Registry rows: the `buffers` row of a buffer whose ring file is sound, with any column
// replaced by any SQLite value, as another program or a person with sqlite3 may leave it
// (CHECK constraints ignored; NOT NULL and UNIQUE are SQLite's own and hold). Every path that
// decodes rows (`BufferRow(row:)`) must give the row's buffer a `corrupted` error, or work.
//
// Input: a template selector byte (the ring file and its true row), then, column by column in
// the table's order, a tag and its value:
//
//   0 keep the true value   1 NULL   2 integer (8 bytes LE)   3 integer (1 byte, signed)
//   4 real (8 bytes LE)     5 text (length byte, UTF-8 bytes, invalid sequences replaced)
//   6 text of raw bytes (length byte, bytes: CAST(x'…' AS TEXT), not necessarily UTF-8)
//   7 blob (length byte, bytes)
//
// Columns after the input's end keep their true values.
extension FuzzWorkspace {
    /// The codes a step over a damaged row may end with: `corrupted` for the row, `notFound`
    /// and `invalidArgument` when its name is not one that can be looked up, `typeMismatch`
    /// when it says the other kind of buffer than its file holds.
    static let rowCodes: Set<CBuffError.Code> = [.corrupted, .notFound, .invalidArgument, .typeMismatch]

    func exerciseRow(_ input: [UInt8], _ report: inout FuzzReport) {
        let template = templates[Int(input.first ?? 0) & 0x0F % templates.count]
        let values: [(column: String, value: RawValue)]
        do {
            try place(template.bytes, row: template.row)
            values = Self.decodeRow(Array(input.dropFirst()), over: try rawRow())
        } catch {
            report.violation("the workspace could not take the input: \(error)")
            return
        }
        defer { clearRows() }
        guard replaceRows(with: values) else {
            report.steps.append("insert: refused by SQLite")
            return
        }
        // The name to look up: the row's, when it is text, else the file's.
        var name = Self.bufferName
        if let nameValue = values.first(where: { $0.column == "name" })?.value,
           case .string(let text) = nameValue.databaseValue.storage { name = text }
        let directory = self.directory
        let codes = Self.rowCodes
        report.step("list", allowing: codes) { report in
            for record in try directory.buffers() {
                report.check(record.itemSize >= 1 && record.length >= 2, "a record of item size \(record.itemSize) and length \(record.length)")
                _ = (record.file, record.formatVersion, record.itemLayout?.description, record.messageCapacity, record.holdsMessages)
            }
        }
        report.step("statuses", allowing: codes) { report in
            for status in try directory.statuses() { Self.inspect(status, &report) }
        }
        report.step("dead buffers", allowing: codes) { _ in _ = try directory.deadBuffers() }
        var holdsMessages = false
        report.step("record", allowing: codes) { _ in holdsMessages = try directory.record(of: name).holdsMessages }
        report.step("status", allowing: codes) { report in Self.inspect(try directory.status(of: name), &report) }
        report.step("open", allowing: codes) { report in
            if holdsMessages {
                var reader = try directory.openMessageReader(name)
                _ = try Self.drain(&reader, &report)
            } else {
                var reader = try directory.openReader(name)
                _ = try Self.drain(&reader, &report)
            }
        }
        report.step("take over", allowing: codes) { _ in
            if holdsMessages {
                var writer = try directory.takeOverMessages(name)
                _ = try writer.tryPush(Array([UInt8](arrayLiteral: 1, 2, 3).prefix(writer.maxMessageSize)))
                writer.close()
            } else {
                var writer = try directory.takeOver(name)
                _ = try writer.tryPush(1)
                writer.close()
            }
        }
        report.step("remove", allowing: codes) { report in
            try directory.removeBuffer(name, force: true)
            do {
                _ = try directory.record(of: name)
                report.violation("buffer \(name) is still registered after its removal")
            } catch let error as CBuffError where error.code == .notFound {
            }
        }
        checkSurroundings(ringSize: nil, &report)
    }

    /// The row an input describes over the true one (see the top of this file).
    static func decodeRow(_ input: [UInt8], over truth: [(column: String, value: DatabaseValue)]) -> [(column: String, value: RawValue)] {
        var reader = ByteReader(input)
        return truth.map { column, value in
            let replaced: RawValue
            switch reader.byte() {
            case nil, 0?: replaced = .value(value)
            case 1?: replaced = .value(.null)
            case 2?: replaced = .value(Int64(bitPattern: reader.le64()).databaseValue)
            case 3?: replaced = .value(Int64(Int8(bitPattern: reader.byte() ?? 0)).databaseValue)
            case 4?: replaced = .value(Double(bitPattern: reader.le64()).databaseValue)
            case 5?: replaced = .value(String(decoding: reader.run(), as: UTF8.self).databaseValue)
            case 6?: replaced = .textFromBytes(reader.run())
            default: replaced = .value(Data(reader.run()).databaseValue)
            }
            return (column, replaced)
        }
    }
}

/// Reads an input from the front; past its end, zeros and empty runs.
struct ByteReader {
    private let input: [UInt8]
    private var index = 0

    init(_ input: [UInt8]) { self.input = input }

    mutating func byte() -> UInt8? {
        guard index < input.count else { return nil }
        defer { index += 1 }
        return input[index]
    }

    mutating func le64() -> UInt64 {
        (0..<8).reduce(UInt64(0)) { value, shift in value | UInt64(byte() ?? 0) << (8 * shift) }
    }

    /// A run: a length byte, then that many bytes (fewer at the end of the input).
    mutating func run() -> [UInt8] {
        let count = Int(byte() ?? 0)
        let end = min(index + count, input.count)
        defer { index = end }
        return Array(input[index..<end])
    }
}
