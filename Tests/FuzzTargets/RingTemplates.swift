import Foundation
import SharedRing
import SharedRingProtocol
import SharedRingRegistry

/// A real ring file, made by the library (pushes, wraps, named readers), that inputs are laid
/// over. The words that depend on the moment or the process (creation and write times, PIDs,
/// start times, message time stamps) are set to fixed values, so that an input means the same
/// file in every run.
public struct RingTemplate {
    public let name: String
    public let bytes: [UInt8]
    let layout: RingLayout

    var holdsMessages: Bool { layout.messages != nil }

    /// The registry row that agrees with the template's header, its creation time included.
    var row: BufferRow { Self.row(for: layout) }

    static func row(for layout: RingLayout) -> BufferRow {
        BufferRow(name: FuzzWorkspace.bufferName, itemSize: layout.itemSize, length: layout.length, policy: layout.policy,
                  formatVersion: Int(layout.version), itemType: layout.itemType, messages: layout.messages,
                  ringCreatedNanos: fixedTime)   // tied to the header's (normalized) creation time, as a create ties it
    }

    /// The fixed time every time word is based on (2025-11-24, nanoseconds since the epoch).
    static let fixedTime: UInt64 = 1_764_000_000_000_000_000

    /// The templates, in selector order (see `FuzzKind`): a selector byte `s` picks
    /// `templates[s & 0x0F % count]`.
    static func build(in directory: DataDirectory) throws -> [RingTemplate] {
        let window = (Self.now() - 10_000_000_000)...(Self.now() + 3_600_000_000_000)
        var made: [RingTemplate] = []
        func keep(_ name: String) throws {
            let path = directory.ringPath(of: name)
            var bytes = try FuzzWorkspace.contents(path)
            let layout = try RingLayout(validating: Array(bytes.prefix(1024)), fileSize: bytes.count, path: path)
            normalize(&bytes, layout: layout, times: window)
            made.append(RingTemplate(name: name, bytes: bytes, layout: layout))
            try directory.removeBuffer(name)
        }

        // 0: 8-byte integers, overwrite, lapped twice, a named reader left behind.
        do {
            var writer = try directory.createBuffer("items-overwrite", itemSize: 8, length: 16, integrity: .unchecked)
            try directory.openReader("items-overwrite", named: "kept").close()
            for value in UInt64(0)..<20 { try writer.push(value &* 3) }
            var reader = try directory.openReader("items-overwrite", named: "kept")
            for _ in 0..<5 { _ = try reader.popItem() }
            reader.close()
            for value in UInt64(20)..<40 { try writer.push(value &* 3) }
            writer.close()
            try keep("items-overwrite")
        }
        // 1: block policy, a slow and a fast named reader.
        do {
            var writer = try directory.createBuffer("items-block", itemSize: 8, length: 16, policy: .block, integrity: .unchecked)
            try directory.openReader("items-block", named: "slow").close()
            try directory.openReader("items-block", named: "fast").close()
            for value in UInt64(0)..<10 { try writer.push(1_000 + value) }
            var slow = try directory.openReader("items-block", named: "slow")
            _ = try slow.popMany(3)
            slow.close()
            var fast = try directory.openReader("items-block", named: "fast")
            _ = try fast.popMany(10)
            fast.close()
            writer.close()
            try keep("items-block")
        }
        // 2: items with declared fields (version 3), lapped, a named reader.
        do {
            let layout = try ItemLayout("id:u32,sym:char5,px:f32")
            var writer = try directory.createBuffer("typed-fields", layout: layout, length: 8, policy: .overwrite, tetherTimeout: .zero, integrity: .unchecked)
            try directory.openReader("typed-fields", named: "kept").close()
            for index in 0..<11 {
                try writer.push(bytes: try layout.encode(json: #"{"id":\#(index),"sym":"S\#(index)","px":\#(Double(index) / 4)}"#))
                if index == 5 {
                    var reader = try directory.openReader("typed-fields", named: "kept")
                    for _ in 0..<4 { _ = try reader.popBytes() }
                    reader.close()
                }
            }
            writer.close()
            try keep("typed-fields")
        }
        // 3: a Swift type's fields, name and alignment, block policy.
        do {
            var writer = try directory.createBuffer("typed-struct", of: Quote.self, length: 4, policy: .block, tetherTimeout: .zero, integrity: .unchecked)
            var reader = try directory.openReader("typed-struct", of: Quote.self, named: "kept")
            for index in 0..<3 { try writer.push(Quote(time: UInt64(index), price: 2.5 * Double(index), venue: [0x58, 0x4E, 0x59, 0])) }
            _ = try reader.pop()
            reader.close()
            writer.close()
            try keep("typed-struct")
        }
        // 4: a type aligned to 16 bytes (slots of 32), no fields, lapped.
        do {
            var writer = try directory.createBuffer("typed-aligned", of: Wide.self, length: 3, policy: .overwrite, tetherTimeout: .zero, integrity: .unchecked)
            for index in 0..<5 { try writer.push(Wide(lanes: SIMD4(repeating: Float(index)), tag: UInt8(index))) }
            writer.close()
            try keep("typed-aligned")
        }
        // 5: 3-byte items, never written.
        do {
            try directory.createBuffer("odd-fresh", itemSize: 3, length: 5, integrity: .unchecked).close()
            try keep("odd-fresh")
        }
        // 6: messages of many sizes, overwrite, lapped, a named reader left behind (format
        // version 3: records without a check word; template 9 is the same in version 4).
        do {
            var writer = try directory.createMessageBuffer("messages-overwrite", capacity: 4096, maxMessageSize: 600, records: .unchecked)
            try directory.openMessageReader("messages-overwrite", named: "kept").close()
            for index in 0..<40 {
                try writer.push([UInt8](repeating: UInt8(index), count: index * 37 % 600))
                if index == 14 {
                    var reader = try directory.openMessageReader("messages-overwrite", named: "kept")
                    for _ in 0..<10 { _ = try reader.pop() }
                    reader.close()
                }
            }
            writer.close()
            try keep("messages-overwrite")
        }
        // 7: messages, block policy, precise time stamps, a slow named reader, padding at the end
        // (version 3; template 10 is the same in version 4).
        do {
            var writer = try directory.createMessageBuffer("messages-block", capacity: 4096, maxMessageSize: 2024, policy: .block,
                                                           preciseTime: true, records: .unchecked)
            try directory.openMessageReader("messages-block", named: "slow").close()
            for index in 0..<5 { _ = try writer.tryPush([UInt8](repeating: 0xA0 | UInt8(index), count: 300)) }
            var reader = try directory.openMessageReader("messages-block", named: "slow")
            for _ in 0..<4 { _ = try reader.pop() }
            reader.close()
            _ = try writer.tryPush([UInt8]())
            for index in 0..<6 { _ = try writer.tryPush([UInt8](repeating: 0xB0 | UInt8(index), count: 301 + index)) }
            writer.close()
            try keep("messages-block")
        }
        // 8: only empty messages (largest 0 bytes), lapped (version 3).
        do {
            var writer = try directory.createMessageBuffer("messages-empty", capacity: 4096, maxMessageSize: 0, records: .unchecked)
            for _ in 0..<200 { try writer.push([UInt8]()) }
            writer.close()
            try keep("messages-empty")
        }
        // 9: template 6 in format version 4: each record with its check word.
        do {
            var writer = try directory.createMessageBuffer("messages-checked", capacity: 4096, maxMessageSize: 600)
            try directory.openMessageReader("messages-checked", named: "kept").close()
            for index in 0..<40 {
                try writer.push([UInt8](repeating: UInt8(index), count: index * 37 % 600))
                if index == 14 {
                    var reader = try directory.openMessageReader("messages-checked", named: "kept")
                    for _ in 0..<10 { _ = try reader.pop() }
                    reader.close()
                }
            }
            writer.close()
            try keep("messages-checked")
        }
        // 10: template 7 in format version 4 (its largest message 8 bytes smaller: the check word).
        do {
            var writer = try directory.createMessageBuffer("messages-checked-block", capacity: 4096, maxMessageSize: 2016, policy: .block,
                                                           preciseTime: true)
            try directory.openMessageReader("messages-checked-block", named: "slow").close()
            for index in 0..<5 { _ = try writer.tryPush([UInt8](repeating: 0xA0 | UInt8(index), count: 300)) }
            var reader = try directory.openMessageReader("messages-checked-block", named: "slow")
            for _ in 0..<4 { _ = try reader.pop() }
            reader.close()
            _ = try writer.tryPush([UInt8]())
            for index in 0..<6 { _ = try writer.tryPush([UInt8](repeating: 0xB0 | UInt8(index), count: 301 + index)) }
            writer.close()
            try keep("messages-checked-block")
        }
        // 11: template 0 in format version 4: a check word in every slot (what a buffer of
        // items on a disk is by default).
        do {
            var writer = try directory.createBuffer("items-checked", itemSize: 8, length: 16, integrity: .checked)
            try directory.openReader("items-checked", named: "kept").close()
            for value in UInt64(0)..<20 { try writer.push(value &* 3) }
            var reader = try directory.openReader("items-checked", named: "kept")
            for _ in 0..<5 { _ = try reader.popItem() }
            reader.close()
            for value in UInt64(20)..<40 { try writer.push(value &* 3) }
            writer.close()
            try keep("items-checked")
        }
        // 12: template 3 in format version 4: a Swift type's fields, block policy, check words.
        do {
            var writer = try directory.createBuffer("typed-checked", of: Quote.self, length: 4, policy: .block, tetherTimeout: .zero,
                                                    integrity: .checked)
            var reader = try directory.openReader("typed-checked", of: Quote.self, named: "kept")
            for index in 0..<3 { try writer.push(Quote(time: UInt64(index), price: 2.5 * Double(index), venue: [0x58, 0x4E, 0x59, 0])) }
            _ = try reader.pop()
            reader.close()
            writer.close()
            try keep("typed-checked")
        }
        return made
    }

    /// Sets the words that depend on the moment or the process to fixed values (see the type).
    static func normalize(_ bytes: inout [UInt8], layout: RingLayout, times: ClosedRange<UInt64>) {
        bytes.setLE(fixedTime, at: 64)                                                    // created
        if bytes.le64(at: 136) != 0 { bytes.setLE(fixedTime + 1, at: 136) }               // last write
        bytes.setLE(UInt32(0), at: 144)                                                   // writer PID
        bytes.setLE(UInt64(0), at: 152)                                                   // its start time
        for record in 0..<24 {
            let offset = 1024 + record * 128
            if bytes.le32(at: offset + 64) != 0 {
                bytes.setLE(UInt32(0), at: offset + 68)                                   // opener's PID
                bytes.setLE(UInt64(0), at: offset + 72)                                   // its start time
            }
        }
        guard let messages = layout.messages else { return }
        // A message's time follows its sequence (the word before it), wherever one lies; in
        // version 4 the record's check word, which covers the time, is computed again.
        for offset in stride(from: 4096 + 16, to: bytes.count, by: 8) where times.contains(bytes.le64(at: offset)) {
            let sealed = messages.records.isChecked && recordCheck(bytes, at: offset - 16).map { UInt64($0) == bytes.le64(at: offset + 8) } == true
            bytes.setLE(fixedTime + (bytes.le64(at: offset - 8) & 0xFFFF_FFFF) * 1_000, at: offset)
            if sealed, let check = recordCheck(bytes, at: offset - 16) { bytes.setLE(UInt64(check), at: offset + 8) }
        }
    }

    /// The check word a version-4 message record starting at byte `start` should have, if a
    /// message record of its length fits there.
    static func recordCheck(_ bytes: [UInt8], at start: Int) -> UInt32? {
        guard start >= 4096, start + 32 <= bytes.count else { return nil }
        let first = bytes.le64(at: start), length = Int(first & 0xFFFF_FFFF)
        guard first >> 32 == 1, start + 32 + length <= bytes.count else { return nil }
        return bytes.withUnsafeBytes { all in
            RecordCheck.tables.record(header: UnsafeRawBufferPointer(rebasing: all[start..<(start + 24)]),
                                      body: UnsafeRawBufferPointer(rebasing: all[(start + 32)..<(start + 32 + length)]))
        }
    }

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// An item with declared fields, a name and alignment 8 (template 3).
struct Quote: DescribedItem {
    var time: UInt64
    var price: Double
    var venue: InlineArray<4, UInt8>
    static let itemFields: [ItemField<Quote>] = [.init("time", \.time), .init("price", \.price), .init("venue", chars: \.venue)]
}

/// An item aligned to 16 bytes, without declared fields (template 4).
struct Wide: BitwiseCopyable {
    var lanes: SIMD4<Float>
    var tag: UInt8
}

/// A ring file built from an input: a template with the input's bytes laid over the part its
/// kind fuzzes (see `FuzzKind`).
struct RingInput {
    let template: RingTemplate
    var bytes: [UInt8]

    /// The largest file a header input may ask for.
    static let maxFileSize = 1 << 18

    init(kind: FuzzKind, input: [UInt8], templates: [RingTemplate]) {
        let selector = Int(input.first ?? 0)
        let body = Array(input.dropFirst())
        let candidates = kind == .records ? templates.filter(\.holdsMessages) : templates
        template = candidates[(selector & 0x0F) % candidates.count]
        bytes = template.bytes
        switch kind {
        case .header:
            lay(body, over: 0..<1024)
            if selector & 0x10 == 0 { fixGeometryChecksum() }
            if selector & 0x20 == 0 { fixDescriptionChecksum() }
            // The file is as long as its header says, within reason: a header that lies about
            // it meets a file of another size.
            let recorded = bytes.le64(at: 48)
            let size = Int(min(recorded, UInt64(Self.maxFileSize)))
            if size < bytes.count { bytes.removeLast(bytes.count - size) } else { bytes += [UInt8](repeating: 0, count: size - bytes.count) }
        case .description:
            lay(body, over: 384..<1016)
            bytes.setLE(UInt32(3), at: 8)
            fixGeometryChecksum()
            if selector & 0x10 == 0 { fixDescriptionChecksum() }
        case .writer:
            lay(body, over: 128..<384)
        case .readers:
            lay(body, over: 1024..<4096)
        case .records:
            lay(body, over: 4096..<bytes.count)
        case .registry, .layout:
            break
        }
    }

    /// Lays `body` over `range` (the template's bytes stay where the body is shorter).
    mutating func lay(_ body: [UInt8], over range: Range<Int>) {
        let count = min(body.count, range.count)
        bytes.replaceSubrange(range.lowerBound..<(range.lowerBound + count), with: body.prefix(count))
    }

    /// Line 0's checksum (bytes 56–63, over bytes 0–55).
    mutating func fixGeometryChecksum() {
        bytes.setLE(RingLayout.checksum(bytes[0..<56]), at: 56)
    }

    /// The item description's checksum (bytes 1016–1023, over bytes 384–1015).
    mutating func fixDescriptionChecksum() {
        bytes.setLE(RingLayout.checksum(bytes[384..<1016]), at: 1016)
    }

    /// The header as the library validates it, or nil if it refuses it.
    var layout: RingLayout? {
        try? RingLayout(validating: Array(bytes.prefix(1024)), fileSize: bytes.count, path: "fuzz.ring")
    }
}

extension [UInt8] {
    func le64(at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(self[offset + $1]) << (8 * $1) }
    }

    func le32(at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(self[offset + $1]) << (8 * $1) }
    }

    mutating func setLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        for index in 0..<(T.bitWidth / 8) { self[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
}
