internal import SharedRingCommon

/// The fields of a buffer's items, in C layout (each field at a multiple of its alignment, the
/// whole padded to the largest): what lets the CLI (`--fields`, `--format jsonl`) and programs in
/// other languages read and write typed items. A buffer created with one records it in its ring
/// file and its registry row, and `cbuff inspect` shows it.
///
/// ```swift
/// let layout = try ItemLayout("time:u64,price:f64,qty:u32")   // 24 bytes: offsets 0, 8, 16
/// var ticks = try directory.createBuffer("ticks", layout: layout, length: 4096)
/// ```
///
/// Field types: `u8`–`u64`, `i8`–`i64`, `f32`, `f64` (little-endian, IEEE 754), `charN` (N
/// bytes of UTF-8 text, NUL-padded) and `bytesN` (N opaque bytes). A Swift type declares its
/// fields with ``DescribedItem``.
public struct ItemLayout: Sendable, Hashable, CustomStringConvertible {
    let storage: FieldLayout

    init(_ storage: FieldLayout) {
        self.storage = storage
    }

    /// Parses a spec: `name:type` pairs separated by commas, as `cbuff create --fields` takes.
    ///
    /// - Throws: ``CBuffError/Code/invalidArgument`` naming the field at fault (an unknown type,
    ///   a name that is not 1–23 letters, digits or underscores, a repeated name, more than 14
    ///   fields, the reserved name `sequence`).
    public init(_ spec: String) throws(CBuffError) {
        storage = try lifted { () throws(CBuffFailure) in try FieldLayout(parsing: spec) }
    }

    /// Lays out `fields` in order by C's rule.
    public init(_ fields: [(name: String, type: FieldType)]) throws(CBuffError) {
        storage = try lifted { () throws(CBuffFailure) in try FieldLayout(declaring: fields.map { ($0.name, $0.type.storage) }) }
    }

    /// One field: its name, type and byte offset in the item.
    public struct Field: Sendable, Hashable {
        public let name: String
        public let type: FieldType
        public let offset: Int
    }

    /// A field's type: a number, or an array of bytes or characters.
    public struct FieldType: Sendable, Hashable, CustomStringConvertible {
        let storage: FieldLayout.FieldType

        init(_ storage: FieldLayout.FieldType) {
            self.storage = storage
        }

        public static let u8 = FieldType(.init(.u8))
        public static let u16 = FieldType(.init(.u16))
        public static let u32 = FieldType(.init(.u32))
        public static let u64 = FieldType(.init(.u64))
        public static let i8 = FieldType(.init(.i8))
        public static let i16 = FieldType(.init(.i16))
        public static let i32 = FieldType(.init(.i32))
        public static let i64 = FieldType(.init(.i64))
        public static let f32 = FieldType(.init(.f32))
        public static let f64 = FieldType(.init(.f64))
        /// `charN`: `count` bytes of UTF-8 text, NUL-padded.
        public static func chars(_ count: Int) -> FieldType { FieldType(.init(.chars, count: count)) }
        /// `bytesN`: `count` opaque bytes.
        public static func bytes(_ count: Int) -> FieldType { FieldType(.init(.bytes, count: count)) }

        /// Parses `u64`, `char8`, `bytes16`…; nil for anything else.
        public init?(_ text: String) {
            guard let storage = FieldLayout.FieldType(text) else { return nil }
            self.storage = storage
        }

        /// Bytes the field takes.
        public var size: Int { storage.size }
        /// The field's alignment: its element's width.
        public var alignment: Int { storage.alignment }
        /// Elements: N for `charN` and `bytesN`, else 1.
        public var count: Int { storage.count }
        /// `u64`, `char8`, `bytes16`…
        public var description: String { storage.description }
    }

    /// The fields, in offset order.
    public var fields: [Field] {
        storage.fields.map { Field(name: $0.name, type: FieldType($0.type), offset: $0.offset) }
    }

    /// The item's size: the end of the last field, padded to ``alignment``.
    public var size: Int { storage.size }
    /// The largest alignment of a field.
    public var alignment: Int { storage.alignment }
    /// The spec that parses back to this layout: `time:u64,price:f64,qty:u32`.
    public var description: String { storage.description }
    /// The layout as JSON: `[{"name":"time","type":"u64","offset":0},…]` (the registry's
    /// `fields` column, `inspect --json`'s `fields`).
    public var json: String { storage.json }
}

