import Testing
import SharedRingCommon
@testable import SharedRingProtocol

/// Field layouts (C's rule, specs, JSON), the JSON reader under them, and format version 3's
/// item description: encoded, decoded, and refused when damaged.
@Suite struct FieldLayoutTests {
    @Test(arguments: [
        ("time:u64,price:f64,qty:u32", 24, 8, [0, 8, 16]),
        ("a:u8,b:u64", 16, 8, [0, 8]),
        ("sym:char8,px:f32", 12, 4, [0, 8]),
        ("a:u8,b:u16,c:u8,d:u32", 12, 4, [0, 2, 4, 8]),
        (" id : bytes16 , n:i16", 18, 2, [0, 16]),
        ("x:i8", 1, 1, [0]),
        ("f:f32,d:f64,c:char3", 24, 8, [0, 8, 16]),
    ])
    func specsAreLaidOutAsC(spec: String, size: Int, alignment: Int, offsets: [Int]) throws {
        let layout = try FieldLayout(parsing: spec)
        #expect(layout.size == size)
        #expect(layout.alignment == alignment)
        #expect(layout.fields.map(\.offset) == offsets)
        // The description is a spec that gives the same layout back, and so is the JSON.
        #expect(try FieldLayout(parsing: layout.description) == layout)
        #expect(try FieldLayout(json: layout.json) == layout)
    }

    @Test func theJSONFormIsTheDocumentedOne() throws {
        let layout = try FieldLayout(parsing: "time:u64,sym:char8,qty:u32")
        #expect(layout.json == #"[{"name":"time","type":"u64","offset":0},{"name":"sym","type":"char8","offset":8},{"name":"qty","type":"u32","offset":16}]"#)
    }

    @Test(arguments: [
        ("", "name:type"),
        ("time", "name:type"),
        ("time:u65", "unknown type"),
        ("time:float", "unknown type"),
        ("s:char0", "unknown type"),
        ("s:char65536", "unknown type"),
        ("s:char08", "unknown type"),
        ("a:u8,a:u16", "appears twice"),
        ("9lives:u8", "Invalid field name"),
        ("a-b:u8", "Invalid field name"),
        ("abcdefghijklmnopqrstuvwx:u8", "Invalid field name"),
        ("sequence:u64", "sequence"),
        ("a:u8,", "name:type"),
        ((0..<15).map { "f\($0):u8" }.joined(separator: ","), "at most 14"),
    ])
    func badSpecsAreRefusedNamingTheFault(spec: String, mention: String) {
        do {
            _ = try FieldLayout(parsing: spec)
            Issue.record("\(spec) was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(mention), "\(error.message)")
        }
    }

    @Test func recordedOffsetsMustFollowCsRule() throws {
        let u64 = FieldLayout.FieldType(.u64), u8 = FieldLayout.FieldType(.u8)
        _ = try FieldLayout(fields: [.init(name: "a", type: u8, offset: 0), .init(name: "b", type: u64, offset: 8)])
        for offsets in [[0, 1], [0, 16], [8, 0], [1, 8]] {
            #expect(throws: CBuffFailure.self) {
                try FieldLayout(fields: [.init(name: "a", type: u8, offset: offsets[0]), .init(name: "b", type: u64, offset: offsets[1])])
            }
        }
        for json in [#"[]"#, #"{}"#, #"[{"name":"a","type":"u8"}]"#, #"[{"name":"a","type":"u8","offset":1}]"#,
                     #"[{"name":"a","type":"u8","offset":0,"count":1}]"#, #"[{"name":"a","type":"u8","offset":-0.5}]"#, "[", "nonsense"] {
            #expect(throws: CBuffFailure.self, "\(json)") { try FieldLayout(json: json) }
        }
    }

    // MARK: JSON

