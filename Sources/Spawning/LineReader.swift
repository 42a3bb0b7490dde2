@preconcurrency internal import Glibc

/// The lines a child writes to a pipe (``Spawned/output``, say), read as they come.
public struct LineReader {
    private let fd: Int32
    private var buffered: [UInt8] = []
    private var ended = false

    /// Reads `fd`, which its owner keeps and closes.
    public init(_ fd: Int32) { self.fd = fd }

    /// The next line, without its newline, waiting for it; at the end of the input the last line
    /// even without a newline, then nil.
    public mutating func next() -> String? {
        while true {
            if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffered[..<newline], as: UTF8.self)
                buffered.removeSubrange(...newline)
                return line
            }
            if ended || !readChunk(fd, into: &buffered) {
                ended = true
                defer { buffered.removeAll() }
                return buffered.isEmpty ? nil : String(decoding: buffered, as: UTF8.self)
            }
        }
    }
}

/// Reads `fd` to its end.
public func readToEnd(_ fd: Int32) -> [UInt8] {
    var bytes: [UInt8] = []
    while readChunk(fd, into: &bytes) {}
    return bytes
}

/// Appends what one read(2) of `fd` gives (retrying EINTR) to `bytes`; false at its end (or on
/// an error, which ends it for every reader here).
private func readChunk(_ fd: Int32, into bytes: inout [UInt8]) -> Bool {
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        bytes += chunk[0..<n]
        return true
    }
}
