import Synchronization

// # The publication protocol
//
// One writer, any number of readers, no locks. Every slot begins with an 8-byte *stamp* that
// says which sequence the slot holds and whether it is complete (see `SlotStamp`). Publishing
// sequence `s` into slot `s % length`:
//
//   W1  stamp.store(writing(s), relaxed)
//   W2  fence(release)                    -- W1 is ordered before the payload stores
//   W3  payload stores (plain)
//   W4  stamp.store(committed(s), release) -- the payload is ordered before this store
//   W5  nextSequence.store(s + 1, release) -- a hint for usage, open-at-latest and lap recovery
//
// A reader expecting sequence `c` in that slot:
//
//   R1  a = stamp.load(acquire); go on only if a == committed(c)
//   R2  copy the payload (plain loads)
//   R3  fence(acquire)                    -- the copy is ordered before R4
//   R4  b = stamp.load(relaxed); the copy is good only if b == a
//
// Why no torn or overwritten item is ever delivered: if R1 reads committed(c), the acquire
// pairs with W4 of sequence c, so the payload of c is visible. If the writer starts
// overwriting that slot (W1 of c + length) before R2 finishes, then either R2 read only old
// bytes (fine), or R2 read a byte stored by W3 of the new sequence; that store is ordered after
// W1 by W2, and R4 is ordered after R2 by R3, so R4 must see writing(c + length) or later,
// b != a, and the copy is thrown away. This is the seqlock argument (Boehm, "Can seqlocks get
// along with programming language memory models?", MSPC 2012), with one seqlock per slot. On
// x86-64 every one of these is a plain `mov`; the fences only stop the compiler.
//
// Why a killed writer never leaks a half-written item: an item becomes visible only at W4. A
// writer killed anywhere before W4 leaves writing(s) in the slot, which no reader accepts; the
// next writer rewrites sequence s from W1. A writer killed between W4 and W5 has published s
// (readers follow stamps), so the next writer first advances nextSequence past every slot
// already committed (`RingPublisher.init`) and never reissues a sequence with other content.
//
// Why a lapped reader counts exactly what it lost: it sees a stamp newer than writing(c) in the
// slot of c, so item c is gone. nextSequence = n (read with acquire) means every sequence below n
// was committed, so every x < n - length had its slot reused by x + length < n: gone as well.
// The reader jumps to max(c + 1, n - length) and adds the distance to `missed`. Everything it
// counts was really overwritten, and its new position is checked by its stamp like any other.

/// The stamp that heads every slot: `(sequence + 1) << 1`, with bit 0 set while the writer is
/// filling the slot. Zero means "never written". Stamps of one slot only grow.
@usableFromInline
enum SlotStamp {
    @inlinable static func committed(_ sequence: UInt64) -> UInt64 { (sequence &+ 1) << 1 }
    @inlinable static func writing(_ sequence: UInt64) -> UInt64 { (sequence &+ 1) << 1 | 1 }
}

/// A raw view of the slot array: where slot `i` and its stamp live.
@usableFromInline
struct SlotArray {
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let stride: Int
    @usableFromInline let length: Int

    init(base: UnsafeMutableRawPointer, stride: Int, length: Int) {
        self.base = base
        self.stride = stride
        self.length = length
    }

    @inlinable
    func stamp(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + index &* stride).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inlinable
    func payload(_ index: Int) -> UnsafeMutableRawPointer {
        base + (index &* stride &+ 8)
    }

    @inlinable
    func index(of sequence: UInt64) -> Int {
        Int(sequence % UInt64(length))
    }

    /// How many items were published: `hint` (the header's next sequence), advanced past any
    /// slot already stamped complete, which happens when a writer died between W4 and W5.
    /// Readers follow stamps, so such an item was delivered and its sequence must not be reused.
    func publishedCount(hint: UInt64) -> UInt64 {
        var next = hint
        while next - hint < UInt64(length),
              stamp(index(of: next)).pointee.load(ordering: .acquiring) == SlotStamp.committed(next) {
            next += 1
        }
        return next
    }
}

