public import Synchronization
internal import SharedRingSystem
internal import SharedRingCommon

// # The publication protocol (format version 2)
//
// One writer, any number of readers, no locks. Item `s` (0, 1, 2, …) lives in slot `s % length`.
// The writer owns two counters (header line 2; `claimed` is on line 5 under `block`, see below):
//
//   published  every sequence below it is complete and may be read
//   claimed    every sequence below it has been started: the slot of any sequence below
//              `claimed - length` may be changing under a reader's feet. claimed >= published.
//
// Publishing the `n` items `s ..< s + n` (n <= length; one push is n = 1):
//
//   W1  claimed.store(s + n, relaxed)
//   W2  fence(release)                     -- W1 is ordered before the payload stores
//   W3  payload stores (plain)
//   W4  published.store(s + n, release)    -- the publication point: W3 is ordered before it
//   W5  if waiters != 0: wake the futex    -- readers asleep (see FutexSleep)
//
// A reader whose next item is `c` copies the items `c ..< c + k`:
//
//   R1  h = published.load(acquire); go on only if c < h   (h is cached: reloaded only when fewer
//       items than wanted are known, so a reader that is behind does not touch this line for it)
//   R2  copy the payloads of c ..< min(h, c + k) (plain loads)
//   R3  fence(acquire)                     -- the copy is ordered before R4
//   R4  w = claimed.load(relaxed); the copy is good only if c >= w - length
//
// Why no torn or overwritten item is ever delivered: R1's acquire pairs with W4, so the
// payloads of every sequence below h are visible. The slot of c is reused by c + length; if R2
// read any byte stored by that write, the store is ordered after its W1 (claimed >= c + length
// + 1) by W2, and R4 is ordered after R2 by R3, so R4 sees w > c + length and the copy is thrown
// away. (The seqlock argument, Boehm, "Can seqlocks get along with programming language memory
// models?", MSPC 2012, with the claim counter as the sequence word; the oldest item copied is
// the one most at risk, so one check covers a whole batch.) On x86-64 every one of these is a
// plain `mov`; the fences only stop the compiler.
//
// Why a killed writer never leaks a half-written item: items become visible only at W4. A
// writer killed before W4 leaves claimed > published; nothing it was writing is delivered, the
// next writer starts again at `published` and keeps `claimed` (never lowering it), so readers
// keep treating the slots the dead writer may have damaged as overwritten.
//
// Why a lapped reader counts exactly what it lost: every sequence below w - length had its slot
// claimed for reuse, so it is gone (or going). The reader jumps to max(c + 1, w - length) and
// adds the distance to `missed`; its new position is checked by R4 like any other.
//
// Why a named reader under the `block` policy can skip R4: the writer never claims a sequence
// whose slot holds an item such a reader has not acknowledged (`SpaceGate`), so nothing it reads
// can change under it, once the gate knows about its record. The gate says so by storing the
// readers version it took in (`gateVersion`, release). A reader that loads gateVersion ==
// readersVersion (acquire), finds its record still its own, and then sees claimed <= c + length
// knows that every earlier write left its items alone and every later one will. From then on
// its R4 is a load of readersVersion (a read-mostly line), which must still be that version:
// removing a reader bumps it, and if the writer's gate dropped this reader and then overwrote
// a byte R2 copied, that store follows the gate's acquire of the new version, so R4 sees it.
// This spares the reader a load of the writer's busiest line for every item.
//
// Where `claimed` lives depends on who loads it. Under `block`, gated readers never do, so it has a
// cache line of its own (line 5): the writer's W1 hits a line it already owns, and a push moves
// two lines to the reader (the payload's and `published`'s), as a plain C ring does. Under
// `overwrite`, every reader loads it after every copy, so it sits beside `published` (line 2):
// the miss that brings a caught-up reader the new `published` brings `claimed` too. (Version 1
// kept a stamp in every slot instead, which doubled the bytes moved per 8-byte item and the
// stores per push.)

