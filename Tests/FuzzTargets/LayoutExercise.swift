import SharedRing
import SharedRingCommon

// What `cbuff create --fields SPEC` and `cbuff push --format jsonl` read: a field spec, then
// one JSON object per line. The spec must parse or be refused as `invalidArgument`, and parse
// back from what it prints (its spec and its registry JSON); every line must encode or be
// refused as `invalidArgument` or `valueDoesNotFit`; and an item encoded from a line must
// print (`cbuff tail --format jsonl`) as JSON that encodes back to the same bytes.
//
// Input: text; the first line is the spec, each following line (at most 64) one item.
let maxLayoutLines = 64

func exerciseLayout(_ input: [UInt8], _ report: inout FuzzReport) {
    let lines = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).prefix(maxLayoutLines + 1)
    let spec = String(decoding: lines.first ?? [], as: UTF8.self)
    var parsed: ItemLayout?
    report.step("spec", allowing: [.invalidArgument]) { report in
        let layout = try ItemLayout(spec)
        parsed = layout
        report.check((try? ItemLayout(layout.description)) == layout, "spec \(layout) does not parse back")
        let fields = try? FieldLayout(parsing: spec)
        report.check(fields.flatMap { try? FieldLayout(json: $0.json) } == fields, "the registry JSON of \(layout) does not read back")
        report.check(layout.size >= 1 && layout.size <= Limits.maxItemSize, "spec \(layout) makes items of \(layout.size) bytes")
    }
    for (index, line) in lines.dropFirst().enumerated() {
        _ = try? JSONValue.parse(line)
        guard let layout = parsed else { continue }
        report.step("line \(index + 1)", allowing: [.invalidArgument, .valueDoesNotFit]) { report in
            let item = try encode(line, layout, filler: 0xEE)
            let printed = item.withUnsafeBytes { layout.json(of: $0, sequence: UInt64(index)) }
            report.check((try? JSONValue.parse(printed)) != nil, "item printed as \(printed), which is not JSON")
            do {
                let again = try encode(Array(printed.utf8), layout, filler: 0x11)
                report.check(again == item, "line \(index + 1) encodes to \(item), printed as \(printed), which encodes to \(again)")
            } catch {
                report.violation("line \(index + 1) encoded, but what it printed (\(printed)) does not: \(error)")
            }
        }
    }
}

/// The item `line` describes, encoded over `filler` bytes (so that padding left unwritten shows).
/// (A Result, not a typed-throws closure: Swift 6.3.1 crashes on that shape; see the README.)
func encode(_ line: some Collection<UInt8>, _ layout: ItemLayout, filler: UInt8) throws(CBuffError) -> [UInt8] {
    var item = [UInt8](repeating: filler, count: layout.size)
    let outcome = item.withUnsafeMutableBytes { bytes in Result { () throws(CBuffError) in try layout.encode(json: line, into: bytes) } }
    try outcome.get()
    return item
}
