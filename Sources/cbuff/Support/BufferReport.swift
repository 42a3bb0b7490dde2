import Foundation
import SharedRing

/// The JSON document `list --json` (an array of these) and `inspect --json` print: camelCase keys,
/// sorted, every key always present (null when unknown). Documented in docs/cli.md; a key is
/// never removed or renamed, only added.
struct BufferReport: Encodable {
    var name: String
    var kind: String
    var itemSize: Int?
    var length: Int?
    var capacity: Int?
    var maxMessage: Int?
    var preciseTime: Bool?
    var policy: String?
    var tetherTimeout: Double?
    /// The command line's spelling (`none`, `each-batch`, `every:N`, `interval:MS`); null if
    /// the ring file cannot be read.
    var syncPolicy: String?
    var path: String?
    var writerPid: Int32?
    var writerAlive: Bool
    var writerState: String?
    var writerStartTime: UInt64?
    var writerSince: String?
    var writerGeneration: UInt64?
    var written: UInt64?
    var oldest: UInt64?
    var count: Int?
    var fill: Double?
    var occupancy: Double?
    var backlog: Double?
    var lastWriteAt: String?
    var durable: UInt64?
    var earlierBoot: Bool?
    var recoveryPending: Bool?
    var lastRecovery: RecoveryReport?
    var interruptedWrite: UInt64?
    var createdAt: String?
    var formatVersion: Int?
    var itemAlignment: Int?
    var typeName: String?
    var fields: [FieldReport]?
    var fileSize: Int?
    var sleepingReaders: UInt32?
    var writerBlockedBy: [String]?
    var writtenPerSecond: Double?
    var readers: [ReaderReport]
    var problem: String?

    /// What the last recovery after a machine crash did: `{"at","lostMessages","lostRanges"}`.
    struct RecoveryReport: Encodable {
        var at: String
        var lostMessages: UInt64
        var lostRanges: Int
    }

    /// One field of the items: `{"name":"time","type":"u64","offset":0}`.
    struct FieldReport: Encodable {
        var name: String
        var type: String
        var offset: Int
    }

    /// A named reader: its committed position, lag behind the writer, last PID and liveness.
    struct ReaderReport: Encodable {
        var name: String
        var position: UInt64
        var lag: UInt64
        var pid: Int32
        var alive: Bool
        var untethered: Bool = false
        var readPerSecond: Double?

        enum CodingKeys: String, CodingKey { case name, position, lag, pid, alive, untethered, readPerSecond }

