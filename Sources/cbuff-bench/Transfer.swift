import Foundation
import SharedRing

/// One writer process (CPU 0) and one reader process (CPU 1) moving 8-byte items 0, 1, 2, …;
/// the reader checks every value. Throughput = items / (last item read − first push), both
/// read from CLOCK_MONOTONIC, which all processes share.
enum Transfer {
    enum Kind: String {
        /// `block` policy, one named reader, one item per push and per pop: lossless.
        case single
        /// Like `single`, the reader committing explicitly every 64 items (`commitsOnRead =
        /// false`, then `commit()`), as a consumer that records its place per batch of work does.
        case singleCommit64 = "single-commit64"
        /// Like `single`, through push(contentsOf:) and popMany(into:), 64 items per call.
        case batch64
        /// `overwrite` policy, an anonymous reader keeping up as well as it can.
        case overwrite
        /// Like `single`, with items of any size moved as bytes (push(bytes:), pop(into:)); the
        /// first 8 bytes of each carry its sequence, which the reader checks.
        case bytes
        /// Like `bytes`, but the reader reads each item where it lies (`withNextItem`), no copy.
        case bytesInPlace
        /// Like `bytesInPlace`, reading only each item's first 8 bytes (a consumer that looks at
        /// a header and skips the rest).
        case bytesPeek
        /// Like `bytesInPlace`, with the writer filling each slot where it lies (pushInPlace):
        /// the sequence, then the filler, stored word by word, no copy in.
        case bytesFilledInPlace
        /// Like `bytes`, through a buffer of variable-size messages (512 KiB of ring), each
        /// message `itemSize` bytes: push(_:) of a raw buffer, pop(into:).
        case messages
    }

    struct Result { var rate: Double; var lostFraction: Double }

    static func run(_ kind: Kind, items: Int, itemSize: Int = 8, length slots: Int? = nil, in directory: DataDirectory) throws -> Result {
        let name = "transfer-\(kind.rawValue)"
        try? directory.removeBuffer(name, force: true)
        // 512 KiB of 8-byte items, as the C references use; at least 64 items of larger ones.
        let length = slots ?? max(64, (1 << 19) / itemSize)
        if kind == .messages {
            try directory.createMessageBuffer(name, capacity: 1 << 19, maxMessageSize: max(64, itemSize), policy: .block).close()
        } else {
            try directory.createBuffer(name, itemSize: itemSize, length: length, policy: kind == .overwrite ? .overwrite : .block).close()
        }
        defer { try? directory.removeBuffer(name, force: true) }
        let reader = try Child(cpu: 1, ["reader", kind.rawValue, directory.path, name, String(items), String(itemSize)])
        guard reader.line() == "ready" else { throw CBuffError(.systemFailure, "the reader did not start") }
        let writer = try Child(cpu: 0, ["writer", kind.rawValue, directory.path, name, String(items), String(itemSize)])
        let started = UInt64(writer.line().split(separator: " ").last ?? "") ?? 0
        let report = reader.line().split(separator: " ")
        try writer.finish()
        try reader.finish()
        guard report.count == 4, report[0] == "done", let ended = UInt64(report[1]), let missed = Double(report[2]), report[3] == "bad=0" else {
            throw CBuffError(.corrupted, "the reader reported \(report.joined(separator: " "))")
        }
        if kind != .overwrite && missed != 0 { throw CBuffError(.corrupted, "a lossless transfer lost \(missed) items") }
        return Result(rate: Double(items) / (Double(ended - started) / 1e9), lostFraction: missed / Double(items))
    }

    /// `writer KIND DIR NAME ITEMS`: prints "started NANOS", then pushes.
    static func writer(_ arguments: [String]) throws {
        let (kind, directory, name, items) = try parse(arguments)
        if kind == .messages { return try messageWriter(directory, name, items, size: Int(arguments[4]) ?? 64) }
        var writer = try directory.takeOver(name)
        say("started \(now())")
        switch kind {
        case .single, .singleCommit64, .overwrite:
            for value in 0..<UInt64(items) { try writer.push(value) }
        case .bytes, .bytesInPlace, .bytesPeek:
            var item = [UInt8](repeating: 0xA5, count: writer.itemSize)
            try item.withUnsafeMutableBytes { bytes in
                for sequence in 0..<UInt64(items) {
                    bytes.storeBytes(of: sequence.littleEndian, as: UInt64.self)
                    try writer.push(bytes: UnsafeRawBufferPointer(bytes))
                }
            }
        case .bytesFilledInPlace:
            let filler = UInt64(0xA5A5_A5A5_A5A5_A5A5)
            for sequence in 0..<UInt64(items) {
                try writer.pushInPlace { slot in
                    slot.storeBytes(of: sequence.littleEndian, as: UInt64.self)
                    for offset in stride(from: 8, to: slot.count &- 7, by: 8) { slot.storeBytes(of: filler, toByteOffset: offset, as: UInt64.self) }
                }
            }
        case .messages:
            break
        case .batch64:
            // Values go from the range straight into the ring, as the C ring's writer stores them.
            var next: UInt64 = 0
            while next < UInt64(items) {
                let end = min(next + 64, UInt64(items))
                try writer.push(contentsOf: next..<end)
                next = end
            }
        }
        writer.close()
    }

