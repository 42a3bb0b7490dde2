internal import SharedRingCommon

/// What a push does when the ring is full, chosen when the buffer is created.
public enum OverflowPolicy: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// The oldest item is overwritten; a reader that falls behind skips ahead and counts what
    /// it missed (the seed library's behaviour, and the default).
    case overwrite = 0
    /// The writer never overwrites an item a named reader has not consumed: a push waits (or,
    /// with ``BufferWriter/tryPush(_:)``, reports that the ring is full). Anonymous readers
    /// still skip ahead when they fall behind.
    case block = 1

    /// `overwrite` or `block`, as the registry and the command line spell it.
    public var description: String { Policy(self).description }

    /// The policy named `overwrite` or `block`, or nil.
    public init?(_ name: String) {
        guard let policy = Policy(name) else { return nil }
        self.init(policy)
    }

    init(_ policy: Policy) {
        switch policy {
        case .overwrite: self = .overwrite
        case .block: self = .block
        }
    }
}

extension Policy {
    init(_ policy: OverflowPolicy) {
        switch policy {
        case .overwrite: self = .overwrite
        case .block: self = .block
        }
    }
}
