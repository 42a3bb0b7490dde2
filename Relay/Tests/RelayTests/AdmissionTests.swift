import Testing
@testable import Relay
import SharedRing

/// `Admission`'s one decision, message by message, without a server: what is pushed, what
/// creates a ring and how large, and what is refused with which reason.
@Suite struct AdmissionTests {
    let admission = Admission(maxRingBytes: 1 << 26, length: 1 << 16, capacity: 1 << 24)
    static let ticks = try! ItemLayout("time:u64,price:f64")

    static func items(_ size: String, bytes: Int, fields: [String] = []) -> Claim {
        Claim(kind: ["items"], itemSize: [size], fields: fields, size: bytes)
    }

    static func messages(_ largest: String, bytes: Int) -> Claim {
        Claim(kind: ["messages"], maxMessage: [largest], size: bytes)
    }

    func refusal(_ claim: Claim, _ ring: RingShape?) -> String? {
        if case .refuse(let reason) = admission.decide(claim, ring: ring) { return reason }
        return nil
    }

    @Test func whatAgreesWithTheRingIsPushed() {
        #expect(admission.decide(Self.items("8", bytes: 8), ring: .items(size: 8, fields: nil)) == .push)
        #expect(admission.decide(Self.items("16", bytes: 16, fields: ["time:u64,price:f64"]), ring: .items(size: 16, fields: Self.ticks)) == .push)
        // A ring without fields makes no claim about its bytes.
        #expect(admission.decide(Self.items("16", bytes: 16, fields: ["time:u64,price:f64"]), ring: .items(size: 16, fields: nil)) == .push)
        #expect(admission.decide(Self.messages("100000", bytes: 900), ring: .messages(largest: 1000)) == .push)
        #expect(admission.decide(Self.messages("1000", bytes: 0), ring: .messages(largest: 1000)) == .push)
    }

    /// Each way a message can fail to say what it is, or say it falsely, is refused with a
    /// reason that names the header at fault.
    @Test(arguments: [
        (Claim(size: 8), "no Cbuff-Kind header"),
        (Claim(kind: ["items", "items"], itemSize: ["8"], size: 8), "2 Cbuff-Kind headers"),
        (Claim(kind: ["bytes"], size: 8), "neither items nor messages"),
        (Claim(kind: ["items"], size: 8), "no Cbuff-Item-Size header"),
        (items("8", bytes: 3), "it is 3 bytes, its Cbuff-Item-Size says 8"),
        (items("+8", bytes: 8), "is not a number"),
        (items(" 8", bytes: 8), "is not a number"),
        (items("0", bytes: 0), "is not a number from 1"),
        (items("99999999999999999999999", bytes: 8), "is more than 16777216"),
        (items("00", bytes: 8), "is not a number"),
        (items("16", bytes: 16), "16-byte item, the buffer holds 8-byte items"),
        (items("8", bytes: 8, fields: ["x:u32"]), "make 4-byte items"),
        (items("8", bytes: 8, fields: ["x:nonsense"]), "is not a field list"),
        (messages("100", bytes: 8), "one of messages of at most 100 bytes, the buffer holds 8-byte items"),
        (messages("100", bytes: 101), "more than its Cbuff-Max-Message of 100"),
    ] as [(Claim, String)])
    func whatContradictsItselfOrTheRingIsRefused(claim: Claim, reason: String) {
        let refused = refusal(claim, .items(size: 8, fields: nil))
        #expect(refused?.contains(reason) == true, "\(String(describing: refused))")
    }

    @Test func typedRingsAndMessageRingsRefuseWhatDoesNotFit() {
        #expect(refusal(Self.items("16", bytes: 16), .items(size: 16, fields: Self.ticks))?.contains("fields \"(none)\" are not the buffer's") == true)
        #expect(refusal(Self.items("16", bytes: 16, fields: ["a:u64,b:u64"]), .items(size: 16, fields: Self.ticks))?.contains("are not the buffer's") == true)
        #expect(refusal(Self.messages("5000", bytes: 2000), .messages(largest: 1000))?.contains("more than the buffer's largest message of 1000") == true)
        #expect(refusal(Self.items("8", bytes: 8), .messages(largest: 1000))?.contains("the buffer holds messages") == true)
    }