        // By hand, so that an unknown rate is `null`, not a missing key.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(position, forKey: .position)
            try c.encode(lag, forKey: .lag)
            try c.encode(pid, forKey: .pid)
            try c.encode(alive, forKey: .alive)
            try c.encode(untethered, forKey: .untethered)
            try c.encode(readPerSecond, forKey: .readPerSecond)
        }
    }

    /// The report of `status`; with the status of the same buffer `seconds` earlier, rates too.
    /// A ring file that is not the row's reports nothing of what it holds (its readers are
    /// another buffer's), unless `showingRefusedRing` (`inspect`, which marks it with `problem`
    /// and exits 65).
    init(_ status: BufferStatus, earlier: BufferStatus? = nil, seconds: Double = 0, showingRefusedRing: Bool = false) {
        let record = status.record
        let ring = showingRefusedRing ? status.ring ?? status.refusedRing : status.ring
        name = record.name
        kind = record.holdsMessages ? "messages" : "items"
        itemSize = record.holdsMessages ? nil : record.itemSize
        length = record.holdsMessages ? nil : record.length
        capacity = record.messageCapacity
        maxMessage = record.maxMessageSize
        preciseTime = ring?.preciseMessageTime
        policy = record.policy.description
        tetherTimeout = ring?.tetherTimeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
        syncPolicy = ring?.syncPolicy.commandLineText
        path = status.path
        writerPid = ring?.writerPID ?? record.writerPID
        writerAlive = status.writerAlive
        writerState = ring.map { status.writerAlive ? "alive" : $0.writerState == .attached ? "died" : $0.writerState.description }
        writerStartTime = ring?.writerStartTime ?? record.writerStartTime
        writerSince = record.writerSince
        writerGeneration = ring?.writerGeneration
        written = ring?.written
        oldest = ring?.oldest
        count = ring?.count
        fill = ring?.fill
        occupancy = ring?.occupancy
        backlog = ring?.backlog
        lastWriteAt = ring?.lastWriteAt.map(Self.timestamp)
        durable = ring?.durable
        earlierBoot = ring?.holdsEarlierBootData
        let checksRecords = ring.map { $0.messageCapacity != nil && $0.formatVersion >= 4 } ?? false
        recoveryPending = checksRecords ? ring?.recoveryPending : nil
        lastRecovery = ring?.lastRecovery.map { RecoveryReport(at: Self.timestamp($0.at), lostMessages: $0.lostMessages, lostRanges: $0.lostRanges) }
        interruptedWrite = ring?.interruptedWrite
        createdAt = record.createdAt
        formatVersion = ring?.formatVersion ?? record.formatVersion
        itemAlignment = ring?.itemAlignment ?? record.itemAlignment
        typeName = ring?.itemTypeName ?? record.itemTypeName
        fields = (ring?.itemLayout ?? record.itemLayout)?.fields.map { FieldReport(name: $0.name, type: $0.type.description, offset: $0.offset) }
        fileSize = ring?.fileSize
        sleepingReaders = ring?.sleepingReaders
        writerBlockedBy = ring?.writerBlockedBy
        let before = showingRefusedRing ? earlier?.ring ?? earlier?.refusedRing : earlier?.ring
        func rate(_ now: UInt64, _ then: UInt64?) -> Double? {
            guard let then, seconds > 0, now >= then else { return nil }
            return Double(now - then) / seconds
        }
        writtenPerSecond = ring.flatMap { rate($0.written, before?.written) }
        readers = ring?.readers.map { reader in
            ReaderReport(name: reader.name, position: reader.position, lag: reader.lag, pid: reader.pid, alive: reader.alive,
                         untethered: reader.untethered, readPerSecond: rate(reader.position, before?.readers.first { $0.name == reader.name }?.position))
        } ?? []
        problem = status.problem?.description
    }

    /// The report of a registry row that cannot be read: its name column (as text, or "" when
    /// it is not text), kind "damaged", why in `problem`, every other value unknown (null).
    init(_ damaged: DamagedBufferRow) {
        name = damaged.name ?? ""
        kind = "damaged"
        writerAlive = false
        readers = []
        problem = damaged.problem.description
    }

    /// Nanoseconds since the Unix epoch as ISO 8601 UTC with milliseconds.
    static func timestamp(_ nanoseconds: UInt64) -> String {
        let date = Date(timeIntervalSince1970: Double(nanoseconds) / 1e9)
        return date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, itemSize, length, capacity, maxMessage, preciseTime, policy, tetherTimeout, syncPolicy, path, writerPid, writerAlive, writerState, writerStartTime
        case writerSince, writerGeneration, written, oldest, count, fill, occupancy, backlog, lastWriteAt, durable, earlierBoot, recoveryPending, lastRecovery, interruptedWrite
        case createdAt, formatVersion, itemAlignment, typeName, fields, fileSize, sleepingReaders, writerBlockedBy, writtenPerSecond, readers, problem
    }

    // Written by hand so that unknown values are `null`, not missing keys.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(itemSize, forKey: .itemSize)
        try c.encode(length, forKey: .length)
        try c.encode(capacity, forKey: .capacity)
        try c.encode(maxMessage, forKey: .maxMessage)
        try c.encode(preciseTime, forKey: .preciseTime)
        try c.encode(policy, forKey: .policy)
        try c.encode(tetherTimeout, forKey: .tetherTimeout)
        try c.encode(syncPolicy, forKey: .syncPolicy)
        try c.encode(path, forKey: .path)
        try c.encode(writerPid, forKey: .writerPid)
        try c.encode(writerAlive, forKey: .writerAlive)
        try c.encode(writerState, forKey: .writerState)
        try c.encode(writerStartTime, forKey: .writerStartTime)
        try c.encode(writerSince, forKey: .writerSince)
        try c.encode(writerGeneration, forKey: .writerGeneration)
        try c.encode(written, forKey: .written)
        try c.encode(oldest, forKey: .oldest)
        try c.encode(count, forKey: .count)
        try c.encode(fill, forKey: .fill)
        try c.encode(occupancy, forKey: .occupancy)
        try c.encode(backlog, forKey: .backlog)
        try c.encode(lastWriteAt, forKey: .lastWriteAt)
        try c.encode(durable, forKey: .durable)
        try c.encode(earlierBoot, forKey: .earlierBoot)
        try c.encode(recoveryPending, forKey: .recoveryPending)
        try c.encode(lastRecovery, forKey: .lastRecovery)
        try c.encode(interruptedWrite, forKey: .interruptedWrite)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(formatVersion, forKey: .formatVersion)
        try c.encode(itemAlignment, forKey: .itemAlignment)
        try c.encode(typeName, forKey: .typeName)
        try c.encode(fields, forKey: .fields)
        try c.encode(fileSize, forKey: .fileSize)
        try c.encode(sleepingReaders, forKey: .sleepingReaders)
        try c.encode(writerBlockedBy, forKey: .writerBlockedBy)
        try c.encode(writtenPerSecond, forKey: .writtenPerSecond)
        try c.encode(readers, forKey: .readers)
        try c.encode(problem, forKey: .problem)
    }

    /// One JSON document, keys sorted, on one line.
    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }
}
