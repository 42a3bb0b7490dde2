package import SharedRingCommon

/// The geometry of a ring file, format versions 2, 3 and 4, and where each header word lives.
///
/// The authoritative description for other languages is the DocC article
/// `Sources/SharedRing/SharedRing.docc/RingFileFormat.md`; `Tests/SharedRingTests/RingFileTests.swift`
/// pins these offsets with golden bytes. In short: a 4096-byte header, then
/// `length` slots of `slotStride` bytes. Every integer is little-endian. Each group of words is
/// on its own 64-byte cache line according to who writes it:
///
/// | line | offset | written by | content |
/// |------|--------|------------|---------|
/// | 0 | 0 | creator, once | geometry and checksum (immutable) |
/// | 1 | 64 | creator, once (boot words: each writer at attach) | creation time, tether timeout, writer's boot, sync policy |
/// | 2 | 128 | the writer | published and claimed counts, last write time, writer identity and state |
/// | 3 | 192 | readers (the writer only when waking them) | futex word and waiter count |
/// | 4 | 256 | named readers (the writer only when it waits) | the `block` policy's wake-up line |
/// | 5 | 320 | the writer | the claim counter under the `block` policy (line 2 holds it under `overwrite`) |
/// | 6–15 | 384 | creator, once | version 3 only: what the items are (kind, alignment, type name, fields) and its checksum (immutable) |
/// | 16.. | 1024 | named readers (see `ReaderTable`) | `readerCapacity` records of 128 bytes |
///
/// A slot is the item's bytes, padded to a multiple of 8 (of the item's alignment, if larger);
/// item `s` lives in slot `s % length`. Version 3 differs from version 2 only by lines 6–15,
/// which version 2 leaves zero: a file is written as version 3 only when it has something there
/// to say (``ItemType/isPlain``), so that an older reader goes on reading every other file.
/// (Version 1 began every slot with an 8-byte sequence stamp; version 2 moved that knowledge into
/// two header counters, halving the memory traffic of 8-byte items. See `Publication.swift`.)
/// Version 4 differs from version 3 by the records of a ring of messages, which carry a check
/// word (``MessageRecordFormat``), and by the slots of a ring of items, which carry one too
/// (``SlotCheck``, after the item: ``checkWordOffset``).
@usableFromInline
package struct RingLayout: Equatable, Sendable {
    // MARK: Constants of format versions 2 and 3

    /// "CBUFRING" in ASCII, as the first 8 bytes of the file.
    package static let magic: [UInt8] = Array("CBUFRING".utf8)
    /// The versions this library reads and writes.
    package static let formatVersions = Limits.formatVersions
    /// Bytes of the header a reader validates before anything else: lines 0 to 15.
    static let describedBytes = 1024
    /// Size of one field record of version 3's field table.
    static let fieldRecordSize = 32
    /// Reading this word back as little-endian proves the reader agrees on byte order.
    static let byteOrderMark: UInt32 = 0x0102_0304
    package static let headerSize = 4096
    package static let readerCapacity = 24
    static let readerRecordSize = 128
    static let readerTableOffset = 1024

    /// The writer refreshes `lastWriteAt` whenever a publish crosses a multiple of
    /// 2^`lastWriteStampShift` items (a clock read per 1,024 items, not per item), and on close.
    @usableFromInline package static let lastWriteStampShift: UInt64 = 10
    static let lastWriteStampInterval = 1 << lastWriteStampShift

    /// See `Limits`.
    package static let maxItemSize = Limits.maxItemSize
    package static let maxLength = Limits.maxLength
    package static let maxFileSize = Limits.maxFileSize

    // MARK: Header offsets

    @usableFromInline
    package enum Offset {
        // line 0: immutable geometry, written once before the file gets its name
        package static let magic = 0                 // 8 bytes
        package static let version = 8               // u32
        package static let headerSize = 12           // u32
        package static let itemSize = 16             // u64
        package static let length = 24               // u64
        package static let slotStride = 32           // u32
        package static let policy = 36               // u32: 0 overwrite, 1 block
        package static let readerCapacity = 40       // u32
        static let byteOrderMark = 44        // u32
        package static let fileSize = 48             // u64
        package static let checksum = 56             // u64: FNV-1a 64 of bytes 0..<56
        // line 1: written once at creation
        package static let createdAt = 64            // u64: ns since the Unix epoch
        /// u64: the `block` policy's tether timeout in nanoseconds, 0 = off (see `SpaceGate`).
        /// Line 1 is neither checksummed nor checked by earlier readers, which left it zero: an
        /// earlier writer ignores it (it keeps waiting for every named reader, as before).
        package static let tetherTimeout = 72
        /// 16 bytes: the boot (`/proc/sys/kernel/random/boot_id`) in which the last writer
        /// attached, stored at each attach; zero if none recorded it. Line 1 again: earlier
        /// readers neither check nor read it.
        package static let writerBoot = 80
        /// u64: items or messages below this sequence were written in an earlier boot than
        /// `writerBoot` and nothing proved them since (see `RingFile.attachWriter`); 0: none.
        package static let earlierBootBelow = 96
        /// The sync policy, written once at creation (see `RingSyncPolicy`; zero in files made
        /// before it existed: `none`). Line 1 again, so earlier readers neither check nor read it.
        package static let syncPolicy = 104          // u32: 0 none, 1 each batch, 2 every N, 3 interval
        static let syncReserved = 108                // u32: zero
        static let syncParameter = 112               // u64: N for every N, the interval in ns, else 0
        // line 2: written by the writer only
        @usableFromInline package static let published = 128           // u64: items published: every sequence below is complete (`written` in docs and JSON)
        @usableFromInline package static let lastWriteAt = 136         // u64: ns since the Unix epoch, refreshed every `lastWriteStampInterval` items
        package static let writerPID = 144           // u32
        package static let writerState = 148         // u32: RecordedWriterState
        package static let writerStartTime = 152     // u64: clock ticks after boot, /proc/PID/stat field 22
        package static let writerGeneration = 160    // u64: how many writers have attached
        @usableFromInline package static let gateVersion = 168         // u32: the readers version the block policy's gate last took in
        // line 3: the wake-up line
        static let notify = 192              // u32 futex word, bumped by the writer to wake sleepers
        @usableFromInline package static let waiters = 196             // u32: readers currently sleeping or about to
        // line 4: the block policy's wake-up line
        package static let space = 256               // u32 futex word, bumped by named readers to wake the writer
        @usableFromInline package static let writerWaiting = 260       // u32: 1 while the writer sleeps (or is about to) for space
        @usableFromInline package static let readersVersion = 264      // u32: bumped whenever a named reader is added or removed
        // `claimed` (u64): items started: the slot of every sequence below may be changing. Under
        // `overwrite` every reader loads it after every copy, so it shares the line of
        // `published` (one miss brings both); under `block` the named readers stop loading it
        // (see Publication.swift), so it has line 5 to itself and the writer's store to it
        // takes no line away from a reader.
        package static let claimedOverwrite = 176
        static let claimedBlock = 320
        // line 5, message rings only (see `MessageRing.swift`), written by the writer only
        @usableFromInline package static let messageTail = 328        // u64: a record start no claim has reached: the oldest intact message
        @usableFromInline package static let lastRecordStart = 336    // u64: where the last record the writer started begins
        @usableFromInline package static let publishedMessages = 344  // u64: messages published (the next message's sequence), stored after W4
        // line 5, both kinds, written by the writer only (zero in files no writer synced)
        package static let durable = 352                // u64: every item or message with a sequence below it reached stable storage (`sync`)
        // line 5, version-4 message rings, written by a recovery only (see `MessageRecovery.swift`; zero if none ran)
        package static let recoveredAt = 360            // u64: when the last recovery ran, ns since the Unix epoch
        package static let sequenceAllowance = 368      // u64: sequences every recovery so far skipped, in all (I4 of `MessageInvariants.swift`)
        package static let recoveryLost = 376           // u32: messages the last recovery lost (at most 2^32 - 1: saturates)
        package static let recoveryRanges = 380         // u32: in how many ranges
        package static func claimed(_ policy: Policy) -> Int { policy == .block ? claimedBlock : claimedOverwrite }
        // lines 6–15 (version 3 only, zero in version 2): what the items are, written once
        static let kind = 384                // u32: 0 items (slots); 1 is reserved for message rings
        static let alignment = 388           // u32: the item's alignment, a power of two 1–4096, or 0 if unsaid
        static let fieldCount = 392          // u32: 0–14
        static let typeNameLength = 396      // u32: 0–60
        static let typeName = 400            // 60 bytes of UTF-8, then zeros
        static let typeNameEnd = 460
        static let messageGeometry = 464     // 48 bytes: message rings only, zero for items
        static let messageCapacity = 464     // u64: bytes of the data area, a power of two
        static let maxMessage = 472          // u32: the largest message, in bytes
        static let messageFlags = 476        // u32: bit 0, messages are stamped with the precise clock
        static let messageGeometryEnd = 480  // 32 bytes reserved, zero
        static let fields = 512              // 14 records of 32 bytes: see `encodeField`
        static let fieldsEnd = 960           // 56 bytes reserved, zero
        static let describedChecksum = 1016  // u64: FNV-1a 64 of bytes 384..<1016
    }

    /// Byte of the ring file whose open-file-description lock the writer holds while it lives.
    /// (A process with named reader `k` open locks byte `1 + k`, see `ReaderTable`.) Locks are
    /// advisory and do not touch data.
    static let writerLockByte = 0

    // MARK: Geometry

    package let itemSize: Int
    package let length: Int
    package let policy: Policy
    /// What the items are beyond their size; ``ItemType/plain`` in version 2.
    package let itemType: ItemType
    /// For a ring of variable-size messages, its geometry; nil for a ring of items. A message
    /// ring's line 0 says item size 8 and length `capacity / 8`: its positions are the 8-byte
    /// words of its data area, which is what the publication protocol counts.
    package let messages: MessageGeometry?
    /// For a ring of messages, whether its writers stamp each message with the precise realtime
    /// clock (`CLOCK_REALTIME`, about 25 ns a read here) rather than the coarse one
    /// (`CLOCK_REALTIME_COARSE`, 3 ns, a timer tick of resolution: 4 ms here).
    package let preciseMessageTime: Bool
    /// 2, or 3 when ``itemType`` is not plain (or the file says 3).
    package private(set) var version: UInt32
    /// Under the `block` policy, how long (nanoseconds) a named reader whose process is not
    /// alive may hold the writer back before the writer stops waiting for it; 0: without limit
    /// (the writer waits for every named reader, as files without the field do). Always 0 under
    /// `overwrite`. Recorded at offset 72 (line 1), written once with the rest of the header.
    package private(set) var tetherNanos: UInt64 = 0
    /// When its writers sync on their own (see `RingSyncPolicy`): recorded at offsets 104–119
    /// (line 1), written once with the rest of the header; `none` in files that predate it.
    package private(set) var syncPolicy: RingSyncPolicy = .none

    /// This geometry with sync policy `policy`; `invalidArgument` for one out of range.
    package func syncing(_ policy: RingSyncPolicy) throws(CBuffFailure) -> RingLayout {
        if let problem = policy.problem { throw CBuffFailure(.invalidArgument, "Sync policy \(policy) cannot be recorded: \(problem).") }
        var copy = self
        copy.syncPolicy = policy
        return copy
    }

    /// This ring of items with check words in its slots (format version 4) if `checked`, else
    /// without (version 2 or 3): the geometry follows, the rest is kept.
    package func checkingSlots(_ checked: Bool) throws(CBuffFailure) -> RingLayout {
        guard messages == nil, checked != (checkWordOffset != nil) else { return self }
        var copy = try RingLayout(itemSize: itemSize, length: length, policy: policy, itemType: itemType, checkedSlots: checked)
        copy.tetherNanos = tetherNanos
        copy.syncPolicy = syncPolicy
        return copy
    }

    /// This geometry with a tether timeout of `nanoseconds` (0: off); only a `block` ring has one.
    package func tethered(_ nanoseconds: UInt64) throws(CBuffFailure) -> RingLayout {
        guard nanoseconds == 0 || policy == .block else {
            throw CBuffFailure(.invalidArgument, "A tether timeout is for buffers of the block policy: under overwrite the writer never waits for a reader.")
        }
        guard nanoseconds <= Limits.maxTetherNanos else {
            throw CBuffFailure(.invalidArgument, "A tether timeout of \(nanoseconds / 1_000_000_000) s is beyond the longest, \(Limits.maxTetherNanos / 86_400_000_000_000) days.")
        }
        var copy = self
        copy.tetherNanos = nanoseconds
        return copy
    }
    /// Bytes per slot: the item rounded up to 8 bytes, or to its alignment if larger; in a ring
    /// of items of version 4, the item rounded up to 8 bytes and its check word, rounded up so.
    package let slotStride: Int
    /// Where in a slot its check word lies (the item's size rounded up to 8 bytes), for a ring
    /// of items of version 4; nil for every other ring.
    package let checkWordOffset: Int?
    /// The longest ring of items whose slots carry check words: their stamps hold 31 bits of a
    /// sequence, and a reader tells an older stamp from a newer one by their distance, which
    /// must stay below 2^30.
    package static let maxCheckedLength = 1 << 30
    package let fileSize: Int

    var slotsOffset: Int { Self.headerSize }

    /// Checks the parameters of a new buffer and computes its geometry: of version 4 with a
    /// check word in every slot if `checkedSlots`, else of version 2 or 3.
    package init(itemSize: Int, length: Int, policy: Policy, itemType: ItemType = .plain, checkedSlots: Bool = false) throws(CBuffFailure) {
        guard itemSize >= 1, itemSize <= Self.maxItemSize else {
            throw CBuffFailure(.invalidArgument, "Item size \(itemSize) is out of range: it must be between 1 and \(Self.maxItemSize) bytes.")
        }
        guard length >= 2, length <= Self.maxLength else {
            throw CBuffFailure(.invalidArgument, "Length \(length) is out of range: a buffer holds between 2 and \(Self.maxLength) items.")
        }
        if let fields = itemType.fields, fields.size != itemSize {
            throw CBuffFailure(.invalidArgument, "The fields \(fields) make items of \(fields.size) bytes, not \(itemSize).")
        }
        guard !checkedSlots || length <= Self.maxCheckedLength else {
            throw CBuffFailure(.invalidArgument, "Length \(length) is out of range for a buffer whose items carry check words: it holds between 2 and \(Self.maxCheckedLength) items (a buffer created with integrity unchecked, no check words, holds up to \(Self.maxLength)).")
        }
        let alignment = itemType.slotAlignment
        let wordOffset = checkedSlots ? (itemSize + 7) / 8 * 8 : nil
        let stride = ((wordOffset.map { $0 + 8 } ?? itemSize) + alignment - 1) / alignment * alignment
        let (slots, overflow) = stride.multipliedReportingOverflow(by: length)
        guard !overflow, slots <= Self.maxFileSize - Self.headerSize else {
            throw CBuffFailure(.invalidArgument, "A buffer of \(length) items of \(itemSize) bytes would need more than \(Self.maxFileSize >> 30) GiB.")
        }
        self.itemSize = itemSize
        self.length = length
        self.policy = policy
        self.itemType = itemType
        self.messages = nil
        self.preciseMessageTime = false
        self.version = checkedSlots ? 4 : itemType.isPlain ? 2 : 3
        self.slotStride = stride
        self.checkWordOffset = wordOffset
        self.fileSize = Self.headerSize + slots
    }

    /// Checks the parameters of a new ring of messages and computes its geometry (kind 1, of
    /// the format version its records have: 4, or 3 for a version-3 file read back).
    package init(messages geometry: MessageGeometry, policy: Policy, preciseTime: Bool = false) {
        preciseMessageTime = preciseTime
        itemSize = 8
        length = geometry.capacity / 8
        self.policy = policy
        itemType = .plain
        messages = geometry
        version = geometry.records.version
        slotStride = 8
        checkWordOffset = nil
        fileSize = Self.headerSize + geometry.capacity
    }

    /// The first 1024 bytes of a new ring file: the immutable geometry line with its checksum,
    /// the creation line and, in version 3, the item description with its checksum. Every other
    /// byte of a new file is zero.
    func encodeHeader(createdAt: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.describedBytes)
        bytes.replaceSubrange(0..<8, with: Self.magic)
        bytes.storeLE(version, at: Offset.version)
        bytes.storeLE(UInt32(Self.headerSize), at: Offset.headerSize)
        bytes.storeLE(UInt64(itemSize), at: Offset.itemSize)
        bytes.storeLE(UInt64(length), at: Offset.length)
        bytes.storeLE(UInt32(slotStride), at: Offset.slotStride)
        bytes.storeLE(policy.rawValue, at: Offset.policy)
        bytes.storeLE(UInt32(Self.readerCapacity), at: Offset.readerCapacity)
        bytes.storeLE(Self.byteOrderMark, at: Offset.byteOrderMark)
        bytes.storeLE(UInt64(fileSize), at: Offset.fileSize)
        bytes.storeLE(Self.checksum(bytes[0..<Offset.checksum]), at: Offset.checksum)
        bytes.storeLE(createdAt, at: Offset.createdAt)
        bytes.storeLE(tetherNanos, at: Offset.tetherTimeout)
        bytes.storeLE(syncPolicy.kind, at: Offset.syncPolicy)
        bytes.storeLE(syncPolicy.parameter, at: Offset.syncParameter)
        if let messages {
            bytes.storeLE(UInt32(1), at: Offset.kind)
            bytes.storeLE(UInt64(messages.capacity), at: Offset.messageCapacity)
            bytes.storeLE(UInt32(messages.maxMessage), at: Offset.maxMessage)
            bytes.storeLE(UInt32(preciseMessageTime ? 1 : 0), at: Offset.messageFlags)
            bytes.storeLE(Self.checksum(bytes[Offset.kind..<Offset.describedChecksum]), at: Offset.describedChecksum)
        } else if version >= 3 {
            bytes.storeLE(UInt32(0), at: Offset.kind)
            bytes.storeLE(UInt32(itemType.alignment ?? 0), at: Offset.alignment)
            let fields = itemType.fields?.fields ?? []
            bytes.storeLE(UInt32(fields.count), at: Offset.fieldCount)
            let name = Array((itemType.name ?? "").utf8)
            bytes.storeLE(UInt32(name.count), at: Offset.typeNameLength)
            bytes.replaceSubrange(Offset.typeName..<(Offset.typeName + name.count), with: name)
            for (index, field) in fields.enumerated() {
                let record = Offset.fields + index * Self.fieldRecordSize
                let fieldName = Array(field.name.utf8)
                bytes[record] = UInt8(fieldName.count)
                bytes.replaceSubrange((record + 1)..<(record + 1 + fieldName.count), with: fieldName)
                bytes[record + 24] = field.type.kind.rawValue
                bytes.storeLE(UInt16(field.type.count), at: record + 26)
                bytes.storeLE(UInt32(field.offset), at: record + 28)
            }
            bytes.storeLE(Self.checksum(bytes[Offset.kind..<Offset.describedChecksum]), at: Offset.describedChecksum)
        }
        return bytes
    }

    /// Decodes and validates lines 6–15 of a version-3 header (see ``encodeHeader(createdAt:)``):
    /// a field record is the name's length (u8, 1–23), the name (23 bytes, zero-padded), the
    /// type code (u8, ``FieldLayout/Kind``), a zero byte, the element count (u16) and the
    /// offset (u32). Every reserved byte must be zero, so that a later version can use them.
    private static func decodeDescription(_ header: [UInt8], version: UInt32, path: String,
                                          corrupt: (String) -> CBuffFailure) throws(CBuffFailure) -> (ItemType, MessageGeometry?, Bool) {
        let stored: UInt64 = header.loadLE(at: Offset.describedChecksum)
        guard stored == checksum(header[Offset.kind..<Offset.describedChecksum]) else {
            throw corrupt("the checksum of its item description (bytes 384–1015) does not match them")
        }
        func zero(_ range: Range<Int>, _ what: String) throws(CBuffFailure) {
            guard header[range].allSatisfy({ $0 == 0 }) else { throw corrupt("\(what) (bytes \(range.lowerBound)–\(range.upperBound - 1)) should be zero") }
        }
        let kind: UInt32 = header.loadLE(at: Offset.kind)
        switch kind {
        case 0:
            return (try decodeItemType(header, corrupt: corrupt, zero: zero), nil, false)
        case 1:
            let records = MessageRecordFormat(version: version)!     // 3 or 4: the caller checked
            try zero((Offset.kind + 4)..<Offset.messageCapacity, "the item description of a message ring")
            try zero(Offset.messageGeometryEnd..<Offset.describedChecksum, "the reserved bytes after its message geometry")
            let capacity: UInt64 = header.loadLE(at: Offset.messageCapacity)
            let maxMessage: UInt32 = header.loadLE(at: Offset.maxMessage)
            let flags: UInt32 = header.loadLE(at: Offset.messageFlags)
            guard capacity <= UInt64(Limits.maxFileSize) else { throw corrupt("its message capacity \(capacity) is out of range") }
            guard flags <= 1 else { throw corrupt("its message flags \(flags) are unknown") }
            do {
                return (.plain, try MessageGeometry(capacity: Int(capacity), maxMessage: Int(maxMessage), records: records), flags == 1)
            } catch {
                throw corrupt(error.message)
            }
        default: throw corrupt("its kind \(kind) is unknown")
        }
    }

    private static func decodeItemType(_ header: [UInt8], corrupt: (String) -> CBuffFailure,
                                       zero: (Range<Int>, String) throws(CBuffFailure) -> Void) throws(CBuffFailure) -> ItemType {
        let alignment: UInt32 = header.loadLE(at: Offset.alignment)
        let fieldCount: UInt32 = header.loadLE(at: Offset.fieldCount)
        let nameLength: UInt32 = header.loadLE(at: Offset.typeNameLength)
        guard fieldCount <= FieldLayout.maxFields else { throw corrupt("its field count \(fieldCount) is above \(FieldLayout.maxFields)") }
        guard nameLength <= ItemType.maxNameBytes else { throw corrupt("its type name length \(nameLength) is above \(ItemType.maxNameBytes)") }
        let nameEnd = Offset.typeName + Int(nameLength)
        try zero(nameEnd..<Offset.messageGeometry, "the bytes after its type name")
        try zero(Offset.messageGeometry..<Offset.fields, "its message geometry")
        try zero((Offset.fields + Int(fieldCount) * fieldRecordSize)..<Offset.describedChecksum, "its unused field records")
        var name: String?
        if nameLength > 0 {
            guard let text = String(validating: header[Offset.typeName..<nameEnd], as: UTF8.self) else {
                throw corrupt("its type name is not UTF-8")
            }
            name = text
        }
        var fields: [FieldLayout.Field] = []
        for index in 0..<Int(fieldCount) {
            let record = Offset.fields + index * fieldRecordSize
            let length = Int(header[record])
            guard (1...FieldLayout.maxNameBytes).contains(length),
                  let fieldName = String(validating: header[(record + 1)..<(record + 1 + length)], as: UTF8.self) else {
                throw corrupt("field record \(index) has an invalid name")
            }
            try zero((record + 1 + length)..<(record + 24), "the bytes after field \(index)'s name")
            guard let kind = FieldLayout.Kind(rawValue: header[record + 24]), header[record + 25] == 0 else {
                throw corrupt("field record \(index) has an unknown type \(header[record + 24])")
            }
            let count: UInt16 = header.loadLE(at: record + 26)
            let offset: UInt32 = header.loadLE(at: record + 28)
            fields.append(FieldLayout.Field(name: fieldName, type: FieldLayout.FieldType(kind, count: Int(count)), offset: Int(offset)))
        }
        do {
            return try ItemType(alignment: alignment == 0 ? nil : Int(alignment), name: name,
                                fields: fields.isEmpty ? nil : FieldLayout(fields: fields))
        } catch {
            throw corrupt(error.message)
        }
    }

    /// Validates every field of a header against the file's real size, before any slot is
    /// touched: a damaged or truncated file is an error here, never a SIGBUS or a trap later.
    ///
    /// - Parameters:
    ///   - header: the first 1024 bytes of the file (fewer means the file is truncated).
    ///   - fileSize: the file's size as `fstat` reports it.
    ///   - path: named in the error.
    package init(validating header: [UInt8], fileSize actualSize: Int, path: String) throws(CBuffFailure) {
        func corrupt(_ what: String) -> CBuffFailure {
            CBuffFailure(.corrupted, "Ring file \(path) is damaged: \(what).")
        }
        guard actualSize >= Self.headerSize, header.count >= Self.describedBytes else {
            throw corrupt("it is \(actualSize) bytes, shorter than the \(Self.headerSize)-byte header")
        }
        guard Array(header[0..<8]) == Self.magic else {
            throw corrupt("it does not start with the magic number \"CBUFRING\"; it is not a cbuff ring file")
        }
        let version: UInt32 = header.loadLE(at: Offset.version)
        guard Self.formatVersions.contains(version) else {
            throw CBuffFailure(.corrupted, "Ring file \(path) has format version \(version); this library reads versions \(Self.formatVersions.lowerBound) to \(Self.formatVersions.upperBound).")
        }
        let storedChecksum: UInt64 = header.loadLE(at: Offset.checksum)
        guard storedChecksum == Self.checksum(header[0..<Offset.checksum]) else {
            throw corrupt("its header checksum does not match its contents")
        }
        let bom: UInt32 = header.loadLE(at: Offset.byteOrderMark)
        guard bom == Self.byteOrderMark else { throw corrupt("its byte-order mark is \(bom)") }
        let headerSize: UInt32 = header.loadLE(at: Offset.headerSize)
        guard headerSize == Self.headerSize else { throw corrupt("its header size is \(headerSize), not \(Self.headerSize)") }
        let readers: UInt32 = header.loadLE(at: Offset.readerCapacity)
        guard readers == Self.readerCapacity else { throw corrupt("its reader capacity is \(readers), not \(Self.readerCapacity)") }
        let rawPolicy: UInt32 = header.loadLE(at: Offset.policy)
        guard let policy = Policy(rawValue: rawPolicy) else { throw corrupt("its overflow policy \(rawPolicy) is unknown") }
        let itemSize: UInt64 = header.loadLE(at: Offset.itemSize)
        let length: UInt64 = header.loadLE(at: Offset.length)
        guard itemSize >= 1, itemSize <= Self.maxItemSize, length >= 2, length <= Self.maxLength else {
            throw corrupt("its item size \(itemSize) or length \(length) is out of range")
        }
        let (itemType, messages, preciseTime) = version >= 3 ? try Self.decodeDescription(header, version: version, path: path, corrupt: corrupt)
                                                             : (.plain, nil, false)
        var geometry: RingLayout
        if let messages {
            geometry = RingLayout(messages: messages, policy: policy, preciseTime: preciseTime)
            guard itemSize == 8, length == UInt64(geometry.length) else {
                throw corrupt("its line 0 says item size \(itemSize) and length \(length), where a message ring of \(messages.capacity) bytes has 8 and \(geometry.length)")
            }
        } else {
            do {
                geometry = try RingLayout(itemSize: Int(itemSize), length: Int(length), policy: policy, itemType: itemType,
                                          checkedSlots: version >= 4)
            } catch {
                throw corrupt(error.message)
            }
        }
        let stride: UInt32 = header.loadLE(at: Offset.slotStride)
        guard stride == geometry.slotStride else { throw corrupt("its slot stride \(stride) should be \(geometry.slotStride)") }
        let recordedSize: UInt64 = header.loadLE(at: Offset.fileSize)
        guard recordedSize == geometry.fileSize else {
            throw corrupt("its header records \(recordedSize) bytes where its geometry needs \(geometry.fileSize)")
        }
        guard actualSize == geometry.fileSize else {
            throw corrupt("it is \(actualSize) bytes but its header says \(geometry.fileSize) (truncated or extended)")
        }
        geometry.version = version // a plain version-3 file (another program may write one) stays version 3
        let tether: UInt64 = header.loadLE(at: Offset.tetherTimeout)
        guard tether == 0 || policy == .block else { throw corrupt("it records a tether timeout (\(tether) ns) although its policy is overwrite") }
        guard tether <= Limits.maxTetherNanos else { throw corrupt("its tether timeout \(tether) ns is beyond the longest, \(Limits.maxTetherNanos) ns") }
        geometry.tetherNanos = tether
        switch RingSyncPolicy.decode(kind: header.loadLE(at: Offset.syncPolicy), reserved: header.loadLE(at: Offset.syncReserved),
                                     parameter: header.loadLE(at: Offset.syncParameter)) {
        case .success(let policy): geometry.syncPolicy = policy
        case .failure(let problem): throw corrupt(problem.what)
        }
        // Line 2's words are a writer's, not covered by the checksum; the one whose values form
        // a closed set is checked here and at every snapshot (a value a writer never writes is
        // damage, not "never attached").
        _ = try RecordedWriterState(word: header.loadLE(at: Offset.writerState), path: path)
        self = geometry
    }

    /// FNV-1a, 64 bits: enough to notice a damaged header, trivial to reimplement elsewhere.
    package static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}

