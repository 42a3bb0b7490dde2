import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// The `block` policy: the writer never overwrites what a named reader has not consumed.
@Suite(.serialized) struct BlockPolicyTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    @Test func aFullRingReportsFullUntilTheNamedReaderConsumes() throws {
        var writer = try directory.createBuffer("b", itemSize: 8, length: 4, policy: .block)
        var reader = try directory.openReader("b", named: "slow")
        for value in UInt64(0)..<4 { #expect(try writer.tryPush(value)) }
        #expect(try writer.tryPush(4) == false)             // full: a value, not an error
        #expect(writer.nextSequence == 4)
        #expect(try reader.popItem() == 0)                   // returned, not yet acknowledged
        #expect(try writer.tryPush(4) == false)
        #expect(try reader.popItem() == 1)                   // acknowledges 0
        #expect(try writer.tryPush(4))
        #expect(try writer.tryPush(5) == false)
        reader.commit()                                      // acknowledges 1
        #expect(try writer.tryPush(5))
        #expect(try reader.popMany(10) == [2, 3, 4, 5])
        #expect(reader.missedCount == 0)
    }

    /// Once the writer's gate has taken a named reader in, the reader stops checking the
    /// writer's claim on every item (see `Publication.swift`); removing it by force while it
    /// reads must never let it return items the writer overwrote: it stops.
    /// (A reader of a ring whose slots carry check words never needs the gate: each slot's word
    /// proves it. The removal must stop it all the same.)
    @Test(arguments: [ItemIntegrity.unchecked, .checked])
    func aNamedReaderReliesOnTheGateOnlyWhileItIsRegistered(integrity: ItemIntegrity) throws {
        var writer = try directory.createBuffer("g", itemSize: 8, length: 4, policy: .block, tetherTimeout: .zero, integrity: integrity)
        var reader = try directory.openReader("g", named: "r")
        for value in UInt64(0)..<4 { #expect(try writer.tryPush(value)) }
        #expect(try reader.popItem() == 0)
        #expect(reader.cursor.reliesOnGate == (integrity == .unchecked))
        try directory.removeReader("r", of: "g", force: true)
        for value in UInt64(4)..<20 { #expect(try writer.tryPush(value)) }   // laps the reader
        // It returns nothing again (neither 17, which now sits in item 1's slot, nor 16): its
        // next read finds its record removed (see `ReaderCommit.isRemoved`), and says so.
        do {
            _ = try reader.popItem()
            Issue.record("a named reader removed by force read on")
        } catch {
            #expect(error.code == .notFound && error.message.contains("was removed"), "\(error)")
        }
    }

    /// A named reader that registered while its writer was idle cannot rely on the gate at
    /// first; it tries again `gateRetryInterval` items later (not on every item, which would
    /// cost a call per pop while it drains a backlog), and then does.
    @Test func aNamedReaderTriesTheGateAgainAfterAnInterval() throws {
        var writer = try directory.createBuffer("late", itemSize: 8, length: 1024, policy: .block, integrity: .unchecked)
        for value in UInt64(0)..<600 { try writer.push(value) }
        var reader = try directory.openReader("late", named: "r")
        #expect(try reader.popItem() == 0)
        #expect(!reader.cursor.reliesOnGate)                 // the writer has not looked since it registered
        try writer.push(600)                                 // it does now (the readers version moved)
        var popped: [UInt64] = []
        while popped.count < 255, let value = try reader.popItem() { popped.append(value) }
        #expect(popped == Array(1..<256))
        #expect(!reader.cursor.reliesOnGate)                 // no new try before 256 items from the failed one
        #expect(try reader.popItem() == 256)
        #expect(reader.cursor.reliesOnGate)
        #expect(reader.missedCount == 0)
    }

    /// A push that finds only a little room waits for more only while the reader keeps
    /// consuming (see `SpaceGate.makeRoom`): the one slot an idle reader freed is taken at once.
    @Test func aPushTakesTheLittleRoomAnIdleReaderFreedWithoutWaitingForMore() throws {
        var writer = try directory.createBuffer("h", itemSize: 8, length: 64, policy: .block)
        var reader = try directory.openReader("h", named: "idle")
        for value in UInt64(0)..<64 { #expect(try writer.tryPush(value)) }
        #expect(try reader.popItem() == 0)
        #expect(try reader.popItem() == 1)                   // acknowledges 0: one slot is free
        let clock = ContinuousClock()
        let started = clock.now
        #expect(try writer.push(64, timeout: .seconds(5)))   // not a wait for 16 slots that never come
        #expect(clock.now - started < .seconds(2))
        #expect(try writer.tryPush(65) == false)
        #expect(try reader.popMany(64) == Array(2...64))
        #expect(reader.missedCount == 0)
    }

    @Test func aPushOfBytesWithATimeoutGivesUpOnAFullRingAndPushesNothing() throws {
        var writer = try directory.createBuffer("bytes", itemSize: 4, length: 2, policy: .block)
        var reader = try directory.openReader("bytes", named: "r")
        let bytes: [UInt8] = [1, 2, 3]
        for _ in 0..<2 { #expect(try bytes.withUnsafeBytes { try writer.push(bytes: $0, timeout: .milliseconds(50)) }) }
        #expect(try bytes.withUnsafeBytes { try writer.push(bytes: $0, timeout: .milliseconds(50)) } == false)
        #expect(writer.nextSequence == 2)
        #expect(try reader.popBytes() == [1, 2, 3, 0])
        _ = try reader.popBytes()                            // acknowledges the first
        #expect(try bytes.withUnsafeBytes { try writer.push(bytes: $0, timeout: .milliseconds(50)) })
        expectError(.valueDoesNotFit) { _ = try [UInt8](repeating: 9, count: 5).withUnsafeBytes { try writer.push(bytes: $0, timeout: .zero) } }
    }

    @Test func anonymousReadersNeverHoldTheWriterBack() throws {
        var writer = try directory.createBuffer("anon", itemSize: 8, length: 4, policy: .block)
        var reader = try directory.openReader("anon")
        for value in UInt64(0)..<100 { #expect(try writer.tryPush(value)) }
        #expect(try reader.popMany(10) == [96, 97, 98, 99])
        #expect(reader.missedCount == 96)
    }

    @Test func aDeadNamedReaderHoldsTheWriterUntilItIsRemoved() throws {
        var writer = try directory.createBuffer("held", itemSize: 8, length: 4, policy: .block)
        try directory.openReader("held", named: "gone").close()   // registered, then its process "left"
        for value in UInt64(0)..<4 { try writer.push(value) }
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try writer.push(4, timeout: .milliseconds(150)) == false)
        #expect(clock.now - start >= .milliseconds(150))
        try directory.removeReader("gone", of: "held")
        #expect(try writer.push(4, timeout: .seconds(5)))
    }

}
