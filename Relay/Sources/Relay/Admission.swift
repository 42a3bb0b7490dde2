internal import SharedRing

/// What a ring holds, as far as a stream message must agree with it.
enum RingShape: Equatable, CustomStringConvertible {
    /// Items of `size` bytes, with their fields if the ring declares them.
    case items(size: Int, fields: ItemLayout?)
    /// Messages of at most `largest` bytes.
    case messages(largest: Int)

    var description: String {
        switch self {
        case .items(let size, let fields): "\(size)-byte items" + (fields.map { " (\($0))" } ?? "")
        case .messages(let largest): "messages of at most \(largest) bytes"
        }
    }
}

/// A ring the in relay is to create from a message's headers (policy `block`).
enum RingPlan: Equatable {
    case items(size: Int, fields: ItemLayout?, length: Int)
    /// `capacity`: the bytes of its data area, a power of two.
    case messages(largest: Int, capacity: Int)
}

/// What a stream message says it is: the values of the relay's headers (each value of a header
/// given more than once) and its size. Nothing in it is trusted: anyone who can publish on the
/// stream's subjects wrote it.
struct Claim {
    var kind: [String] = [], itemSize: [String] = [], fields: [String] = [], maxMessage: [String] = []
    var size: Int
}

/// The in relay's one decision about each stream message: push it into the ring, create the
/// ring from it first, or refuse it with a reason (the relay then dead-letters it and goes on).
///
/// A message is pushed only if its headers say what it is (`Cbuff-Kind`, and `Cbuff-Item-Size`
/// or `Cbuff-Max-Message`, as `cbuff-relay out` writes them), once each, in agreement with its
/// own size and with the ring: items of the ring's size (and its fields, if it declares some),
/// or messages no longer than the ring's largest. A ring is created only from such a message,
/// and only as large as ``maxRingBytes`` allows, whatever its headers ask for.
struct Admission {
    /// The most bytes a ring created from a message's headers may take: its slots (length ×
    /// item size) or its data area.
    var maxRingBytes: Int
    /// A created ring of items: its length, at most (fewer if its items would take more than
    /// ``maxRingBytes``).
    var length: Int
    /// A created ring of messages: its data area at least (within ``maxRingBytes``).
    var capacity: Int

    /// The largest item the library makes (``SharedRing`` refuses more than 16 MiB).
    static let largestItem = 1 << 24
    /// The smallest data area of a ring of messages.
    static let smallestCapacity = 4096

    enum Verdict: Equatable {
        case push
        case create(RingPlan)
        case refuse(reason: String)
    }

    /// The verdict on a message claiming `claim`, for the ring `ring` (nil: none exists yet).
    func decide(_ claim: Claim, ring: RingShape?) -> Verdict {
        do throws(Refusal) {
            let asked = try shape(claimedBy: claim)
            guard let ring else { return .create(try plan(for: asked)) }
            try check(asked, size: claim.size, against: ring)
            return .push
        } catch {
            return .refuse(reason: error.reason)
        }
    }

    struct Refusal: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// The shape the message says it belongs to, once its headers agree with each other and
    /// with its size.
    private func shape(claimedBy claim: Claim) throws(Refusal) -> RingShape {
        let kind = try Self.single(claim.kind, RelayHeaders.kind)
        switch kind {
        case "items":
            let size = try Self.integer(Self.single(claim.itemSize, RelayHeaders.itemSize), RelayHeaders.itemSize, upTo: Self.largestItem)
            var fields: ItemLayout?
            if !claim.fields.isEmpty {
                let spec = try Self.single(claim.fields, RelayHeaders.fields)
                do { fields = try ItemLayout(spec) } catch {
                    throw Refusal("its \(RelayHeaders.fields) \(Self.quoted(spec)) is not a field list (\(error.message))")
                }
                if let fields, fields.size != size {
                    throw Refusal("its \(RelayHeaders.fields) make \(fields.size)-byte items, its \(RelayHeaders.itemSize) says \(size)")
                }
            }
            guard claim.size == size else {
                throw Refusal("it is \(claim.size) bytes, its \(RelayHeaders.itemSize) says \(size)")
            }
            return .items(size: size, fields: fields)
        case "messages":
            let largest = try Self.integer(Self.single(claim.maxMessage, RelayHeaders.maxMessage), RelayHeaders.maxMessage, upTo: Int(Int32.max))
            guard claim.size <= largest else {
                throw Refusal("it is \(claim.size) bytes, more than its \(RelayHeaders.maxMessage) of \(largest)")
            }
            return .messages(largest: largest)
        default:
            throw Refusal("its \(RelayHeaders.kind) \(Self.quoted(kind)) is neither items nor messages")
        }
    }

