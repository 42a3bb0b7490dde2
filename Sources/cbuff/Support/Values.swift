import Foundation

/// Parsing and printing item values.
enum Values {
    /// An unsigned integer in decimal or, with a `0x` prefix, hexadecimal; surrounding spaces,
    /// tabs and a carriage return are ignored. Nil if anything else is there or it overflows.
    /// (Works on a raw buffer: `push --stdin` calls it once per line.)
    static func parse(_ text: UnsafeBufferPointer<UInt8>) -> UInt64? {
        var start = 0
        var end = text.count
        while start < end, text[start] == 0x20 || text[start] == 0x09 { start += 1 }
        while end > start, text[end - 1] == 0x20 || text[end - 1] == 0x09 || text[end - 1] == 0x0D { end -= 1 }
        guard start < end else { return nil }
        if end - start > 2, text[start] == UInt8(ascii: "0"), text[start + 1] | 0x20 == UInt8(ascii: "x") {
            var value: UInt64 = 0
            for i in (start + 2)..<end {
                let byte = text[i]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte &- UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
                default: return nil
                }
                guard value >> 60 == 0 else { return nil }
                value = value << 4 | UInt64(digit)
            }
            return value
        }
        var value: UInt64 = 0
        for i in start..<end {
            let digit = text[i] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(digit))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    static func parse(_ text: String) -> UInt64? {
        Array(text.utf8).withUnsafeBufferPointer { parse($0) }
    }

    /// Why `text` is not a value cbuff can push: an unsigned integer above 2^64 − 1 (the limit
    /// whatever the item size), or not an unsigned integer at all.
    static func refusal(_ text: UnsafeBufferPointer<UInt8>) -> String {
        let trimmed = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        let digits = trimmed.lowercased().hasPrefix("0x") ? trimmed.dropFirst(2) : Substring(trimmed)
        let isNumber = !digits.isEmpty && digits.allSatisfy { trimmed.lowercased().hasPrefix("0x") ? $0.isHexDigit : ("0"..."9").contains($0) }
        return isNumber
            ? "is larger than \(UInt64.max), the largest value cbuff can push (whatever the item size)"
            : "is not an unsigned integer"
    }

    static func refusal(_ text: String) -> String {
        Array(text.utf8).withUnsafeBufferPointer { refusal($0) }
    }

    /// Text from the user or a file as a message shows it: in double quotes, with quotes,
    /// backslashes, control bytes, escape sequences and invalid UTF-8 written as escapes, so that
    /// nothing echoed can move the cursor, change colours or split the sentence.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0xFFFD:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `text` with control bytes and invalid UTF-8 written as escapes (for text quoted already).
    static func escapingControlCharacters(_ text: String) -> String {
        let quotedText = quoted(text)
        return String(quotedText.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
    }

    /// A size in bytes: digits, optionally followed by K, M or G (powers of 1024, `KiB`, `MiB`,
    /// `GiB` and lowercase also read). Nil if anything else is there or it overflows.
    static func size(_ text: String) -> Int? {
        let units: [(String, Int)] = [("KiB", 10), ("MiB", 20), ("GiB", 30), ("K", 10), ("M", 20), ("G", 30), ("k", 10), ("m", 20), ("g", 30)]
        var digits = Substring(text)
        var shift = 0
        if let unit = units.first(where: { text.hasSuffix($0.0) }) {
            digits = digits.dropLast(unit.0.count)
            shift = unit.1
        }
        guard !digits.isEmpty, digits.allSatisfy({ ("0"..."9").contains($0) }), let value = Int(digits),
              value <= Int.max >> shift else { return nil }
        return value << shift
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

    /// A duration as `30s`, `500ms`, `2m`, `1h`, `250us`, `100ns` (a decimal number and a unit),
    /// or `0`: nanoseconds, or nil if it is not one, exceeds `maxNanos`, or is above zero but
    /// under 1 ns (`0.4ns` is no duration a clock can count, and is never rounded to `0`, none).
    static func duration(_ text: String, maxNanos: UInt64) -> UInt64? {
        if text == "0" { return 0 }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        for (unit, scale) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            // Digits and at most one point: no sign, exponent, "inf" or "nan".
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                  number.filter({ $0 == "." }).count <= 1, number != ".", let value = Double(number) else { continue }
            let nanos = (value * scale).rounded()
            guard nanos <= Double(maxNanos), value == 0 || nanos >= 1 else { return nil }
            return UInt64(nanos)
        }
        return nil
    }

    /// A duration for people: `200ms`, `30s`, `1.5s`, `2m`, `1h`.
    static func duration(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let nanos = Double(seconds) * 1e9 + Double(attoseconds) / 1e9
        if nanos < 1e6 { return "\(Int64(nanos))ns" }
        if nanos < 1e9 { return "\(format(nanos / 1e6))ms" }
        if nanos < 60e9 || nanos.truncatingRemainder(dividingBy: 60e9) != 0 { return "\(format(nanos / 1e9))s" }
        if nanos.truncatingRemainder(dividingBy: 3600e9) != 0 { return "\(format(nanos / 60e9))m" }
        return "\(format(nanos / 3600e9))h"
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(value)
    }
}
