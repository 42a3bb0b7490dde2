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
    /// How long to try to reach a server at start, and, with `once`, how long an outage may
    /// last before the relay gives up.
    public var connectTimeout = 30.0
    /// Seconds between status lines at most (each only if something changed); nil: none.
    public var statusInterval: Double? = 2

    public init(buffer: String, server: String, stream: String, subject: String, directory: DataDirectory) {
        self.buffer = buffer
        self.server = server
        self.stream = stream
        self.subject = subject
        self.directory = directory
    }

    /// Relays until `shouldStop()` (checked between windows), or, with `once`, until caught up.
    /// `report` receives the status lines, and the connection's drops and returns.
    public func run(shouldStop: () -> Bool = { false }, report: @escaping @Sendable (String) -> Void = { _ in }) throws {
        try validate()
        let session = try NatsSession(url: server, window: window, patience: connectTimeout, report: report)
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
            source = ReleasedSource(position: source.position)
            source = try openSource(directory: directory, buffer: buffer, reader: name, messages: record.holdsMessages)
            guard (try? directory.record(of: buffer).createdAt) == record.createdAt else { throw RelayError.removed(buffer) }
        }
        /// Throws if the buffer was removed, or removed and created again, under the relay: what
        /// its reader would read then is no longer buffer `buffer`.
        func stopIfRemoved() throws {
            if try source.isRemoved() { throw RelayError.removed(buffer) }
        }
        var progress = Progress(verb: "relayed", interval: statusInterval.map { .milliseconds(Int($0 * 1000)) })
        var outage = Outage()
        defer { report("out \(buffer) -> \(stream): \(progress.summary); reader \(name) at item \(source.position)") }
        report("out \(buffer) -> \(stream): reader \(name) at item \(source.position), \(source.lag) items to relay")
        while true {
            try stopIfRemoved()
            var inFlight = 0
            var refused: RelayError?
            progress.begin()
            while inFlight < window, let (sequence, bytes) = try source.next() {
                let headers = common + [(RelayHeaders.messageID, "\(identity):\(sequence)"), (RelayHeaders.sequence, String(sequence))]
                do {
                    try bytes.withUnsafeBytes { data in try session.publish(subject: subject, data: data, headers: headers) }
                } catch let error as RelayError where error.transient {
                    refused = error          // disconnected, say: the window is sent again below
                    break
                } catch let error as RelayError {
                    // One the server never takes (larger than its max_payload): the relay
                    // stops, its reader's cursor at the last commit, before this window.
                    throw RelayError("Item \(sequence) of buffer \(buffer): \(error.description)", status: error.status)
                }
                inFlight += 1
            }
            // Not every publish of the window went out or was acknowledged (the server went
            // away, say): resume at the last commit once it answers; JetStream drops what it
            // already had (same ids). Said once an outage; with `once`, given up after the bound.
            let failure = refused ?? (inFlight > 0 && !session.completePublishing(timeout: 5)
                                      ? RelayError("JetStream did not acknowledge \(inFlight) publishes.", transient: true) : nil)
            if let failure {
                if refused != nil { _ = session.completePublishing(timeout: 1) }
                let first = try outage.failure(failure, bound: once ? connectTimeout : nil, server: server)
                try reopen()
                if first { report("\(failure) Sending again from the last commit (reader \(name) at item \(source.position)) once the server answers") }
                Thread.sleep(forTimeInterval: 0.25)
            } else if inFlight > 0 {
                outage.end()
                source.commit()
                progress.add(UInt64(inFlight))
            } else {
                outage.end()
                if once { return }
                _ = source.wait(seconds: 0.2)
            }
            if progress.isTimeToLook() {
                let last = try? session.lastSequence(stream)
                if let moved = progress.line(showing: [source.position, UInt64(source.lag), last]) {
                    report("out \(buffer) -> \(stream): reader \(name) at item \(source.position), lag \(source.lag), stream at sequence \(last.map(String.init) ?? "?"); since start \(moved)")
                }
            }
            if shouldStop() { return }
        }
    }
}