    /// Whether a message of `asked`, `size` bytes, fits `ring`.
    private func check(_ asked: RingShape, size: Int, against ring: RingShape) throws(Refusal) {
        switch (asked, ring) {
        case (.items(let itemSize, let fields), .items(let ringSize, let ringFields)):
            guard itemSize == ringSize else { throw Refusal("it is a \(itemSize)-byte item, the buffer holds \(ring)") }
            // A ring that declares fields takes only items that declare the same; a ring
            // without any makes no claim about its bytes.
            if let ringFields, fields != ringFields {
                throw Refusal("its fields \(Self.quoted(fields?.description ?? "(none)")) are not the buffer's (\(ringFields))")
            }
        case (.messages, .messages(let largest)):
            guard size <= largest else { throw Refusal("it is \(size) bytes, more than the buffer's largest message of \(largest)") }
        case (.items, .messages), (.messages, .items):
            throw Refusal("it is one of \(asked), the buffer holds \(ring)")
        }
    }

    /// The ring to create for messages of `asked`, within ``maxRingBytes``.
    private func plan(for asked: RingShape) throws(Refusal) -> RingPlan {
        switch asked {
        case .items(let size, let fields):
            // `length` items at most, as many as maxRingBytes holds: the relay's --length is
            // never a reason to refuse a message (InRelay.validate checked that it is a length
            // the library makes, of 1-byte items within maxRingBytes); an item so large that
            // not even the library's smallest ring, 2 of them, fits within maxRingBytes is.
            let fitting = min(length, maxRingBytes / size)
            guard fitting >= 2 else {
                throw Refusal("a ring of 2 of its \(size)-byte items, the fewest a buffer holds, would take more than --max-ring-bytes \(maxRingBytes)")
            }
            return .items(size: size, fields: fields, length: fitting)
        case .messages(let largest):
            // A message ring holds its largest message, with its record header, in half its data
            // area at most. The header's size is the library's to know (24 bytes in format
            // version 3, 32 in version 4), so its own check decides: twice the message rounded up
            // to a power of two, or, when the header does not fit beside it, twice that.
            // largest <= Int32.max keeps this far from overflow.
            var needed = Self.powerOfTwo(atLeast: max(Self.smallestCapacity, largest * 2))
            if (try? DataDirectory.checkMessageGeometry(capacity: needed, maxMessageSize: largest)) == nil { needed *= 2 }
            guard needed <= maxRingBytes else {
                throw Refusal("its \(RelayHeaders.maxMessage) of \(largest) would need a ring of \(needed) bytes, more than --max-ring-bytes \(maxRingBytes)")
            }
            let wanted = Self.powerOfTwo(atMost: min(capacity, maxRingBytes))
            return .messages(largest: largest, capacity: max(needed, wanted))
        }
    }

    // MARK: Reading headers

    /// The one value of header `name`.
    private static func single(_ values: [String], _ name: String) throws(Refusal) -> String {
        guard let value = values.first else { throw Refusal("it has no \(name) header (not relayed from a cbuff buffer)") }
        guard values.count == 1 else { throw Refusal("it has \(values.count) \(name) headers") }
        return value
    }

    /// `text` as a decimal number from 1 to `bound`: digits only, no sign, no spaces.
    private static func integer(_ text: String, _ name: String, upTo bound: Int) throws(Refusal) -> Int {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), text.contains(where: { $0 != "0" }) else {
            throw Refusal("its \(name) \(quoted(text)) is not a number from 1 to \(bound)")
        }
        guard let value = Int(text), value <= bound else { throw Refusal("its \(name) \(quoted(text)) is more than \(bound)") }
        return value
    }

    /// `text` in quotes, cut at 64 characters: a header's value, in a reason.
    static func quoted(_ text: String) -> String {
        let shown = text.count > 64 ? String(text.prefix(64)) + "…" : text
        return "\"" + shown + "\""
    }

    static func powerOfTwo(atLeast value: Int) -> Int {
        value <= 1 ? 1 : 1 << (Int.bitWidth - (value - 1).leadingZeroBitCount)
    }

    static func powerOfTwo(atMost value: Int) -> Int {
        value < 1 ? 1 : 1 << (Int.bitWidth - 1 - value.leadingZeroBitCount)
    }
}
