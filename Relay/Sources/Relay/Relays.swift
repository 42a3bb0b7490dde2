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
        /// Goes back to the last commit: the named reader is closed (releasing its lock, and
        /// committing nothing more, as it commits only when told) and opened again.
        func reopen() throws {
            source = ReleasedSource()
            source = try openSource(directory: directory, buffer: buffer, reader: name, messages: record.holdsMessages)
        }
        var relayed: UInt64 = 0, lastReport = Date(), relayedAtReport: UInt64 = 0
        while true {
            var inFlight = 0
            var refused: RelayError?
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
                    relayed += UInt64(inFlight)
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
            if Date().timeIntervalSince(lastReport) >= 2 {
                let seconds = Date().timeIntervalSince(lastReport)
                report("out \(buffer) -> \(stream): \(relayed) relayed, \(String(format: "%.0f", Double(relayed - relayedAtReport) / seconds))/s, lag \(source.lag)")
                lastReport = Date()
                relayedAtReport = relayed
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
    var lag: Int { 0 }
}

/// `cbuff-relay in`: a durable pull consumer on a stream that pushes each message into a buffer
/// and acknowledges it only once pushed. Delivery into the ring is at least once: a relay killed
/// between a push and its acknowledgement pushes that message again when it restarts (its
/// `Cbuff-Sequence` header, and the stream sequence, say which it was); with a `block` buffer
/// nothing is lost.
public struct InRelay {
    public var buffer: String
    public var server: String
    public var stream: String
    public var consumer: String
    public var directory: DataDirectory
    public var once = false
    /// For a buffer created from the stream's headers: its length (items) or capacity (messages).
    public var length = 1 << 16
    public var capacity = 1 << 24

    public init(buffer: String, server: String, stream: String, consumer: String, directory: DataDirectory) {
        self.buffer = buffer
        self.server = server
        self.stream = stream
        self.consumer = consumer
        self.directory = directory
    }

    public func run(shouldStop: () -> Bool = { false }, report: (String) -> Void = { _ in }) throws {
        let session = try NatsSession(url: server, window: 256)
        let pull = try session.pullSubscribe(stream: stream, durable: consumer)
        var sink: (any RelaySink)?
        var pushed: UInt64 = 0, lastReport = Date()
        while true {
            let fetched = try pull.fetch(batch: 256, timeout: 1) { message in
                if sink == nil { sink = try openSink(directory: directory, buffer: buffer, first: message, length: length, capacity: capacity) }
                try sink!.push(message.data)
                guard message.acknowledge() else { throw RelayError("Cannot acknowledge a message of stream \(stream).") }
                pushed += 1
            }
            if fetched == 0 && once { return }
            if Date().timeIntervalSince(lastReport) >= 2 {
                report("in \(stream) -> \(buffer): \(pushed) pushed")
                lastReport = Date()
            }
            if shouldStop() { return }
        }
    }
}

/// What the in relay writes: the buffer's writer, taken over, or created from the first
/// message's headers.
protocol RelaySink: AnyObject {
    func push(_ data: UnsafeRawBufferPointer) throws
}

func openSink(directory: DataDirectory, buffer: String, first: NatsSession.PullConsumer.Message, length: Int, capacity: Int) throws -> any RelaySink {
    let exists = (try? directory.record(of: buffer)) != nil
    if first.header(RelayHeaders.kind) == "messages" {
        let largest = Int(first.header(RelayHeaders.maxMessage) ?? "") ?? 65536
        var ring = 4096
        while ring < max(capacity, (largest + 24) * 2) { ring <<= 1 }
        return MessageSink(exists ? try directory.takeOverMessages(buffer)
                                  : try directory.createMessageBuffer(buffer, capacity: ring, maxMessageSize: largest, policy: .block))
    }
    if exists { return ItemSink(try directory.takeOver(buffer)) }
    if let spec = first.header(RelayHeaders.fields) {
        return ItemSink(try directory.createBuffer(buffer, layout: try ItemLayout(spec), length: length, policy: .block))
    }
    let size = Int(first.header(RelayHeaders.itemSize) ?? "") ?? first.data.count
    return ItemSink(try directory.createBuffer(buffer, itemSize: max(1, size), length: length, policy: .block))
}

final class ItemSink: RelaySink {
    var writer: BufferWriter
    init(_ writer: consuming BufferWriter) { self.writer = writer }
    func push(_ data: UnsafeRawBufferPointer) throws {
        guard data.count <= writer.itemSize else {
            throw RelayError("A message of \(data.count) bytes does not fit the \(writer.itemSize)-byte items of buffer \(writer.name).")
        }
        try writer.push(bytes: data)
    }
}

final class MessageSink: RelaySink {
    var writer: MessageWriter
    init(_ writer: consuming MessageWriter) { self.writer = writer }
    func push(_ data: UnsafeRawBufferPointer) throws { try writer.push(data) }
}
