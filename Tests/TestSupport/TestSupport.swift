import Foundation
import Spawning

/// A fresh data directory under the system's temporary directory, removed by `remove()`.
public final class TemporaryDirectory: Sendable {
    public let path: String

    /// A new directory under `base`, else under `$TMPDIR`, else `/tmp`.
    public init(in base: String? = nil) throws {
        let base = base ?? ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/cbuff-test-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: created)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The `cbuff` tool over a fresh data directory of its own, for the tests that run it as a
/// user would: `try cli("create", "a", "--item-size", "8", "--length", "16")`.
public struct CBuffTool: Sendable {
    public let temporary: TemporaryDirectory
    /// The data directory every call passes with `--dir`.
    public var dir: String { temporary.path }

    public init() throws { temporary = try TemporaryDirectory() }

    /// Runs `cbuff --dir DIR arguments...` to completion (killed after 60 s).
    @discardableResult
    public func callAsFunction(_ arguments: String..., input: String? = nil) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, input: input, timeout: 60)
    }
}

/// A running program of this package (cbuff, cbuff-test-agent), with a pipe to its stdin and
/// one from its stdout, started through ``Spawned``; killed when released.
public final class ChildProcess {
    let process: Spawned
    private var lines: LineReader

    /// The package's executables sit beside the test bundle in the build directory.
    public static func executable(_ name: String) -> URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Starts `program` (a package executable by name, or any program by absolute path) with
    /// `arguments` and `environment` added to this process's.
    public init(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process = try Spawned(program.hasPrefix("/") ? program : Self.executable(program).path, arguments,
                              environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                              input: .pipe, output: .pipe)
        lines = LineReader(process.output)
    }

    public var pid: Int32 { process.pid }

    /// The agent's next line of output, or nil at end of output.
    public func readLine() -> String? {
        lines.next()
    }

    /// Reads lines until one starts with `prefix`; returns it (nil if the output ends first).
    public func expectLine(startingWith prefix: String) -> String? {
        while let line = readLine() {
            if line.hasPrefix(prefix) { return line }
        }
        return nil
    }

    public func send(_ line: String) {
        process.write(Array((line + "\n").utf8))
    }

    public func kill(_ signal: Int32 = SIGKILL) {
        process.kill(signal)
    }

    /// Waits for the agent to exit; returns its exit status (or 128 + signal).
    @discardableResult
    public func wait() -> Int32 {
        process.wait()
    }

    /// Waits at most `seconds` for the program to exit, then kills it (SIGKILL); returns its
    /// exit status (or 128 + signal) and whether it had to be killed.
    public func wait(timeout seconds: Double) -> (status: Int32, timedOut: Bool) {
        if let status = process.wait(timeout: seconds) { return (status, false) }
        process.kill(SIGKILL)
        return (process.wait(), true)
    }

    /// Closes the agent's standard input.
    public func closeInput() {
        process.closeInput()
    }
}

/// Parses "key=value key=value" into a dictionary of integers.
public func fields(_ line: String) -> [String: UInt64] {
    var result: [String: UInt64] = [:]
    for pair in line.split(separator: " ") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        if parts.count == 2, let value = UInt64(parts[1]) { result[String(parts[0])] = value }
    }
    return result
}


/// A small seeded generator, so that a failing random run can be replayed from its printed seed.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What a finished program printed, and how it ended.
public struct Outcome: Sendable, CustomStringConvertible {
    /// The exit status, or 128 + the signal that ended it.
    public let status: Int32
    public let stdout: String
    public let stderr: String
    /// Whether the program was killed because it outlived its timeout.
    public var timedOut = false

    public var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }

    public init(status: Int32, stdout: String, stderr: String, timedOut: Bool = false) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
    }

    public var description: String { "\(timedOut ? "TIMED OUT, " : "")status \(status), stdout \(stdout.debugDescription), stderr \(stderr.debugDescription)" }
}

