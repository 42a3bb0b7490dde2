import SharedRing
import SharedRingCommon
import SharedRingProtocol
import SharedRingRegistry

// What every ring file input goes through: the paths a user and an operator take through a
// buffer, by name, through the public API. Each loop is bounded by the geometry, so a file that
// could make a reader go round for ever shows as a violation, not as a hang.
extension FuzzWorkspace {
    /// The codes a step over a damaged or hostile ring file may end with: `corrupted` for the
    /// damage, `invalidArgument` for a named reader's name the table holds that is not a valid
    /// one, or a table already full when registering another.
    static let ringFileCodes: Set<CBuffError.Code> = [.corrupted, .invalidArgument]

    func exercise(_ ring: RingInput, _ report: inout FuzzReport) {
        let layout = ring.layout
        do {
            try place(ring.bytes, row: layout.map(RingTemplate.row(for:)) ?? ring.template.row)
        } catch {
            report.violation("the workspace could not take the input: \(error)")
            return
        }
        let name = Self.bufferName
        let waits = KnownFindings.sleeperCountsAllowWaiting(ring.bytes)
        if (layout ?? ring.template.layout).messages != nil {
            exerciseMessages(name, waits: waits, &report)
        } else {
            exerciseItems(name, waits: waits, &report)
        }
        checkSurroundings(ringSize: ring.bytes.count, &report)
    }

    // MARK: Items

    /// `waits` (readers, writer): whether a step may wait (for zero seconds: the sleeper counts
    /// of the file are touched, nothing sleeps); see `KnownFindings`.
    func exerciseItems(_ name: String, waits: (readers: Bool, writer: Bool), _ report: inout FuzzReport) {
        let directory = self.directory
        let codes = Self.ringFileCodes
        var status: BufferStatus?
        report.step("status", allowing: codes) { report in
            status = try directory.status(of: name)
            Self.inspect(status!, &report)
        }
        var published: UInt64 = 0
        report.step("read from the oldest", allowing: codes) { report in
            var reader = try directory.openReader(name)
            let start = reader.nextSequence
            let delivered = try Self.drain(&reader, &report)
            published = reader.nextSequence
            if reader.slotsCarryCheckWords {
                // Version 4: each slot's word, not the header's counters, says what it holds. A
                // slot whose word does not vouch for it is counted as missed, never delivered,
                // and a sealed slot beyond a stale `published` is an item all the same (what a
                // crash that kept the data page and lost the header page leaves).
                report.check(UInt64(delivered) &+ reader.missedCount == published &- start,
                             "a reader from \(start) to \(published) delivered \(delivered) items and missed \(reader.missedCount)")
            } else {
                report.check(reader.missedCount == 0, "a reader from the oldest item missed \(reader.missedCount) with no writer")
                report.check(UInt64(delivered) == published &- start, "a reader from \(start) to \(published) delivered \(delivered) items")
                if let ring = status?.ring {
                    report.check(start == ring.oldest && published == ring.written, "a reader read \(start)..<\(published) where inspect says \(ring.oldest)..<\(ring.written)")
                }
            }
            if waits.readers {
                report.check(!reader.wait(timeout: .zero), "a caught-up reader found an item to wait for, with no writer")
            }
        }
        report.step("read from the latest", allowing: codes) { report in
            var reader = try directory.openReader(name, start: .latest)
            let start = reader.nextSequence
            let delivered = try reader.popBytes() != nil
            // (Version 4: a sealed slot beyond a stale `published`, as above, is delivered.)
            report.check(!delivered || (reader.slotsCarryCheckWords && reader.nextSequence == start &+ 1),
                         "a reader at the latest item found one with no writer")
        }
        report.step("replay", allowing: codes) { report in
            let sequence = published / 2
            var reader = try directory.openReader(name, at: sequence)
            if let _ = try reader.popBytes() {
                report.check(reader.nextSequence - 1 >= sequence, "a replay from \(sequence) began at \(reader.nextSequence - 1)")
            }
            _ = try Self.drain(&reader, &report)
        }
        report.step("named readers", allowing: codes) { report in
            for readerName in Self.readerNames(status) {
                var reader = try directory.openReader(name, named: readerName)
                let start = reader.nextSequence
                let delivered = try Self.drain(&reader, &report)
                let end = reader.nextSequence
                report.check(UInt64(delivered) &+ reader.missedCount == end &- start,
                             "named reader \(readerName) went from \(start) to \(end), delivering \(delivered) and missing \(reader.missedCount)")
                reader.close()
            }
        }
        report.step("take over and push", allowing: codes) { report in
            var writer = try directory.takeOver(name)
            var reader = try directory.openReader(name, start: .latest)
            let mask: UInt64 = writer.itemSize >= 8 ? .max : (1 << (8 * UInt64(writer.itemSize))) - 1
            var pushed: [UInt64] = []
            for index in UInt64(0)..<3 {
                guard try writer.tryPush((0x5EED_0000 + index) & mask) else { break }
                pushed.append((0x5EED_0000 + index) & mask)
            }
            var read: [UInt64] = []
            for _ in 0...pushed.count {
                guard let value = try reader.popItem() else { break }
                read.append(value)
            }
            report.check(read == pushed && reader.missedCount == 0, "after a take-over, pushed \(pushed) but read \(read) (missed \(reader.missedCount))")
            if waits.writer { _ = try writer.push(1 & mask, timeout: .zero) }   // waits for room under block when full
            writer.close()
        }
        report.step("status afterwards", allowing: codes) { report in
            Self.inspect(try directory.status(of: name), &report)
        }
        report.step("remove a named reader", allowing: codes.union([.notFound])) { _ in
            try directory.removeReader("fz", of: name)
        }
    }

