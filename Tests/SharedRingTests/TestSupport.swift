import Foundation
import Testing
import TestSupport
@testable import SharedRing

extension TemporaryDirectory {
    var directory: DataDirectory { DataDirectory(path: path) }
}

/// Starts a cbuff-test-agent.
func Agent(_ arguments: [String]) throws -> ChildProcess {
    try ChildProcess("cbuff-test-agent", arguments)
}

/// A test item: 8-byte items hold their sequence; larger ones their sequence then a tag byte
/// repeated (the same pattern as cbuff-test-agent).
enum TestItem {
    static func tag(of sequence: UInt64) -> UInt8 {
        UInt8(truncatingIfNeeded: (sequence &* 0x9E37_79B9_7F4A_7C15) >> 56) | 1
    }

    static func bytes(_ sequence: UInt64, size: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: tag(of: sequence), count: size)
        withUnsafeBytes(of: sequence.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        return bytes
    }

    static func sequence(of bytes: [UInt8]) -> UInt64? {
        let sequence = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        return bytes.dropFirst(8).allSatisfy { $0 == tag(of: sequence) } ? sequence : nil
    }
}

/// Expects `body` to throw a ``CBuffError`` with `code`.
func expectError<R>(_ code: CBuffError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R) {
    do {
        _ = try body()
        Issue.record("expected an error \(code), got none", sourceLocation: sourceLocation)
    } catch let error as CBuffError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an error \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
