internal import SharedRingCommon

// Items as JSON objects, one per line: what `cbuff push --format jsonl` reads and `cbuff tail
// --format jsonl` prints, and what a relay or a script can use.
//
// | field type | JSON | written as |
// |---|---|---|
// | u8–u64, i8–i64 | an integer in the type's range (no fraction, no exponent) | little-endian |
// | f32, f64 | a number (printed: the shortest text that reads back the same; NaN and infinities as `null`) | IEEE 754, little-endian |
// | charN | a string of at most N bytes of UTF-8, no NUL (printed: up to the first NUL) | NUL-padded |
// | bytesN | exactly 2N lowercase or uppercase hexadecimal digits (printed lowercase) | as is |
//
// The key `sequence` is the item's sequence number when printed, and ignored when read, so that
// `cbuff tail a --format jsonl | cbuff push b --stdin --format jsonl` copies a buffer.
extension ItemLayout {
    /// Writes the item that JSON object `text` describes into `item` (at least ``size`` bytes;
    /// padding zeroed).
    ///
    /// - Throws: ``CBuffError/Code/invalidArgument`` for text that is not one JSON object, or a
    ///   field missing, unknown or given twice; ``CBuffError/Code/valueDoesNotFit`` for a value
    ///   of the wrong kind or out of its field's range. The message names the field.
    public func encode(json text: some Collection<UInt8>, into item: UnsafeMutableRawBufferPointer) throws(CBuffError) {
        precondition(item.count >= size, "an item buffer of \(item.count) bytes for items of \(size)")
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch {
            throw CBuffError(.invalidArgument, "not JSON: \(error.description)")
        }
        guard let members = value.members else { throw CBuffError(.invalidArgument, "not a JSON object") }
        var seen = Set<String>()
        for member in members where member.key != FieldLayout.reservedName {
            guard seen.insert(member.key).inserted else { throw CBuffError(.invalidArgument, "field \(JSONValue.quoted(member.key)) is given twice") }
            guard storage.fields.contains(where: { $0.name == member.key }) else {
                throw CBuffError(.invalidArgument, "unknown field \(JSONValue.quoted(member.key)) (the fields are \(description))")
            }
        }
        item.initializeMemory(as: UInt8.self, repeating: 0)
        for field in storage.fields {
            guard let member = members.first(where: { $0.key == field.name }) else {
                throw CBuffError(.invalidArgument, "field \"\(field.name)\" is missing")
            }
            try Self.encode(member.value, as: field, into: UnsafeMutableRawBufferPointer(rebasing: item[field.offset..<(field.offset + field.type.size)]))
        }
    }

    /// The item that JSON object `text` describes, as ``size`` bytes.
    public func encode(json text: String) throws(CBuffError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        let outcome = bytes.withUnsafeMutableBytes { item in Result { () throws(CBuffError) in try encode(json: text.utf8, into: item) } }
        try outcome.get()
        return bytes
    }

    /// The item in `item` (at least ``size`` bytes) as one JSON object, its fields in order,
    /// after `"sequence":N` when a sequence is given: `{"sequence":0,"time":1,"price":2.5,"qty":3}`.
    public func json(of item: UnsafeRawBufferPointer, sequence: UInt64? = nil) -> String {
        precondition(item.count >= size, "an item of \(item.count) bytes for a layout of \(size)")
        var out = "{"
        if let sequence { out += "\"sequence\":\(sequence)" }
        for field in storage.fields {
            if out.count > 1 { out += "," }
            out += JSONValue.quoted(field.name) + ":"
            out += Self.render(UnsafeRawBufferPointer(rebasing: item[field.offset..<(field.offset + field.type.size)]), field.type)
        }
        return out + "}"
    }

    private static func render(_ bytes: UnsafeRawBufferPointer, _ type: FieldLayout.FieldType) -> String {
        func load<T: FixedWidthInteger>(_: T.Type) -> T { T(littleEndian: bytes.loadUnaligned(as: T.self)) }
        switch type.kind {
        case .u8: return String(load(UInt8.self))
        case .u16: return String(load(UInt16.self))
        case .u32: return String(load(UInt32.self))
        case .u64: return String(load(UInt64.self))
        case .i8: return String(load(Int8.self))
        case .i16: return String(load(Int16.self))
        case .i32: return String(load(Int32.self))
        case .i64: return String(load(Int64.self))
        case .f32:
            let value = Float(bitPattern: load(UInt32.self))
            return value.isFinite ? "\(value)" : "null"
        case .f64:
            let value = Double(bitPattern: load(UInt64.self))
            return value.isFinite ? "\(value)" : "null"
        case .chars:
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return JSONValue.quoted(String(decoding: bytes[..<end], as: UTF8.self))
        case .bytes:
            let digits = Array("0123456789abcdef".utf8)
            var text: [UInt8] = [0x22]
            for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
            return String(decoding: text + [0x22], as: UTF8.self)
        }
    }

    private static func encode(_ value: JSONValue, as field: FieldLayout.Field, into bytes: UnsafeMutableRawBufferPointer) throws(CBuffError) {
        let type = field.type
        func refuse(_ why: String) -> CBuffError { CBuffError(.valueDoesNotFit, "field \"\(field.name)\" (\(type)) \(why)") }
        func integer<T: FixedWidthInteger>(_: T.Type) throws(CBuffError) {
            guard case .number(let text) = value else { throw refuse("needs an integer") }
            guard !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else { throw refuse("needs an integer, not \(text)") }
            guard let parsed = T(text) else { throw refuse("holds \(T.min) to \(T.max), not \(text)") }
            bytes.storeBytes(of: parsed.littleEndian, as: T.self)
        }
        switch type.kind {
        case .u8: try integer(UInt8.self)
        case .u16: try integer(UInt16.self)
        case .u32: try integer(UInt32.self)
        case .u64: try integer(UInt64.self)
        case .i8: try integer(Int8.self)
        case .i16: try integer(Int16.self)
        case .i32: try integer(Int32.self)
        case .i64: try integer(Int64.self)
        case .f32, .f64:
            guard case .number(let text) = value else { throw refuse("needs a number") }
            if type.kind == .f32 {
                guard let parsed = Float(text), parsed.isFinite else { throw refuse("cannot hold \(text)") }
                bytes.storeBytes(of: parsed.bitPattern.littleEndian, as: UInt32.self)
            } else {
                guard let parsed = Double(text), parsed.isFinite else { throw refuse("cannot hold \(text)") }
                bytes.storeBytes(of: parsed.bitPattern.littleEndian, as: UInt64.self)
            }
        case .chars:
            guard case .string(let text) = value else { throw refuse("needs a string") }
            let utf8 = Array(text.utf8)
            guard utf8.count <= type.count else { throw refuse("holds at most \(type.count) bytes of UTF-8; \(JSONValue.quoted(text)) is \(utf8.count)") }
            guard !utf8.contains(0) else { throw refuse("cannot hold a NUL character") }
            bytes.copyBytes(from: utf8)
        case .bytes:
            guard case .string(let text) = value else { throw refuse("needs a string of \(2 * type.count) hexadecimal digits") }
            let digits = Array(text.utf8)
            guard digits.count == 2 * type.count else { throw refuse("needs exactly \(2 * type.count) hexadecimal digits, not \(digits.count)") }
            for index in 0..<type.count {
                guard let high = hexDigit(digits[2 * index]), let low = hexDigit(digits[2 * index + 1]) else {
                    throw refuse("needs hexadecimal digits only")
                }
                bytes[index] = high << 4 | low
            }
        }
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