/// A type whose fields are declared, so that its buffers record them: then the CLI and other
/// languages can read and write its items, and a reader whose declaration differs is refused.
///
/// ```swift
/// struct Tick: DescribedItem {
///     var time: UInt64
///     var price: Double
///     var qty: UInt32
///     static let itemFields: [ItemField<Tick>] = [.init("time", \.time), .init("price", \.price), .init("qty", \.qty)]
/// }
/// ```
///
/// The declaration is checked against `MemoryLayout` when a buffer of the type is created or
/// opened: every byte of the type but C's padding must belong to a declared field, at the offset
/// the key path gives.
public protocol DescribedItem: BitwiseCopyable {
    /// The fields, each from a stored property's key path.
    static var itemFields: [ItemField<Self>] { get }
    /// The name a buffer records (default: the type's name, `String(describing: Self.self)`).
    static var itemTypeName: String { get }
}

extension DescribedItem {
    public static var itemTypeName: String { String(describing: Self.self) }
}

/// One declared field of a ``DescribedItem``: a name and a stored property.
public struct ItemField<Item>: Sendable {
    let name: String
    let type: FieldLayout.FieldType
    /// Nil when the key path is not a stored property (a computed one has no offset).
    let offset: Int?

    /// A numeric field.
    public init<Value: FieldValue>(_ name: String, _ path: KeyPath<Item, Value>) {
        self.name = name
        type = Value.fieldType.storage
        offset = MemoryLayout<Item>.offset(of: path)
    }

    /// A `charN` field: `count` bytes of UTF-8 text, NUL-padded.
    public init<let count: Int>(_ name: String, chars path: KeyPath<Item, InlineArray<count, UInt8>>) {
        self.name = name
        type = FieldLayout.FieldType(.chars, count: count)
        offset = MemoryLayout<Item>.offset(of: path)
    }

    /// A `bytesN` field: `count` opaque bytes.
    public init<let count: Int>(_ name: String, bytes path: KeyPath<Item, InlineArray<count, UInt8>>) {
        self.name = name
        type = FieldLayout.FieldType(.bytes, count: count)
        offset = MemoryLayout<Item>.offset(of: path)
    }
}

/// A number a ``DescribedItem`` field may hold: the fixed-width integers, `Float` and `Double`.
public protocol FieldValue: BitwiseCopyable {
    static var fieldType: ItemLayout.FieldType { get }
}

extension UInt8: FieldValue { public static var fieldType: ItemLayout.FieldType { .u8 } }
extension UInt16: FieldValue { public static var fieldType: ItemLayout.FieldType { .u16 } }
extension UInt32: FieldValue { public static var fieldType: ItemLayout.FieldType { .u32 } }
extension UInt64: FieldValue { public static var fieldType: ItemLayout.FieldType { .u64 } }
extension Int8: FieldValue { public static var fieldType: ItemLayout.FieldType { .i8 } }
extension Int16: FieldValue { public static var fieldType: ItemLayout.FieldType { .i16 } }
extension Int32: FieldValue { public static var fieldType: ItemLayout.FieldType { .i32 } }
extension Int64: FieldValue { public static var fieldType: ItemLayout.FieldType { .i64 } }
extension Float: FieldValue { public static var fieldType: ItemLayout.FieldType { .f32 } }
extension Double: FieldValue { public static var fieldType: ItemLayout.FieldType { .f64 } }

extension ItemType {
    /// What a buffer of `Item`s records: its alignment, its name and, for a ``DescribedItem``,
    /// its fields, checked against its `MemoryLayout`.
    static func of<Item: BitwiseCopyable>(_ type: Item.Type) throws(CBuffFailure) -> ItemType {
        let described = Item.self as? any DescribedItem.Type
        let name = described.map { $0.itemTypeName } ?? String(describing: Item.self)
        let fields = try described.map { (type: any DescribedItem.Type) throws(CBuffFailure) in try declaredLayout(type) }
        return try ItemType(alignment: MemoryLayout<Item>.alignment, name: name, fields: fields)
    }

    private static func declaredLayout<Item: DescribedItem>(_ type: Item.Type) throws(CBuffFailure) -> FieldLayout {
        func invalid(_ why: String) -> CBuffFailure {
            CBuffFailure(.invalidArgument, "The fields \(Item.self) declares do not describe it: \(why).")
        }
        var fields: [FieldLayout.Field] = []
        for field in Item.itemFields {
            guard let offset = field.offset else { throw invalid("\"\(field.name)\" is not a stored property") }
            fields.append(FieldLayout.Field(name: field.name, type: field.type, offset: offset))
        }
        fields.sort { $0.offset < $1.offset }
        let layout: FieldLayout
        do { layout = try FieldLayout(fields: fields) } catch { throw invalid(error.message) }
        guard layout.size == MemoryLayout<Item>.stride, layout.alignment == MemoryLayout<Item>.alignment else {
            throw invalid("they make \(layout.size) bytes aligned to \(layout.alignment), where \(Item.self) takes \(MemoryLayout<Item>.stride) aligned to \(MemoryLayout<Item>.alignment) (declare every stored property)")
        }
        return layout
    }
}
