internal import SharedRing

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
