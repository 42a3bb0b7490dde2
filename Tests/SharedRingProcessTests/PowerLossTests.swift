import Foundation
import Synchronization
import Testing
import TestSupport
import SharedRing

/// A machine crash or a power loss leaves each sector of a ring file holding whichever version
/// of it the kernel last wrote back, or zeros, in any combination (format-v4-plan.md, decision 7).
/// These tests build such files from a real writer: a writer process pushes many laps into a
/// ring with check words in its slots while this process copies every 512-byte sector of the
/// file as it is, over and over (copies that race the writer, as write-back does); each crash
/// image takes, for every sector, the newest version seen (a crash soon after the writer
/// stopped), any older one, or zeros. Over every image of a ring with check words a reader must
/// deliver only items that are exactly what the writer wrote under their sequence (the rest it
/// counts as missed), end, and never trap; a writer taking the image over, then a reader, must
/// do as well. The same images of a ring without check words show that the simulator does find
/// such damage where nothing checks it.
@Suite(.serialized) struct PowerLossTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    static let sector = 512

    /// Every distinct version of every sector the copies saw, oldest first (zeros aside).
    /// Filled by the copying thread alone, read after it signalled that it stopped.
    final class Versions: @unchecked Sendable {
        let done = Atomic<Bool>(false)
        var sectors: [[[UInt8]]]
        var seen: [Set<[UInt8]>]

        init(count: Int) {
            sectors = Array(repeating: [], count: count)
            seen = Array(repeating: [], count: count)
        }

        func offer(_ bytes: ArraySlice<UInt8>, at index: Int) {
            let version = Array(bytes)
            guard seen[index].insert(version).inserted else { return }
            sectors[index].append(version)
        }
    }

    /// Runs `writer` to its end while a thread of this process copies the sectors of the file at
    /// `path` (and at least 4 times): every distinct version of each.
    static func versions(of path: String, while writer: ChildProcess, expecting line: String, seed: UInt64) throws -> Versions {
        let fileSize = Int(try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber)
        let versions = Versions(count: fileSize / sector)
        let finished = DispatchSemaphore(value: 0)
        let copier = Thread {
            defer { finished.signal() }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var copy = [UInt8](repeating: 0, count: fileSize)
            var generator = SplitMix64(seed: seed ^ 0xC0)
            var copies = 0
            while !versions.done.load(ordering: .relaxed) || copies < 4 {
                // One sector at a time, in a random order: no copy is a point in time.
                for index in (0..<versions.sectors.count).shuffled(using: &generator) {
                    let offset = index * sector
                    _ = copy.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, sector, off_t(offset)) }
                    versions.offer(copy[offset..<(offset + sector)], at: index)
                }
                copies += 1
            }
        }
        copier.start()
        #expect(writer.expectLine(startingWith: "pushed") == line)
        #expect(writer.wait() == 0)
        versions.done.store(true, ordering: .relaxed)
        finished.wait()
        #expect(versions.sectors.allSatisfy { !$0.isEmpty })
        return versions
    }

    /// A crash image: of each sector, zeros one time in 16 (never written back), an older
    /// version one in 4, else the newest (written back after the writer's last change).
    static func image(_ versions: Versions, _ generator: inout SplitMix64) -> Data {
        var bytes = Data(capacity: versions.sectors.count * sector)
        for candidates in versions.sectors {
            let draw = generator.next() % 16
            bytes.append(contentsOf: draw == 0 ? [UInt8](repeating: 0, count: sector)
                         : draw < 5 ? candidates[Int(generator.next() % UInt64(candidates.count))] : candidates[candidates.count - 1])
        }
        return bytes
    }

    @Test(arguments: [8, 24], [ItemIntegrity.checked, .unchecked])
    func noReaderDeliversAnItemThatWasNotWrittenUnderItsSequence(size: Int, integrity: ItemIntegrity) throws {
        let seed: UInt64 = 0x0F0F_CAFE_0000 + UInt64(size)
        var generator = SplitMix64(seed: seed)
        let length = 256, laps = 40
        try directory.createBuffer("crash", itemSize: size, length: length, integrity: integrity).close()
        let path = directory.ringPath(of: "crash")
        let versions = try Self.versions(of: path, while: try Agent(["write", temporary.path, "crash", String(length * laps)]),
                                         expecting: "pushed \(length * laps)", seed: seed)

        var delivered = 0, wrong: [String] = [], refused = 0
        for image in 0..<150 {
            try Self.image(versions, &generator).write(to: URL(fileURLWithPath: path))
            let outcome = Result { () throws(CBuffError) in
                var reader = try directory.openReader("crash")
                var read = 0
                while let item = try reader.popBytes() {
                    let sequence = reader.nextSequence - 1
                    if item != TestItem.bytes(sequence, size: size) { wrong.append("image \(image): item \(sequence) is \(item)") }
                    read += 1
                    if read > length { wrong.append("image \(image): a reader delivered more than \(length) items"); break }
                }
                delivered += read
                _ = try? directory.verify("crash")
                // A writer taking the image over continues where its slots say, and what it
                // pushes is read back exactly.
                var taken = try directory.takeOver("crash")
                var latest = try directory.openReader("crash", start: .latest)
                let first = taken.nextSequence
                for sequence in first..<(first + 3) { try taken.push(bytes: TestItem.bytes(sequence, size: size)) }
                for sequence in first..<(first + 3) {
                    let item = try latest.popBytes()
                    if item != TestItem.bytes(sequence, size: size) { wrong.append("image \(image): after a take-over, item \(sequence) is \(String(describing: item))") }
                }
                taken.close()
            }
            if case .failure(let error) = outcome {
                if error.code == .corrupted { refused += 1 } else { wrong.append("image \(image): \(error)") }
            }
        }
        let summary = "\(size)-byte items, \(integrity): \(delivered) items delivered over 150 images, \(wrong.count) wrong, \(refused) refused as corrupted (seed \(seed))"
        if integrity == .checked {
            #expect(wrong.isEmpty, "\(summary): \(wrong.prefix(5))")
            #expect(delivered > 150 * length / 4, "\(summary)")
        } else {
            #expect(wrong.count > 10, "\(summary): the simulator should find damage in a ring without check words")
        }
    }

    /// The same for a ring of messages (format version 4: a check word in every record), its
    /// writer of this boot (a reader stops at damage, `corrupted`, after every message before it)
    /// or of an earlier one (`CBUFF_TEST_BOOT_ID`: the first reader recovers the image, and
    /// readers then skip the lost spans, counting them).
    @Test(arguments: [false, true])
    func noReaderDeliversAMessageThatWasNotWrittenUnderItsSequence(earlierBoot: Bool) throws {
        let seed: UInt64 = 0x0F0F_CAFE_1000 + (earlierBoot ? 1 : 0)
        var generator = SplitMix64(seed: seed)
        let max = 200, count = 2_000
        try directory.createMessageBuffer("crash", capacity: 16384, maxMessageSize: max).close()
        let path = directory.ringPath(of: "crash")
        let environment = earlierBoot ? ["CBUFF_TEST_BOOT_ID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"] : [:]
        let writer = try ChildProcess("cbuff-test-agent", ["write-messages", temporary.path, "crash", String(count), String(max)],
                                      environment: environment)
        let versions = try Self.versions(of: path, while: writer, expecting: "pushed \(count)", seed: seed)

        var delivered = 0, wrong: [String] = [], refused = 0
        for image in 0..<150 {
            try Self.image(versions, &generator).write(to: URL(fileURLWithPath: path))
            let outcome = Result { () throws(CBuffError) in
                var reader = try directory.openMessageReader("crash")
                var read = 0
                defer { delivered += read }
                while let message = try reader.pop() {
                    if !TestMessage.check(Array(message.bytes), sequence: message.sequence, max: max) {
                        wrong.append("image \(image): message \(message.sequence) is \(Array(message.bytes))")
                    }
                    read += 1
                    if read > count { wrong.append("image \(image): a reader delivered more than \(count) messages"); break }
                }
                var taken = try directory.takeOverMessages("crash")
                var latest = try directory.openMessageReader("crash", start: .latest)
                let first = taken.nextSequence
                for sequence in first..<(first + 3) { try taken.push(TestMessage.bytes(sequence, max: max)) }
                for sequence in first..<(first + 3) {
                    let message = try latest.pop()
                    if message.map({ $0.sequence != sequence || !TestMessage.check(Array($0.bytes), sequence: sequence, max: max) }) ?? true {
                        wrong.append("image \(image): after a take-over, message \(sequence) is \(String(describing: message))")
                    }
                }
                taken.close()
            }
            if case .failure(let error) = outcome {
                if error.code == .corrupted { refused += 1 } else { wrong.append("image \(image): \(error)") }
            }
        }
        let summary = "messages, \(earlierBoot ? "an earlier boot's" : "this boot's") writer: \(delivered) delivered over 150 images, \(wrong.count) wrong, \(refused) refused as corrupted (seed \(seed))"
        #expect(wrong.isEmpty, "\(summary): \(wrong.prefix(5))")
        // (Without a recovery a reader stops at the first damage it meets: fewer are delivered.)
        #expect(delivered > (earlierBoot ? 150 * 10 : 150), "\(summary)")
    }
}
