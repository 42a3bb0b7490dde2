/// Parsing and printing item values.
enum Values {
    /// An unsigned integer in decimal or, with a `0x` prefix, hexadecimal; surrounding spaces,
    /// tabs and a carriage return are ignored. Nil if anything else is there or it overflows.
    static func parse(_ text: ArraySlice<UInt8>) -> UInt64? {
        var bytes = text
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 || last == 0x0D { bytes = bytes.dropLast() }
        guard !bytes.isEmpty else { return nil }
        var radix: UInt64 = 10
        if bytes.count > 2, bytes.first == UInt8(ascii: "0"),
           bytes[bytes.index(after: bytes.startIndex)] | 0x20 == UInt8(ascii: "x") {
            radix = 16
            bytes = bytes.dropFirst(2)
        }
        var value: UInt64 = 0
        for byte in bytes {
            let digit: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = UInt64(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: radix)
            let (sum, overflow2) = shifted.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    static func parse(_ text: String) -> UInt64? {
        parse(Array(text.utf8)[...])
    }

    /// An item's bytes (little-endian) as hexadecimal, most significant first: `0x…`.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = Array("0x".utf8)
        for byte in bytes.reversed() {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// An item's bytes as a decimal integer when it fits in 64 bits, else as hexadecimal.
    static func decimal(_ bytes: [UInt8]) -> String {
        if bytes.count > 8, bytes[8...].contains(where: { $0 != 0 }) { return hex(bytes) }
        var value: UInt64 = 0
        for byte in bytes.prefix(8).reversed() { value = value << 8 | UInt64(byte) }
        return String(value)
    }
}
