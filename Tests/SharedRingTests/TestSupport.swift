import Foundation
import Testing
@testable import SharedRing

/// A fresh data directory under the system's temporary directory, removed by `remove()`.
final class TemporaryDirectory: Sendable {
    let path: String
    var directory: DataDirectory { DataDirectory(path: path) }

    init() throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/cbuff-test-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw CBuffError(.systemFailure, "mkdtemp failed") }
        path = String(cString: created)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
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

/// A running cbuff-test-agent, with a pipe to its stdin and one from its stdout.
final class Agent {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffered: [UInt8] = []

    /// The built agent sits beside the test bundle in the build directory.
    static let executable: URL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("cbuff-test-agent")

    init(_ arguments: [String]) throws {
        process.executableURL = Self.executable
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// The agent's next line of output, or nil at end of output.
    func readLine() -> String? {
        let fd = output.fileHandleForReading.fileDescriptor
        while true {
            if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffered[..<newline], as: UTF8.self)
                buffered.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return buffered.isEmpty ? nil : String(decoding: buffered, as: UTF8.self) }
            buffered += chunk[0..<n]
        }
    }

    /// Reads lines until one starts with `prefix`; returns it (nil if the output ends first).
    func expectLine(startingWith prefix: String) -> String? {
        while let line = readLine() {
            if line.hasPrefix(prefix) { return line }
        }
        return nil
    }

    func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    func kill(_ signal: Int32 = SIGKILL) {
        Glibc.kill(pid, signal)
    }

    /// Waits for the agent to exit; returns its exit status (or 128 + signal).
    @discardableResult
    func wait() -> Int32 {
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    deinit {
        if process.isRunning {
            Glibc.kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Parses "key=value key=value" into a dictionary of integers.
func fields(_ line: String) -> [String: UInt64] {
    var result: [String: UInt64] = [:]
    for pair in line.split(separator: " ") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        if parts.count == 2, let value = UInt64(parts[1]) { result[String(parts[0])] = value }
    }
    return result
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
