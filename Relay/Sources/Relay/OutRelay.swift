public import SharedRing
internal import Foundation

/// The headers every relayed item or message carries.
public enum RelayHeaders {
    /// JetStream's de-duplication id: the buffer's identity (name and creation time) and the
    /// item's sequence, so that a relay restarted after a crash republishes what it was not sure
    /// of without JetStream storing any item twice (within the stream's duplicate window).
    public static let messageID = "Nats-Msg-Id"
    public static let buffer = "Cbuff-Buffer"
    public static let sequence = "Cbuff-Sequence"
    public static let kind = "Cbuff-Kind"
    public static let itemSize = "Cbuff-Item-Size"
    public static let fields = "Cbuff-Fields"
    public static let maxMessage = "Cbuff-Max-Message"
}

/// `cbuff-relay out`: follows a buffer as a named reader and publishes each item (or message)
/// into a JetStream stream, committing the reader's cursor only past what JetStream acknowledged.
public struct OutRelay {
    public var buffer: String
    public var server: String
    public var stream: String
    public var subject: String
    public var readerName: String?
    public var directory: DataDirectory
    public var once = false
    /// Publishes in flight at most (then one wait for their acknowledgements).
    public var window = 256

    public init(buffer: String, server: String, stream: String, subject: String, directory: DataDirectory) {
        self.buffer = buffer
        self.server = server
        self.stream = stream
        self.subject = subject
        self.directory = directory
    }

    /// Relays until `shouldStop()` (checked between windows), or, with `once`, until caught up.
    /// `report` receives a status line every few seconds.
    public func run(shouldStop: () -> Bool = { false }, report: (String) -> Void = { _ in }) throws {
        let session = try NatsSession(url: server, window: window)
        _ = try session.ensureStream(stream, subject: subject)
        let record = try directory.record(of: buffer)
        let identity = "\(buffer)@\(record.createdAt)"
        let name = readerName ?? "relay-\(stream)"
        var common: [(String, String)] = [(RelayHeaders.buffer, buffer), (RelayHeaders.kind, record.holdsMessages ? "messages" : "items")]
        if let max = record.maxMessageSize { common.append((RelayHeaders.maxMessage, String(max))) } else { common.append((RelayHeaders.itemSize, String(record.itemSize))) }
        if let fields = record.itemLayout { common.append((RelayHeaders.fields, fields.description)) }
        var source = try openSource(directory: directory, buffer: buffer, reader: name, messages: record.holdsMessages)
        guard (try? directory.record(of: buffer).createdAt) == record.createdAt else { throw RelayError.removed(buffer) }
        /// Goes back to the last commit: the named reader is closed (releasing its lock, and
        /// committing nothing more, as it commits only when told) and opened again, on the same
        /// buffer: not on another of its name.
        func reopen() throws {
            try stopIfRemoved()
            source = ReleasedSource()
            source = try openSource(directory: directory, buffer: buffer, reader: name, messages: record.holdsMessages)
            guard (try? directory.record(of: buffer).createdAt) == record.createdAt else { throw RelayError.removed(buffer) }
        }
        /// Throws if the buffer was removed, or removed and created again, under the relay: what
        /// its reader would read then is no longer buffer `buffer`.
        func stopIfRemoved() throws {
            if try source.isRemoved() { throw RelayError.removed(buffer) }
        }
        var progress = Progress(verb: "relayed")
        defer { report("out \(buffer) -> \(stream): \(progress.summary)") }
        while true {
            try stopIfRemoved()
            var inFlight = 0
            var refused: RelayError?
            progress.begin()
            while inFlight < window, let (sequence, bytes) = try source.next() {
                let headers = common + [(RelayHeaders.messageID, "\(identity):\(sequence)"), (RelayHeaders.sequence, String(sequence))]
                do {
                    try bytes.withUnsafeBytes { data in try session.publish(subject: subject, data: data, headers: headers) }
                } catch let error as RelayError {
                    refused = error          // disconnected, say: the window is sent again below
                    break
                }
                inFlight += 1
            }
            if let refused {
                report("\(refused) Waiting for the connection, then sending again from the last commit")
                _ = session.completePublishing(timeout: 1)
                try reopen()
                Thread.sleep(forTimeInterval: 0.25)
            } else if inFlight > 0 {
                if session.completePublishing(timeout: 5) {
                    source.commit()
                    progress.add(UInt64(inFlight))
                } else {
                    // Not every publish of the window was acknowledged (the server went away, say):
                    // resume at the last commit; JetStream drops what it already had (same ids).
                    report("JetStream did not acknowledge \(inFlight) publishes; sending them again from the last commit")
                    try reopen()
                    Thread.sleep(forTimeInterval: 0.25)
                }
            } else {
                if once { return }
                _ = source.wait(seconds: 0.2)
            }
            if let status = progress.due() {
                let last = (try? session.lastSequence(stream)).map(String.init) ?? "?"
                report("out \(buffer) -> \(stream): \(status), lag \(source.lag), stream sequence \(last)")
            }
            if shouldStop() { return }
        }
    }
}

/// What the out relay reads: a named reader of either kind, committing only when told.
protocol RelaySource: AnyObject {
    func next() throws -> (UInt64, [UInt8])?
    func commit()
    func wait(seconds: Double) -> Bool
    var lag: Int { get }
    /// Whether the buffer was removed, or removed and created again (`BufferReader.isRemoved()`).
    func isRemoved() throws -> Bool
}

/// Opens the named reader `reader` of `buffer`, of the buffer's kind.
func openSource(directory: DataDirectory, buffer: String, reader: String, messages: Bool) throws -> any RelaySource {
    messages ? try MessageSource(try directory.openMessageReader(buffer, named: reader))
             : try ItemSource(try directory.openReader(buffer, named: reader))
}

/// What `source` holds for a moment while the reader is reopened.
final class ReleasedSource: RelaySource {
    func next() throws -> (UInt64, [UInt8])? { nil }
    func commit() {}
    func wait(seconds: Double) -> Bool { false }
    var lag: Int { 0 }
    func isRemoved() throws -> Bool { false }
}

final class ItemSource: RelaySource {
    var reader: BufferReader
    init(_ reader: consuming BufferReader) throws {
        reader.commitsOnRead = false
        self.reader = reader
    }
    func next() throws -> (UInt64, [UInt8])? {
        guard let bytes = try reader.popBytes() else { return nil }
        return (reader.nextSequence - 1, bytes)
    }
    func commit() { reader.commit() }
    func wait(seconds: Double) -> Bool { reader.wait(timeout: .milliseconds(Int(seconds * 1000))) }
    var lag: Int { reader.usage }
    func isRemoved() throws -> Bool { try reader.isRemoved() }
}

final class MessageSource: RelaySource {
    var reader: MessageReader
    init(_ reader: consuming MessageReader) throws {
        reader.commitsOnRead = false
        self.reader = reader
    }
    func next() throws -> (UInt64, [UInt8])? { try reader.pop().map { ($0.sequence, $0.bytes) } }
    func commit() { reader.commit() }
    func wait(seconds: Double) -> Bool { reader.wait(timeout: .milliseconds(Int(seconds * 1000))) }
    var lag: Int { reader.usage }
    func isRemoved() throws -> Bool { try reader.isRemoved() }
}
