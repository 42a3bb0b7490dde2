/// The fields of a typed item, in C layout: each field at the next offset that is a multiple of
/// its alignment (its width: 1, 2, 4 or 8; 1 for byte and character arrays), the whole padded to
/// the largest alignment. It is what lets the CLI and other languages read and write typed
/// items: `time:u64,price:f64,qty:u32` is 24 bytes, fields at 0, 8 and 16.
///
/// A layout is built from a spec (the CLI's `--fields`), from a declaration whose offsets it
/// computes, or from recorded fields (a ring file's header, a registry row, a Swift type's key
/// paths) whose offsets it checks against the rule: whatever the source, a `FieldLayout` obeys it.
package struct FieldLayout: Sendable, Hashable, CustomStringConvertible {
    /// A field's type. The raw value is the code the ring file's field records store.
    package enum Kind: UInt8, Sendable, CaseIterable {
        case u8 = 1, u16, u32, u64, i8, i16, i32, i64, f32, f64
        /// `bytesN`: N opaque bytes (JSON: lowercase hexadecimal).
        case bytes = 11
        /// `charN`: N bytes of UTF-8 text, NUL-padded (JSON: a string).
        case chars = 12

        /// Bytes per element, which is also the alignment.
        package var width: Int {
            switch self {
            case .u8, .i8, .bytes, .chars: 1
            case .u16, .i16: 2
            case .u32, .i32, .f32: 4
            case .u64, .i64, .f64: 8
            }
        }

        package var isArray: Bool { self == .bytes || self == .chars }

        var word: String {
            switch self {
            case .u8: "u8"
            case .u16: "u16"
            case .u32: "u32"
            case .u64: "u64"
            case .i8: "i8"
            case .i16: "i16"
            case .i32: "i32"
            case .i64: "i64"
            case .f32: "f32"
            case .f64: "f64"
            case .bytes: "bytes"
            case .chars: "char"
            }
        }
    }

    /// A field's type and element count: `u64` (count 1), `char8`, `bytes16`.
    package struct FieldType: Sendable, Hashable, CustomStringConvertible {
        package let kind: Kind
        package let count: Int

        package init(_ kind: Kind, count: Int = 1) {
            self.kind = kind
            self.count = count
        }

        package var size: Int { kind.width * count }
        package var alignment: Int { kind.width }
        package var description: String { kind.isArray ? "\(kind.word)\(count)" : kind.word }

        /// Parses `u64`, `f32`, `char8`, `bytes16`…; nil for anything else.
        package init?(_ text: some StringProtocol) {
            if let kind = Kind.allCases.first(where: { !$0.isArray && $0.word == text }) {
                self.init(kind)
                return
            }
            for kind in [Kind.chars, .bytes] where text.hasPrefix(kind.word) {
                let digits = text.dropFirst(kind.word.count)
                guard !digits.isEmpty, digits.allSatisfy({ ("0"..."9").contains($0) }), digits.first != "0",
                      digits.count <= 5, let count = Int(digits), count <= FieldLayout.maxArrayCount else { return nil }
                self.init(kind, count: count)
                return
            }
            return nil
        }
    }

    package struct Field: Sendable, Hashable {
        package let name: String
        package let type: FieldType
        package let offset: Int

        package init(name: String, type: FieldType, offset: Int) {
            self.name = name
            self.type = type
            self.offset = offset
        }
    }

    /// At most this many fields: what the ring file's header has room for.
    package static let maxFields = 14
    /// A field name is 1 to this many bytes of `[A-Za-z_][A-Za-z0-9_]*`.
    package static let maxNameBytes = 23
    /// The largest `charN`/`bytesN`.
    package static let maxArrayCount = 65_535
    /// The key JSON lines give the item's sequence number, so no field may have it.
    package static let reservedName = "sequence"

    package let fields: [Field]
    /// The item's size: the end of the last field, padded to ``alignment``.
    package let size: Int
    /// The largest field alignment.
    package let alignment: Int

    /// Lays out `declared` fields in order, computing each offset by C's rule.
    package init(declaring declared: [(name: String, type: FieldType)]) throws(CBuffFailure) {
        var offset = 0
        var fields: [Field] = []
        for (name, type) in declared {
            offset = Self.roundUp(offset, type.alignment)
            fields.append(Field(name: name, type: type, offset: offset))
            offset += type.size
        }
        try self.init(fields: fields)
    }

    /// Checks recorded fields (in offset order) against C's rule, and their names and types.
    package init(fields: [Field]) throws(CBuffFailure) {
        func invalid(_ why: String) -> CBuffFailure { CBuffFailure(.invalidArgument, "Invalid field layout: \(why).") }
        guard !fields.isEmpty else { throw invalid("it has no fields") }
        guard fields.count <= Self.maxFields else { throw invalid("it has \(fields.count) fields; a buffer records at most \(Self.maxFields)") }
        var end = 0
        var alignment = 1
        var names = Set<String>()
        for field in fields {
            try Self.validate(name: field.name)
            guard names.insert(field.name).inserted else { throw invalid("field \"\(field.name)\" appears twice") }
            guard field.type.count >= 1, field.type.count <= Self.maxArrayCount, field.type.kind.isArray || field.type.count == 1 else {
                throw invalid("field \"\(field.name)\" has \(field.type.count) elements")
            }
            let expected = Self.roundUp(end, field.type.alignment)
            guard field.offset == expected else {
                throw invalid("field \"\(field.name)\" is at offset \(field.offset), where C's layout puts it at \(expected) (fields in order, each at a multiple of its alignment, with no gap beyond that)")
            }
            end = expected + field.type.size
            alignment = max(alignment, field.type.alignment)
        }
        let size = Self.roundUp(end, alignment)
        guard size <= Limits.maxItemSize else { throw invalid("its items would be \(size) bytes; the most is \(Limits.maxItemSize)") }
        self.fields = fields
        self.size = size
        self.alignment = alignment
    }

    /// Parses a spec: `name:type` pairs separated by commas (`time:u64,price:f64,sym:char8`),
    /// spaces around either ignored.
    package init(parsing spec: String) throws(CBuffFailure) {
        var declared: [(name: String, type: FieldType)] = []
        for piece in spec.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = piece.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw CBuffFailure(.invalidArgument, "Invalid field \(JSONValue.quoted(String(piece))): write each field as name:type, fields separated by commas (time:u64,price:f64,sym:char8).")
            }
            guard let type = FieldType(parts[1]) else {
                throw CBuffFailure(.invalidArgument, "Field \"\(String(parts[0]).escapingControlCharacters)\" has an unknown type \(JSONValue.quoted(String(parts[1]))): use u8, u16, u32, u64, i8, i16, i32, i64, f32, f64, charN or bytesN (N from 1 to \(Self.maxArrayCount)).")
            }
            declared.append((String(parts[0]), type))
        }
        try self.init(declaring: declared)
    }

    /// The spec that parses back to this layout: `time:u64,price:f64,qty:u32`.
    package var description: String {
        fields.map { "\($0.name):\($0.type)" }.joined(separator: ",")
    }

    /// The layout as the registry's `fields` column and `inspect --json` hold it:
    /// `[{"name":"time","type":"u64","offset":0},…]`.
    package var json: String {
        "[" + fields.map { "{\"name\":\(JSONValue.quoted($0.name)),\"type\":\"\($0.type)\",\"offset\":\($0.offset)}" }.joined(separator: ",") + "]"
    }

    /// Reads ``json`` back, checking everything as ``init(fields:)`` does.
    package init(json text: String) throws(CBuffFailure) {
        func invalid(_ why: String) -> CBuffFailure { CBuffFailure(.invalidArgument, "Invalid field layout JSON: \(why).") }
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch { throw invalid(error.description) }
        guard case .array(let elements) = value else { throw invalid("it is not an array") }
        var fields: [Field] = []
        for element in elements {
            guard let members = element.members, members.count == 3,
                  case .string(let name)? = members.first(where: { $0.key == "name" })?.value,
                  case .string(let typeText)? = members.first(where: { $0.key == "type" })?.value,
                  case .number(let offsetText)? = members.first(where: { $0.key == "offset" })?.value else {
                throw invalid("each field must be an object of exactly \"name\", \"type\" and \"offset\"")
            }
            guard let type = FieldType(typeText) else { throw invalid("field \"\(name.escapingControlCharacters)\" has an unknown type") }
            guard let offset = Int(offsetText), offset >= 0 else { throw invalid("field \"\(name.escapingControlCharacters)\" has an invalid offset") }
            fields.append(Field(name: name, type: type, offset: offset))
        }
        try self.init(fields: fields)
    }

    /// Throws unless `name` is 1–23 bytes of `[A-Za-z_][A-Za-z0-9_]*` and not `sequence`.
    package static func validate(name: String) throws(CBuffFailure) {
        let bytes = Array(name.utf8)
        let isWordByte = { (b: UInt8, first: Bool) -> Bool in
            b == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b | 0x20) || (!first && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b))
        }
        guard !bytes.isEmpty, bytes.count <= maxNameBytes, bytes.enumerated().allSatisfy({ isWordByte($0.element, $0.offset == 0) }) else {
            throw CBuffFailure(.invalidArgument, "Invalid field name \(JSONValue.quoted(name)): a field name is 1 to \(maxNameBytes) letters, digits or underscores, not starting with a digit.")
        }
        guard name != reservedName else {
            throw CBuffFailure(.invalidArgument, "A field cannot be called \"\(reservedName)\": JSON lines use that key for the item's sequence number.")
        }
    }

    static func roundUp(_ value: Int, _ alignment: Int) -> Int {
        (value + alignment - 1) / alignment * alignment
    }
}

