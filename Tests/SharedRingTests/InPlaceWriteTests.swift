import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// Writing a slot where it lies (`pushInPlace`): published on return, nothing on a throw, the
/// `block` policy respected. The kill inside the closure is in SharedRingProcessTests.
@Suite struct InPlaceWriteTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    @Test(arguments: [8, 24, 4096])
    func whatIsWrittenInPlaceIsWhatReadersGet(itemSize: Int) throws {
        var writer = try directory.createBuffer("inplace", itemSize: itemSize, length: 4)
        var reader = try directory.openReader("inplace")
        for sequence: UInt64 in 0..<10 {
            try writer.pushInPlace { slot in
                #expect(slot.count == itemSize)
                for i in 0..<itemSize { slot[i] = UInt8(truncatingIfNeeded: sequence &+ UInt64(i)) }
            }
            let bytes = try #require(try reader.popBytes())
            #expect(bytes == (0..<itemSize).map { UInt8(truncatingIfNeeded: sequence &+ UInt64($0)) })
        }
        #expect(writer.nextSequence == 10)
        #expect(reader.missedCount == 0)
    }

    @Test func aFillThatThrowsPublishesNothingAndIsRethrown() throws {
        var writer = try directory.createBuffer("abandoned", itemSize: 8, length: 4)
        var reader = try directory.openReader("abandoned")
        try writer.push(1)
        do {
            try writer.pushInPlace { slot throws(CBuffError) in
                slot.storeBytes(of: 99, as: UInt64.self)
                throw CBuffError(.invalidArgument, "the caller gave up")
            }
            Issue.record("the error was not rethrown")
        } catch {
            #expect(error.code == .invalidArgument && error.message == "the caller gave up")
        }
        #expect(writer.nextSequence == 1)
        try writer.pushInPlace { $0.storeBytes(of: UInt64(2).littleEndian, as: UInt64.self) }
        #expect(try reader.popMany(10) == [1, 2])
        #expect(reader.missedCount == 0)
    }

    @Test func underTheBlockPolicyAFullRingHoldsTheWriteInPlace() throws {
        var writer = try directory.createBuffer("held", itemSize: 8, length: 2, policy: .block)
        var reader = try directory.openReader("held", named: "slow")
        for value: UInt64 in [1, 2] { try writer.push(value) }
        var called = false
        #expect(try !writer.tryPushInPlace { _ in called = true })
        #expect(!called)
        #expect(try !writer.pushInPlace(timeout: .milliseconds(20)) { _ in called = true })
        #expect(!called)
        #expect(try reader.popItem() == 1)
        _ = try reader.popItem()            // acknowledges item 1 (and returns 2)
        #expect(try writer.tryPushInPlace { $0.storeBytes(of: UInt64(3).littleEndian, as: UInt64.self) })
        #expect(try reader.popItem() == 3)
    }
}
