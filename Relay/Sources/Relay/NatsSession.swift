internal import CNats
internal import Foundation
internal import Synchronization

/// A relay's failure: one sentence.
public struct RelayError: Error, CustomStringConvertible {
    public let description: String
    /// Whether what was asked for does not exist (a stream, say).
    let notFound: Bool
    /// Whether it may pass by itself (the connection is down and libnats is reconnecting).
    let transient: Bool
    /// The exit status it deserves (sysexits): 64 for a bad argument, 66 for a buffer gone, 1
    /// for anything else.
    public let status: Int32
    init(_ description: String, notFound: Bool = false, transient: Bool = false, usage: Bool = false, status: Int32 = 1) {
        self.description = description
        self.notFound = notFound
        self.transient = transient
        self.status = usage ? 64 : status
    }
}

extension RelayError {
    /// Buffer `name` was removed, or removed and created again, under a relay (exit 66).
    static func removed(_ name: String) -> RelayError {
        RelayError("Buffer \(name) was removed, or removed and created again, while the relay used it: stopped.", status: 66)
    }
}

/// One connection to a NATS server with JetStream: every libnats call of the relay is here.
///
/// The connection reconnects by itself (libnats, without limit, 250 ms apart); what was published
/// while it was down fails or times out, and the relay publishes it again (see `OutRelay`).
final class NatsSession {
    private var connection: OpaquePointer?
    private var jetStream: OpaquePointer?
    /// Publish errors the library reported since the last `resetErrors()` (its callback runs on
    /// a libnats thread).
    private let errors = ErrorCount()

