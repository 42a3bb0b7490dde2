internal import Foundation

/// Where the in relay puts the stream messages `Admission` refuses, so that one bad message
/// never stops delivery: each is published, with its headers and data and the reason, on the
/// dead-letter subject, then terminated in JetStream (never delivered again to this consumer),
/// logged and counted; the messages after it go on.
///
/// A dead letter carries the original's headers (its `Nats-Msg-Id` replaced), its data and:
/// `Cbuff-Dead-Letter-Reason` (one sentence), `Cbuff-Dead-Letter-Stream`,
/// `Cbuff-Dead-Letter-Sequence` (the stream sequence), `Cbuff-Dead-Letter-Consumer`, and
/// `Nats-Msg-Id: dead:STREAM@CREATED:SEQUENCE`, so that a stream that keeps dead letters keeps
/// each once even if a relay restarted after a crash sends it again (a message refused after
/// the last one pushed is judged again). A message larger than the server takes once those
/// headers are added goes without its data, with `Cbuff-Dead-Letter-Cut` giving its size.
final class DeadLetters {
    static let reasonHeader = "Cbuff-Dead-Letter-Reason"
    static let streamHeader = "Cbuff-Dead-Letter-Stream"
    static let sequenceHeader = "Cbuff-Dead-Letter-Sequence"
    static let consumerHeader = "Cbuff-Dead-Letter-Consumer"
    static let cutHeader = "Cbuff-Dead-Letter-Cut"

    /// The subject `cbuff-relay in` sends them to unless told: `cbuff.dead-letter.STREAM.CONSUMER`.
    static func defaultSubject(stream: String, consumer: String) -> String {
        "cbuff.dead-letter.\(stream).\(consumer)"
    }

    /// Nil: refused messages are only terminated, logged and counted.
    let subject: String?
    private let session: NatsSession
    private let stream: String, streamIdentity: String, consumer: String
    /// Refused since this relay started.
    private(set) var count: UInt64 = 0
    /// Each of the first refusals gets a line of its own; the rest are counted in status lines.
    static let linesAtMost = 20

    init(subject: String?, session: NatsSession, stream: String, streamCreated: Int64, consumer: String) {
        self.subject = subject
        self.session = session
        self.stream = stream
        self.streamIdentity = "\(stream)@\(streamCreated)"
        self.consumer = consumer
    }

    /// Sends `message` (stream sequence `sequence`) away for `reason`. Throws a transient error
    /// if the server did not take the dead letter: the message is then left as it is, to be
    /// delivered and judged again.
    func send(_ message: NatsSession.PullConsumer.Message, sequence: UInt64, reason: String, report: (String) -> Void) throws {
        let reason = StandardStreams.escapingControlCharacters(reason)
        if let subject {
            let headers = message.headers.filter { $0.0 != RelayHeaders.messageID } + [
                (RelayHeaders.messageID, "dead:\(streamIdentity):\(sequence)"),
                (Self.reasonHeader, reason), (Self.streamHeader, stream),
                (Self.sequenceHeader, String(sequence)), (Self.consumerHeader, consumer),
            ]
            if try !session.publishPlain(subject: subject, data: message.data, headers: headers, timeout: 5) {
                _ = try session.publishPlain(subject: subject, data: UnsafeRawBufferPointer(start: nil, count: 0),
                                             headers: headers + [(Self.cutHeader, String(message.data.count))], timeout: 5)
            }
        }
        // A termination lost with the connection is harmless: the message comes again, and is
        // dropped as already handled (or, after a restart, judged and sent again).
        _ = message.terminate()
        count += 1
        if count <= Self.linesAtMost {
            let whereTo = subject.map { "sent to \($0)" } ?? "terminated"
            report("Stream \(stream) message \(sequence) refused, \(whereTo): \(reason)"
                   + (count == Self.linesAtMost ? " (further refusals are only counted)" : ""))
        }
    }
}
