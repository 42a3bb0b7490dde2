import ArgumentParser
import SharedRing

/// How `pop` and `tail` print items. The default is `jsonl` for a buffer whose items have
/// fields, `int` otherwise.
enum ItemFormat: String, ExpressibleByArgument, CaseIterable {
    case int, hex, jsonl

    static let help: ArgumentHelp = "int: decimal; hex: 0x-hexadecimal; jsonl: one JSON object per line, {\"sequence\":N,\"value\":V}, or the item's fields for a buffer created with --fields (the default there)."
}

/// Turns items into lines of text, in the chosen format.
struct ItemPrinter {
    let format: ItemFormat
    let layout: ItemLayout?

    init(_ format: ItemFormat?, layout: ItemLayout?) {
        self.format = format ?? (layout == nil ? .int : .jsonl)
        self.layout = layout
    }

    func line(_ bytes: [UInt8], sequence: UInt64) -> String {
        switch format {
        case .int: return Values.decimal(bytes)
        case .hex: return Values.hex(bytes)
        case .jsonl:
            if let layout { return bytes.withUnsafeBytes { layout.json(of: $0, sequence: sequence) } }
            let value = bytes.count > 8 && bytes[8...].contains { $0 != 0 } ? "\"\(Values.hex(bytes))\"" : Values.decimal(bytes)
            return "{\"sequence\":\(sequence),\"value\":\(value)}"
        }
    }
}