/// The writer's side of the protocol: W1–W5 above, plus waking sleeping readers.
@usableFromInline
struct RingPublisher {
    @usableFromInline let slots: SlotArray
    @usableFromInline let header: HeaderWords
    /// When the kernel refused membarrier registration, the writer pays a full fence per publish
    /// instead (see `RingCursor.wait`).
    @usableFromInline let fenceBeforeWaiterCheck: Bool
    @usableFromInline var nextSequence: UInt64
    @usableFromInline var slotIndex: Int

    /// Attaches to the ring's current position, first advancing past any item that was committed
    /// but not counted because the previous writer died between W4 and W5.
    init(slots: SlotArray, header: HeaderWords, fenceBeforeWaiterCheck: Bool) {
        self.slots = slots
        self.header = header
        self.fenceBeforeWaiterCheck = fenceBeforeWaiterCheck
        let next = slots.publishedCount(hint: header.nextSequence.pointee.load(ordering: .acquiring))
        header.nextSequence.pointee.store(next, ordering: .releasing)
        self.nextSequence = next
        self.slotIndex = slots.index(of: next)
    }

    /// Writes one item: `fill` receives the slot's payload bytes, then the item is published.
    @inlinable
    mutating func publish(_ fill: (UnsafeMutableRawPointer) -> Void) {
        write(fill)
        announce()
    }

    /// W1–W4 for one item, without W5 (so that a batch announces once).
    @inlinable
    mutating func write(_ fill: (UnsafeMutableRawPointer) -> Void) {
        let sequence = nextSequence
        let stamp = slots.stamp(slotIndex)
        stamp.pointee.store(SlotStamp.writing(sequence), ordering: .relaxed)   // W1
        atomicMemoryFence(ordering: .releasing)                                 // W2
        fill(slots.payload(slotIndex))                                          // W3
        stamp.pointee.store(SlotStamp.committed(sequence), ordering: .releasing) // W4
        nextSequence = sequence &+ 1
        slotIndex &+= 1
        if slotIndex == slots.length { slotIndex = 0 }
        if sequence & 1023 == 0 { stampLastWrite() }
    }

    /// W5, then wakes sleeping readers if any said they were waiting.
    @inlinable
    func announce() {
        header.nextSequence.pointee.store(nextSequence, ordering: .releasing)  // W5
        if fenceBeforeWaiterCheck { atomicMemoryFence(ordering: .sequentiallyConsistent) }
        if header.waiters.pointee.load(ordering: .relaxed) != 0 { wakeReaders() }
    }

    /// The cold path: a reader is sleeping on the futex word.
    @usableFromInline @inline(never)
    func wakeReaders() {
        header.wakeReaders()
    }

    /// Records the time of the last write (also done every 1024 items while writing).
    @usableFromInline @inline(never)
    func stampLastWrite() {
        header.lastWriteAt.pointee.store(Sys.realtimeNanos(), ordering: .relaxed)
    }
}

/// A reader's cursor and its side of the protocol: R1–R4, lap recovery, and waiting.
@usableFromInline
struct RingCursor {
    @usableFromInline let slots: SlotArray
    @usableFromInline let header: HeaderWords
    /// The sequence of the next item this reader will return.
    @usableFromInline var nextSequence: UInt64
    /// Items this reader never saw because the writer overwrote them first.
    @usableFromInline var missed: UInt64 = 0
    @usableFromInline var slotIndex: Int

    enum Start {
        case oldest, latest
        /// A named reader resuming: items overwritten since it stopped count as missed.
        case at(UInt64)
    }