    final class ErrorCount: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func add() { lock.lock(); value += 1; lock.unlock() }
        func take() -> Int { lock.lock(); defer { value = 0; lock.unlock() }; return value }
    }

    /// Says when the connection drops and when it is back. libnats calls it on a thread of its
    /// own, possibly after the connection is destroyed: it is never freed (one per session).
    final class ConnectionEvents: @unchecked Sendable {
        let url: String
        let report: @Sendable (String) -> Void
        /// When the connection dropped (nil while it is up); set once the session closes, so
        /// that closing says nothing.
        private let state = Mutex<(lostAt: ContinuousClock.Instant?, closing: Bool)>((nil, false))

        init(url: String, report: @escaping @Sendable (String) -> Void) {
            self.url = url
            self.report = report
        }

        func lost() {
            let said = state.withLock { state -> Bool in
                guard !state.closing, state.lostAt == nil else { return false }
                state.lostAt = .now
                return true
            }
            if said { report("Lost the connection to \(url): reconnecting every 250 ms") }
        }

        func back() {
            let lostAt = state.withLock { state -> ContinuousClock.Instant? in
                defer { state.lostAt = nil }
                return state.closing ? nil : state.lostAt
            }
            if let lostAt { report("Connected again to \(url) after \(Progress.seconds(ContinuousClock.now - lostAt).formatted1) s") }
        }

        func closing() { state.withLock { $0.closing = true } }
    }
    private let events: ConnectionEvents

    /// Connects to `url`, retrying with backoff for up to `patience` seconds (saying so once
    /// through `report` if the first try fails); `report` then hears when the connection drops
    /// and when it is back.
    init(url: String, window: Int, patience: Double = 30, report: @escaping @Sendable (String) -> Void = { _ in }) throws {
        let shown = Self.redacted(url)
        events = ConnectionEvents(url: shown, report: report)
        var options: OpaquePointer?
        try Self.check(natsOptions_Create(&options), "create the connection options")
        defer { natsOptions_Destroy(options) }
        try Self.check(natsOptions_SetURL(options, url), "use the server URL \(shown)")
        _ = natsOptions_SetMaxReconnect(options, -1)
        _ = natsOptions_SetReconnectWait(options, 250)
        _ = natsOptions_SetReconnectBufSize(options, 64 << 20)
        let context = Unmanaged.passRetained(events).toOpaque()
        _ = natsOptions_SetDisconnectedCB(options, { _, context in
            Unmanaged<ConnectionEvents>.fromOpaque(context!).takeUnretainedValue().lost()
        }, context)
        _ = natsOptions_SetReconnectedCB(options, { _, context in
            Unmanaged<ConnectionEvents>.fromOpaque(context!).takeUnretainedValue().back()
        }, context)
        // Every attempt and every pause between them ends by the deadline: an attempt may take
        // at most what is left (libnats's own 2 s at most), a pause no longer than what is left,
        // and none starts after it. (Pauses that overran it made --connect-timeout 2 take 4 s.)
        var wait = 0.1
        let deadline = ContinuousClock.now + .milliseconds(Int(patience * 1000))
        let shownPatience = patience == patience.rounded() ? String(Int(patience)) : patience.formatted1
        while true {
            let left = Progress.seconds(deadline - ContinuousClock.now)
            _ = natsOptions_SetTimeout(options, Int64(min(2000, max(100, left * 1000))))
            let status = natsConnection_Connect(&connection, options)
            if status == NATS_OK { break }
            let remaining = Progress.seconds(deadline - ContinuousClock.now)
            if remaining <= 0 {
                throw RelayError("No NATS server answered at \(shown) within \(shownPatience) s (\(Self.text(status))).")
            }
            if wait == 0.1 { report("No NATS server answers at \(shown) yet (\(Self.text(status))): trying for up to \(shownPatience) s") }
            Thread.sleep(forTimeInterval: min(wait, remaining))
            wait = min(wait * 2, 2)
        }
        var jsOptions = jsOptions()
        jsOptions_Init(&jsOptions)
        jsOptions.PublishAsync.MaxPending = Int64(window)
        jsOptions.PublishAsync.ErrHandler = { _, _, closure in
            Unmanaged<ErrorCount>.fromOpaque(closure!).takeUnretainedValue().add()
        }
        jsOptions.PublishAsync.ErrHandlerClosure = Unmanaged.passUnretained(errors).toOpaque()
        try Self.check(natsConnection_JetStream(&jetStream, connection, &jsOptions), "open JetStream")
    }

    deinit {
        events.closing()
        _ = natsConnection_FlushTimeout(connection, 2000)   // acknowledgements still buffered
        jsCtx_Destroy(jetStream)
        natsConnection_Destroy(connection)
    }

    static func check(_ status: natsStatus, _ what: String) throws {
        guard status == NATS_OK else { throw RelayError("Cannot \(what): \(text(status)).") }
    }

    static func text(_ status: natsStatus) -> String {
        String(cString: natsStatus_GetText(status))
    }

    /// `url` without the password it may carry (`nats://user:secret@host` shows `nats://user:***@host`).
    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://"), scheme.upperBound < at,
              let colon = url[scheme.upperBound..<at].firstIndex(of: ":") else { return url }
        return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
    }

    /// Why a JetStream request to `what` failed, as one sentence with the sysexits status it
    /// deserves: the server has JetStream disabled (it answers with error 10076 or 10039, or
    /// nothing answers the request at all: 1, with what to do); it does not exist (66); a
    /// stream or consumer of the name exists otherwise, or another stream takes the subject
    /// (73); the request is invalid (64: the relay's own checks let through something the
    /// server refuses); the server's limits are reached (75); not permitted (77); else 1. The
    /// server's own words, when it gave some, follow.
    static func jetStreamFailure(_ what: String, _ status: natsStatus, _ code: jsErrCode) -> RelayError {
        let number = Int(code.rawValue)
        if status == NATS_NO_RESPONDERS || number == 10076 || number == 10039 {
            return RelayError("Cannot \(what): the server has JetStream disabled (start nats-server with -js, or give its configuration a jetstream block).")
        }
        var lastStatus = NATS_OK
        let said = nats_GetLastError(&lastStatus).map { String(cString: $0) } ?? ""
        let words = said.isEmpty ? "" : " (the server: \(StandardStreams.escapingControlCharacters(String(said.prefix(200)))))"
        switch (status, number) {
        case (NATS_NOT_FOUND, _), (_, 10059), (_, 10014):
            return RelayError("Cannot \(what): it does not exist.", notFound: true, status: 66)
        case (_, 10058), (_, 10013):
            return RelayError("Cannot \(what): one of that name exists with another configuration\(words).", status: 73)
        case (_, 10065):
            return RelayError("Cannot \(what): another stream already takes its subjects\(words).", status: 73)
        case (NATS_INVALID_ARG, _), (_, 10003), (_, 10012), (_, 10049), (_, 10052):
            return RelayError("Cannot \(what): the server refuses it as invalid\(words).", usage: true)
        case (_, 10002), (_, 10023), (_, 10026), (_, 10027), (_, 10028), (_, 10047), (_, 10053):
            return RelayError("Cannot \(what): the server's limits are reached\(words).", status: 75)
        case (NATS_NOT_PERMITTED, _):
            return RelayError("Cannot \(what): the server does not permit it\(words).", status: 77)
        case (NATS_TIMEOUT, _):
            return RelayError("Cannot \(what): JetStream did not answer in time.", transient: true)
        default:
            return RelayError("Cannot \(what): \(text(status))\(number == 0 ? "" : " (JetStream error \(number))")\(words).")
        }
    }

    // MARK: Streams

    /// A stream's subjects, and its creation time (nanoseconds since 1970), which tells it apart
    /// from an earlier stream of the same name.
    struct StreamFacts {
        var subjects: [String]
        var created: Int64
    }

    /// Stream `name`, created (file storage, on `subject`) if it does not exist and `subject` is
    /// given.
    func ensureStream(_ name: String, subject: String?) throws -> StreamFacts {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        var status = js_GetStreamInfo(&info, jetStream, name, nil, &code)
        if status == NATS_NOT_FOUND, let subject {
            var config = jsStreamConfig()
            jsStreamConfig_Init(&config)
            status = name.withCString { cName in
                subject.withCString { cSubject in
                    var subjects: [UnsafePointer<CChar>?] = [cSubject]
                    return subjects.withUnsafeMutableBufferPointer { list in
                        config.Name = cName
                        config.Subjects = list.baseAddress
                        config.SubjectsLen = 1
                        config.Storage = js_FileStorage
                        return js_AddStream(&info, jetStream, &config, nil, &code)
                    }
                }
            }
        }
        guard status == NATS_OK, let info else {
            throw Self.jetStreamFailure(subject == nil ? "find stream \(name)" : "find or create stream \(name)", status, code)
        }
        defer { jsStreamInfo_Destroy(info) }
        let config = info.pointee.Config.pointee
        return StreamFacts(subjects: (0..<Int(config.SubjectsLen)).compactMap { config.Subjects[$0].map { String(cString: $0) } },
                           created: info.pointee.Created)
    }

    /// How many messages stream `name` holds.
    func messageCount(_ name: String) throws -> UInt64 {
        try streamState(name).Msgs
    }

    private func streamState(_ name: String) throws -> jsStreamState {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let status = js_GetStreamInfo(&info, jetStream, name, nil, &code)
        guard status == NATS_OK else { throw Self.jetStreamFailure("look at stream \(name)", status, code) }
        defer { jsStreamInfo_Destroy(info) }
        return info!.pointee.State
    }

    // MARK: Publishing

    /// Publishes `data` on `subject` with `headers`, asynchronously (at most the window in flight).
    func publish(subject: String, data: UnsafeRawBufferPointer, headers: [(String, String)]) throws {
        var message: OpaquePointer?
        func tooLarge() -> RelayError {
            RelayError("A message of \(data.count) bytes is more than the server takes (its max_payload): raise max_payload in the server's configuration to relay it.")
        }
        guard data.count <= Int(Int32.max) else { throw tooLarge() }
        try Self.check(natsMsg_Create(&message, subject, nil, data.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(data.count)), "make a message")
        for (key, value) in headers { _ = natsMsgHeader_Add(message, key, value) }
        let status = js_PublishMsgAsync(jetStream, &message, nil)
        if status != NATS_OK {
            natsMsg_Destroy(message)
            if status == NATS_MAX_PAYLOAD { throw tooLarge() }
            throw RelayError("Cannot publish on \(subject): \(Self.text(status)).", transient: true)
        }
    }

    /// Publishes `data` on `subject` with `headers` as a plain NATS message (no JetStream
    /// acknowledgement: a stream whose subjects cover `subject` stores it, de-duplicated by its
    /// `Nats-Msg-Id`), and waits at most `timeout` seconds for the server to have it. False,
    /// with nothing sent, if it is larger than the server takes (its max_payload).
    func publishPlain(subject: String, data: UnsafeRawBufferPointer, headers: [(String, String)], timeout: Double) throws -> Bool {
        guard data.count <= Int(Int32.max) else { return false }
        var message: OpaquePointer?
        var status = natsMsg_Create(&message, subject, nil, data.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(data.count))
        if status == NATS_OK {
            for (key, value) in headers where status == NATS_OK { status = natsMsgHeader_Add(message, key, value) }
            if status == NATS_OK { status = natsConnection_PublishMsg(connection, message) }
            natsMsg_Destroy(message)
        }
        if status == NATS_MAX_PAYLOAD { return false }
        if status == NATS_OK { status = natsConnection_FlushTimeout(connection, Int64(timeout * 1000)) }
        guard status == NATS_OK else {
            throw RelayError("Cannot publish on \(subject): \(Self.text(status)).", transient: true)
        }
        return true
    }

    /// Waits until every asynchronous publish is acknowledged, at most `timeout` seconds; false if
    /// one failed or the wait timed out (then everything since the last success is sent again).
    func completePublishing(timeout: Double) -> Bool {
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = Int64(timeout * 1000)
        let status = js_PublishAsyncComplete(jetStream, &options)
        let failed = errors.take()
        guard status == NATS_OK && failed == 0 else {
            // Publishes sent before a disconnection wait for acknowledgements that will never
            // come, and would fill the window for good: take them back (they are sent again).
            var pending = natsMsgList()
            if js_PublishAsyncGetPendingList(&pending, jetStream) == NATS_OK { natsMsgList_Destroy(&pending) }
            return false
        }
        return true
    }

    // MARK: Consuming

    /// What JetStream knows of a durable consumer.
    struct ConsumerState {
        /// The stream sequence of the last message delivered, and of the last one below which
        /// every message was acknowledged.
        var delivered: UInt64, acknowledgedFloor: UInt64
        /// Delivered and not yet acknowledged; in the stream and not yet delivered.
        var awaitingAcknowledgement: Int64, undelivered: UInt64
        var filterSubject: String?
    }

    /// Consumer `durable` of stream `stream`, or nil if it does not exist.
    func consumerState(stream: String, durable: String) throws -> ConsumerState? {
        var info: UnsafeMutablePointer<jsConsumerInfo>?
        var code = jsErrCode(0)
        let status = js_GetConsumerInfo(&info, jetStream, stream, durable, nil, &code)
        if status == NATS_NOT_FOUND { return nil }
        guard status == NATS_OK, let info else {
            throw Self.jetStreamFailure("look at consumer \(durable) of stream \(stream)", status, code)
        }
        defer { jsConsumerInfo_Destroy(info) }
        let filter = info.pointee.Config?.pointee.FilterSubject.map { String(cString: $0) }
        return ConsumerState(delivered: info.pointee.Delivered.Stream, acknowledgedFloor: info.pointee.AckFloor.Stream,
                             awaitingAcknowledgement: info.pointee.NumAckPending, undelivered: info.pointee.NumPending,
                             filterSubject: filter?.isEmpty == false ? filter : nil)
    }

    /// Makes durable pull consumer `durable` of stream `stream` (explicit acknowledgements, on
    /// `subject`) deliver from stream sequence `start` on (from the stream's first message when
    /// nil), deleting the consumer first if it exists: what it had delivered and not seen
    /// acknowledged would otherwise come back only after its acknowledgement wait, behind newer
    /// messages, out of order.
    func resetConsumer(stream: String, durable: String, subject: String, start: UInt64?) throws {
        var code = jsErrCode(0)
        let deleted = js_DeleteConsumer(jetStream, stream, durable, nil, &code)
        guard deleted == NATS_OK || deleted == NATS_NOT_FOUND else {
            throw Self.jetStreamFailure("reset consumer \(durable) of stream \(stream)", deleted, code)
        }
        var config = jsConsumerConfig()
        jsConsumerConfig_Init(&config)
        var info: UnsafeMutablePointer<jsConsumerInfo>?
        let status = durable.withCString { cDurable in
            subject.withCString { cSubject in
                config.Durable = cDurable
                config.FilterSubject = cSubject
                config.AckPolicy = js_AckExplicit
                if let start {
                    config.DeliverPolicy = js_DeliverByStartSequence
                    config.OptStartSeq = start
                }
                return js_AddConsumer(&info, jetStream, stream, &config, nil, &code)
            }
        }
        guard status == NATS_OK else {
            throw Self.jetStreamFailure("create consumer \(durable) of stream \(stream)", status, code)
        }
        jsConsumerInfo_Destroy(info)
    }

    /// A subscription to durable pull consumer `durable` of stream `stream` on `subject`,
    /// created by JetStream if it does not exist.
    func pullSubscribe(stream: String, durable: String, subject: String) throws -> PullConsumer {
        var options = jsSubOptions()
        jsSubOptions_Init(&options)
        var subscription: OpaquePointer?
        var code = jsErrCode(0)
        let status = stream.withCString { cStream in
            options.Stream = cStream
            return js_PullSubscribe(&subscription, jetStream, subject, durable, nil, &options, &code)
        }
        guard status == NATS_OK, let subscription else {
            throw Self.jetStreamFailure("subscribe to stream \(stream) as consumer \(durable)", status, code)
        }
        return PullConsumer(subscription: subscription) { [connection] in natsConnection_Status(connection) == NATS_CONN_STATUS_CONNECTED }
    }

    /// The last sequence stream `name` stored.
    func lastSequence(_ name: String) throws -> UInt64 {
        try streamState(name).LastSeq
    }

    /// A pull consumer's subscription.
    final class PullConsumer {
        let subscription: OpaquePointer

        /// Whether the session's connection is up.
        let connected: () -> Bool

        init(subscription: OpaquePointer, connected: @escaping () -> Bool) {
            self.subscription = subscription
            self.connected = connected
        }
        deinit { natsSubscription_Destroy(subscription) }

        /// One fetched message: its data and headers, and its acknowledgement.
        struct Message {
            let pointer: OpaquePointer
            var data: UnsafeRawBufferPointer {
                UnsafeRawBufferPointer(start: natsMsg_GetData(pointer), count: Int(natsMsg_GetDataLength(pointer)))
            }
            /// Every value of header `key` (none if it is missing; more than one if it was given
            /// more than once).
            func values(_ key: String) -> [String] {
                withValues(key) { $0.compactMap { $0.map { String(cString: $0) } } }
            }
            /// Calls `body` with every value of header `key` as libnats holds them (valid during
            /// the call only).
            func withValues<Result>(_ key: UnsafePointer<CChar>, _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> Result) -> Result {
                var values: UnsafeMutablePointer<UnsafePointer<CChar>?>?
                var count: Int32 = 0
                guard natsMsgHeader_Values(pointer, key, &values, &count) == NATS_OK, let values else { return body(.init(start: nil, count: 0)) }
                defer { free(values) }
                return body(UnsafeBufferPointer(start: values, count: Int(count)))
            }
            /// Every header, each value of each key, in the message's order of keys.
            var headers: [(String, String)] {
                var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
                var count: Int32 = 0
                guard natsMsgHeader_Keys(pointer, &keys, &count) == NATS_OK, let keys else { return [] }
                defer { free(keys) }
                return (0..<Int(count)).compactMap { keys[$0].map { String(cString: $0) } }.flatMap { key in values(key).map { (key, $0) } }
            }
            func acknowledge() -> Bool { natsMsg_Ack(pointer, nil) == NATS_OK }
            /// Tells JetStream never to deliver it again (AckTerm).
            func terminate() -> Bool { natsMsg_Term(pointer, nil) == NATS_OK }
            /// The message's sequence in the stream (from its reply subject), nil if it has none.
            var streamSequence: UInt64? {
                var metadata: UnsafeMutablePointer<jsMsgMetaData>?
                guard natsMsg_GetMetaData(&metadata, pointer) == NATS_OK, let metadata else { return nil }
                defer { jsMsgMetaData_Destroy(metadata) }
                return metadata.pointee.Sequence.Stream
            }
        }

        /// Up to `batch` messages, waiting at most `timeout` seconds for the first; `body` sees them
        /// in the order delivered (they are freed after it returns).
        func fetch(batch: Int, timeout: Double, _ body: ([Message]) throws -> Void) throws -> Int {
            var list = natsMsgList()
            var code = jsErrCode(0)
            let status = natsSubscription_Fetch(&list, subscription, Int32(batch), Int64(timeout * 1000), &code)
            defer { natsMsgList_Destroy(&list) }
            if status == NATS_TIMEOUT {
                // Nothing came: caught up, unless the connection is down (libnats reconnecting),
                // when nothing could have come.
                guard natsSubscription_IsValid(subscription), connected() else {
                    throw RelayError("Nothing can be fetched while the connection is down.", transient: true)
                }
                return 0
            }
            guard status == NATS_OK else {
                throw RelayError("Cannot fetch: \(NatsSession.text(status)) (JetStream error \(code.rawValue)).", transient: true)
            }
            try body((0..<Int(list.Count)).compactMap { list.Msgs[$0].map(Message.init) })
            return Int(list.Count)
        }
    }
}