/// A raw view of the slot array: where the item of slot `i` lives.
@usableFromInline
package struct SlotArray {
    @usableFromInline package let base: UnsafeMutableRawPointer
    @usableFromInline package let stride: Int
    @usableFromInline package let length: Int

    package init(base: UnsafeMutableRawPointer, stride: Int, length: Int) {
        self.base = base
        self.stride = stride
        self.length = length
    }

    @inlinable
    package func payload(_ index: Int) -> UnsafeMutableRawPointer {
        base + index &* stride
    }

    @inlinable
    package func index(of sequence: UInt64) -> Int {
        Int(sequence % UInt64(length))
    }

    /// Calls `body(firstIndex, count, offset)` for the one or two runs of consecutive slots that
    /// `count` items starting at slot `index` occupy (a run ends where the ring wraps).
    @inlinable
    package func forEachRun(from index: Int, count: Int, _ body: (_ index: Int, _ count: Int, _ offset: Int) -> Void) {
        let first = min(count, length &- index)
        body(index, first, 0)
        if first < count { body(0, count &- first, first) }
    }

    /// Where the oldest item that is certainly intact lies, given the writer's claim: every
    /// slot of a sequence below `claimed - length` may have been reused.
    @inlinable
    package func oldestIntact(claimed: UInt64) -> UInt64 {
        claimed > UInt64(length) ? claimed &- UInt64(length) : 0
    }
}

/// The writer's side of the protocol: W1–W5 above.
@usableFromInline
package struct RingPublisher {
    @usableFromInline package let slots: SlotArray
    @usableFromInline package let header: HeaderWords
    /// When the kernel refused membarrier registration, the writer pays a full fence per publish
    /// instead (see `FutexSleep`).
    @usableFromInline package let fenceBeforeWaiterCheck: Bool
    /// The sequence the next item gets (= items published).
    @usableFromInline package var nextSequence: UInt64
    /// This writer's view of `claimed`: never below what a dead predecessor claimed.
    @usableFromInline package var claimed: UInt64
    @usableFromInline package var slotIndex: Int

    /// Attaches to the ring's current position. A predecessor killed mid-write left `claimed`
    /// above `published`: the items it was writing were never published, so writing resumes at
    /// `published`, and its claim is kept (the slots it may have damaged stay "overwritten").
    package init(slots: SlotArray, header: HeaderWords, fenceBeforeWaiterCheck: Bool) {
        self.slots = slots
        self.header = header
        self.fenceBeforeWaiterCheck = fenceBeforeWaiterCheck
        let next = header.nextSequence.pointee.load(ordering: .acquiring)
        self.nextSequence = next
        self.claimed = max(header.claimed.pointee.load(ordering: .acquiring), next)
        self.slotIndex = slots.index(of: next)
    }

    /// Publishes one item: `fill` receives the slot's payload bytes.
    @inlinable
    package mutating func publish(_ fill: (UnsafeMutableRawPointer) -> Void) {
        let sequence = nextSequence
        claim(through: sequence &+ 1)                       // W1, W2
        fill(slots.payload(slotIndex))                      // W3
        slotIndex &+= 1
        if slotIndex == slots.length { slotIndex = 0 }
        announce(through: sequence &+ 1)                    // W4, W5
    }

    /// Publishes `count` items (1 ≤ count ≤ length) at once: `fill(index, count, offset)` writes
    /// items `offset ..< offset + count` of the batch into the consecutive slots from `index`
    /// (called once, or twice when the batch wraps around the end of the ring).
    @inlinable
    package mutating func publish(count: Int, _ fill: (_ index: Int, _ count: Int, _ offset: Int) -> Void) {
        let end = nextSequence &+ UInt64(count)
        claim(through: end)                                 // W1, W2
        slots.forEachRun(from: slotIndex, count: count, fill) // W3
        slotIndex = slots.index(of: end)
        announce(through: end)                              // W4, W5
    }

    @inlinable
    package mutating func claim(through end: UInt64) {
        if end > claimed { claimed = end }
        header.claimed.pointee.store(claimed, ordering: .relaxed)      // W1
        atomicMemoryFence(ordering: .releasing)                        // W2
    }

    @inlinable
    package mutating func announce(through end: UInt64) {
        let start = nextSequence
        nextSequence = end
        header.nextSequence.pointee.store(end, ordering: .releasing)   // W4
        if fenceBeforeWaiterCheck { atomicMemoryFence(ordering: .sequentiallyConsistent) }
        if header.waiters.pointee.load(ordering: .relaxed) != 0 { wakeReaders() }   // W5
        if start >> 10 != end >> 10 { stampLastWrite() }
    }

    /// The cold path: a reader is sleeping on the futex word.
    @usableFromInline @inline(never)
    package func wakeReaders() {
        header.wakeReaders()
    }

    /// Records the time of the last write (also done every 1024 items while writing).
    @usableFromInline @inline(never)
    package func stampLastWrite() {
        header.lastWriteAt.pointee.store(Sys.realtimeNanos(), ordering: .relaxed)
    }
}

