/// What a push does when the ring is full, as the ring file (word 36: 0, 1) and the registry
/// (`policy`: 'overwrite', 'block') record it. The public API's `OverflowPolicy` has the same
/// cases.
package enum Policy: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// The oldest item is overwritten.
    case overwrite = 0
    /// The writer never overwrites an item a registered reader has not consumed.
    case block = 1

    /// The name the registry stores.
    package var description: String {
        switch self {
        case .overwrite: "overwrite"
        case .block: "block"
        }
    }

    /// The policy the registry's name stands for, or nil.
    package init?(_ name: String) {
        guard let policy = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = policy
    }
}
