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

    @Test(arguments: [8, 24], [ItemIntegrity.checked, .unchecked])
    func noReaderDeliversAnItemThatWasNotWrittenUnderItsSequence(size: Int, integrity: ItemIntegrity) throws {
        let seed: UInt64 = 0x0F0F_CAFE_0000 + UInt64(size)
        var generator = SplitMix64(seed: seed)
        let length = 256, laps = 40
        try directory.createBuffer("crash", itemSize: size, length: length, integrity: integrity).close()
        let path = directory.ringPath(of: "crash")
        let fileSize = Int(try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber)
        let versions = Versions(count: fileSize / Self.sector)

        // The writer process, and a thread of this process copying the file's sectors until
        // it is done (and at least 4 times).
        let writer = try Agent(["write", temporary.path, "crash", String(length * laps)])
        let finished = DispatchSemaphore(value: 0)
        let copier = Thread { [path] in
            defer { finished.signal() }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var copy = [UInt8](repeating: 0, count: fileSize)
            var copyGenerator = SplitMix64(seed: seed ^ 0xC0)
            var copies = 0
            while !versions.done.load(ordering: .relaxed) || copies < 4 {
                // One sector at a time, in a random order: no copy is a point in time.
                for index in (0..<versions.sectors.count).shuffled(using: &copyGenerator) {
                    let offset = index * Self.sector
                    _ = copy.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, Self.sector, off_t(offset)) }
                    versions.offer(copy[offset..<(offset + Self.sector)], at: index)
                }
                copies += 1
            }
        }
        copier.start()
        #expect(writer.expectLine(startingWith: "pushed") == "pushed \(length * laps)")
        #expect(writer.wait() == 0)
        versions.done.store(true, ordering: .relaxed)
        finished.wait()
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(versions.sectors.allSatisfy { !$0.isEmpty })

        var delivered = 0, wrong: [String] = [], refused = 0
        for image in 0..<150 {
            var bytes = [UInt8](original)
            for (index, candidates) in versions.sectors.enumerated() {
                // Of each sector: zeros one time in 16 (never written back), an older version
                // one in 4, else the newest (written back after the writer's last change).
                let offset = index * Self.sector, draw = generator.next() % 16
                let version = draw == 0 ? [UInt8](repeating: 0, count: Self.sector)
                    : draw < 5 ? candidates[Int(generator.next() % UInt64(candidates.count))] : candidates[candidates.count - 1]
                bytes.replaceSubrange(offset..<(offset + Self.sector), with: version)
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
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
}