    init(slots: SlotArray, header: HeaderWords, start: Start) {
        self.slots = slots
        self.header = header
        nextSequence = Self.startSequence(start, header: header, length: slots.length)
        slotIndex = slots.index(of: nextSequence)
        // Items overwritten before this reader existed are not "missed" by it.
        if case .oldest = start, state() == .lapped {
            recoverFromLap()
            missed = 0
        }
    }

    /// Where a new reader starting at `start` would begin.
    static func startSequence(_ start: Start, header: HeaderWords, length: Int) -> UInt64 {
        let head = header.nextSequence.pointee.load(ordering: .acquiring)
        switch start {
        case .latest: return head
        case .oldest: return head > UInt64(length) ? head - UInt64(length) : 0
        case .at(let sequence): return sequence
        }
    }

    @usableFromInline enum State { case ready, empty, lapped }

    /// What the slot of the next sequence holds, from its stamp alone (R1).
    @inlinable
    func state() -> State {
        let stamp = slots.stamp(slotIndex).pointee.load(ordering: .acquiring)
        let expected = SlotStamp.committed(nextSequence)
        if stamp == expected { return .ready }
        return stamp > expected | 1 ? .lapped : .empty
    }

    /// Reads the next item if there is one: `copy` receives its payload bytes and must only copy
    /// them (it may see bytes the writer is changing; such a copy is discarded and the reader
    /// moves on). Returns nil when the reader has caught up with the writer.
    /// `acceptIf` may refuse a good copy: the value is returned but the cursor stays on it.
    @inlinable
    mutating func read<T>(_ copy: (UnsafeRawPointer) -> T, acceptIf accept: (T) -> Bool = { _ in true }) -> T? {
        while true {
            let stamp = slots.stamp(slotIndex)
            let before = stamp.pointee.load(ordering: .acquiring)             // R1
            let expected = SlotStamp.committed(nextSequence)
            if before != expected {
                if before > expected | 1 { recoverFromLap(); continue }
                return nil
            }
            let value = copy(UnsafeRawPointer(slots.payload(slotIndex)))    // R2
            atomicMemoryFence(ordering: .acquiring)                          // R3
            if stamp.pointee.load(ordering: .relaxed) != before {            // R4
                recoverFromLap()
                continue
            }
            if accept(value) { advance() }
            return value
        }
    }

    @inlinable
    mutating func advance() {
        nextSequence &+= 1
        slotIndex &+= 1
        if slotIndex == slots.length { slotIndex = 0 }
    }

    /// The item at `nextSequence` was overwritten: skip to the oldest item that may still be
    /// present and count every sequence skipped.
    @usableFromInline @inline(never)
    mutating func recoverFromLap() {
        let head = header.nextSequence.pointee.load(ordering: .acquiring)
        let length = UInt64(slots.length)
        let oldestPresent = head > length ? head - length : 0
        let target = max(nextSequence &+ 1, oldestPresent)
        missed &+= target &- nextSequence
        nextSequence = target
        slotIndex = slots.index(of: target)
    }

    /// Items available to this reader now (at most the ring's length).
    var available: Int {
        let head = header.nextSequence.pointee.load(ordering: .acquiring)
        // At the head, one item may still be waiting: committed (W4) by a writer that died
        // before counting it (W5). Readers follow stamps, so it is readable.
        guard head > nextSequence else { return state() == .empty ? 0 : 1 }
        return Int(min(head - nextSequence, UInt64(slots.length)))
    }

    /// Waits until the next item is readable (or was overwritten), at most `timeoutNanos`
    /// (negative: no limit); see `FutexSleep` for how it sleeps and why no wake-up is lost.
    /// Returns false on timeout, or early once `stop` says so after a wake-up.
    mutating func wait(timeoutNanos: Int64, stop: () -> Bool = { false }) -> Bool {
        FutexSleep.wait(until: { state() != .empty }, word: header.notify, address: header.notifyAddress,
                        sleepers: header.waiters, timeoutNanos: timeoutNanos, stop: stop)
    }
}
