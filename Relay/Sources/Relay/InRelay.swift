public import SharedRing
internal import Foundation

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
    /// The most bytes a buffer created from a message's headers may take (see `Admission`).
    public var maxRingBytes = 1 << 26
    /// How long to try to reach a server at start, and, with `once`, how long an outage may
    /// last before the relay gives up.
    public var connectTimeout = 30.0
    /// Seconds between status lines at most (each only if something changed); nil: none.
    public var statusInterval: Double? = 2
    /// Where refused messages go (see `DeadLetters`): nil for the default subject,
    /// `cbuff.dead-letter.STREAM.CONSUMER`; empty: nowhere (they are only terminated).
    public var deadLetterSubject: String?

    public init(buffer: String, server: String, stream: String, consumer: String, directory: DataDirectory) {
        self.buffer = buffer
        self.server = server
        self.stream = stream
        self.consumer = consumer
        self.directory = directory
    }

    /// Relays until `shouldStop()` (checked between batches and while waiting for room), or,
    /// with `once`, until a fetch finds nothing. `report` receives where delivery resumes, the
    /// refusals, the status lines, and the connection's drops and returns.
    public func run(shouldStop: () -> Bool = { false }, report: @escaping @Sendable (String) -> Void = { _ in }) throws {
        try validate()
        let session = try NatsSession(url: server, window: 256, patience: connectTimeout, report: report)
        let streamInfo = try awaitStream(session, shouldStop: shouldStop, report: report)
        guard let streamSubject = streamInfo.subjects.first else { throw RelayError("Stream \(stream) has no subject.") }
        let journal = try InJournal(path: directory.ringPath(of: buffer) + ".in-" + consumer)

        // Where the ring stands: the last stream sequence it holds (0: none), or nil if unknown.
        var sink: (any RelaySink)?
        var identity = ""
        var done: UInt64?
        if let record = try? directory.record(of: buffer) {
            sink = try takeOverSink(directory: directory, buffer: buffer, messages: record.holdsMessages)
            identity = InJournal.identity(buffer: buffer, created: record.createdAt, stream: stream, streamCreated: streamInfo.created)
            done = try resumePoint(journal: journal, identity: identity, ringNext: sink!.nextSequence,
                                   streamLast: session.lastSequence(stream), report: report)
        }
        let initial = try session.consumerState(stream: stream, durable: consumer)
        let subject = initial?.filterSubject ?? streamSubject
        let deadLetters = try self.deadLetters(session: session, streamCreated: streamInfo.created, consumerSubject: subject)
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
                try session.resetConsumer(stream: stream, durable: consumer, subject: subject, start: state.acknowledgedFloor + 1)
            }
            return try session.pullSubscribe(stream: stream, durable: consumer, subject: subject)
        }
        var pull: NatsSession.PullConsumer? = try subscribeInOrder()
        let holds = sink.map { "buffer \(buffer) at item \($0.nextSequence)" } ?? "buffer \(buffer) made from the first message that can make it"
        if let done {
            report("in \(stream) -> \(buffer): resuming after stream sequence \(done), as journal \(journal.path) says (\(holds))")
        } else if let initial {
            report("in \(stream) -> \(buffer): no journal says what the buffer holds: delivering from consumer \(consumer)'s acknowledged floor, after stream sequence \(initial.acknowledgedFloor), at least once (\(holds))")
        } else {
            report("in \(stream) -> \(buffer): new consumer \(consumer), delivering \(subject) from the stream's first message (\(holds))")
        }

        var judge = MessageJudge(Admission(maxRingBytes: maxRingBytes, length: length, capacity: capacity))
        var progress = Progress(verb: "pushed", interval: statusInterval.map { .milliseconds(Int($0 * 1000)) }), dropped: UInt64 = 0
        /// Where the buffer and the stream stand, in all runs.
        func position() -> String {
            "buffer at item \(sink.map { String($0.nextSequence) } ?? "-"), stream handled up to sequence \(done.map(String.init) ?? "-")"
        }
        defer { report("in \(stream) -> \(buffer): \(progress.summary), \(deadLetters.count) refused, \(dropped) redeliveries dropped; \(position())") }
        var backoff = 0.25, unacknowledged: UInt64 = 0, outage = Outage()

        /// Handles one fetched batch, in stream order: redeliveries of what was handled are
        /// acknowledged and dropped; every other message is pushed or refused as `Admission`
        /// decides (creating the ring from the first that may create it); the journal records
        /// which will be pushed before the first is; acknowledgements follow the pushes. False
        /// if a stop came while the ring was full.
        func deliver(_ messages: [NatsSession.PullConsumer.Message]) throws -> Bool {
            var fresh: [(message: NatsSession.PullConsumer.Message, sequence: UInt64)] = []
            fresh.reserveCapacity(messages.count)
            for message in messages {
                guard let sequence = message.streamSequence else { throw RelayError("A message of stream \(stream) has no stream sequence.") }
                if let newest = fresh.last?.sequence ?? done, sequence <= newest {
                    dropped += 1                       // handled before: a redelivery
                    _ = message.acknowledge()
                } else {
                    fresh.append((message, sequence))
                }
            }
            guard let first = fresh.first else { return true }
            try sink?.stopIfRemoved()
            progress.begin()
            // The verdicts first, all of them: the journal must name every push before the first.
            var refusals: [String?] = []
            refusals.reserveCapacity(fresh.count)
            for (message, sequence) in fresh {
                var (claim, verdict) = judge.verdict(on: message, ring: sink?.shape)
                if case .create(let plan) = verdict {
                    let record: BufferRecord
                    do {
                        (sink, record) = try createSink(directory: directory, buffer: buffer, plan: plan)
                    } catch {
                        // Not the message's fault: it stays in the stream, unacknowledged,
                        // delivered again after a restart.
                        report("Cannot make buffer \(buffer) for stream message \(sequence), which is not acknowledged: delivery resumes at it when the relay starts again")
                        throw error
                    }
                    identity = InJournal.identity(buffer: buffer, created: record.createdAt, stream: stream, streamCreated: streamInfo.created)
                    var cut = ""
                    if case .items(_, _, let made) = plan, made < length {
                        cut = ", \(made) of them (--length \(length) would take more than --max-ring-bytes \(maxRingBytes))"
                    }
                    report("Buffer \(buffer) holds \(sink!.shape)\(cut), policy block (made for stream message \(sequence) unless it existed)")
                    verdict = judge.admission.decide(claim, ring: sink!.shape)
                }
                if case .refuse(let reason) = verdict { refusals.append(reason) } else { refusals.append(nil) }
            }
            let pushes = zip(fresh, refusals).compactMap { $1 == nil ? $0.sequence : nil }
            if !pushes.isEmpty {
                try journal.write(.init(identity: identity, ringStart: sink!.nextSequence, before: done ?? first.sequence - 1, sequences: pushes))
            }
            var pushed: [NatsSession.PullConsumer.Message] = []
            pushed.reserveCapacity(fresh.count)
            /// Acknowledges what was pushed, once the ring is known to be still the buffer's (a
            /// removal found here leaves them to be delivered again, into what has the name)
            /// and, when the ring's sync policy is not `none`, once what was pushed is durable:
            /// one sync of the ring before the batch's acknowledgements (a failed one throws,
            /// acknowledging nothing: JetStream delivers them again, the journal says they are
            /// in the ring). So an acknowledged message survives a machine crash of the relay's
            /// host whenever the ring asks for durability.
            /// An acknowledgement lost with the connection is harmless: JetStream delivers the
            /// message again, and the journal says it was pushed.
            func acknowledgePushed() throws {
                if !pushed.isEmpty { try sink!.stopIfRemoved() }
                if !pushed.isEmpty && sink!.asksForDurability { try sink!.sync() }
                for message in pushed where !message.acknowledge() { unacknowledged += 1 }
            }
            for ((message, sequence), refusal) in zip(fresh, refusals) {
                if let refusal {
                    try deadLetters.send(message, sequence: sequence, reason: refusal, report: report)
                } else {
                    // A stop while the ring is full ends the batch here: the journal and the
                    // ring's count still say exactly which messages are in (see InJournal).
                    guard try sink!.push(message.data, shouldStop: shouldStop, report: report) else {
                        try acknowledgePushed()
                        return false
                    }
                    pushed.append(message)
                    progress.add(1)
                }
                done = sequence
            }
            try acknowledgePushed()
            return true
        }

        while true {
            let fetched: Int
            do {
                guard let pull else { throw RelayError("No subscription yet.", transient: true) }
                var stopped = false
                fetched = try pull.fetch(batch: batch, timeout: 1) { stopped = try !deliver($0) }
                if stopped { return }
                backoff = 0.25
                outage.end()
            } catch let error as RelayError where error.transient {
                // The server went away (libnats reconnects by itself): delivery restarts in
                // order just after the last message handled, as at start. Said once an outage;
                // with `once`, given up after the bound.
                if try outage.failure(error, bound: once ? connectTimeout : nil, server: server) {
                    report("\(error) Delivering again after stream sequence \(done.map(String.init) ?? "-") once the server answers (\(unacknowledged) acknowledgements lost so far)")
                }
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 2)
                if shouldStop() { return }
                pull = nil
                pull = try? subscribeInOrder()
                continue
            }
            if fetched == 0 {
                try sink?.stopIfRemoved()            // idle: a removal is seen within a fetch's wait
                if once { return }
            }
            if progress.isTimeToLook() {
                let lag = (try? session.consumerState(stream: stream, durable: consumer))?.map(\.undelivered)
                if let moved = progress.line(showing: [sink?.nextSequence, done, lag, deadLetters.count, dropped]) {
                    report("in \(stream) -> \(buffer): \(position()), lag \(lag.map(String.init) ?? "?"); since start \(moved), \(deadLetters.count) refused, \(dropped) redeliveries dropped")
                }
            }
            if shouldStop() { return }
        }
    }

    /// Throws a usage error (one sentence, exit 64) for any argument the relay cannot work
    /// with, the geometry of the buffer it may create included, by the library's own checks:
    /// all of it before it connects, creates or consumes anything, so that no stream message is
    /// ever refused, and no consumer's floor moved, for what is wrong with the relay's
    /// configuration. (`run` checks first; the command line checks while parsing.)
    public func validate() throws(RelayError) {
        try Arguments.library("Buffer name") { () throws(CBuffError) in try DataDirectory.checkBufferName(buffer) }
        try Arguments.checkName(stream, option: "--stream")
        try Arguments.checkName(consumer, option: "--consumer", consumer: true)
        if let deadLetterSubject, !deadLetterSubject.isEmpty { try Subject.checkLiteral(deadLetterSubject, option: "--dead-letter") }
        try Arguments.checkRange(batch, 1...InJournal.maxBatch, option: "--batch", unit: " messages")
        try Arguments.checkRange(streamPatience, 0...86_400, option: "--wait-for-stream", unit: " seconds")
        try Arguments.checkSeconds(connectTimeout, option: "--connect-timeout")
        if let statusInterval { try Arguments.checkSeconds(statusInterval, option: "--status-interval") }
        try Arguments.checkRange(maxRingBytes, Admission.smallestCapacity...(1 << 40), option: "--max-ring-bytes", unit: " bytes")
        try Arguments.library("--length") { () throws(CBuffError) in try DataDirectory.checkGeometry(itemSize: 1, length: length) }
        guard length <= maxRingBytes else {
            throw RelayError("--length \(length) is more than --max-ring-bytes \(maxRingBytes) allows even of 1-byte items: lower --length, or raise --max-ring-bytes.", usage: true)
        }
        // Every ring `Admission` may plan is one the library makes: of items, `length` at most
        // (fewer if they would take more than maxRingBytes), of 2 at least; of messages, a
        // capacity from the one asked for within maxRingBytes.
        try Arguments.library("capacity") { () throws(CBuffError) in
            try DataDirectory.checkMessageGeometry(capacity: Admission.powerOfTwo(atMost: min(capacity, maxRingBytes)), maxMessageSize: 0)
        }
    }

    /// Where refused messages go: the subject given, or the default; refused if the consumer
    /// receives it (dead letters would come back to be refused again, without end).
    func deadLetters(session: NatsSession, streamCreated: Int64, consumerSubject: String) throws -> DeadLetters {
        let subject = deadLetterSubject ?? DeadLetters.defaultSubject(stream: stream, consumer: consumer)
        if !subject.isEmpty {
            guard Subject.isLiteral(subject) else {
                throw RelayError("The dead-letter subject \"\(subject)\" is not a subject to publish on (tokens of printable characters separated by dots, no wildcards).", usage: true)
            }
            guard !Subject(consumerSubject).matches(subject) else {
                throw RelayError("The dead-letter subject \(subject) is one that consumer \(consumer) receives (\(consumerSubject)): refused messages would come back; choose another with --dead-letter.", usage: true)
            }
        }
        return DeadLetters(subject: subject.isEmpty ? nil : subject, session: session, stream: stream, streamCreated: streamCreated, consumer: consumer)
    }

    /// The stream, once it exists (an `out` relay started at the same time creates it), waiting
    /// at most `streamPatience` seconds.
    func awaitStream(_ session: NatsSession, shouldStop: () -> Bool, report: (String) -> Void) throws -> NatsSession.StreamFacts {
        let deadline = ContinuousClock.now + .seconds(streamPatience)
        var said = false
        while true {
            do { return try session.ensureStream(stream, subject: nil) } catch let error as RelayError where error.notFound {
                if ContinuousClock.now > deadline || shouldStop() {
                    throw RelayError("Stream \(stream) does not exist (waited \(streamPatience) s for it).", notFound: true, status: 66)
                }
                if !said { report("Waiting up to \(streamPatience) s for stream \(stream) to exist"); said = true }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }

    /// The last stream sequence the ring holds according to the journal, or nil if the journal
    /// cannot say (none, another buffer's or stream's, damaged, the ring written by something
    /// else since, or a sequence beyond `streamLast`, the last the stream ever stored).
    func resumePoint(journal: borrowing InJournal, identity: String, ringNext: UInt64, streamLast: UInt64,
                     report: (String) -> Void) throws -> UInt64? {
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
        let last = inRing == 0 ? entry.before : entry.sequences[inRing - 1]
        guard last <= streamLast else {
            report("The journal \(journal.path) says buffer \(buffer) holds stream sequence \(last), beyond the last stream \(stream) stored (\(streamLast)): ignored")
            return nil
        }
        return last
    }
}

/// `Admission`'s verdict on each fetched message, with what the message claims read at a small
/// cost: Strings are made only when its headers differ from the previous message's (a stream's
/// messages mostly carry the same). What is left is libnats's parsing of the headers, which
/// about doubles what the in relay spends on a message (measured with callgrind: README).
struct MessageJudge {
    let admission: Admission
    /// The four headers, as C strings once and for all.
    private static let keys: [[CChar]] = [RelayHeaders.kind, RelayHeaders.itemSize, RelayHeaders.fields, RelayHeaders.maxMessage]
        .map { Array($0.utf8CString) }
    private var previous: Claim?

    init(_ admission: Admission) { self.admission = admission }

    mutating func verdict(on message: NatsSession.PullConsumer.Message, ring: RingShape?) -> (Claim, Admission.Verdict) {
        let claim = claim(of: message)
        previous = claim
        return (claim, admission.decide(claim, ring: ring))
    }

    private func claim(of message: NatsSession.PullConsumer.Message) -> Claim {
        let size = message.data.count
        if var claim = previous, Self.keys.indices.allSatisfy({ index in
            Self.keys[index].withUnsafeBufferPointer { key in
                message.withValues(key.baseAddress!) { Self.equal($0, claim[index]) }
            }
        }) {
            claim.size = size
            return claim
        }
        var values: [[String]] = []
        for key in Self.keys {
            values.append(key.withUnsafeBufferPointer { key in message.withValues(key.baseAddress!) { $0.compactMap { $0.map { String(cString: $0) } } } })
        }
        return Claim(kind: values[0], itemSize: values[1], fields: values[2], maxMessage: values[3], size: size)
    }

    /// Whether C strings `raw` are `known`, without making Strings.
    private static func equal(_ raw: UnsafeBufferPointer<UnsafePointer<CChar>?>, _ known: [String]) -> Bool {
        guard raw.count == known.count else { return false }
        for (value, expected) in zip(raw, known) {
            guard let value, expected.withCString({ strcmp(value, $0) == 0 }) else { return false }
        }
        return true
    }
}

extension Claim {
    /// The values of the `index`th of the four headers, in `ClaimReader`'s order.
    subscript(index: Int) -> [String] {
        switch index {
        case 0: kind
        case 1: itemSize
        case 2: fields
        default: maxMessage
        }
    }
}
