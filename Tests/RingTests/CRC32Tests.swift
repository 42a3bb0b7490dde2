import CSharedRingChecksum
import CZlib
import Testing
import SharedRingCommon
@testable import SharedRingProtocol

/// The check word of version-4 message records (`RecordCheck`) against zlib's `crc32`, its
/// definition: every form this CPU has (PCLMULQDQ folding, its loop on 256-bit registers with
/// VPCLMULQDQ, the tables everywhere), every length 0–300 and larger ones (each side of the wide
/// loop's 64-byte steps), at every alignment, over random bytes from a fixed seed; the
/// record form (bytes 0–23, then the message at 32) over the same; and the golden example of
/// `RingFileFormat.md`, pinned here and in the Python suite.
@Suite struct CRC32Tests {
    static let seed: UInt64 = 0x00C3_C32A_0000_0004

    /// SplitMix64 bytes.
    static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return UInt8(truncatingIfNeeded: z ^ (z >> 31))
        }
    }

    static func zlib(_ bytes: UnsafeRawBufferPointer, continuing value: UInt32 = 0) -> UInt32 {
        UInt32(crc32(UInt(value), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt32(bytes.count)))
    }

    /// This CPU's form, each narrower one it has, and the tables.
    static let checks: [(String, RecordCheck)] =
        [("this CPU's", .here)]
        + (RecordCheck.here.accelerated > CBUFF_CRC32_PCLMUL ? [("PCLMULQDQ, 128-bit", RecordCheck(accelerated: CBUFF_CRC32_PCLMUL))] : [])
        + [("tables", .tables)]

    /// Lengths each side of multiples of the wide loop's step (64 bytes), up to `limit`: every
    /// number of blocks and bytes left after its last step, with one step more or less.
    static func aroundSteps(upTo limit: Int) -> [Int] {
        stride(from: 320, through: limit - 15, by: 64).flatMap { ($0 - 15)...($0 + 15) }
    }

    @Test func everyLengthAgreesWithZlib() {
        let bytes = Self.randomBytes(70_000, seed: Self.seed)
        let lengths = Array(0...300) + Self.aroundSteps(upTo: 4200) + [65_537, 69_000]
        bytes.withUnsafeBytes { all in
            for (name, check) in Self.checks {
                for length in lengths {
                    for start in [0, 1, 3, 8] where start + length <= all.count {
                        let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                        #expect(check.crc32(slice) == Self.zlib(slice), "\(name), length \(length) at \(start), seed \(Self.seed)")
                    }
                }
                // Continued from a value, as zlib's `crc32(value, …)` is.
                let head = UnsafeRawBufferPointer(rebasing: all[0..<37]), rest = UnsafeRawBufferPointer(rebasing: all[37..<1000])
                #expect(check.crc32(rest, continuing: check.crc32(head)) == Self.zlib(UnsafeRawBufferPointer(rebasing: all[0..<1000])), "\(name)")
            }
        }
        #expect(Array("123456789".utf8).withUnsafeBytes { RecordCheck.here.crc32($0) } == 0xCBF4_3926)   // the standard check value
    }

    @Test func theRecordFormIsBytes0To23ThenTheMessage() {
        let bytes = Self.randomBytes(8192, seed: Self.seed ^ 1)
        bytes.withUnsafeBytes { all in
            for (name, check) in Self.checks {
                for length in Array(0...300) + Self.aroundSteps(upTo: 4200) + [8000] where 40 + length <= all.count {
                    for start in [0, 8] {
                        let record = all.baseAddress! + start
                        let expected = Self.zlib(UnsafeRawBufferPointer(start: record + 32, count: length),
                                                 continuing: Self.zlib(UnsafeRawBufferPointer(start: record, count: 24)))
                        #expect(check.of(record: record, length: length) == expected, "\(name), length \(length) at \(start), seed \(Self.seed ^ 1)")
                    }
                }
            }
        }
    }

    /// The writer's form: the header's words as values and the message wherever it lies (the
    /// bytes it copies from), equal to the record form over the same bytes laid out as a record.
    @Test func theWritersFormEqualsTheRecordForm() {
        let bytes = Self.randomBytes(8192 + 32, seed: Self.seed ^ 2)
        bytes.withUnsafeBytes { all in
            let record = all.baseAddress!
            let words = (0..<3).map { record.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self) }
            for (name, check) in Self.checks {
                for length in Array(0...300) + Self.aroundSteps(upTo: 4200) + [8000] {
                    for offset in [0, 5] {                                       // the body elsewhere, at any alignment
                        let body = UnsafeMutableRawPointer.allocate(byteCount: length + offset, alignment: 16)
                        defer { body.deallocate() }
                        (body + offset).copyMemory(from: record + 32, byteCount: length)
                        #expect(check.of(first: words[0], sequence: words[1], time: words[2], body: body + offset, length: length)
                                    == check.of(record: record, length: length), "\(name), length \(length), offset \(offset)")
                    }
                }
            }
        }
    }

    /// A writer that copies from the data area itself (bytes its own claim overlaps) seals what
    /// it wrote, read back, not the source that its own stores changed.
    @Test func aWriterCopyingFromItsOwnRingSealsTheCopy() throws {
        let ring = try InMemoryRing(messageCapacity: 4096, maxMessage: 100)
        var publisher = try ring.messagePublisher()
        let first = Self.randomBytes(64, seed: Self.seed ^ 3)
        #expect(publisher.publish(length: 64, time: 1) { $0.copyMemory(from: first, byteCount: 64) })
        let next = publisher.area.pointer(publisher.position)
        let garbage = Self.randomBytes(200, seed: Self.seed ^ 4)                 // unpublished bytes, not zeros
        next.copyMemory(from: garbage, byteCount: garbage.count)
        let source = UnsafeRawPointer(next) + 40                                  // 8 bytes into the next record's message
        #expect(publisher.publish(reserving: 64, time: 2) { body in
            body.copyMemory(from: source, byteCount: 64)                           // overlapping: memmove
            return 64
        })
        #expect(publisher.area.isSealed(publisher.area.pointer(0), length: 64))
        #expect(publisher.area.isSealed(next, length: 64))
    }

    /// RingFileFormat.md's example: the record of message 7, "hello", stamped
    /// 1,700,000,000,000,000,000 ns. Its first 24 bytes, then its check word.
    static let goldenHeader: [UInt8] = [0x05, 0, 0, 0, 0x01, 0, 0, 0,  0x07, 0, 0, 0, 0, 0, 0, 0,
                                        0x00, 0x00, 0x2A, 0x36, 0xFE, 0x9C, 0x97, 0x17]
    static let goldenCheck: UInt32 = 0x101A_DF15

    @Test func theGoldenRecordOfTheFormatDocument() throws {
        let ring = try InMemoryRing(messageCapacity: 4096, maxMessage: 100)
        var publisher = try ring.messagePublisher()
        publisher.nextSequence = 7
        #expect(publisher.publish(length: 5, time: 1_700_000_000_000_000_000) { $0.copyMemory(from: Array("hello".utf8), byteCount: 5) })
        let record = UnsafeRawBufferPointer(rebasing: ring.bytes[4096..<(4096 + 40)])
        #expect(Array(record[0..<24]) == Self.goldenHeader)
        #expect(Array(record[24..<32]) == [0x15, 0xDF, 0x1A, 0x10, 0, 0, 0, 0])                // check, then a zero word half
        #expect(Array(record[32..<40]) == Array("hello".utf8) + [0, 0, 0])
        let zlibCheck = (Self.goldenHeader + Array("hello".utf8)).withUnsafeBytes { Self.zlib($0) }
        #expect(zlibCheck == Self.goldenCheck)
    }
}