    @Test func jsonKeepsNumbersAsWrittenAndStringsDecoded() throws {
        let value = try JSONValue.parse(#" {"a": 18446744073709551615, "b": -2.5e-3, "c": "x\"\u00e9\ud83d\ude00\n", "d": [true, false, null], "a": {}} "#)
        let members = try #require(value.members)
        #expect(members.map(\.key) == ["a", "b", "c", "d", "a"])
        #expect(members[0].value == .number("18446744073709551615"))
        #expect(members[1].value == .number("-2.5e-3"))
        #expect(members[2].value == .string("x\"é😀\n"))
        #expect(members[3].value == .array([.bool(true), .bool(false), .null]))
    }

    @Test(arguments: ["", "{", "{\"a\"}", "{\"a\":}", "[1,]", "01", "1.", "-", "\"\\x\"", "\"\u{01}\"", "{\"a\":1}x",
                      "\"\\ud800\"", "\"\\u12\"", "tru", String(repeating: "[", count: 40) + String(repeating: "]", count: 40)])
    func badJSONIsASyntaxErrorNeverATrap(text: String) {
        #expect(throws: JSONValue.SyntaxError.self) { try JSONValue.parse(text) }
    }

    @Test func invalidUTF8InAStringIsRefused() {
        #expect(throws: JSONValue.SyntaxError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func quotingEscapesWhatJSONRequires() throws {
        let text = "a\"b\\c\n\u{01}\u{7F}é"
        #expect(JSONValue.quoted(text) == #""a\"b\\c\n\u0001\u007fé""#)
        #expect(try JSONValue.parse(JSONValue.quoted(text)) == .string(text))
    }

    // MARK: Format version 3

    func layout(_ spec: String? = nil, name: String? = "Tick", alignment: Int? = 8) throws -> RingLayout {
        let fields = try spec.map { (s: String) throws(CBuffFailure) in try FieldLayout(parsing: s) }
        return try RingLayout(itemSize: fields?.size ?? 24, length: 4, policy: .overwrite,
                              itemType: ItemType(alignment: alignment, name: name, fields: fields))
    }

    func reopened(_ header: [UInt8], _ layout: RingLayout) throws(CBuffFailure) -> RingLayout {
        try RingLayout(validating: header, fileSize: layout.fileSize, path: "/t.ring")
    }

    @Test func theItemDescriptionHasTheseExactBytes() throws {
        let layout = try layout("time:u64,sym:char8,qty:u32")
        #expect(layout.version == 3 && layout.slotStride == 24)
        let bytes = layout.encodeHeader(createdAt: 0)
        #expect(bytes[8..<12] == [3, 0, 0, 0])
        #expect(bytes[384..<400] == [0, 0, 0, 0,  8, 0, 0, 0,  3, 0, 0, 0,  4, 0, 0, 0])  // kind, alignment, fields, name length
        #expect(Array(bytes[400..<405]) == Array("Tick".utf8) + [0])
        let secondField: [UInt8] = [3] + Array("sym".utf8) + [UInt8](repeating: 0, count: 20) + [12, 0, 8, 0, 8, 0, 0, 0]
        #expect(Array(bytes[544..<576]) == secondField)                              // char8 at offset 8
        #expect(bytes[960..<1016].allSatisfy { $0 == 0 })
        #expect(try reopened(bytes, layout) == layout)
    }

    @Test func aMessageRingsHeaderHasTheseExactBytes() throws {
        let layout = RingLayout(messages: try MessageGeometry(capacity: 65536, maxMessage: 1024), policy: .block)
        let bytes = layout.encodeHeader(createdAt: 0)
        #expect(bytes[8..<12] == [4, 0, 0, 0])                                                  // version 4: checked records
        #expect(bytes[16..<40] == [8, 0, 0, 0, 0, 0, 0, 0,  0, 0x20, 0, 0, 0, 0, 0, 0,  8, 0, 0, 0,  1, 0, 0, 0])  // item 8, length 8192 words, stride 8, block
        #expect(Array(bytes[48..<56]) == [0x00, 0x10, 0x01, 0, 0, 0, 0, 0])                       // file size 4096 + 65536
        #expect(Array(bytes[384..<400]) == [1, 0, 0, 0] + [UInt8](repeating: 0, count: 12))            // kind 1, nothing else said
        #expect(Array(bytes[464..<476]) == [0, 0, 1, 0, 0, 0, 0, 0,  0, 4, 0, 0])              // capacity 65536, largest 1024
        #expect(bytes[476..<1016].allSatisfy { $0 == 0 })                                       // coarse time stamps
        let precise = RingLayout(messages: try MessageGeometry(capacity: 65536, maxMessage: 1024), policy: .block, preciseTime: true)
        let preciseBytes = precise.encodeHeader(createdAt: 0)
        let reread = try reopened(preciseBytes, precise)
        #expect(Array(preciseBytes[476..<480]) == [1, 0, 0, 0] && reread.preciseMessageTime)
        #expect(try reopened(bytes, layout) == layout)
        #expect(throws: CBuffFailure.self) { try MessageGeometry(capacity: 65536, maxMessage: 32737) }
        #expect(throws: CBuffFailure.self) { try MessageGeometry(capacity: 65536, maxMessage: 32745, records: .unchecked) }
        _ = try MessageGeometry(capacity: 65536, maxMessage: 32736)
        _ = try MessageGeometry(capacity: 65536, maxMessage: 32744, records: .unchecked)
        // A version-3 ring of messages reads back as one: its records keep their layout.
        let version3 = RingLayout(messages: try MessageGeometry(capacity: 65536, maxMessage: 1024, records: .unchecked), policy: .block)
        let version3Bytes = version3.encodeHeader(createdAt: 0)
        #expect(version3Bytes[8..<12] == [3, 0, 0, 0] && version3Bytes[384...] == bytes[384...])
        #expect(try reopened(version3Bytes, version3).messages?.records == .unchecked)
        #expect(try reopened(bytes, layout).messages?.records == .checked)
        #expect(throws: CBuffFailure.self) { try MessageGeometry(capacity: 3 << 12, maxMessage: 10) }
    }

    @Test func aPlainLayoutStaysVersionTwoAndAlignmentWidensSlots() throws {
        let plain = try RingLayout(itemSize: 24, length: 4, policy: .overwrite)
        #expect(plain.version == 2 && plain.encodeHeader(createdAt: 0)[384...].allSatisfy { $0 == 0 })
        let wide = try RingLayout(itemSize: 24, length: 4, policy: .overwrite, itemType: ItemType(alignment: 16, name: nil, fields: nil))
        #expect(wide.slotStride == 32 && wide.fileSize == 4096 + 4 * 32)
        let byteAligned = try layout(name: nil, alignment: 1)
        #expect(byteAligned.slotStride == 24)
    }

    @Test(arguments: [
        (384, UInt8(1), "message ring"),
        (384, UInt8(7), "kind 7"),
        (388, UInt8(3), "power of two"),
        (392, UInt8(15), "field count"),
        (396, UInt8(61), "type name length"),
        (404, UInt8(0x41), "after its type name"),
        (464, UInt8(1), "message geometry"),
        (512, UInt8(0), "field record 0"),
        (536, UInt8(13), "unknown type"),
        (537, UInt8(1), "unknown type"),
        (572, UInt8(9), "offset"),
        (640, UInt8(1), "unused field records"),
        (1000, UInt8(1), "unused field records"),
    ])
    func aDamagedItemDescriptionIsRefused(offset: Int, byte: UInt8, mention: String) throws {
        let layout = try layout("time:u64,sym:char8,qty:u32")
        var bytes = layout.encodeHeader(createdAt: 0)
        bytes[offset] = byte
        // Without its checksum fixed, the change is caught by the checksum…
        #expect(throws: CBuffFailure.self) { try reopened(bytes, layout) }
        // …and with it fixed, by the field check itself.
        bytes.storeLE(RingLayout.checksum(bytes[384..<1016]), at: 1016)
        do {
            _ = try reopened(bytes, layout)
            Issue.record("a damaged item description was accepted")
        } catch {
            #expect(error.code == .corrupted)
            #expect(error.message.contains(mention), "\(error.message)")
        }
    }

    @Test func fieldsMustMakeTheItemSize() throws {
        let fields = try FieldLayout(parsing: "a:u64")
        #expect(throws: CBuffFailure.self) {
            try RingLayout(itemSize: 16, length: 4, policy: .overwrite, itemType: ItemType(alignment: nil, name: nil, fields: fields))
        }
        #expect(throws: CBuffFailure.self) { try ItemType(alignment: 4, name: nil, fields: fields) }
        #expect(throws: CBuffFailure.self) { try ItemType(alignment: 8192, name: nil, fields: nil) }
        #expect(throws: CBuffFailure.self) { try ItemType(alignment: nil, name: String(repeating: "x", count: 61), fields: nil) }
        #expect(throws: CBuffFailure.self) { try ItemType(alignment: nil, name: "a\nb", fields: nil) }
    }
}