/// A reader's cursor and its side of the protocol: R1–R4, lap recovery, and waiting.
@usableFromInline
package struct RingCursor {
    @usableFromInline package let slots: SlotArray
    @usableFromInline package let header: HeaderWords
    /// The sequence of the next item this reader will return.
    @usableFromInline package var nextSequence: UInt64
    /// Items this reader never saw because the writer overwrote them first.
    @usableFromInline package var missed: UInt64 = 0
    @usableFromInline package var slotIndex: Int
    /// The last value of `published` this reader loaded: items below it need no new look at
    /// the writer's line before being copied (R1 is done once for all of them).
    @usableFromInline package var knownPublished: UInt64 = 0
    /// For a named reader under the `block` policy, the index of its record, which the writer's
    /// gate respects; nil otherwise.
    @usableFromInline package let gatedRecord: Int?
    /// This process, as the record names it (read once: `getpid` is a system call).
    package let processID: Int32
    /// Whether R4 can be the cheap check of the readers version (see above), and which version.
    @usableFromInline package var reliesOnGate = false
    @usableFromInline package var gateVersion: UInt32 = 0

    package enum Start {
        case oldest, latest
        /// A named reader resuming: items overwritten since it stopped count as missed.
        case at(UInt64)
    }

    package init(slots: SlotArray, header: HeaderWords, start: Start, gatedRecord: Int? = nil) {
        self.slots = slots
        self.header = header
        self.gatedRecord = gatedRecord
        self.processID = gatedRecord == nil ? 0 : Sys.processID()
        nextSequence = Self.startSequence(start, header: header, slots: slots)
        slotIndex = slots.index(of: nextSequence)
    }

    /// Where a new reader starting at `start` would begin.
    package static func startSequence(_ start: Start, header: HeaderWords, slots: SlotArray) -> UInt64 {
        let published = header.nextSequence.pointee.load(ordering: .acquiring)
        switch start {
        case .latest: return published
        case .oldest: return min(slots.oldestIntact(claimed: header.claimed.pointee.load(ordering: .acquiring)), published)
        case .at(let sequence): return min(sequence, published)   // a cursor from the future is damage
        }
    }

    /// R1: how many items can be copied now, looking at `published` again only if fewer than
    /// `wanted` are known to be there. Zero means the reader has caught up with the writer.
    @inlinable
    package mutating func readable(wanting wanted: UInt64 = 1) -> UInt64 {
        if knownPublished < nextSequence &+ wanted {
            knownPublished = header.nextSequence.pointee.load(ordering: .acquiring)   // R1
            if nextSequence >= knownPublished { return 0 }
        }
        return knownPublished &- nextSequence
    }

    /// R3 and R4: whether the items copied from `nextSequence` on are intact. If not, the
    /// cursor has already moved past what was lost.
    @inlinable
    package mutating func copyWasIntact() -> Bool {
        atomicMemoryFence(ordering: .acquiring)                                         // R3
        if reliesOnGate {
            if header.readersVersion.pointee.load(ordering: .relaxed) == gateVersion { return true } // R4, gated
            reliesOnGate = false
        }
        let claimed = header.claimed.pointee.load(ordering: .relaxed)                   // R4
        guard nextSequence >= slots.oldestIntact(claimed: claimed) else {
            recoverFromLap()
            return false
        }
        if gatedRecord != nil { tryToRelyOnTheGate() }
        return true
    }

    /// Sets `reliesOnGate` if the writer's gate has taken this reader's record in (see above).
    @usableFromInline @inline(never)
    package mutating func tryToRelyOnTheGate() {
        guard let index = gatedRecord else { return }
        let version = header.readersVersion.pointee.load(ordering: .acquiring)
        guard header.gateVersion.pointee.load(ordering: .acquiring) == version else { return }
        let table = ReaderTable(fileBase: header.base)
        guard table.state(index).pointee.load(ordering: .acquiring) == 1, table.pid(index) == processID,
              table.cursor(index).pointee.load(ordering: .relaxed) <= nextSequence else { return }
        // Loaded after the gate version: at least every claim made before the gate took it in.
        let claimed = header.claimed.pointee.load(ordering: .relaxed)
        guard nextSequence >= slots.oldestIntact(claimed: claimed) else { return }
        gateVersion = version
        reliesOnGate = true
    }

    /// Reads the next item if there is one: `copy` receives its payload bytes and must only copy
    /// them (it may see bytes the writer is changing; such a copy is discarded and the reader
    /// moves on). Returns nil when the reader has caught up with the writer.
    /// `acceptIf` may refuse a good copy: the value is returned but the cursor stays on it.
    @inlinable
    package mutating func read<T>(_ copy: (UnsafeRawPointer) -> T, acceptIf accept: (T) -> Bool = { _ in true }) -> T? {
        while true {
            guard readable() > 0 else { return nil }                                   // R1
            let value = copy(UnsafeRawPointer(slots.payload(slotIndex)))                // R2
            guard copyWasIntact() else { continue }                                     // R3, R4
            if accept(value) { advance(by: 1) }
            return value
        }
    }

    /// Reads up to `maxCount` items at once: `copy(index, count, offset)` copies items
    /// `offset ..< offset + count` of the batch from the consecutive slots from `index` (called
    /// once, or twice when the batch wraps). Returns how many were read; 0 when caught up.
    @inlinable
    package mutating func read(upTo maxCount: Int, _ copy: (_ index: Int, _ count: Int, _ offset: Int) -> Void) -> Int {
        while true {
            let wanted = min(UInt64(maxCount), UInt64(slots.length))
            let count = Int(min(readable(wanting: wanted), wanted))                     // R1
            guard count > 0 else { return 0 }
            slots.forEachRun(from: slotIndex, count: count, copy)                       // R2
            guard copyWasIntact() else { continue }                                     // R3, R4
            advance(by: count)
            return count
        }
    }

    @inlinable
    package mutating func advance(by count: Int) {
        nextSequence &+= UInt64(count)
        slotIndex &+= count
        if slotIndex >= slots.length { slotIndex &-= slots.length }
    }

    /// The item at `nextSequence` was (or is being) overwritten: skip to the oldest item that
    /// is still intact and count every sequence skipped.
    @usableFromInline @inline(never)
    package mutating func recoverFromLap() {
        let claimed = header.claimed.pointee.load(ordering: .acquiring)
        let target = max(nextSequence &+ 1, slots.oldestIntact(claimed: claimed))
        missed &+= target &- nextSequence
        nextSequence = target
        slotIndex = slots.index(of: target)
    }

    /// Whether an item is waiting (or was overwritten, which a read then counts).
    package func hasItem() -> Bool {
        header.nextSequence.pointee.load(ordering: .acquiring) > nextSequence
    }

    /// Items available to this reader now (at most the ring's length).
    package var available: Int {
        let published = header.nextSequence.pointee.load(ordering: .acquiring)
        guard published > nextSequence else { return 0 }
        return Int(min(published - nextSequence, UInt64(slots.length)))
    }

    /// Something another thread may call to cut this cursor's wait short (see ``ReaderWakeUp``).
    package var wakeUp: ReaderWakeUp { ReaderWakeUp(header: header) }

    /// Waits until the next item is readable (or was overwritten), at most `timeoutNanos`
    /// (negative: no limit); see `FutexSleep` for how it sleeps and why no wake-up is lost.
    /// Returns false on timeout, or early once `stop` says so after a wake-up.
    package mutating func wait(timeoutNanos: Int64, stop: () -> Bool = { false }) -> Bool {
        FutexSleep.wait(until: { hasItem() }, word: header.notify, address: header.notifyAddress,
                        sleepers: header.waiters, timeoutNanos: timeoutNanos, stop: stop)
    }
}

/// Wakes every reader sleeping on a ring (each re-checks, and sleeps again unless its `stop`
/// says otherwise): how a thread ends another thread's wait promptly, as cancelling a task
/// that iterates a reader's events does. Sendable: it holds only the header's address.
package struct ReaderWakeUp: Sendable {
    let header: HeaderWords

    package func callAsFunction() {
        header.wakeReaders()
    }
}