extension OutRelay {
    /// The largest window (publishes in flight).
    public static let largestWindow = 65_536

    /// Throws a usage error (one sentence, exit 64) for any argument the relay cannot work
    /// with, before it connects, creates a stream or opens the buffer. (`run` checks first;
    /// the command line checks while parsing.)
    public func validate() throws(RelayError) {
        try Arguments.library("Buffer name") { () throws(CBuffError) in try DataDirectory.checkBufferName(buffer) }
        try Arguments.checkName(stream, option: "--stream")
        try Subject.checkLiteral(subject, option: "--subject")
        let reader = readerName ?? "relay-\(stream)"
        try Arguments.library(readerName == nil ? "The default reader name relay-STREAM (give one with --reader)" : "--reader") { () throws(CBuffError) in
            try DataDirectory.checkReaderName(reader)
        }
        try Arguments.checkRange(window, 1...Self.largestWindow, option: "--window", unit: " publishes")
        try Arguments.checkSeconds(connectTimeout, option: "--connect-timeout")
        if let statusInterval { try Arguments.checkSeconds(statusInterval, option: "--status-interval") }
    }
}

/// What the out relay reads: a named reader of either kind, committing only when told.
protocol RelaySource: AnyObject {
    func next() throws -> (UInt64, [UInt8])?
    func commit()
    func wait(seconds: Double) -> Bool
    /// Where the reader's cursor is committed (what `cbuff reader list` shows): the sequence of
    /// the first item not known to be relayed; everything before it was, in all runs. Items
    /// read since, in a window not yet acknowledged, are not past it.
    var position: UInt64 { get }
    /// Items from ``position`` on: read and not yet acknowledged, and not read yet.
    var lag: Int { get }
    /// Whether the buffer was removed, or removed and created again (`BufferReader.isRemoved()`).
    func isRemoved() throws -> Bool
}

/// Opens the named reader `reader` of `buffer`, of the buffer's kind.
func openSource(directory: DataDirectory, buffer: String, reader: String, messages: Bool) throws -> any RelaySource {
    messages ? try MessageSource(try directory.openMessageReader(buffer, named: reader))
             : try ItemSource(try directory.openReader(buffer, named: reader))
}

/// What `source` holds for a moment while the reader is reopened: the position it had.
final class ReleasedSource: RelaySource {
    let position: UInt64
    init(position: UInt64) { self.position = position }
    func next() throws -> (UInt64, [UInt8])? { nil }
    func commit() {}
    func wait(seconds: Double) -> Bool { false }
    var lag: Int { 0 }
    func isRemoved() throws -> Bool { false }
}

final class ItemSource: RelaySource {
    var reader: BufferReader
    private(set) var position: UInt64
    init(_ reader: consuming BufferReader) throws {
        reader.commitsOnRead = false
        position = reader.nextSequence
        self.reader = reader
    }
    func next() throws -> (UInt64, [UInt8])? {
        guard let bytes = try reader.popBytes() else { return nil }
        return (reader.nextSequence - 1, bytes)
    }
    func commit() {
        reader.commit()
        position = reader.nextSequence
    }
    func wait(seconds: Double) -> Bool { reader.wait(timeout: .milliseconds(Int(seconds * 1000))) }
    var lag: Int { reader.usage + Int(reader.nextSequence - position) }
    func isRemoved() throws -> Bool { try reader.isRemoved() }
}

final class MessageSource: RelaySource {
    var reader: MessageReader
    private(set) var position: UInt64
    init(_ reader: consuming MessageReader) throws {
        reader.commitsOnRead = false
        position = reader.nextSequence
        self.reader = reader
    }
    func next() throws -> (UInt64, [UInt8])? { try reader.pop().map { ($0.sequence, $0.bytes) } }
    func commit() {
        reader.commit()
        position = reader.nextSequence
    }
    func wait(seconds: Double) -> Bool { reader.wait(timeout: .milliseconds(Int(seconds * 1000))) }
    var lag: Int { reader.usage + Int(reader.nextSequence - position) }
    func isRemoved() throws -> Bool { try reader.isRemoved() }
}
