import CSharedRingChecksum
import Testing
@testable import SharedRingProtocol

/// The check word of version-4 item slots (`SlotCheck`) against a bitwise CRC32C, its
/// definition: every form this CPU has (the `crc32` instruction, with and without the three
/// streams joined by PCLMULQDQ; the tables everywhere), every length 0–300 and each side of the
/// streams' blocks (96 and 768 bytes), at several alignments, over random bytes from a fixed
/// seed; the constants of the streams' join recomputed; and the examples of `RingFileFormat.md`.
@Suite struct CRC32CTests {
    static let seed: UInt64 = 0x00C3_C32C_0000_0004

    /// The definition: bit by bit, reflected polynomial 0x82F63B78, continuing `value`.
    static func bitwise(_ bytes: UnsafeRawBufferPointer, continuing value: UInt32 = 0) -> UInt32 {
        var crc = ~value
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    /// x^k mod P, reflected.
    static func power(_ k: Int) -> UInt32 {
        var r: UInt32 = 0x8000_0000
        for _ in 0..<k { r = r & 1 == 1 ? (r >> 1) ^ 0x82F6_3B78 : r >> 1 }
        return r
    }

    static let checks: [(String, SlotCheck)] =
        [("this CPU's", .here)]
        + (SlotCheck.here.accelerated > CBUFF_CRC32C_SSE42 ? [("crc32 chained", SlotCheck(accelerated: CBUFF_CRC32C_SSE42))] : [])
        + [("tables", .tables)]

    @Test func everyLengthAgreesWithTheDefinition() {
        let bytes = CRC32Tests.randomBytes(5000, seed: Self.seed)
        let lengths = Array(0...300) + [768, 1536].flatMap { ($0 - 9)...($0 + 9) } + [863, 864, 865, 4000]
        bytes.withUnsafeBytes { all in
            for (name, check) in Self.checks {
                for length in lengths {
                    for start in [0, 1, 5, 8] where start + length <= all.count {
                        let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                        #expect(check.crc32c(slice) == Self.bitwise(slice), "\(name), length \(length) at \(start), seed \(Self.seed)")
                        #expect(check.crc32c(slice, continuing: 0x1234_5678) == Self.bitwise(slice, continuing: 0x1234_5678), "\(name), length \(length)")
                    }
                }
            }
        }
        #expect(Array("123456789".utf8).withUnsafeBytes { SlotCheck.here.crc32c($0) } == 0xE306_9283)   // the standard check value
    }

    /// The three streams' join multiplies by x^(8B) with the constants x^(8B−33) and x^(16B−33).
    @Test func theJoinsConstantsAreThePowersTheyClaim() {
        #expect(Self.power(8 * 256 - 33) == 0xB9E0_2B86)
        #expect(Self.power(16 * 256 - 33) == 0xDD7E_3B0C)
        #expect(Self.power(8 * 32 - 33) == 0xBA4F_C28E)
        #expect(Self.power(16 * 32 - 33) == 0x9E4A_DDF8)
    }

    /// `RingFileFormat.md`'s examples: item bytes 01 02 … 08 under sequences 0, 5 and 2^31 + 5.
    @Test func theFormatDocumentsExamples() {
        let item: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        for (name, check) in Self.checks {
            item.withUnsafeBytes { bytes in
                #expect(check.word(sequence: 0, item: bytes.baseAddress!, size: 8) == 0x4689_1F81_8000_0000, "\(name)")
                #expect(check.word(sequence: 5, item: bytes.baseAddress!, size: 8) == 0x4689_1F81_8000_0005, "\(name)")
                #expect(check.word(sequence: (1 << 31) + 5, item: bytes.baseAddress!, size: 8) == 0x0FB5_62A6_8000_0005, "\(name)")
                #expect(check.word(sequence: 0, item: bytes.baseAddress!, size: 8) >> 32 == UInt64(Self.bitwise(bytes)), "\(name)")
                #expect(check.word(sequence: (1 << 31) + 5, item: bytes.baseAddress!, size: 8) >> 32 == UInt64(Self.bitwise(bytes, continuing: 1)), "\(name)")
            }
        }
        #expect(SlotCheck.stamp(5) == 0x8000_0005)
        #expect(SlotCheck.stamp((1 << 31) + 5) == 0x8000_0005)
    }

    /// 8-byte items take a form of their own (`cbuff_slot_word8`, one instruction): the same
    /// words as the general forms, for random items under random sequences (seed printed).
    @Test func eightByteItemsGetTheWordsOfTheGeneralForms() {
        let words = CRC32Tests.randomBytes(10_000 * 16, seed: 0xC0FF_EE08).withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
        for index in stride(from: 0, to: words.count, by: 2) {
            let item = words[index], sequence = words[index + 1] >> 1
            withUnsafeBytes(of: item.littleEndian) { bytes in
                let expected = UInt64(Self.bitwise(bytes, continuing: UInt32(truncatingIfNeeded: sequence >> 31))) << 32
                    | sequence & 0x7FFF_FFFF | 0x8000_0000
                for (name, check) in Self.checks {
                    #expect(check.word(sequence: sequence, item: bytes.baseAddress!, size: 8) == expected,
                            "\(name): item \(item) under sequence \(sequence) (seed 0xC0FFEE08)")
                }
            }
        }
    }
}
