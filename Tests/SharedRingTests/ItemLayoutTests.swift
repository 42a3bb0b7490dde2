import Foundation
import GRDB
import Testing
import TestSupport
@testable import SharedRing

/// Buffers that record what their items are (format version 3): field layouts, type names and
/// alignments, in the ring file and the registry, and the mismatches they make visible.
@Suite struct ItemLayoutTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    struct Tick: DescribedItem, Equatable {
        var time: UInt64
        var price: Double
        var qty: UInt32
        var sym: InlineArray<4, UInt8>
        static let itemFields: [ItemField<Tick>] = [.init("time", \.time), .init("price", \.price), .init("qty", \.qty), .init("sym", chars: \.sym)]

        static func == (a: Tick, b: Tick) -> Bool {
            a.time == b.time && a.price == b.price && a.qty == b.qty && (0..<4).allSatisfy { a.sym[$0] == b.sym[$0] }
        }
    }

    /// Same size and alignment as `Tick`, another name.
    struct Quote: BitwiseCopyable { var a: UInt64; var b: Double; var c: UInt64 }

    /// Same fields' types as `Tick`, another name for one of them.
    struct Renamed: DescribedItem {
        var time: UInt64
        var price: Double
        var size: UInt32
        var sym: InlineArray<4, UInt8>
        static let itemFields: [ItemField<Renamed>] = [.init("time", \.time), .init("price", \.price), .init("size", \.size), .init("sym", chars: \.sym)]
        static let itemTypeName = "Tick"
    }

    /// Declares only some of its fields.
    struct Partial: DescribedItem {
        var a: UInt64
        var b: UInt32
        static let itemFields: [ItemField<Partial>] = [.init("a", \.a)]
    }

    @Test func aDescribedTypeRecordsItsFieldsNameAndAlignmentEverywhere() throws {
        var writer = try directory.createBuffer("ticks", of: Tick.self, length: 8, policy: .overwrite, tetherTimeout: .zero, integrity: .unchecked)
        let tick = Tick(time: 1, price: 2.5, qty: 3, sym: [65, 66, 67, 0])
        try writer.push(tick)
        let record = try directory.record(of: "ticks")
        #expect(record.itemSize == 24 && record.formatVersion == 3)
        #expect(record.itemTypeName == "Tick" && record.itemAlignment == 8)
        #expect(record.itemLayout?.description == "time:u64,price:f64,qty:u32,sym:char4")
        let ring = try #require(try directory.status(of: "ticks").ring)
        #expect(ring.itemLayout == record.itemLayout && ring.itemTypeName == "Tick" && ring.formatVersion == 3)
        var reader = try directory.openReader("ticks", of: Tick.self)
        #expect(try reader.pop() == tick)
        let bytes = try directory.openReader("ticks")
        #expect(bytes.itemLayout?.fields.map(\.offset) == [0, 8, 16, 20])
        // Scripts read the same fields from the registry.
        let queue = try DatabaseQueue(path: directory.path + "/registry.sqlite")
        let names = try queue.read { db in
            try String.fetchAll(db, sql: "SELECT json_extract(value, '$.name') FROM buffers, json_each(buffers.fields) WHERE buffers.name = 'ticks'")
        }
        #expect(names == ["time", "price", "qty", "sym"])
    }

    @Test func aLayoutFromASpecMakesAnUntypedBufferWithFields() throws {
        let layout = try ItemLayout("time:u64,price:f64,qty:u32")
        #expect(layout.size == 24 && layout.alignment == 8)
        #expect(layout.json == #"[{"name":"time","type":"u64","offset":0},{"name":"price","type":"f64","offset":8},{"name":"qty","type":"u32","offset":16}]"#)
        let writer = try directory.createBuffer("spec", layout: layout, length: 4)
        #expect(writer.itemSize == 24 && writer.itemLayout == layout && writer.itemTypeName == nil)
        // A Swift type with the same fields (and any name) reads it; one with other fields does not.
        struct Plain: DescribedItem {
            var time: UInt64; var price: Double; var qty: UInt32
            static let itemFields: [ItemField<Plain>] = [.init("time", \.time), .init("price", \.price), .init("qty", \.qty)]
        }
        _ = try directory.openReader("spec", of: Plain.self)
        _ = try directory.openReader("spec", of: Quote.self)        // declares nothing, so only the size and alignment count
        #expect(try ItemLayout([("a", .u8), ("b", .f64), ("c", .chars(3))]).description == "a:u8,b:f64,c:char3")
    }

    @Test func anotherTypeNameOrOtherFieldsAreATypeMismatchNamingBoth() throws {
        try directory.createBuffer("ticks", of: Tick.self, length: 8).close()
        do {
            _ = try directory.openReader("ticks", of: Quote.self)
            Issue.record("Quote opened a buffer of Ticks")
        } catch {
            #expect(error.code == .typeMismatch)
            #expect(error.message.contains("Tick items of 24 bytes") && error.message.contains("Quote is Quote items of 24 bytes"), "\(error.message)")
        }
        do {
            _ = try directory.openReader("ticks", of: Renamed.self, named: "r")
            Issue.record("other fields were accepted")
        } catch {
            #expect(error.code == .typeMismatch)
            #expect(error.message.contains("qty:u32") && error.message.contains("size:u32"), "\(error.message)")
        }
        expectError(.typeMismatch) { _ = try directory.takeOver("ticks", of: Quote.self) }
        #expect(try directory.status(of: "ticks").ring?.readers.isEmpty == true)   // nothing registered
        _ = try directory.takeOver("ticks", of: Tick.self)
    }

    @Test func aDeclarationThatDoesNotDescribeItsTypeIsRefused() throws {
        do {
            _ = try directory.createBuffer("partial", of: Partial.self, length: 4)
            Issue.record("a partial declaration was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("Partial") && error.message.contains("declare every stored property"), "\(error.message)")
        }
        #expect(try directory.buffers().isEmpty)
    }

    @Test func plainBuffersWithoutCheckWordsStayVersionTwo() throws {
        try directory.createBuffer("plain", itemSize: 24, length: 4, integrity: .unchecked).close()
        let record = try directory.record(of: "plain")
        #expect(record.formatVersion == 2 && record.itemLayout == nil && record.itemTypeName == nil && record.itemAlignment == nil)
        #expect(try directory.status(of: "plain").ring?.formatVersion == 2)
        _ = try directory.openReader("plain", of: Tick.self)       // a version-2 buffer of the right size says nothing against it
    }

    // MARK: The registry is input

    @Test(arguments: [
        ("fields", #"'[{"name":"time","type":"u64","offset":0},{"name":"price","type":"f64","offset":8},{"name":"size","type":"u32","offset":16},{"name":"sym","type":"char4","offset":20}]'"#, "describe its items differently"),
        ("fields", "'not json'", "damaged"),
        ("fields", #"'[{"name":"a","type":"u64","offset":0}]'"#, "not its item size"),
        ("fields", "42", "damaged"),
        ("type_name", "'Quote'", "describe its items differently"),
        ("type_name", "''", "damaged"),
        ("item_alignment", "16", "aligned to 8 bytes, not the 16"),
        ("item_alignment", "2.5", "damaged"),
    ])
    func aDoctoredRowIsADamagedBufferNotATrap(column: String, value: String, mention: String) throws {
        try directory.createBuffer("ticks", of: Tick.self, length: 8).close()
        let queue = try DatabaseQueue(path: directory.path + "/registry.sqlite")
        try queue.write { db in try db.execute(sql: "UPDATE buffers SET \(column) = \(value) WHERE name = 'ticks'") }
        do {
            _ = try directory.openReader("ticks")
            Issue.record("a doctored row was accepted")
        } catch {
            #expect(error.code == .corrupted)
            #expect(error.message.contains(mention), "\(error.message)")
        }
    }
}