/// What the writer-state word of a ring file's header says about its last writer.
package enum RecordedWriterState: UInt32, Sendable, CustomStringConvertible {
    /// No writer ever attached.
    case never = 0
    /// A writer attached and has not closed: it is alive if it still holds the lock, else it died.
    case attached = 1
    /// The last writer closed cleanly.
    case closed = 2

    /// The state `word` (the header's bytes 148–151) records; `corrupted`, naming the word, for
    /// any value a writer never writes.
    package init(word: UInt32, path: String) throws(CBuffFailure) {
        guard let state = RecordedWriterState(rawValue: word) else {
            throw CBuffFailure(.corrupted, "Ring file \(path) is damaged: its writer state word (byte 148) holds \(word); a writer records only 0 (never attached), 1 (attached) or 2 (closed).")
        }
        self = state
    }

    package var description: String {
        switch self {
        case .never: "never attached"
        case .attached: "attached"
        case .closed: "closed"
        }
    }
}

extension [UInt8] {
    package mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { bytes in
            replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        }
    }

    func loadLE<T: FixedWidthInteger>(at offset: Int) -> T {
        var value = T.zero
        for i in (0..<(T.bitWidth / 8)).reversed() {
            value = value << 8 | T(self[offset + i])
        }
        return value
    }
}
