internal import SharedRing

/// What the in relay writes: the buffer's writer, taken over, or created from the first
/// message's headers.
protocol RelaySink: AnyObject {
    /// Pushes `data` if there is room within `timeout`; false, pushing nothing, if not.
    /// `Admission` has checked that it fits.
    func push(_ data: UnsafeRawBufferPointer, timeout: Duration) throws -> Bool
    /// The sequence the next push gets.
    var nextSequence: UInt64 { get }
    var name: String { get }
    /// What the ring holds, for `Admission`.
    var shape: RingShape { get }
    /// Whether the buffer was removed, or removed and created again, under the relay (see
    /// `BufferWriter.isRemoved()`): what it pushes then goes where nobody can read it.
    func isRemoved() throws -> Bool
    /// Whether the ring asks for durability: its sync policy is not `none` (see `SyncPolicy`).
    var asksForDurability: Bool { get }
    /// Makes everything pushed so far durable (the writer's `sync()`).
    func sync() throws
}

extension RelaySink {
    /// Pushes `data`, waiting for room (a `block` buffer full of what its named readers have not
    /// consumed) in slices of 250 ms, so that a stop is seen while waiting: false if
    /// `shouldStop()` came first, with nothing pushed. Says once, after 2 s, what it waits for.
    func push(_ data: UnsafeRawBufferPointer, shouldStop: () -> Bool, report: (String) -> Void) throws -> Bool {
        var slices = 0
        while try !push(data, timeout: .milliseconds(250)) {
            if shouldStop() { return false }
            try stopIfRemoved()               // its readers went with it: no room would ever come
            slices += 1
            if slices == 8 { report("Buffer \(name) is full of items its named readers have not consumed: waiting for room (SIGINT or SIGTERM stops here, nothing lost)") }
        }
        return true
    }

    /// Throws if the buffer was removed, or removed and created again, under the relay.
    func stopIfRemoved() throws {
        if try isRemoved() { throw RelayError.removed(name) }
    }
}

func takeOverSink(directory: DataDirectory, buffer: String, messages: Bool) throws -> any RelaySink {
    messages ? MessageSink(try directory.takeOverMessages(buffer)) : ItemSink(try directory.takeOver(buffer))
}

/// Creates buffer `buffer` as `plan` says (policy `block`), or takes it over if another process
/// created it meanwhile (`Admission` then judges the message again against what it is).
func createSink(directory: DataDirectory, buffer: String, plan: RingPlan) throws -> (any RelaySink, BufferRecord) {
    let sink: any RelaySink
    if let record = try? directory.record(of: buffer) {
        sink = try takeOverSink(directory: directory, buffer: buffer, messages: record.holdsMessages)
    } else {
        switch plan {
        case .messages(let largest, let capacity):
            sink = MessageSink(try directory.createMessageBuffer(buffer, capacity: capacity, maxMessageSize: largest, policy: .block))
        case .items(_, let fields?, let length):
            sink = ItemSink(try directory.createBuffer(buffer, layout: fields, length: length, policy: .block))
        case .items(let size, nil, let length):
            sink = ItemSink(try directory.createBuffer(buffer, itemSize: size, length: length, policy: .block))
        }
    }
    return (sink, try directory.record(of: buffer))
}

final class ItemSink: RelaySink {
    var writer: BufferWriter
    let shape: RingShape
    init(_ writer: consuming BufferWriter) {
        shape = .items(size: writer.itemSize, fields: writer.itemLayout)
        self.writer = writer
    }
    func push(_ data: UnsafeRawBufferPointer, timeout: Duration) throws -> Bool {
        try writer.push(bytes: data, timeout: timeout)
    }
    func isRemoved() throws -> Bool { try writer.isRemoved() }
    var nextSequence: UInt64 { writer.nextSequence }
    var name: String { writer.name }
    var asksForDurability: Bool { writer.syncPolicy != .none }
    func sync() throws { try writer.sync() }
}

final class MessageSink: RelaySink {
    var writer: MessageWriter
    let shape: RingShape
    init(_ writer: consuming MessageWriter) {
        shape = .messages(largest: writer.maxMessageSize)
        self.writer = writer
    }
    func push(_ data: UnsafeRawBufferPointer, timeout: Duration) throws -> Bool { try writer.push(data, timeout: timeout) }
    func isRemoved() throws -> Bool { try writer.isRemoved() }
    var nextSequence: UInt64 { writer.nextSequence }
    var name: String { writer.name }
    var asksForDurability: Bool { writer.syncPolicy != .none }
    func sync() throws { try writer.sync() }
}