/// What a buffer knows about its items beyond their size (format version 3): their alignment,
/// the name of their type, and their fields. A buffer of version 2 knows none of it: `plain`.
package struct ItemType: Sendable, Equatable {
    /// Slot alignment asked for: a power of two from 1 to 4096 (slots are never less than
    /// 8-aligned). Nil when nothing was said (version 2, or bytes and integers).
    package let alignment: Int?
    /// The item type's name (`Tick`), 1–60 bytes of printable UTF-8, or nil.
    package let name: String?
    /// The item's fields, or nil.
    package let fields: FieldLayout?

    package static let plain = ItemType()
    package static let maxAlignment = 4096
    package static let maxNameBytes = 60

    private init() {
        alignment = nil
        name = nil
        fields = nil
    }

    /// Checks each part, and that fields agree with the alignment.
    package init(alignment: Int?, name: String?, fields: FieldLayout?) throws(CBuffFailure) {
        if let alignment {
            guard alignment >= 1, alignment <= Self.maxAlignment, alignment & (alignment - 1) == 0 else {
                throw CBuffFailure(.invalidArgument, "Item alignment \(alignment) is not a power of two from 1 to \(Self.maxAlignment).")
            }
        }
        if let name {
            guard !name.isEmpty, name.utf8.count <= Self.maxNameBytes, !name.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
                throw CBuffFailure(.invalidArgument, "Item type name \(JSONValue.quoted(name)) must be 1 to \(Self.maxNameBytes) bytes of printable UTF-8.")
            }
        }
        if let fields, let alignment, fields.alignment != alignment {
            throw CBuffFailure(.invalidArgument, "The fields \(fields) are aligned to \(fields.alignment) bytes, not the \(alignment) given for the item.")
        }
        self.alignment = alignment ?? fields?.alignment
        self.name = name
        self.fields = fields
    }

    /// Whether version 2 can record it: nothing beyond the size.
    package var isPlain: Bool { self == .plain }

    /// The slot alignment: the one asked for, at least 8.
    package var slotAlignment: Int { max(8, alignment ?? 8) }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
