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
}