    /// Pops every item, checking each, at most `length` of them: with no writer, a reader can
    /// find no more than the ring holds. Returns how many it delivered.
    static func drain(_ reader: inout BufferReader, _ report: inout FuzzReport) throws -> Int {
        var previous: UInt64?
        var count = 0
        let layout = reader.itemLayout
        while let bytes = try reader.popBytes() {
            count += 1
            let sequence = reader.nextSequence &- 1
            report.check(bytes.count == reader.itemSize, "an item of \(bytes.count) bytes where items are \(reader.itemSize)")
            report.check(previous.map { sequence > $0 } ?? true, "item \(sequence) came after item \(previous ?? 0)")
            previous = sequence
            if let layout {
                let line = bytes.withUnsafeBytes { layout.json(of: $0, sequence: sequence) }
                report.check((try? JSONValue.parse(line)) != nil, "an item printed as \(line), which is not JSON")
            }
            if count > reader.length {
                report.violation("a reader delivered more than the \(reader.length) items its ring holds, with no writer")
                break
            }
        }
        return count
    }

    // MARK: Messages

    func exerciseMessages(_ name: String, waits: (readers: Bool, writer: Bool), _ report: inout FuzzReport) {
        let directory = self.directory
        let codes = Self.ringFileCodes
        var status: BufferStatus?
        report.step("status", allowing: codes) { report in
            status = try directory.status(of: name)
            Self.inspect(status!, &report)
        }
        var messages: [Message] = []
        report.step("read from the oldest", allowing: codes) { report in
            var reader = try directory.openMessageReader(name)
            messages = try Self.drain(&reader, &report)
            if waits.readers {
                report.check(!reader.wait(timeout: .zero), "a caught-up message reader found a message to wait for, with no writer")
            }
        }
        report.step("read from the latest", allowing: codes) { report in
            var reader = try directory.openMessageReader(name, start: .latest)
            report.check(try reader.pop() == nil, "a reader at the latest message found one with no writer")
        }
        report.step("replay from a sequence", allowing: codes) { report in
            let sequence = messages.isEmpty ? 0 : messages[messages.count / 2].sequence
            var reader = try directory.openMessageReader(name, at: sequence)
            if let first = try reader.pop() {
                report.check(first.sequence >= sequence, "a replay from message \(sequence) began at \(first.sequence)")
            }
            _ = try Self.drain(&reader, &report)
        }
        report.step("replay from a time", allowing: codes) { report in
            let time = messages.isEmpty ? RingTemplate.fixedTime : messages[messages.count / 2].time
            var reader = try directory.openMessageReader(name, since: time)
            if let first = try reader.pop() {
                report.check(first.time >= time, "a replay since \(time) began at a message of \(first.time)")
            }
            _ = try Self.drain(&reader, &report)
        }
        report.step("named readers", allowing: codes) { report in
            for readerName in Self.readerNames(status) {
                var reader = try directory.openMessageReader(name, named: readerName)
                _ = try Self.drain(&reader, &report)
                reader.close()
            }
        }
        report.step("take over and push", allowing: codes) { report in
            var writer = try directory.takeOverMessages(name)
            var reader = try directory.openMessageReader(name, start: .latest)
            let largest = writer.maxMessageSize
            let first = writer.nextSequence
            var pushed: [[UInt8]] = []
            for length in [0, 1, min(largest, 100), largest] where length <= largest {
                let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ length) }
                guard try writer.tryPush(message) else { break }
                pushed.append(message)
            }
            var read: [Message] = []
            for _ in 0...pushed.count {
                guard let message = try reader.pop() else { break }
                read.append(message)
            }
            report.check(read.map(\.bytes) == pushed, "after a take-over, pushed \(pushed.map(\.count)) bytes but read \(read.map(\.bytes.count))")
            report.check(read.map(\.sequence) == (0..<UInt64(read.count)).map { first &+ $0 },
                         "after a take-over at message \(first), read messages \(read.map(\.sequence))")
            if waits.writer { _ = try writer.push([UInt8](repeating: 9, count: largest), timeout: .zero) }
            writer.close()
        }
        report.step("status afterwards", allowing: codes) { report in
            Self.inspect(try directory.status(of: name), &report)
        }
        report.step("remove a named reader", allowing: codes.union([.notFound])) { _ in
            try directory.removeReader("fz", of: name)
        }
    }

    /// Pops every message, checking each, at most as many as the data area can hold records.
    static func drain(_ reader: inout MessageReader, _ report: inout FuzzReport) throws -> [Message] {
        var messages: [Message] = []
        let bound = reader.capacity / 24 + 1
        while let message = try reader.pop() {
            report.check(message.bytes.count <= reader.maxMessageSize, "a message of \(message.bytes.count) bytes where the largest is \(reader.maxMessageSize)")
            if let previous = messages.last {
                report.check(message.sequence > previous.sequence, "message \(message.sequence) came after message \(previous.sequence)")
            }
            report.check((try? JSONValue.parse(message.json)) != nil, "a message printed as \(message.json), which is not JSON")
            messages.append(message)
            if messages.count > bound {
                report.violation("a reader delivered more than the \(bound) records a ring of \(reader.capacity) bytes holds, with no writer")
                break
            }
        }
        return messages
    }

    // MARK: Both

    /// The named readers the file records, and one more that the steps register.
    static func readerNames(_ status: BufferStatus?) -> [String] {
        Array((status?.ring?.readers.map(\.name) ?? []).prefix(24)) + ["fz"]
    }

    /// Reads everything `cbuff inspect` and `cbuff list` show, checking what must hold.
    static func inspect(_ status: BufferStatus, _ report: inout FuzzReport) {
        _ = (status.writerAlive, status.writerDied, status.lastActivity, status.readersWithUnconsumedItems, status.problem?.message)
        guard let ring = status.ring else { return }
        report.check(ring.oldest <= ring.written, "inspect says the oldest is \(ring.oldest), after the \(ring.written) written")
        guard ring.oldest <= ring.written else { return }
        _ = (ring.count, ring.fill, ring.interruptedWrite, ring.writerBlockedBy, ring.unconsumedPositions, ring.itemLayout?.description)
        if let capacity = ring.messageCapacity {
            report.check((ring.bytesUsed ?? 0) <= UInt64(capacity), "inspect says \(ring.bytesUsed ?? 0) bytes used of \(capacity)")
        } else {
            report.check(ring.count <= ring.length, "inspect counts \(ring.count) items in a ring of \(ring.length)")
        }
        // (A message reader's position is the sequence its record says it expects, which a
        // damaged record may put anywhere: its first read corrects it.)
        for reader in ring.readers where ring.messageCapacity == nil {
            report.check(reader.position <= ring.written, "named reader \(reader.name) is at \(reader.position), after the \(ring.written) written")
        }
    }
}
