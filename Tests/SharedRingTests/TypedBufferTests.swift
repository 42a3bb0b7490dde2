import Testing
import TestSupport
@testable import SharedRing

/// Buffers of typed items: a struct in, the same struct out, sizes checked at open.
@Suite struct TypedBufferTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    struct Tick: BitwiseCopyable, Equatable {
        var time: UInt64
        var price: Double
        var qty: UInt32
        var side: Side
        enum Side: UInt8, BitwiseCopyable { case buy = 1, sell = 2 }
    }

    static func tick(_ i: UInt64) -> Tick {
        Tick(time: i, price: Double(i) / 4, qty: UInt32(i % 1000), side: i % 2 == 0 ? .buy : .sell)
    }

    @Test func structsComeBackAsTheyWentAndTheItemSizeIsTheStride() throws {
        #expect(MemoryLayout<Tick>.stride == 24)
        var writer = try directory.createBuffer("ticks", of: Tick.self, length: 8)
        var reader = try directory.openReader("ticks", of: Tick.self)
        #expect(try directory.record(of: "ticks").itemSize == 24)
        for i: UInt64 in 0..<5 { try writer.push(Self.tick(i)) }
        #expect(try reader.pop() == Self.tick(0))
        var batch = [Tick](repeating: Self.tick(99), count: 10)
        let count = try batch.withUnsafeMutableBufferPointer { buffer throws(CBuffError) in try reader.popMany(into: buffer) }
        #expect(count == 4)
        #expect(Array(batch.prefix(4)) == (1..<5).map(Self.tick))
        #expect(try reader.pop() == nil)
        // Batches in, across the wrap, and a lapped reader counting what it missed.
        let ticks = (5..<17).map(Self.tick)
        try ticks.withUnsafeBufferPointer { buffer throws(CBuffError) in try writer.push(contentsOf: buffer) }
        var got: [Tick] = []
        while let tick = try reader.pop() { got.append(tick) }
        #expect(got == (9..<17).map(Self.tick))
        #expect(reader.missedCount == 4)
        #expect(writer.nextSequence == 17)
    }

    @Test func typedAndByteReadersSeeTheSameBytes() throws {
        var writer = try directory.createBuffer("bytes", of: Tick.self, length: 4)
        var bytes = try directory.openReader("bytes")
        let tick = Self.tick(7)
        try writer.push(tick)
        let padding = MemoryLayout<Tick>.stride - MemoryLayout<Tick>.size
        let expected = withUnsafeBytes(of: tick) { Array($0.prefix(MemoryLayout<Tick>.size)) } + [UInt8](repeating: 0, count: padding)
        #expect(try bytes.popBytes() == expected)          // the padding is zeroed
    }

    @Test func aTypeOfAnotherSizeIsATypeMismatchAndAttachesNothing() throws {
        try directory.createBuffer("eight", itemSize: 8, length: 4).close()
        let before = try #require(try directory.status(of: "eight").ring)
        for attempt in 0..<3 {
            do {
                switch attempt {
                case 0: _ = try directory.openReader("eight", of: Tick.self)
                case 1: _ = try directory.takeOver("eight", of: Tick.self)
                default: _ = try directory.openReader("eight", of: Tick.self, named: "typed")
                }
                Issue.record("attempt \(attempt) opened 8-byte items as Tick")
            } catch {
                #expect(error.code == .typeMismatch)
                #expect(error.message.contains("8 bytes") && error.message.contains("Tick") && error.message.contains("24"), "\(error)")
            }
        }
        let after = try #require(try directory.status(of: "eight").ring)
        #expect(after.writerGeneration == before.writerGeneration)
        #expect(after.writerState == before.writerState)
        #expect(after.readers.isEmpty)
        // The right type opens it.
        var writer = try directory.takeOver("eight", of: UInt64.self)
        try writer.push(42)
        var check = try directory.openReader("eight")
        #expect(try check.popItem() == 42)
    }

    @Test func itemsAlignedBeyondEightBytesGetSlotsAlignedForThem() throws {
        struct Wide: BitwiseCopyable, Equatable { var vector: SIMD2<Double>; var tag: UInt64 }   // 32 bytes, 16-aligned
        #expect(MemoryLayout<Wide>.alignment == 16 && MemoryLayout<Wide>.stride == 32)
        var writer = try directory.createBuffer("wide", of: Wide.self, length: 4, policy: .overwrite, tetherTimeout: .zero, integrity: .checked)
        var reader = try directory.openReader("wide", of: Wide.self)
        let ring = try #require(try directory.status(of: "wide").ring)
        #expect(ring.formatVersion == 4 && ring.itemAlignment == 16 && ring.slotStride == 48 && ring.itemTypeName == "Wide")
        for i in 0..<6 { try writer.push(Wide(vector: SIMD2(Double(i), -Double(i)), tag: UInt64(i))) }
        var tags: [UInt64] = []
        while let item = try reader.pop() {
            #expect(item.vector == SIMD2(Double(item.tag), -Double(item.tag)))
            tags.append(item.tag)
        }
        #expect(tags == [2, 3, 4, 5] && reader.missedCount == 2)
        // A version-2 buffer of the right size records no alignment, and its slots (a multiple
        // of the stride, from offset 4096) are aligned for any type of that stride.
        try directory.createBuffer("plain16", itemSize: 16, length: 4, integrity: .unchecked).close()
        _ = try directory.openReader("plain16", of: SIMD2<Double>.self)
        // A plain buffer with check words has slots of 24 bytes (16, then the word), aligned for
        // 8 only: a type aligned to 16 is refused, naming both (a typed writer creates its own).
        try directory.createBuffer("checked16", itemSize: 16, length: 4, integrity: .checked).close()
        expectError(.typeMismatch) { _ = try directory.openReader("checked16", of: SIMD2<Double>.self) }
        // A recorded alignment must be the type's: 16-aligned Wide is not an 8-aligned 32-byte struct.
        struct Narrow: BitwiseCopyable { var a, b, c, d: UInt64 }
        expectError(.typeMismatch) { _ = try directory.openReader("wide", of: Narrow.self) }
    }

    @Test func underTheBlockPolicyTypedPushesWaitForNamedReaders() throws {
        var writer = try directory.createBuffer("held", of: Tick.self, length: 2, policy: .block)
        var reader = try directory.openReader("held", of: Tick.self, named: "slow")
        try writer.push(Self.tick(0))
        try writer.push(Self.tick(1))
        #expect(try !writer.tryPush(Self.tick(2)))
        #expect(try !writer.push(Self.tick(2), timeout: .milliseconds(10)))
        #expect(try reader.pop() == Self.tick(0))
        #expect(try reader.pop() == Self.tick(1))         // commits tick 0
        #expect(try writer.tryPush(Self.tick(2)))
        #expect(try reader.pop(timeout: .seconds(1)) == Self.tick(2))
    }

    @Test func typedEventsDeliverTheGapThenTheItemsAndEndWhenTheBufferIsGone() async throws {
        var writer = try directory.createBuffer("typed-events", of: Tick.self, length: 4)
        let reader = try directory.openReader("typed-events", of: Tick.self)
        for i: UInt64 in 0..<6 { try writer.push(Self.tick(i)) }
        var iterator = reader.events().makeAsyncIterator()
        guard case .missed(let count)? = try await iterator.next() else { Issue.record("no gap first"); return }
        #expect(count == 2)
        for i: UInt64 in 2..<6 {
            guard case .item(let sequence, let tick)? = try await iterator.next() else { Issue.record("no item \(i)"); return }
            #expect(sequence == i && tick == Self.tick(i))
        }
        writer.close()
        try directory.removeBuffer("typed-events")
        #expect(try await iterator.next() == nil)        // removed, and no writer left
    }
}
