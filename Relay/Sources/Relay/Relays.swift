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
        var progress = Progress(verb: "relayed")
        defer { report("out \(buffer) -> \(stream): \(progress.summary)") }
        while true {
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

/// What a relay moved, for its status lines (every 2 s) and its last line.
struct Progress {
    let verb: String
    private(set) var count: UInt64 = 0
    private var first: ContinuousClock.Instant?, last: ContinuousClock.Instant?
    private var lastReport = ContinuousClock.now, countAtReport: UInt64 = 0

    init(verb: String) { self.verb = verb }

    /// A batch starts: the clock of the last line starts with the first.
    mutating func begin() {
        if first == nil { first = .now }
    }

    /// A batch of `count` ended.
    mutating func add(_ count: UInt64) {
        self.count += count
        last = .now
    }

    /// "N relayed, R/s" if a status line is due (the rate since the last one), else nil.
    mutating func due() -> String? {
        let elapsed = ContinuousClock.now - lastReport
        guard elapsed >= .seconds(2) else { return nil }
        defer { lastReport = .now; countAtReport = count }
        return "\(count) \(verb), \(Self.rate(count - countAtReport, elapsed))/s"
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
    var lag: Int { reader.usage }
}

/// `cbuff-relay in`: a durable pull consumer on a stream that pushes each message into a buffer
/// and acknowledges it once pushed. Delivery into the ring is exactly once while the relay is the
/// ring's only writer: its journal (see `InJournal`) says, after any crash, which stream message
/// was the last pushed, the consumer is set to deliver from the next one, and redeliveries of
/// what was pushed are dropped. With a `block` buffer nothing is lost.
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
    /// Messages fetched at most at a time (each batch is one journal write).
    public var batch = 256
    /// How long to wait for the stream to exist.
    public var streamPatience = 60

    public init(buffer: String, server: String, stream: String, consumer: String, directory: DataDirectory) {
        self.buffer = buffer
        self.server = server
        self.stream = stream
        self.consumer = consumer
        self.directory = directory
    }

    public func run(shouldStop: () -> Bool = { false }, report: (String) -> Void = { _ in }) throws {
        guard !consumer.isEmpty, consumer.utf8.count <= 64,
              consumer.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }) else {
            throw RelayError("A consumer name is 1 to 64 letters, digits, '_' or '-'; \"\(consumer)\" is not.")
        }
        let batch = min(max(1, self.batch), InJournal.maxBatch)
        let session = try NatsSession(url: server, window: 256)
        let streamInfo = try awaitStream(session, shouldStop: shouldStop, report: report)
        guard let streamSubject = streamInfo.subjects.first else { throw RelayError("Stream \(stream) has no subject.") }
        let journal = try InJournal(path: directory.ringPath(of: buffer) + ".in-" + consumer)

        // Where the ring stands: the last stream sequence it holds (0: none), or nil if unknown.
        var sink: (any RelaySink)?
        var identity = ""
        var done: UInt64?
        if let record = try? directory.record(of: buffer) {
            sink = try takeOverSink(directory: directory, buffer: buffer, messages: record.holdsMessages)
            identity = InJournal.fitted("\(buffer)@\(record.createdAt) \(stream)@\(streamInfo.created)")
            done = try resumePoint(journal: journal, identity: identity, ringNext: sink!.nextSequence, report: report)
        }
        let subject = try session.consumerState(stream: stream, durable: consumer)?.filterSubject ?? streamSubject
        /// Makes the consumer deliver in order from just after `done`, and subscribes to it.
        /// What it delivered and did not see acknowledged would otherwise come back only after
        /// its acknowledgement wait, behind newer messages; when `done` is unknown, delivery
        /// starts again at the consumer's acknowledged floor (at least once).
        func subscribeInOrder() throws -> NatsSession.PullConsumer {
            let state = try session.consumerState(stream: stream, durable: consumer)
            if let done {
                if state == nil || state!.delivered != done || state!.awaitingAcknowledgement > 0 {
                    try session.resetConsumer(stream: stream, durable: consumer, subject: subject, start: done + 1)
                }
            } else if let state, state.awaitingAcknowledgement > 0 {
                report("No journal says what buffer \(buffer) holds: delivering again from consumer \(consumer)'s acknowledged floor (stream sequence \(state.acknowledgedFloor + 1)), at least once")
                try session.resetConsumer(stream: stream, durable: consumer, subject: subject, start: state.acknowledgedFloor + 1)
            }
            return try session.pullSubscribe(stream: stream, durable: consumer, subject: subject)
        }
        var pull: NatsSession.PullConsumer? = try subscribeInOrder()

        var progress = Progress(verb: "pushed"), dropped: UInt64 = 0
        defer { report("in \(stream) -> \(buffer): \(progress.summary), \(dropped) redeliveries dropped") }
        var backoff = 0.25, unacknowledged: UInt64 = 0, stopped = false
        while !stopped {
            let fetched: Int
            do {
                guard let pull else { throw RelayError("No subscription yet.", transient: true) }
                fetched = try pull.fetch(batch: batch, timeout: 1) { messages in
                    let before = done
                    var fresh: [(NatsSession.PullConsumer.Message, UInt64)] = []
                    for message in messages {
                        guard let sequence = message.streamSequence else { throw RelayError("A message of stream \(stream) has no stream sequence.") }
                        if let done, sequence <= done {
                            dropped += 1                       // pushed before: a redelivery
                            _ = message.acknowledge()
                        } else {
                            fresh.append((message, sequence))
                            done = sequence
                        }
                    }
                    guard let first = fresh.first else { return }
                    progress.begin()
                    if sink == nil {
                        let record: BufferRecord
                        (sink, record) = try createSink(directory: directory, buffer: buffer, first: first.0, length: length, capacity: capacity)
                        identity = InJournal.fitted("\(buffer)@\(record.createdAt) \(stream)@\(streamInfo.created)")
                    }
                    try journal.write(.init(identity: identity, ringStart: sink!.nextSequence, before: before ?? first.1 - 1,
                                            sequences: fresh.map(\.1)))
                    for (message, _) in fresh {
                        // A stop while the ring is full ends the batch here: the journal and the
                        // ring's count still say exactly which messages are in (see InJournal).
                        guard try sink!.push(message.data, shouldStop: shouldStop, report: report) else {
                            stopped = true
                            return
                        }
                        // An acknowledgement lost with the connection is harmless: JetStream
                        // delivers the message again, and the journal says it was pushed.
                        if !message.acknowledge() { unacknowledged += 1 }
                        progress.add(1)
                    }
                }
                backoff = 0.25
            } catch let error as RelayError where error.transient {
                // The server went away (libnats reconnects by itself): delivery restarts in
                // order just after the last message pushed, as at start.
                report("\(error) Delivering again after stream sequence \(done.map(String.init) ?? "-") in \(backoff) s (\(unacknowledged) acknowledgements lost so far)")
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 2)
                if shouldStop() { return }
                pull = nil
                do {
                    pull = try subscribeInOrder()
                } catch let error as RelayError {
                    report("\(error) (the server is still away, say)")
                }
                continue
            }
            if fetched == 0 && once { return }
            if let status = progress.due() {
                let lag = (try? session.consumerState(stream: stream, durable: consumer))?.map { String($0.undelivered) } ?? "?"
                report("in \(stream) -> \(buffer): \(status), lag \(lag), stream sequence \(done.map(String.init) ?? "-"), \(dropped) redeliveries dropped")
            }
            if shouldStop() { return }
        }
    }

    /// The stream, once it exists (an `out` relay started at the same time creates it), waiting
    /// at most `streamPatience` seconds.
    func awaitStream(_ session: NatsSession, shouldStop: () -> Bool, report: (String) -> Void) throws -> NatsSession.StreamFacts {
        let deadline = ContinuousClock.now + .seconds(streamPatience)
        var said = false
        while true {
            do { return try session.ensureStream(stream, subject: nil) } catch let error as RelayError where error.notFound {
                if ContinuousClock.now > deadline || shouldStop() {
                    throw RelayError("Stream \(stream) does not exist (waited \(streamPatience) s for it).")
                }
                if !said { report("Waiting up to \(streamPatience) s for stream \(stream) to exist"); said = true }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }

    /// The last stream sequence the ring holds according to the journal, or nil if the journal
    /// cannot say (none, another buffer's or stream's, damaged, or the ring was written by
    /// something else since).
    func resumePoint(journal: borrowing InJournal, identity: String, ringNext: UInt64, report: (String) -> Void) throws -> UInt64? {
        let entry: InJournal.Entry?
        do { entry = try journal.read() } catch {
            report("\(error) Delivery starts again at least once from the consumer's acknowledged floor")
            return nil
        }
        guard let entry else { return nil }
        guard entry.identity == identity else {
            report("The journal \(journal.path) is for \(entry.identity), not \(identity): ignored")
            return nil
        }
        guard ringNext >= entry.ringStart, ringNext - entry.ringStart <= UInt64(entry.sequences.count) else {
            report("Buffer \(buffer) was written by another writer since the relay's last batch: its journal cannot say what it holds")
            return nil
        }
        let inRing = Int(ringNext - entry.ringStart)
        return inRing == 0 ? entry.before : entry.sequences[inRing - 1]
    }
}

/// What the in relay writes: the buffer's writer, taken over, or created from the first
/// message's headers.
protocol RelaySink: AnyObject {
    /// Pushes `data` if there is room within `timeout`; false, pushing nothing, if not.
    func push(_ data: UnsafeRawBufferPointer, timeout: Duration) throws -> Bool
    /// The sequence the next push gets.
    var nextSequence: UInt64 { get }
    var name: String { get }
}

extension RelaySink {
    /// Pushes `data`, waiting for room (a `block` buffer full of what its named readers have not
    /// consumed) in slices of 250 ms, so that a stop is seen while waiting: false if
    /// `shouldStop()` came first, with nothing pushed. Says once, after 2 s, what it waits for.
    func push(_ data: UnsafeRawBufferPointer, shouldStop: () -> Bool, report: (String) -> Void) throws -> Bool {
        var slices = 0
        while try !push(data, timeout: .milliseconds(250)) {
            if shouldStop() { return false }
            slices += 1
            if slices == 8 { report("Buffer \(name) is full of items its named readers have not consumed: waiting for room (SIGINT or SIGTERM stops here, nothing lost)") }
        }
        return true
    }
}

func takeOverSink(directory: DataDirectory, buffer: String, messages: Bool) throws -> any RelaySink {
    messages ? MessageSink(try directory.takeOverMessages(buffer)) : ItemSink(try directory.takeOver(buffer))
}

/// Creates buffer `buffer` from the headers of `first` (policy `block`), or takes it over if
/// another process created it meanwhile.
func createSink(directory: DataDirectory, buffer: String, first: NatsSession.PullConsumer.Message,
                length: Int, capacity: Int) throws -> (any RelaySink, BufferRecord) {
    let sink: any RelaySink
    if let record = try? directory.record(of: buffer) {
        sink = try takeOverSink(directory: directory, buffer: buffer, messages: record.holdsMessages)
    } else if first.header(RelayHeaders.kind) == "messages" {
        let largest = Int(first.header(RelayHeaders.maxMessage) ?? "") ?? 65536
        var ring = 4096
        while ring < max(capacity, (largest + 24) * 2) { ring <<= 1 }
        sink = MessageSink(try directory.createMessageBuffer(buffer, capacity: ring, maxMessageSize: largest, policy: .block))
    } else if let spec = first.header(RelayHeaders.fields) {
        sink = ItemSink(try directory.createBuffer(buffer, layout: try ItemLayout(spec), length: length, policy: .block))
    } else {
        let size = Int(first.header(RelayHeaders.itemSize) ?? "") ?? first.data.count
        sink = ItemSink(try directory.createBuffer(buffer, itemSize: max(1, size), length: length, policy: .block))
    }
    return (sink, try directory.record(of: buffer))
}

final class ItemSink: RelaySink {
    var writer: BufferWriter
    init(_ writer: consuming BufferWriter) { self.writer = writer }
    func push(_ data: UnsafeRawBufferPointer, timeout: Duration) throws -> Bool {
        guard data.count <= writer.itemSize else {
            throw RelayError("A message of \(data.count) bytes does not fit the \(writer.itemSize)-byte items of buffer \(writer.name).")
        }
        return try writer.push(bytes: data, timeout: timeout)
    }
    var nextSequence: UInt64 { writer.nextSequence }
    var name: String { writer.name }
}

final class MessageSink: RelaySink {
    var writer: MessageWriter
    init(_ writer: consuming MessageWriter) { self.writer = writer }
    func push(_ data: UnsafeRawBufferPointer, timeout: Duration) throws -> Bool { try writer.push(data, timeout: timeout) }
    var nextSequence: UInt64 { writer.nextSequence }
    var name: String { writer.name }
}
