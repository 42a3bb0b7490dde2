internal import Foundation

/// What a relay moved since it started, and when it says so: a status line at most every
/// `interval`, and only when what the line shows changed (an idle relay stays quiet), then a
/// last line.
struct Progress {
    let verb: String
    /// Nil: no status lines (the last line still comes).
    let interval: Duration?
    private(set) var count: UInt64 = 0
    private var first: ContinuousClock.Instant?, last: ContinuousClock.Instant?
    private var lastLook = ContinuousClock.now
    /// What the last status line showed, when, and the count then (for its rate).
    private var shown: (state: [UInt64?], at: ContinuousClock.Instant, count: UInt64)?

    init(verb: String, interval: Duration?) {
        self.verb = verb
        self.interval = interval
    }

    /// A batch starts: the clock of the last line starts with the first.
    mutating func begin() {
        if first == nil { first = .now }
    }

    /// A batch of `count` ended.
    mutating func add(_ count: UInt64) {
        self.count += count
        last = .now
    }

    /// Whether it is time to look at what a status line would show (once every `interval`).
    mutating func isTimeToLook() -> Bool {
        guard let interval, ContinuousClock.now - lastLook >= interval else { return false }
        lastLook = .now
        return true
    }

    /// "N relayed (R/s)" since start, the rate since the last line, if a line showing `state`
    /// (the positions it names, and the counts) is worth printing: something changed.
    mutating func line(showing state: [UInt64?]) -> String? {
        let now = ContinuousClock.now
        let since = shown ?? (state: [], at: first ?? now, count: 0)
        guard state + [count] != since.state else { return nil }
        shown = (state + [count], now, count)
        return "\(count) \(verb) (\(Self.rate(count - since.count, now - since.at))/s)"
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

/// How long the connection has been lost, for a relay that gives up after a bound (`--once`)
/// and says once per outage what it does meanwhile.
struct Outage {
    private var since: ContinuousClock.Instant?

    /// The connection works again.
    mutating func end() { since = nil }

    /// A failure that may pass: true the first time of an outage (say what happens), and
    /// throws if it has lasted longer than `bound` seconds (nil: no bound).
    mutating func failure(_ error: RelayError, bound: Double?, server: String) throws -> Bool {
        let now = ContinuousClock.now
        guard let since else { since = now; return true }
        if let bound, now - since > .milliseconds(Int(bound * 1000)) {
            throw RelayError("No NATS server answered at \(NatsSession.redacted(server)) for \(Int(bound)) s (\(error)); gave up, as --once does.")
        }
        return false
    }
}

extension Double {
    /// With one decimal.
    var formatted1: String { String(format: "%.1f", self) }
}