/// Runs the package's executable `program` to completion, feeding it `input`; as another user
/// and group (through `setpriv`, which drops every supplementary group) when `user` is given.
///
/// - Parameters:
///   - timeout: seconds after which the program is killed (SIGKILL); its outcome then has
///     `timedOut` set, so that a test of a bounded wait fails instead of hanging.
///   - stdoutPath: a file to send standard output to instead of a pipe (`/dev/full`, say).
///   - removing: environment variables to leave out.
public func run(_ program: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
                user: (uid: UInt32, gid: UInt32)? = nil, timeout: Double = 120, stdoutPath: String? = nil,
                removing: [String] = []) throws -> Outcome {
    // A package executable by name, or any program by absolute path.
    let path = program.hasPrefix("/") ? program : ChildProcess.executable(program).path
    let (executable, allArguments) = user.map { user in
        ("/usr/bin/setpriv", ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups", "--", path] + arguments)
    } ?? (path, arguments)
    var variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    for name in removing { variables[name] = nil }
    if let stdoutPath, !FileManager.default.fileExists(atPath: stdoutPath) { throw POSIXError(.ENOENT) }
    let process = try Spawned(executable, allArguments, environment: variables, input: .pipe,
                              output: stdoutPath.map { .file($0) } ?? .pipe, error: .pipe)
    let watchdog = Watchdog(process, seconds: timeout)
    // Both pipes are drained at once, so that a program filling one never blocks on it.
    let errors = Thread.detachedReading(process.error)
    if let input { process.write(Array(input.utf8)) }
    process.closeInput()
    let output = process.output >= 0 ? readToEnd(process.output) : []
    let status = process.wait()
    let timedOut = watchdog.finish()
    return Outcome(status: status, stdout: String(decoding: output, as: UTF8.self), stderr: String(decoding: errors.value(), as: UTF8.self),
                   timedOut: timedOut)
}

/// Kills a process that outlives its time (on a thread of its own), and says whether it did.
final class Watchdog: @unchecked Sendable {   // guarded by `condition`
    private let condition = NSCondition()
    private var finished = false
    private var fired = false

    init(_ process: Spawned, seconds: Double) {
        let thread = Thread { [self] in
            condition.lock()
            let deadline = Date(timeIntervalSinceNow: seconds)
            while !finished, condition.wait(until: deadline) {}
            if !finished {
                fired = true
                process.kill(SIGKILL)   // not once it was waited for: its PID may be another's by then
            }
            condition.unlock()
        }
        thread.start()
    }

    /// Stops watching; returns whether the process was killed for its time.
    func finish() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        finished = true
        condition.broadcast()
        return fired
    }
}

extension Thread {
    /// Reads a handle to its end on a new thread.
    fileprivate static func detachedReading(_ fd: CInt) -> PendingData {
        let pending = PendingData()
        let thread = Thread { pending.set(readToEnd(fd)) }
        thread.start()
        return pending
    }
}

/// Data another thread is still reading.
private final class PendingData: @unchecked Sendable {   // guarded by `condition`
    private let condition = NSCondition()
    private var data: [UInt8]?

    func set(_ value: [UInt8]) {
        condition.lock()
        data = value
        condition.broadcast()
        condition.unlock()
    }

    func value() -> [UInt8] {
        condition.lock()
        defer { condition.unlock() }
        while data == nil { condition.wait() }
        return data!
    }
}

/// A test item of sequence s: 8-byte items hold s itself; larger items hold s (8 bytes,
/// little-endian) then the tag byte of s repeated, so that a torn copy cannot pass the check.
public enum TestItem {
    public static func tag(of sequence: UInt64) -> UInt8 {
        UInt8(truncatingIfNeeded: (sequence &* 0x9E37_79B9_7F4A_7C15) >> 56) | 1
    }

    public static func bytes(_ sequence: UInt64, size: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: tag(of: sequence), count: size)
        withUnsafeBytes(of: sequence.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        return bytes
    }

    public static func sequence(of bytes: [UInt8]) -> UInt64? {
        let sequence = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        return bytes.dropFirst(8).allSatisfy { $0 == tag(of: sequence) } ? sequence : nil
    }
}


/// The messages of the message-ring tests: message `sequence` has a length from 8 to `max`
/// bytes that follows from its sequence, starts with the sequence (little-endian), and every
/// byte after it is the sequence's tag; so a torn, shortened or misplaced message fails `check`.
public enum TestMessage {
    public static func length(of sequence: UInt64, max: Int) -> Int {
        let mixed = (sequence &+ 0x5851_F42D_4C95_7F2D) &* 0x9E37_79B9_7F4A_7C15
        return 8 + Int((mixed >> 33) % UInt64(max - 7))
    }

    public static func bytes(_ sequence: UInt64, max: Int) -> [UInt8] {
        TestItem.bytes(sequence, size: length(of: sequence, max: max))
    }

    /// Whether `bytes` are exactly message `sequence`.
    public static func check(_ bytes: [UInt8], sequence: UInt64, max: Int) -> Bool {
        bytes.count == length(of: sequence, max: max) && TestItem.sequence(of: bytes) == sequence
    }
}