    /// A ring is made only as large as --max-ring-bytes allows, whatever the headers ask for,
    /// and without an overflow on the way.
    @Test func aRingIsCreatedWithinTheBound() {
        #expect(admission.decide(Self.items("8", bytes: 8), ring: nil) == .create(.items(size: 8, fields: nil, length: 1 << 16)))
        #expect(admission.decide(Self.items("16", bytes: 16, fields: ["time:u64,price:f64"]), ring: nil)
                == .create(.items(size: 16, fields: Self.ticks, length: 1 << 16)))
        #expect(admission.decide(Self.messages("1000", bytes: 10), ring: nil) == .create(.messages(largest: 1000, capacity: 1 << 24)))
        #expect(admission.decide(Self.messages("20000000", bytes: 10), ring: nil) == .create(.messages(largest: 20_000_000, capacity: 1 << 26)))
        // --length is an upper bound: a ring of items is cut to what --max-ring-bytes holds, and
        // only an item too large for even 2 of them is refused (the message's claim, not the
        // relay's --length, is what is too large).
        #expect(admission.decide(Self.items("16777216", bytes: 16_777_216), ring: nil) == .create(.items(size: 16_777_216, fields: nil, length: 4)))
        let long = Admission(maxRingBytes: 1 << 26, length: 1 << 24, capacity: 1 << 24)
        #expect(long.decide(Self.items("8", bytes: 8), ring: nil) == .create(.items(size: 8, fields: nil, length: 1 << 23)))
        #expect(Admission(maxRingBytes: 1 << 20, length: 1 << 16, capacity: 1 << 24)
                    .decide(Self.items("1048576", bytes: 1 << 20), ring: nil) == .refuse(reason: "a ring of 2 of its 1048576-byte items, the fewest a buffer holds, would take more than --max-ring-bytes 1048576"))
        #expect(refusal(Self.items("16777217", bytes: 8), nil)?.contains("more than 16777216") == true)
        #expect(refusal(Self.messages("40000000", bytes: 10), nil)?.contains("would need a ring of 134217728 bytes, more than --max-ring-bytes") == true)
        #expect(refusal(Self.messages("2147483647", bytes: 10), nil) != nil)
        #expect(refusal(Self.messages("9223372036854775807", bytes: 10), nil)?.contains("is more than 2147483647") == true)
        let small = Admission(maxRingBytes: 1 << 20, length: 1 << 16, capacity: 1 << 24)
        #expect(small.decide(Self.messages("1000", bytes: 10), ring: nil) == .create(.messages(largest: 1000, capacity: 1 << 20)))
    }

    /// Every ring planned for messages is one the library creates: the largest message and its
    /// record header (32 bytes since format version 4; the plan counted 24, and a message of
    /// 2,017 to 2,024 bytes got a 4 KiB ring the library refuses) fit in half of it.
    @Test func everyPlannedMessageRingIsOneTheLibraryMakes() throws {
        let tight = Admission(maxRingBytes: 1 << 30, length: 1 << 16, capacity: 4096)
        let largests = Array(0...70) + (12...20).flatMap { bit in (-40...40).map { (1 << bit) / 2 + $0 } }
        for largest in largests where largest >= 1 {                      // a Cbuff-Max-Message is 1 or more
            guard case .create(.messages(_, let capacity)) = tight.decide(Self.messages(String(largest), bytes: 0), ring: nil) else {
                Issue.record("no ring planned for messages of \(largest) bytes: \(tight.decide(Self.messages(String(largest), bytes: 0), ring: nil))")
                continue
            }
            #expect(throws: Never.self, "largest \(largest), capacity \(capacity)") {
                try DataDirectory.checkMessageGeometry(capacity: capacity, maxMessageSize: largest)
            }
            #expect(capacity == 4096 || (try? DataDirectory.checkMessageGeometry(capacity: capacity / 2, maxMessageSize: largest)) == nil,
                    "largest \(largest): \(capacity) is not the smallest")
        }
        #expect(tight.decide(Self.messages("2020", bytes: 0), ring: nil) == .create(.messages(largest: 2020, capacity: 8192)))
    }

    @Test func aReasonQuotesAHeaderShortAndItsControlCharactersAreEscapedBeforeTheyGoOut() {
        let reason = refusal(Claim(kind: [String(repeating: "x", count: 500) + "\u{1b}[2J"], size: 8), nil)
        #expect(reason.map { $0.count < 200 } == true)
        #expect(StandardStreams.escapingControlCharacters("a\u{1b}[2J\r\nb") == "a\\u{1b}[2J\\u{d}\\u{a}b")
    }

    @Test func subjectsMatchAsNATSDoes() {
        #expect(Subject("cbuff.>").matches("cbuff.dead-letter.S.c"))
        #expect(Subject(">").matches("a"))
        #expect(Subject("a.*.c").matches("a.b.c") && !Subject("a.*.c").matches("a.b.d"))
        #expect(!Subject("a.*").matches("a.b.c") && !Subject("a.b").matches("a") && !Subject("a.>").matches("a"))
        #expect(Subject.isLiteral("cbuff.dead-letter.S.c") && !Subject.isLiteral("a.*") && !Subject.isLiteral("a..b") && !Subject.isLiteral("a b"))
    }
}