    /// `reader KIND DIR NAME ITEMS`: prints "ready", then reads, spinning, until the last item;
    /// prints "done NANOS MISSED bad=N".
    static func reader(_ arguments: [String]) throws {
        let (kind, directory, name, items) = try parse(arguments)
        if kind == .messages { return try messageReader(directory, name, items, size: Int(arguments[4]) ?? 64) }
        var reader = kind == .overwrite ? try directory.openReader(name) : try directory.openReader(name, named: "bench")
        var item = [UInt8](repeating: 0, count: reader.itemSize)
        say("ready")
        let total = UInt64(items)
        var bad: UInt64 = 0
        // Values are their sequences, so the loops track progress from the values themselves
        // (a lossless reader must see exactly 0, 1, 2, …; an overwritten one, increasing values).
        var expected: UInt64 = 0
        switch kind {
        case .single:
            while expected < total {
                if let value = try reader.popItem() {
                    if value != expected { bad += 1 }
                    expected += 1
                }
            }
        case .singleCommit64:
            reader.commitsOnRead = false
            while expected < total {
                if let value = try reader.popItem() {
                    if value != expected { bad += 1 }
                    expected += 1
                    if expected & 63 == 0 { reader.commit() }
                }
            }
            reader.commit()
        case .overwrite:
            while expected < total {
                if let value = try reader.popItem() {
                    if value < expected { bad += 1 }
                    expected = value + 1
                }
            }
        case .bytes:
            try item.withUnsafeMutableBytes { bytes in
                while expected < total {
                    if try reader.pop(into: bytes) {
                        if UInt64(littleEndian: bytes.load(as: UInt64.self)) != expected { bad += 1 }
                        expected += 1
                    }
                }
            }
        case .bytesInPlace, .bytesFilledInPlace:
            // Every 8-byte word is loaded (XOR-folded), so the item's lines all cross to this
            // core, as a copy's would: a consumer that uses the whole item, doing more work than
            // the copying reader does after its copy.
            let filler = UInt64(0xA5A5_A5A5_A5A5_A5A5)
            let expectedFold = (reader.itemSize / 8 - 1) % 2 == 0 ? 0 : filler
            while expected < total {
                let read = try reader.withNextItem { item -> (UInt64, UInt64) in
                    var fold: UInt64 = 0
                    for offset in stride(from: 8, to: item.count &- 7, by: 8) { fold ^= item.load(fromByteOffset: offset, as: UInt64.self) }
                    return (UInt64(littleEndian: item.load(as: UInt64.self)), fold)
                }
                if let (sequence, fold) = read {
                    if sequence != expected || fold != expectedFold { bad += 1 }
                    expected += 1
                }
            }
        case .bytesPeek:
            while expected < total {
                if let sequence = try reader.withNextItem({ UInt64(littleEndian: $0.load(as: UInt64.self)) }) {
                    if sequence != expected { bad += 1 }
                    expected += 1
                }
            }
        case .messages:
            break
        case .batch64:
            var batch = [UInt64](repeating: 0, count: 64)
            try batch.withUnsafeMutableBufferPointer { buffer in
                while expected < total {
                    let count = try reader.popMany(into: buffer)
                    for i in 0..<count {
                        if buffer[i] != expected { bad += 1 }
                        expected += 1
                    }
                }
            }
        }
        let ended = now()
        say("done \(ended) \(reader.missedCount) bad=\(bad)")
        reader.close()
    }

    /// The writer of `messages`: `size`-byte messages whose first 8 bytes are their sequence.
    static func messageWriter(_ directory: DataDirectory, _ name: String, _ items: Int, size: Int) throws {
        var writer = try directory.takeOverMessages(name)
        var message = [UInt8](repeating: 0xA5, count: size)
        say("started \(now())")
        try message.withUnsafeMutableBytes { bytes in
            for sequence in 0..<UInt64(items) {
                bytes.storeBytes(of: sequence.littleEndian, as: UInt64.self)
                try writer.push(UnsafeRawBufferPointer(bytes))
            }
        }
        writer.close()
    }

    /// The reader of `messages`, as a named reader: every message copied out and its sequence checked.
    static func messageReader(_ directory: DataDirectory, _ name: String, _ items: Int, size: Int) throws {
        var reader = try directory.openMessageReader(name, named: "bench")
        var message = [UInt8](repeating: 0, count: max(size, 64))
        say("ready")
        let total = UInt64(items)
        var bad: UInt64 = 0
        var expected: UInt64 = 0
        try message.withUnsafeMutableBytes { bytes in
            while expected < total {
                if let read = try reader.pop(into: bytes) {
                    if read.count != size || UInt64(littleEndian: bytes.load(as: UInt64.self)) != expected { bad += 1 }
                    expected += 1
                }
            }
        }
        say("done \(now()) \(reader.missedCount) bad=\(bad)")
        reader.close()
    }

    private static func parse(_ arguments: [String]) throws -> (Kind, DataDirectory, String, Int) {
        guard arguments.count >= 4, let kind = Kind(rawValue: arguments[0]), let items = Int(arguments[3]) else {
            throw CBuffError(.invalidArgument, "bad arguments \(arguments)")
        }
        return (kind, DataDirectory(path: arguments[1]), arguments[2], items)
    }
}
