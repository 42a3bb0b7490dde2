/// A report of labelled rows, as `inspect` and `verify` print them: each label padded to the
/// longest, two spaces, then the value with its control characters escaped (nothing a file or
/// registry row holds can drive the terminal).
enum LabelledRows {
    static func format(_ rows: [(String, String)]) -> String {
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + "  " + Values.escapingControlCharacters($0.1) + "\n" }.joined()
    }
}
