import Foundation
import Testing
import TestSupport
@testable import SharedRing
import SharedRingProtocol

/// Damaged headers, chosen by a seeded generator: opening, inspecting, reading and taking over
/// must give a clear error or work, never crash. 2,000 cases per format version by default;
/// 100,000 with CBUFF_LONG_TESTS=1. The seed is printed with every failure (CBUFF_TEST_SEED
/// replays one). Version 3's cases damage mostly its item description (bytes 384–1023).
@Suite struct HeaderFuzzTests {
    static let cases = ProcessInfo.processInfo.environment["CBUFF_LONG_TESTS"] == "1" ? 100_000 : 2_000

    @Test(arguments: [2, 3])
    func damagedHeadersNeverCrash(version: Int) throws {
        let seed = ProcessInfo.processInfo.environment["CBUFF_TEST_SEED"].flatMap { UInt64($0) } ?? 0xF022_CB0F
        var random = SplitMix64(seed: seed)
        let temporary = try TemporaryDirectory()
        let directory = DataDirectory(path: temporary.path)
        var writer = version == 2
            ? try directory.createBuffer("fuzz", itemSize: 12, length: 8)
            : try directory.createBuffer("fuzz", layout: ItemLayout("id:u32,sym:char5,px:f32"), length: 8)
        for value in UInt64(0)..<11 { try writer.push(value) }
        writer.close()
        try directory.openReader("fuzz", named: "kept").close()
        let path = directory.ringPath(of: "fuzz")
        let pristine = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }

        var outcomes: [String: Int] = [:]
        for index in 0..<Self.cases {
            var header = Array(pristine[0..<4096])
            // 1 to 8 random bytes, mostly in the first lines where the meaning is densest.
            for _ in 0...(random.next() % 8) {
                let dense = version == 2 ? Int(random.next() % 320) : 384 + Int(random.next() % 640)
                let offset = random.next() % 4 == 0 ? Int(random.next() % 4096) : dense
                header[offset] = UInt8(truncatingIfNeeded: random.next())
            }
            // Half the time, make the checksums right again so that the deeper checks are reached.
            if random.next() % 2 == 0 {
                header.storeLE(RingLayout.checksum(header[0..<56]), at: 56)
                header.storeLE(RingLayout.checksum(header[384..<1016]), at: 1016)
            }
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: header)

            var codes: [String] = []
            func attempt(_ body: () throws -> Void) { codes.append(outcome(of: body)) }
            attempt { _ = try directory.status(of: "fuzz") }
            attempt { () throws in
                var reader = try directory.openReader("fuzz")
                _ = try reader.popBytes(); _ = try reader.popBytes(); _ = reader.usage
            }
            attempt { () throws in
                var reader = try directory.openReader("fuzz", named: "kept")
                _ = try reader.popBytes()
            }
            attempt { () throws in
                var writer = try directory.takeOver("fuzz")
                _ = try writer.tryPush(1)
                writer.close()
            }
            let allowed: Set<String> = ["ok", "corrupted", "invalid argument", "reader busy"]
            #expect(codes.allSatisfy(allowed.contains), "version \(version), case \(index), seed \(seed): \(codes)")
            outcomes[codes.joined(separator: ","), default: 0] += 1
            // Restore the whole file (a take-over may have written slots).
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: pristine)
        }
        // The fuzzer reached both outcomes: refused headers and accepted ones.
        #expect(outcomes.keys.contains { $0.hasPrefix("ok") } && outcomes.keys.contains { $0.contains("corrupted") }, "\(outcomes)")
    }
    /// The same for a ring of messages, whose damage may also be in its records: the header's
    /// message geometry (bytes 384–511, checksum fixed half the time), the writer's words on line
    /// 5, and the data area. Readers, named readers, a take-over and its push must each give a
    /// clear error or work, and every message delivered must hold at most the largest size.
    @Test func damagedMessageRingsNeverCrash() throws {
        let seed = ProcessInfo.processInfo.environment["CBUFF_TEST_SEED"].flatMap { UInt64($0) } ?? 0x3E55_A6E5
        var random = SplitMix64(seed: seed)
        let temporary = try TemporaryDirectory()
        let directory = DataDirectory(path: temporary.path)
        var writer = try directory.createMessageBuffer("fuzz", capacity: 4096, maxMessageSize: 600)
        for i in 0..<40 { try writer.push([UInt8](repeating: UInt8(i), count: i * 37 % 600)) }
        writer.close()
        try directory.openMessageReader("fuzz", named: "kept").close()
        let path = directory.ringPath(of: "fuzz")
        let pristine = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var outcomes: [String: Int] = [:]
        for index in 0..<Self.cases {
            var bytes = pristine
            for _ in 0...(random.next() % 8) {
                let offset: Int
                switch random.next() % 4 {
                case 0: offset = 384 + Int(random.next() % 128)             // kind and message geometry
                case 1: offset = 320 + Int(random.next() % 64)              // the writer's line 5
                default: offset = 4096 + Int(random.next() % 4096)          // records
                }
                bytes[offset] = UInt8(truncatingIfNeeded: random.next())
            }
            if random.next() % 2 == 0 { bytes.storeLE(RingLayout.checksum(bytes[384..<1016]), at: 1016) }
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: bytes)
            var codes: [String] = []
            func attempt(_ body: () throws -> Void) { codes.append(outcome(of: body)) }
            attempt { _ = try directory.status(of: "fuzz") }
            attempt { () throws in
                var reader = try directory.openMessageReader("fuzz")
                for _ in 0..<50 {
                    guard let message = try reader.pop() else { break }
                    #expect(message.bytes.count <= 600, "case \(index), seed \(seed)")
                }
            }
            attempt { () throws in
                var reader = try directory.openMessageReader("fuzz", named: "kept")
                _ = try reader.pop()
            }
            attempt { () throws in _ = try directory.openMessageReader("fuzz", at: 10) }
            attempt { () throws in
                var writer = try directory.takeOverMessages("fuzz")
                try writer.push("after the damage")
                writer.close()
            }
            let allowed: Set<String> = ["ok", "corrupted", "invalid argument", "reader busy"]
            #expect(codes.allSatisfy(allowed.contains), "case \(index), seed \(seed): \(codes)")
            outcomes[codes.joined(separator: ","), default: 0] += 1
        }
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: pristine)
        #expect(outcomes.keys.contains { $0.hasPrefix("ok") } && outcomes.keys.contains { $0.contains("corrupted") }, "\(outcomes)")
    }
}

/// "ok", the error's code for a `CBuffError`, or "unexpected …" for any other error.
private func outcome(of body: () throws -> Void) -> String {
    do {
        try body()
        return "ok"
    } catch let error as CBuffError {
        return error.code.description
    } catch {
        return "unexpected \(error)"
    }
}
