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
    /// The environment of a writer of an earlier boot (a debug build takes the boot's id from it).
    static let earlierBoot = ["CBUFF_TEST_BOOT_ID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"]

    /// Every distinct version of every sector the copies saw, oldest first (zeros aside). Filled
    /// by the copying thread and by the test between the writer's rounds, under `lock`; read
    /// after the thread signalled that it stopped.
    final class Versions: @unchecked Sendable {
        let done = Atomic<Bool>(false)
        let lock = NSLock()
        var sectors: [[[UInt8]]]
        var seen: [Set<[UInt8]>]

        init(count: Int) {
            sectors = Array(repeating: [], count: count)
            seen = Array(repeating: [], count: count)
        }

        func offer(_ bytes: ArraySlice<UInt8>, at index: Int) {
            let version = Array(bytes)
            lock.lock()
            defer { lock.unlock() }
            guard seen[index].insert(version).inserted else { return }
            sectors[index].append(version)
        }

        /// Copies every sector of the file open at `fd`, in the order `indices` gives.
        func copy(_ fd: CInt, _ indices: some Sequence<Int>, into buffer: inout [UInt8]) {
            for index in indices {
                let offset = index * PowerLossTests.sector
                _ = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, PowerLossTests.sector, off_t(offset)) }
                offer(buffer[offset..<(offset + PowerLossTests.sector)], at: index)
            }
        }
    }

    /// Runs `rounds` writer processes one after the other (`writer(round)`, each to its end)
    /// while a thread of this process copies the sectors of the file at `path` over and over, one
    /// at a time in a random order (copies that race the writer, as write-back does); between
    /// rounds the test copies every sector too, so that however the host schedules the two, each
    /// sector has at least a version a round. Returns every distinct version of each.
    static func versions(of path: String, rounds: Int, seed: UInt64, writer: (Int) throws -> ChildProcess) throws -> Versions {
        let fileSize = Int(try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber)
        let versions = Versions(count: fileSize / sector)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        let finished = DispatchSemaphore(value: 0)
        let copier = Thread {
            defer { finished.signal() }
            var buffer = [UInt8](repeating: 0, count: fileSize)
            var generator = SplitMix64(seed: seed ^ 0xC0)
            while !versions.done.load(ordering: .relaxed) {
                versions.copy(fd, (0..<versions.sectors.count).shuffled(using: &generator), into: &buffer)
            }
        }
        copier.start()
        var buffer = [UInt8](repeating: 0, count: fileSize)
        for round in 0..<rounds {
            let process = try writer(round)
            #expect(process.expectLine(startingWith: "pushed") != nil)
            #expect(process.wait() == 0)
            versions.copy(fd, 0..<versions.sectors.count, into: &buffer)
        }
        versions.done.store(true, ordering: .relaxed)
        finished.wait()
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
        let length = 256
        try directory.createBuffer("crash", itemSize: size, length: length, integrity: integrity).close()
        let path = directory.ringPath(of: "crash")
        // 40 writers, each pushing one lap and a half, of an earlier boot (`CBUFF_TEST_BOOT_ID`):
        // the images are read after a restart, as a crash's are.
        let versions = try Self.versions(of: path, rounds: 40, seed: seed) { _ in
            try ChildProcess("cbuff-test-agent", ["write", temporary.path, "crash", String(length * 3 / 2)], environment: Self.earlierBoot)
        }

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
                // Nothing of the image ahead of the new writer (a page newer than the header it
                // settled over) is an item under a sequence it is about to write.
                if let ahead = try latest.popBytes() { wrong.append("image \(image): after a take-over, item \(latest.nextSequence - 1) is \(ahead), which nobody wrote") }
                taken.close()
            }
            if case .failure(let error) = outcome {
                if error.code == .corrupted { refused += 1 } else { wrong.append("image \(image): \(error)") }
            }
        }
        let summary = "\(size)-byte items, \(integrity): \(delivered) items delivered over 150 images, \(wrong.count) wrong, \(refused) refused as corrupted (seed \(seed))"
        if integrity == .checked {
            #expect(wrong.isEmpty, "\(summary): \(wrong.prefix(5))")
            #expect(delivered > 150 * length / 16, "\(summary)")
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
        let max = 200, count = 200
        try directory.createMessageBuffer("crash", capacity: 16384, maxMessageSize: max).close()
        let path = directory.ringPath(of: "crash")
        let environment = earlierBoot ? Self.earlierBoot : [:]
        // 20 writers, each pushing 200 messages (some 1.3 laps of the ring).
        let versions = try Self.versions(of: path, rounds: 20, seed: seed) { _ in
            try ChildProcess("cbuff-test-agent", ["write-messages", temporary.path, "crash", String(count), String(max)], environment: environment)
        }

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
                    if read > 16384 / 32 { wrong.append("image \(image): a reader delivered more messages than the ring holds"); break }
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
        // Without a recovery (this boot's writer) a reader stops with `corrupted` at the first
        // damage it meets, which may be the oldest record: how many it delivers first depends on
        // where the copies tore the ring, so only the recovered images must deliver many.
        if earlierBoot { #expect(delivered > 150, "\(summary)") }
    }
}
