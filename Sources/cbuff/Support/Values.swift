import Foundation

/// Parsing and printing item values.
enum Values {
    /// An unsigned integer: exactly decimal digits, or `0x` (or `0X`) and exactly hexadecimal
    /// digits. Nothing else is read as part of it: no sign, no space, tab or carriage return
    /// around it (a value is refused, never trimmed into one: `' 1'` is not `1`). Nil if
    /// anything else is there or it overflows. One rule for arguments and `push --stdin` lines
    /// (a line is what lies between newlines; `push --stdin` calls this once per line).
    static func parse(_ text: UnsafeBufferPointer<UInt8>) -> UInt64? {
        let start = 0
        let end = text.count
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

    /// A `push --stdin` line's value: `parse`'s rule for what comes before the line's end, which
    /// is a newline or a carriage return and a newline (files written on Windows). Only that
    /// one `\r` is the line's end; a space, a tab or a second `\r` is refused, as in an argument.
    static func parse(line: UnsafeBufferPointer<UInt8>) -> UInt64? {
        parse(withoutLineEnd(line))
    }

    /// `line` without the carriage return of a `\r\n` line end.
    static func withoutLineEnd(_ line: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        line.last == 0x0D ? UnsafeBufferPointer(rebasing: line.dropLast()) : line
    }

    static func parse(_ text: String) -> UInt64? {
        Array(text.utf8).withUnsafeBufferPointer { parse($0) }
    }

    /// Why `text` is not a value cbuff can push: an unsigned integer above 2^64 − 1 (the limit
    /// whatever the item size), or not exactly an unsigned integer (`Values.parse`'s rule).
    static func refusal(_ text: UnsafeBufferPointer<UInt8>) -> String {
        let digits = text.count > 2 && text[0] == UInt8(ascii: "0") && text[1] | 0x20 == UInt8(ascii: "x")
            ? UnsafeBufferPointer(rebasing: text[2...]) : text
        let isHex = digits.count != text.count
        let isNumber = !digits.isEmpty && digits.allSatisfy { isHex ? Character(UnicodeScalar($0)).isHexDigit : (0x30...0x39).contains($0) }
        return isNumber
            ? "is larger than \(UInt64.max), the largest value cbuff can push (whatever the item size)"
            : "is not an unsigned integer (exactly decimal digits, or 0x and hexadecimal digits, with nothing around them)"
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

    /// A time as nanoseconds since the Unix epoch, from Unix seconds (`1764637200.5`: digits,
    /// optionally a point and digits) or an RFC 3339 time (`2026-12-02T01:00:00Z`,
    /// `2026-12-02T01:00:00.25+01:00`). The text must be exactly such a time: a date that does not
    /// exist (`2026-02-30`), an hour past 23, a minute or second past 59, an offset past ±23:59,
    /// a sign, an exponent or anything around it is nil, never carried over into another time
    /// (a calendar library read `2026-02-30` as 2 March and `+99:00` as four days). Digits past
    /// the nanosecond round up, so that "at or after" keeps its meaning. Nil too for a time
    /// before 1970 or after 2^64 − 1 ns (2554-07-21T23:34:33.709551615Z): a message's time is
    /// any 64-bit count of nanoseconds (RingFileFormat), and every such count is a time here.
    static func time(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        var index = 0
        /// Exactly `count` digits (any number, at least one, when nil) at `index`, as a number.
        func digits(_ count: Int?) -> (value: UInt64, count: Int)? {
            var value: UInt64 = 0
            var read = 0
            while index < bytes.count, (0x30...0x39).contains(bytes[index]), count.map({ read < $0 }) ?? true {
                guard value < 1 << 59 else { return nil }
                value = value * 10 + UInt64(bytes[index] - 0x30)
                index += 1
                read += 1
            }
            guard read > 0, count.map({ read == $0 }) ?? true else { return nil }
            return (value, read)
        }
        func expect(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        /// `.digits` at `index`, as nanoseconds rounded up; 0 if no point is there.
        func fraction() -> UInt64? {
            guard expect(UInt8(ascii: ".")) else { return 0 }
            let first = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            let figures = bytes[first..<index]
            guard !figures.isEmpty else { return nil }
            var nanos: UInt64 = 0
            for position in 0..<9 { nanos = nanos * 10 + UInt64(position < figures.count ? figures[first + position] - 0x30 : 0) }
            return figures.dropFirst(9).contains(where: { $0 != 0x30 }) ? nanos + 1 : nanos
        }
        let limit: UInt64 = UInt64.max / 1_000_000_000 + 1   // whole seconds a count can reach
        let seconds: UInt64
        let nanos: UInt64
        if let whole = digits(nil), whole.count != 4 || index == bytes.count || bytes[index] != UInt8(ascii: "-") {
            guard whole.value < limit, let fraction = fraction(), index == bytes.count else { return nil }
            (seconds, nanos) = (whole.value, fraction)
        } else {
            index = 0
            guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
                  let day = digits(2), expect(UInt8(ascii: "T")), let hour = digits(2), expect(UInt8(ascii: ":")),
                  let minute = digits(2), expect(UInt8(ascii: ":")), let second = digits(2), let fraction = fraction(),
                  index < bytes.count else { return nil }
            let leap = year.value % 4 == 0 && (year.value % 100 != 0 || year.value % 400 == 0)
            let monthDays: [UInt64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            guard (1...12).contains(month.value), (1...monthDays[Int(month.value) - 1]).contains(day.value),
                  hour.value < 24, minute.value < 60, second.value < 60, year.value >= 1970 else { return nil }
            // Days from 1970-01-01 to the date (proleptic Gregorian).
            var days: UInt64 = 0
            for y in 1970..<year.value { days += y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) ? 366 : 365 }
            days += monthDays.prefix(Int(month.value) - 1).reduce(0, +) + day.value - 1
            let local = ((days * 24 + hour.value) * 60 + minute.value) * 60 + second.value
            var utc = local
            if expect(UInt8(ascii: "Z")) {
                // UTC
            } else {
                let sign = bytes[index]
                guard sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") else { return nil }
                index += 1
                guard let offsetHours = digits(2), expect(UInt8(ascii: ":")), let offsetMinutes = digits(2),
                      offsetHours.value < 24, offsetMinutes.value < 60 else { return nil }
                let offset = (offsetHours.value * 60 + offsetMinutes.value) * 60
                // Local time = UTC + offset: a time east of Greenwich is earlier in UTC.
                if sign == UInt8(ascii: "+") {
                    guard local >= offset else { return nil }
                    utc = local - offset
                } else {
                    utc = local + offset
                }
            }
            guard index == bytes.count, utc < limit else { return nil }
            (seconds, nanos) = (utc, fraction)
        }
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, carry) = scaled.addingReportingOverflow(nanos)
        return overflow || carry ? nil : total
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
