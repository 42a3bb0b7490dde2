/// Buffer names become file names, so they are checked before anything touches the disk.
///
/// A valid name has 1 to 200 bytes among `A–Z a–z 0–9 . _ - : @ +` and does not start with a
/// dot. That rules out path separators, `..`, NUL, hidden files and shell surprises, and leaves
/// room in the 255-byte file-name limit for the ring file's suffix.
package enum BufferName {
    package static let maxLength = 200

    /// - Parameters:
    ///   - kind: "buffer" or "reader", for the error message.
    ///   - maxLength: the longest name allowed, in bytes.
    package static func validate(_ name: String, kind: String = "buffer", maxLength: Int = maxLength) throws(CBuffFailure) {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else {
            throw CBuffFailure(.invalidArgument, "A \(kind) name cannot be empty.")
        }
        guard bytes.count <= maxLength else {
            throw CBuffFailure(.invalidArgument, "\(kind.capitalized) name \"\(name.prefix(40).description.escapingControlCharacters)\(bytes.count > 40 ? "…" : "")\" is \(bytes.count) bytes long; the limit is \(maxLength).")
        }
        guard bytes[0] != UInt8(ascii: ".") else {
            throw CBuffFailure(.invalidArgument, "\(kind.capitalized) name \"\(name.escapingControlCharacters)\" starts with a dot; names may not be hidden files or '..'.")
        }
        guard let bad = bytes.first(where: { !isAllowed($0) }) else { return }
        let shown = switch bad {
        case 0: "NUL"
        case ..<0x20, 0x7F: "a control character"
        case 0x80...: "a non-ASCII byte"
        default: "'\(Character(Unicode.Scalar(bad)))'"
        }
        throw CBuffFailure(.invalidArgument, "\(kind.capitalized) name \"\(name.escapingControlCharacters)\" contains \(shown); use only letters, digits and . _ - : @ +.")
    }

    /// Whether `bytes` is a name `validate` accepts (at most `maxLength` bytes), without
    /// making a string of it: for checks that must not allocate (a `block` writer's rescan of
    /// the named-reader table).
    package static func isValid(_ bytes: UnsafeRawBufferPointer, maxLength: Int) -> Bool {
        guard (1...maxLength).contains(bytes.count), bytes[0] != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy(isAllowed)
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "+"):
            true
        default:
            false
        }
    }
}

extension String {
    fileprivate var capitalized: String { prefix(1).uppercased() + dropFirst() }
}
