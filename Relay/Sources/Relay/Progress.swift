internal import Foundation

/// What a relay moved, for its status lines (every 2 s) and its last line.
struct Progress {
    let verb: String
    private(set) var count: UInt64 = 0
    private var first: ContinuousClock.Instant?, last: ContinuousClock.Instant?
    private var lastReport = ContinuousClock.now, countAtReport: UInt64 = 0

    init(verb: String) { self.verb = verb }

    /// A batch starts: the clock of the last line starts with the first.
    mutating func begin() {
        if first == nil { first = .now }
    }

    /// A batch of `count` ended.
    mutating func add(_ count: UInt64) {
        self.count += count
        last = .now
    }

    /// "N relayed, R/s" if a status line is due (the rate since the last one), else nil.
    mutating func due() -> String? {
        let elapsed = ContinuousClock.now - lastReport
        guard elapsed >= .seconds(2) else { return nil }
        defer { lastReport = .now; countAtReport = count }
        return "\(count) \(verb), \(Self.rate(count - countAtReport, elapsed))/s"
    }

    /// "N relayed in S s (R/s)", from the start of the first batch to the end of the last.
    var summary: String {
        guard let first, let last else { return "0 \(verb)" }
        let elapsed = last - first
        return "\(count) \(verb) in \(String(format: "%.3f", Self.seconds(elapsed))) s (\(Self.rate(count, elapsed))/s)"
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func rate(_ count: UInt64, _ duration: Duration) -> String {
        String(format: "%.0f", Double(count) / max(seconds(duration), 1e-9))
    }
}
