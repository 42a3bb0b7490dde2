internal import Synchronization
internal import SharedRingSystem
package import SharedRingCommon

/// Test hooks (as swift-collections' `Deque+Testing.swift` has): a ring in an anonymous mapping
/// of this process, its counters set to any sequence, so that the protocol's corners (the last
/// slot, a wrap, sequences near 2^63 and near `UInt64.max`) are reached without pushing 2^63
/// items. Nothing outside the tests uses it.
package struct InMemoryRing: ~Copyable {
    package let layout: RingLayout
    let base: UnsafeMutableRawPointer

    /// A ring of `length` slots of `itemSize` bytes whose writer has published (and claimed)
    /// everything below `start`: readers see an empty ring positioned at `start`.
    /// With `checkedSlots`, of format version 4: a check word in every slot.
    package init(length: Int, itemSize: Int = 8, policy: Policy = .overwrite, at start: UInt64, checkedSlots: Bool = false) throws(CBuffFailure) {
        let layout = try RingLayout(itemSize: itemSize, length: length, policy: policy, checkedSlots: checkedSlots)
        let base = try Sys.mapAnonymous(size: layout.fileSize).orThrow { .system($0, "map \(layout.fileSize) bytes") }
        layout.encodeHeader(createdAt: 0).withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        self.layout = layout
        self.base = base
        header.published.pointee.store(start, ordering: .relaxed)
        header.claimed.pointee.store(start, ordering: .relaxed)
    }

    /// A ring of messages over a data area of `capacity` bytes, empty, whose records are laid
    /// out as `records` says (version 4's by default).
    package init(messageCapacity capacity: Int, maxMessage: Int, policy: Policy = .overwrite,
                 records: MessageRecordFormat = .newest) throws(CBuffFailure) {
        let layout = RingLayout(messages: try MessageGeometry(capacity: capacity, maxMessage: maxMessage, records: records), policy: policy)
        let base = try Sys.mapAnonymous(size: layout.fileSize).orThrow { .system($0, "map \(layout.fileSize) bytes") }
        layout.encodeHeader(createdAt: 0).withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        self.layout = layout
        self.base = base
    }

    deinit {
        Sys.unmapAnonymous(base, size: layout.fileSize)
    }

    package var messageArea: MessageArea {
        MessageArea(base: base + layout.slotsOffset, geometry: layout.messages!)
    }

    /// The writer's side of a message ring, attached as a writer taking over would be (after
    /// the same checks: see `MessageInvariants.swift`).
    package func messagePublisher() throws(MessageDamage) -> MessagePublisher {
        switch messageArea.observe(header) {
        case .consistent(let state): return MessagePublisher(area: messageArea, header: header, fenceBeforeWaiterCheck: false, state: state)
        case .damaged(let damage): throw damage
        case .moving: throw .changingWithoutWriter
        }
    }

    /// A reader of a message ring starting at `start`.
    package func messageCursor(_ start: MessageCursor.Start) throws(MessageDamage) -> MessageCursor {
        try MessageCursor(area: messageArea, header: header, start: start, gatedRecord: nil)
    }

    /// The whole mapping, for tests that damage it.
    package var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: layout.fileSize) }

    package var header: HeaderWords {
        HeaderWords(base: base, claimedOffset: RingLayout.Offset.claimed(layout.policy))
    }

    package var slots: SlotArray {
        SlotArray(base: base + layout.slotsOffset, stride: layout.slotStride, length: layout.length, itemSize: layout.itemSize,
                  checkWordOffset: layout.checkWordOffset)
    }

    /// The writer's side, attached at `published`, as a writer taking over would be.
    /// The writer's side, attached as a writer taking over would be: over a ring with check
    /// words it first settles (`RingPublisher.settle`) looking at `reach` slots, the whole lap
    /// by default (a take-over after a machine crash; `RingFile.settleReach` says when less).
    package func publisher(settling reach: Int? = nil) -> RingPublisher {
        if slots.isChecked {
            var counters = PublicationCounters(header: header, fenceBeforeWaiterCheck: false)
            RingPublisher.settle(slots, &counters, reach: reach ?? layout.length)
        }
        return RingPublisher(slots: slots, header: header, fenceBeforeWaiterCheck: false)
    }

    /// A reader starting at `start` (`.at(s)` for a resuming named reader).
    package func cursor(_ start: RingCursor.Start) -> RingCursor {
        RingCursor(slots: slots, header: header, start: start)
    }

    /// The writer's counters as a reader sees them.
    package var published: UInt64 { header.published.pointee.load(ordering: .acquiring) }
    package var claimed: UInt64 { header.claimed.pointee.load(ordering: .acquiring) }

    /// Makes the counters what a writer killed in the middle of writing `count` items leaves:
    /// claimed, never published.
    package func claimWithoutPublishing(_ count: UInt64) {
        if slots.isChecked {   // V1 of version 4: the claimed slots' words invalidated
            for sequence in published..<(published &+ count) {
                slots.word(slots.payload(slots.index(of: sequence))).pointee.store(0, ordering: .relaxed)
            }
        }
        header.claimed.pointee.store(published &+ count, ordering: .releasing)
    }
}
