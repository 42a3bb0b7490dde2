internal import Glibc

/// The in relay's journal, which makes its delivery into the ring exactly once.
///
/// Before pushing a batch, the relay records in one write which stream messages the batch holds
/// (their stream sequences, in order), the ring sequence the first of them will get, and the last
/// stream sequence pushed before the batch. A relay killed anywhere leaves the ring and the
/// journal consistent with one of these cases, told apart after a restart by the ring's own
/// count, which only the relay (the ring's one writer) moves:
///
/// - killed before the journal write: the previous entry still describes the ring;
/// - killed during the pushes of the batch: the ring's next sequence minus the entry's start is
///   how many of the batch's messages are in the ring (pushes are whole or absent: a push
///   publishes on return or not at all), so the last stream sequence in the ring is known;
/// - killed after the pushes, before or during the acknowledgements: the same, the whole batch.
///
/// The relay then tells JetStream to deliver from the next stream sequence, and drops any
/// redelivery of a sequence it already pushed, so nothing is pushed twice and nothing skipped.
///
/// The journal is a file of the data directory beside the ring file (`NAME.ring.in-CONSUMER`),
/// opened as input like every file there (no symlink, a regular file, ours, one link) and
/// checksummed: a damaged journal is reported and ignored (delivery falls back to at least once
/// from the consumer's acknowledged floor). It survives the relay's process, not the host: the
/// ring file's pages and the journal's reach the disk when the kernel writes them back.
struct InJournal: ~Copyable {
    struct Entry: Equatable {
        /// The buffer's and the stream's identities (name and creation time): an entry written
        /// for another incarnation of either is ignored.
        var identity: String
        /// The ring sequence the batch's first message was pushed as.
        var ringStart: UInt64
        /// The last stream sequence pushed before the batch (0 if none).
        var before: UInt64
        /// The batch's stream sequences, in the order pushed.
        var sequences: [UInt64]
    }

    static let size = 4096
    static let magic: UInt64 = 0x314A_5952_4C46_4243   // "CBFLRYJ1" little-endian
    static let maxIdentity = 512
    static let maxBatch = (size - 48 - maxIdentity) / 8   // 442

    private let descriptor: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        // Never on descriptors 0-2, where a stray write to stderr would land in it.
        let fd = StandardStreams.aboveStandardStreams(open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0o600))
        guard fd >= 0 else { throw RelayError("Cannot open the relay's journal \(path): \(String(cString: strerror(errno))).") }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_uid == geteuid(), status.st_nlink == 1 else {
            close(fd)
            throw RelayError("The relay's journal \(path) is not a regular file of ours with one link; remove it.")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// The last entry written; nil if none was, and an error if the file is damaged.
    func read() throws -> Entry? {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, Self.size, 0) }
        if count == 0 { return nil }
        guard count == Self.size else { throw RelayError("The relay's journal \(path) is cut short (\(count) bytes).") }
        func word(_ offset: Int) -> UInt64 {
            bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        }
        let identityLength = word(32), batch = word(24)
        guard word(0) == Self.magic, word(40) == Self.checksum(bytes), identityLength <= Self.maxIdentity, batch <= Self.maxBatch,
              let identity = String(validating: bytes[48..<48 + Int(identityLength)], as: UTF8.self) else {
            throw RelayError("The relay's journal \(path) is damaged.")
        }
        let start = 48 + Self.maxIdentity
        let entry = Entry(identity: identity, ringStart: word(8), before: word(16),
                          sequences: (0..<Int(batch)).map { word(start + 8 * $0) })
        // Stream sequences only grow, and a relay pushes them in order: anything else was not
        // written by one (a checksum is no proof against a writer who computes it).
        guard zip([entry.before] + entry.sequences, entry.sequences).allSatisfy({ $0 < $1 }),
              entry.ringStart <= UInt64.max - UInt64(entry.sequences.count) else {
            throw RelayError("The relay's journal \(path) is damaged: its stream sequences do not grow.")
        }
        return entry
    }

    /// `identity` as the journal keeps it: itself if it fits, else its start and a hash of all
    /// of it (buffer and stream names together may be longer than the record's room).
    /// What a journal entry is for: the buffer and the stream, each with its creation time
    /// (another of the same name is another), and **this boot**. The journal is not synced: after
    /// a machine crash it may name ring items the crash lost (the ring kept only what was durable,
    /// and a recovery skips the rest), and resuming after them would drop their redeliveries. So a
    /// journal of another boot is ignored, and delivery starts again from the consumer's
    /// acknowledged floor, which the relay moves only past what the ring holds durably when the
    /// ring has a sync policy (at least once: a message the ring kept may come again).
    static func identity(buffer: String, created: some CustomStringConvertible, stream: String, streamCreated: some CustomStringConvertible) -> String {
        fitted("\(buffer)@\(created) \(stream)@\(streamCreated) boot \(bootID ?? "unknown")")
    }

    /// This boot (`/proc/sys/kernel/random/boot_id`, read once; a debug build takes
    /// `CBUFF_TEST_BOOT_ID` instead, as the library does, so that tests can stand in for a
    /// reboot); nil if it cannot be read.
    static let bootID: String? = {
        #if DEBUG
        if let text = getenv("CBUFF_TEST_BOOT_ID") { return String(cString: text) }
        #endif
        guard let file = fopen("/proc/sys/kernel/random/boot_id", "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 64)
        guard fgets(&buffer, 64, file) != nil else { return nil }
        let text = String(cString: buffer).split(separator: "\n").first.map(String.init)
        return text?.isEmpty == false ? text : nil
    }()

    static func fitted(_ identity: String) -> String {
        guard identity.utf8.count > maxIdentity else { return identity }
        let hash = fnv1a(Array(identity.utf8))
        return String(decoding: identity.utf8.prefix(400), as: UTF8.self) + "…#" + String(hash, radix: 16)
    }

    /// Replaces the entry, in one write.
    func write(_ entry: Entry) throws {
        let identity = Array(Self.fitted(entry.identity).utf8)
        guard identity.count <= Self.maxIdentity, entry.sequences.count <= Self.maxBatch else {
            throw RelayError("A batch of \(entry.sequences.count) messages does not fit the relay's journal (at most \(Self.maxBatch)).")
        }
        var bytes = [UInt8](repeating: 0, count: Self.size)
        func put(_ value: UInt64, _ offset: Int) {
            bytes.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self) }
        }
        put(Self.magic, 0)
        put(entry.ringStart, 8)
        put(entry.before, 16)
        put(UInt64(entry.sequences.count), 24)
        put(UInt64(identity.count), 32)
        bytes.replaceSubrange(48..<48 + identity.count, with: identity)
        for (index, sequence) in entry.sequences.enumerated() { put(sequence, 48 + Self.maxIdentity + 8 * index) }
        put(Self.checksum(bytes), 40)
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, Self.size, 0) }
        guard written == Self.size else {
            throw RelayError("Cannot write the relay's journal \(path): \(written < 0 ? String(cString: strerror(errno)) : "short write").")
        }
    }

    /// FNV-1a over the record with its checksum word (bytes 40 ..< 48) taken as zero.
    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        fnv1a(bytes, zeroing: 40..<48)
    }

    static func fnv1a(_ bytes: [UInt8], zeroing skipped: Range<Int> = 0..<0) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (index, byte) in bytes.enumerated() {
            hash = (hash ^ UInt64(skipped.contains(index) ? 0 : byte)) &* 0x100_0000_01b3
        }
        return hash
    }
}
