internal import SharedRing

/// A NATS subject or subject filter: tokens separated by dots, where in a filter `*` stands for
/// any one token and a final `>` for one or more.
struct Subject {
    let tokens: [Substring]

    init(_ text: String) {
        tokens = text.split(separator: ".", omittingEmptySubsequences: false)
    }

    /// Whether this filter matches the literal subject `subject`.
    func matches(_ subject: String) -> Bool {
        let literal = Subject(subject).tokens
        for (index, token) in tokens.enumerated() {
            if token == ">" { return literal.count > index }
            guard index < literal.count, token == "*" || token == literal[index] else { return false }
        }
        return literal.count == tokens.count
    }

    /// Whether `text` is a subject one can publish on: non-empty tokens of printable ASCII
    /// without wildcards.
    static func isLiteral(_ text: String) -> Bool {
        let tokens = Subject(text).tokens
        return !text.isEmpty && text.utf8.count <= 1024 && tokens.allSatisfy { token in
            !token.isEmpty && token != "*" && token != ">" && token.utf8.allSatisfy { (0x21...0x7E).contains($0) }
        }
    }

    /// Throws a usage error unless `text`, given with `option`, is a subject one can publish on.
    static func checkLiteral(_ text: String, option: String) throws(RelayError) {
        guard isLiteral(text) else {
            throw RelayError("\(option) \(Arguments.shown(text)) is not a subject to publish on: 1 to 1024 bytes of dot-separated tokens, each of printable ASCII without spaces, none empty, no wildcards (* or >).", usage: true)
        }
    }
}

/// The relay's checks of what it is told, made before it connects, creates or consumes
/// anything: a bad argument is one sentence and exit 64, never a refusal from the server after
/// the relay has created a consumer or a stream, nor a stream message refused for it.
enum Arguments {
    /// Throws a usage error unless `name`, given with `option`, is a name JetStream takes for a
    /// stream or a consumer: 1 to `longest` bytes of printable ASCII, none of them a space, `.`,
    /// `*`, `>`, `/` or `\` (NATS's rules: the name is a token of the API's subjects, and a
    /// directory of the server's store). Consumers are held to `longest` 64 and letters,
    /// digits, `_` and `-`, as their name is also part of a journal's file name.
    static func checkName(_ name: String, option: String, consumer: Bool = false) throws(RelayError) {
        let longest = consumer ? 64 : 255
        guard !name.isEmpty, name.utf8.count <= longest, name.utf8.allSatisfy({ consumer ? isConsumerByte($0) : isStreamByte($0) }) else {
            let rule = consumer ? "letters, digits, '_' or '-'" : "printable ASCII without spaces, '.', '*', '>', '/' or '\\'"
            throw RelayError("\(option) \(shown(name)) is not a name JetStream takes: 1 to \(longest) bytes of \(rule).", usage: true)
        }
    }

    private static func isStreamByte(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) && !Array(".*>/\\".utf8).contains(byte)
    }

    private static func isConsumerByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
        default: false
        }
    }

    /// Throws a usage error unless `value`, given with `option`, is within `range`.
    static func checkRange<Value: Comparable>(_ value: Value, _ range: ClosedRange<Value>, option: String, unit: String = "") throws(RelayError) {
        guard range.contains(value) else {
            throw RelayError("\(option) \(value) is out of range: from \(range.lowerBound) to \(range.upperBound)\(unit).", usage: true)
        }
    }

    /// Throws a usage error unless `seconds`, given with `option`, is a number of seconds from
    /// 0 to a day.
    static func checkSeconds(_ seconds: Double, option: String) throws(RelayError) {
        guard seconds.isFinite, (0...86_400).contains(seconds) else {
            throw RelayError("\(option) \(seconds) is out of range: from 0 to 86400 seconds.", usage: true)
        }
    }

    /// Runs a library check, its refusal as a usage error naming `option`.
    static func library(_ option: String, _ check: () throws(CBuffError) -> Void) throws(RelayError) {
        do { try check() } catch { throw RelayError("\(option): \(error.message)", usage: true) }
    }

    /// `text` in quotes, control characters escaped, cut at 64 characters: an argument echoed.
    static func shown(_ text: String) -> String {
        let cut = text.count > 64 ? String(text.prefix(64)) + "…" : text
        return "\"" + StandardStreams.escapingControlCharacters(cut) + "\""
    }
}
