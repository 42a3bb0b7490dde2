public import Synchronization
internal import SharedRingSystem
internal import SharedRingCommon

// # The publication protocol (format versions 2 and 3)
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
//   W5  if waiters != 0: wake the futex    -- a reader asked to be woken (see FutexSleep: K2-K6)
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
// Why the payload copies may be plain (non-atomic) accesses, racing with the writer's: the
// language's memory model calls a plain read that races with a write undefined, and the seqlock
// paper above is about exactly that. cbuff relies on four things instead, each true here:
// (1) the copies are byte copies (`copyMemory`, `load(as:)` of integers) into the reader's own
// memory, and nothing is computed from the copied bytes until R4 has accepted them (a value
// whose representation has invalid bit patterns, such as a Bool or an enum, must likewise be
// materialised only after R4: the typed-items API must keep this); (2) the mapping is shared
// with other processes, so the compiler cannot assume it knows its contents, and the fences R3
// and W2 are compiler barriers for every memory access, plain ones included, so no copy moves
// past R4 and no payload store moves before W1; (3) the hardware gives a racing plain load some
// value that was stored (possibly torn across words), never a trap: x86-64 keeps loads in order
// with later loads and stores in order with later stores (TSO), and on aarch64 R3 is `dmb
// ishld`, which orders every earlier load, and W2 is `dmb ish`; (4) a torn copy is never
// delivered, as argued above. The Linux kernel's seqlocks, Aeron and Chronicle Queue rely on
// the same four.
//
// The counters are positions, not bytes: here a position is a sequence and the slot of
// position `p` is `p % length`. The core of this file (`PublicationCounters`, `LapCheck`) works
// on positions and a capacity only; how positions map to bytes is `SlotArray`'s business, and a
// ring of variable-size messages would map them differently (see docs/message-ring-design.md).
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

// # Version 4: a check word in every slot
//
// A ring of items of format version 4 keeps an 8-byte check word after each item (`SlotCheck`:
// the sequence's low 31 bits, a "written" bit, and the CRC32C of the item seeded with the
// sequence's high bits), so that what a reader hands out is proven by the slot itself, after a
// machine crash as live: a page of the file that reached the disk stale, torn or as zeros
// cannot make a word vouch for bytes and a sequence that were not written together. The
// counters and W1–W5 stay; the writer adds, for items `s ..< s + n`:
//
//   V1  word[s + k].store(0, relaxed) for every k        -- before W1 and W2: the fence orders
//                                                           the invalidation before the items
//   V3  after W3: word[s + k].store(check(s + k), release) for k = 1 ..< n, then
//   V4  word[s].store(check(s), release)                 -- the publication point for readers,
//                                                           before W4 (`published`)
//
// A reader whose next item is `c`, in slot `i`:
//
//   V5  w = word[i].load(acquire); if it does not stamp `c`: load `published` (R1); below or at
//       `c`, caught up; above, load the word again (the first load may predate the writer's
//       V4) and if it still does not stamp `c`, the slot was rewritten since (a lap, or a
//       slot that damage or a recovery invalidated): lapped, resumed past `claimed - length`
//       as in version 3 (counted)
//   R2  copy the item
//   V6  check(c) over the slot's bytes as they lie == w: the whole sequence and every byte
//   R3  fence(acquire)
//   V7  word[i].load(relaxed) == w, else lapped (as R4); and V6 held, else the slot is not
//       what was written under `c` (damage, or a slot 2^31 × k items newer whose stamp
//       aliases `c`'s): skipped and counted as lost
//
// Why a reader never hands out what was not written under its sequence. Live: V5's acquire
// pairs with V3/V4's release, so the item's stores are visible; if R2 or V6 read a byte of a
// later write of the slot, that write's V1 (word = 0) is ordered before its item stores by its
// W2, and V7, after R3, sees 0 or a later word: the copy is thrown away (the seqlock argument of
// R1–R4, the slot's word being the sequence word). If V7 sees `w` again, nothing was written
// into the slot between V5 and V7, so V6 computed over exactly the bytes R2 copied, and it
// proves them (a CRC32C of 32 bits: a wrong item passes with probability 2^-32). A stamp alone
// would not: 31 bits of sequence alias every 2^31 items, which a reader paused long enough is
// lapped by; the CRC, seeded with the high bits, tells those apart. After a machine crash the
// same V6 turns a stale, torn or zeroed slot into a counted loss instead of a delivery,
// whatever the header's counters say.
//
// Batches: V5 for the first slot, then the stamps of the following ones (a run stops at the
// first slot not stamped for its sequence); V6 over each; one R3; V7 on the first slot only:
// the writer invalidates slots in sequence order (V1 of a batch covers all of it before its
// fence), so a rewrite of any slot of the run follows the invalidation of the first one's. A
// batch publishes at V4, its first slot's word, written last: a reader takes sequences in
// order, so none passes `s` before the whole batch is complete.
//
// A killed writer, a machine crash. Before V4, a batch is not visible (its first word is 0 or
// an older lap's); after V4 but before W4, readers see it although `published` does not say so.
// A writer that attaches (`RingPublisher.settle`) continues after every slot from `published`
// whose word vouches for its bytes, and zeroes every word of the lap ahead that stamps its own
// sequence (the rest of a dead writer's batch whose V4 never happened; after a machine crash,
// any page that reached the disk newer than the header and the pages between), before it
// writes anything (its own V1/W2 order that before its items): no reader ever meets an old item
// under a sequence the new writer is about to write. The counters keep their meaning (`claimed`
// for lapped readers' resumption, `published` for waiting, backlogs and new readers). It looks
// at the whole lap only when the ring was last written in another boot (a crash may have
// happened); in the boot that wrote it, the page cache holds what its predecessor left and that
// predecessor wrote nothing beyond its claim (W1 comes first), so the look stops there: nothing
// after a clean close (`RingFile.settleReach`).
//
// Cost: 8 bytes more per slot (an 8-byte item takes 16), one CRC32C instruction per 8 bytes of
// item on each side, and no load of the writer's line by a reader that keeps up (V5 hits the
// line of the item it copies). Measured: `Benchmarks/integrity/README.md`.

/// A raw view of the slot array: where the item of slot `i` lives, and, in a ring of items of
/// format version 4, its check word (see "Version 4" above).
@usableFromInline
package struct SlotArray {
    @usableFromInline package let base: UnsafeMutableRawPointer
    @usableFromInline package let stride: Int
    @usableFromInline package let length: Int
    /// Just past the last slot: where a walk one slot at a time wraps to `base`.
    @usableFromInline let end: UnsafeMutableRawPointer
    /// Version 4 only (0 when slots carry no check word): where a slot's check word lies after
    /// its item (bits 0–31), the bytes of the item it covers (bits 32–61) and how this process
    /// computes it (bits 62–63: ``SlotCheck``'s level). One word, not three: every reader and
    /// writer holds a copy of this struct, and versions 2 and 3 should pay for version 4 no more
    /// than the test of it (measured: three words cost their push and pop 4 and 13 instructions).
    @usableFromInline let checking: UInt64

    package init(base: UnsafeMutableRawPointer, stride: Int, length: Int, itemSize: Int = 0, checkWordOffset: Int? = nil) {
        self.base = base
        self.stride = stride
        self.length = length
        self.end = base + length * stride
        self.checking = checkWordOffset.map { UInt64($0) | UInt64(itemSize) << 32 | UInt64(SlotCheck.here.accelerated) << 62 } ?? 0
    }

    /// Whether every slot carries a check word (version 4).
    @inlinable
    package var isChecked: Bool { checking != 0 }

    @inlinable var checkWordOffset: Int { Int(truncatingIfNeeded: checking & 0xFFFF_FFFF) }
    @inlinable var itemSize: Int { Int(truncatingIfNeeded: (checking >> 32) & 0x3FFF_FFFF) }
    @inlinable var check: SlotCheck { SlotCheck(accelerated: CInt(truncatingIfNeeded: checking >> 62)) }

    /// The check word of the slot whose item is at `payload` (version 4 only).
    @inlinable
    package func word(_ payload: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (payload + checkWordOffset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// W3 of version 4 for the item at `payload`, published under `sequence`: its check word,
    /// computed over the item as it lies, stored with release (after the item's stores).
    @inlinable
    package func seal(_ payload: UnsafeMutableRawPointer, sequence: UInt64) {
        word(payload).pointee.store(check.word(sequence: sequence, item: payload, size: itemSize), ordering: .releasing)
    }

    /// Whether `word` stamps `sequence`: its low half names the sequence's low 31 bits (which
    /// says "ready", not "exact": see ``vouches(_:for:sequence:)``).
    @inlinable
    static func stamps(_ word: UInt64, _ sequence: UInt64) -> Bool {
        UInt32(truncatingIfNeeded: word) == SlotCheck.stamp(sequence)
    }

    /// Whether `word` is the check word of the item at `payload`, as it lies, under `sequence`:
    /// the whole sequence (its high bits seed the CRC) and every byte. Plain loads, racing the
    /// writer: meaningful only if the slot's word is still `word` after a fence (V6).
    @inlinable
    func vouches(_ word: UInt64, for payload: UnsafeMutableRawPointer, sequence: UInt64) -> Bool {
        check.word(sequence: sequence, item: payload, size: itemSize) == word
    }

    @inlinable
    package func payload(_ index: Int) -> UnsafeMutableRawPointer {
        base + index &* stride
    }

    @inlinable
    package func index(of sequence: UInt64) -> Int {
        Int(sequence % UInt64(length))
    }

    /// The index of the slot at `payload` (one of this array's).
    @inlinable
    func index(at payload: UnsafeMutableRawPointer) -> Int {
        Int(bitPattern: UInt(bitPattern: payload - base) / UInt(bitPattern: stride))
    }

    /// The slot after the one at `payload`, wrapping at the end: an addition and a comparison,
    /// where an index would need a multiplication as well on every item.
    @inlinable
    func slot(after payload: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        let next = payload + stride
        return next == end ? base : next
    }

    /// The slot `count` slots (at most `length`) after slot `index`, wrapping at the end.
    @inlinable
    func slot(_ count: Int, after index: Int) -> UnsafeMutableRawPointer {
        let next = index &+ count
        return payload(next >= length ? next &- length : next)
    }

    /// Calls `body(firstIndex, count, offset)` for the one or two runs of consecutive slots that
    /// `count` items starting at slot `index` occupy (a run ends where the ring wraps).
    @inlinable
    func forEachRun(from index: Int, count: Int, _ body: (_ index: Int, _ count: Int, _ offset: Int) -> Void) {
        let first = min(count, length &- index)
        body(index, first, 0)
        if first < count { body(0, count &- first, first) }
    }

    /// Where the oldest item that is certainly intact lies, given the writer's claim: every
    /// slot of a sequence below `claimed - length` may have been reused (`ReadCheck`'s rule,
    /// with a capacity of `length` positions).
    @inlinable
    func oldestIntact(claimed: UInt64) -> UInt64 {
        claimed > UInt64(length) ? claimed &- UInt64(length) : 0
    }
}

/// The writer's counters and steps W1, W2, W4 and W5 above, in positions: the part of
/// publishing that does not depend on how positions map to bytes.
@frozen @usableFromInline
struct PublicationCounters {
    @usableFromInline let header: HeaderWords
    /// When the kernel refused membarrier registration, the writer pays a full fence per publish
    /// instead (see `FutexSleep`).
    @usableFromInline let fenceBeforeWaiterCheck: Bool
    /// Positions published: every one below is complete.
    @usableFromInline package var published: UInt64
    /// This writer's view of `claimed`: never below what a dead predecessor claimed. (During a
    /// run of quiet publishes, see below, it is not updated: the shared word is `published` then.)
    @usableFromInline var claimed: UInt64
    /// A ring of slots publishes *quietly* while the end of what it publishes stays below this:
    /// none of the rare steps is due (a predecessor's claim still ahead of `published`, the
    /// last-write stamp, the full fence of a writer without membarrier), and the claim word holds
    /// `published` (or `published + 1` after an abandoned in-place write, which the next publish
    /// claims again), so W1 stores `end` without comparing it with anything: one comparison
    /// against this bound replaces the claim's maximum and the stamp's test. 0: the next publish
    /// is loud (the general path), which sets it again.
    @usableFromInline var quietBelow: UInt64 = 0
    /// A publish whose end reaches this is loud (``quietBelow`` is never above it): the writer
    /// of a buffer whose sync policy counts (`eachBatch`: 0, `everyN(n)`: the last sync's
    /// sequence + n) learns from a loud publish alone that a sync may be due, so the quiet
    /// publish, policy `none`'s hot path included, pays nothing for the policies. `.max`: never.
    @usableFromInline package var syncDueAt: UInt64 = .max
    /// Where `claimed` lives (line 2 or 5, by policy): one load instead of the header's two.
    @usableFromInline let claimedWord: UnsafeMutablePointer<Atomic<UInt64>>

    /// Attaches to the ring's current position. A predecessor killed mid-write left `claimed`
    /// above `published`: what it was writing was never published, so writing resumes at
    /// `published`, and its claim is kept (what it may have damaged stays "overwritten").
    init(header: HeaderWords, fenceBeforeWaiterCheck: Bool) {
        self.header = header
        self.fenceBeforeWaiterCheck = fenceBeforeWaiterCheck
        let published = header.published.pointee.load(ordering: .acquiring)
        self.published = published
        self.claimed = max(header.claimed.pointee.load(ordering: .acquiring), published)
        self.claimedWord = header.claimed
    }

    /// W1 and W2 for a ring of slots (not for messages, whose claims run ahead of what they
    /// publish): quietly if `end` is below ``quietBelow``, else through ``claim(through:)``.
    /// Returns whether it was quiet, for ``announce(through:quiet:)``.
    @inlinable
    mutating func claim(quietlyThrough end: UInt64) -> Bool {
        if end < quietBelow {
            claimedWord.pointee.store(end, ordering: .relaxed)         // W1: end >= the word, never lowering it
            atomicMemoryFence(ordering: .releasing)                    // W2
            return true
        }
        claimLoudly(through: end)
        return false
    }

    /// The loud publish's W1 and W2 (out of line: rare).
    @usableFromInline @inline(never)
    mutating func claimLoudly(through end: UInt64) {
        claim(through: end)
    }

    /// W4 and W5 after ``claim(quietlyThrough:)``: a quiet publish stores and checks the waiters
    /// only (a writer without membarrier is never quiet, so no fence is owed); a loud one goes
    /// through ``announce(through:)`` and sets the next quiet bound.
    @inlinable
    mutating func announce(through end: UInt64, quiet: Bool) {
        if quiet {
            published = end
            header.published.pointee.store(end, ordering: .releasing)  // W4
            if header.waiters.pointee.load(ordering: .relaxed) != 0 { Self.wakeReaders(header) }   // W5
        } else {
            announceLoudly(through: end)
        }
    }

    /// The loud publish's W4 and W5, and the bound of the quiet ones after it: up to the next
    /// stamp, unless a rare step is due on every publish (no membarrier) or a dead predecessor's
    /// claim is still ahead (the general claim keeps it).
    @usableFromInline @inline(never)
    mutating func announceLoudly(through end: UInt64) {
        announce(through: end)
        let shift = RingLayout.lastWriteStampShift
        quietBelow = fenceBeforeWaiterCheck || claimed > end ? 0 : min((end &>> shift &+ 1) &<< shift, syncDueAt)
    }

    /// W1 and W2: every position below `end` may change from now on.
    @inlinable
    mutating func claim(through end: UInt64) {
        if end > claimed { claimed = end }
        claimedWord.pointee.store(claimed, ordering: .relaxed)         // W1
        atomicMemoryFence(ordering: .releasing)                        // W2
    }

    /// W4 and W5: every position below `end` is complete; wake sleeping readers if any.
    @inlinable
    mutating func announce(through end: UInt64) {
        let start = published
        published = end
        header.published.pointee.store(end, ordering: .releasing)      // W4
        if fenceBeforeWaiterCheck { atomicMemoryFence(ordering: .sequentiallyConsistent) }
        if header.waiters.pointee.load(ordering: .relaxed) != 0 { Self.wakeReaders(header) }   // W5
        if start &>> RingLayout.lastWriteStampShift != end &>> RingLayout.lastWriteStampShift { Self.stampLastWrite(header) }
    }

    // The cold paths take the header alone, not `self`: a method on `self` here made the
    // optimizer copy the counters onto the stack on every publish.

    /// The cold path: a reader asked to be woken (it may have died since: it costs this once).
    @usableFromInline @inline(never)
    static func wakeReaders(_ header: HeaderWords) {
        header.answerReaders()
    }

    /// Records the time of the last write (done every `RingLayout.lastWriteStampInterval`
    /// items while writing, and on close).
    @usableFromInline @inline(never)
    static func stampLastWrite(_ header: HeaderWords) {
        header.lastWriteAt.pointee.store(Sys.realtimeNanos(), ordering: .relaxed)
    }
}

/// The writer's side of the protocol for a ring of slots: W1–W5 above, position = sequence.
@usableFromInline
package struct RingPublisher {
    @usableFromInline package let slots: SlotArray
    @usableFromInline var counters: PublicationCounters
    /// The slot of the next sequence (`published % length`).
    @usableFromInline var slot: UnsafeMutableRawPointer

    init(slots: SlotArray, header: HeaderWords, fenceBeforeWaiterCheck: Bool) {
        self.slots = slots
        self.counters = PublicationCounters(header: header, fenceBeforeWaiterCheck: fenceBeforeWaiterCheck)
        self.slot = slots.payload(slots.index(of: counters.published))
    }

    /// Version 4, when a writer attaches (under the writer lock: nothing else writes). Readers
    /// go by the slots' words, not by `published`, so two things must hold before this writer
    /// publishes anything:
    ///
    /// - it continues after every slot from `published` on that holds exactly what was written
    ///   under its sequence (its word vouches for its bytes, V6): a predecessor killed after V4
    ///   of a batch and before its W4 has published that batch to readers (`published` is stored
    ///   so). The CRC too, not the stamp alone: after a machine crash a stamp may lie over other
    ///   bytes, which readers count as lost, and which this writer must not step over;
    /// - no other slot of the lap ahead stamps its own sequence: this writer will write those
    ///   sequences with its own items, and a reader that reached such a slot first would deliver
    ///   the old one under the same sequence. A killed writer leaves such words only just after
    ///   that run (the rest of a batch whose first word never came), but a machine crash can
    ///   leave any page newer than the header and the pages between (a stale page ends the run
    ///   above and hides the ones after it): so the whole lap is looked at, one word a slot, and
    ///   every such word zeroed. (A slot that stamps the sequence a lap older is a published
    ///   item lapped readers may still read: left alone.)
    ///
    /// `reach`: how many slots each walk looks at (from `published`, then from where the first
    /// stopped): the whole lap after a
    /// machine crash may have happened (`RingFile.settleReach`); in the boot that wrote the ring,
    /// where the page cache is the truth, the predecessor's claim bounds everything it wrote
    /// (W1 comes before its slots), so a take-over after a clean close looks at nothing and one
    /// after a kill at the killed batch: a take-over of a long ring does not read it whole.
    static func settle(_ slots: SlotArray, _ counters: inout PublicationCounters, reach: Int) {
        var next = counters.published, payload = slots.payload(slots.index(of: next)), walked = 0
        while walked < reach, slots.vouches(slots.word(payload).pointee.load(ordering: .acquiring), for: payload, sequence: next) {
            (next, payload, walked) = (next &+ 1, slots.slot(after: payload), walked &+ 1)
        }
        if next != counters.published {
            counters.claim(through: next)
            counters.announce(through: next)
        }
        var ahead = next, aheadPayload = payload
        for _ in 0..<reach {
            if SlotArray.stamps(slots.word(aheadPayload).pointee.load(ordering: .acquiring), ahead) {
                slots.word(aheadPayload).pointee.store(0, ordering: .relaxed)
            }
            (ahead, aheadPayload) = (ahead &+ 1, slots.slot(after: aheadPayload))
        }
        atomicMemoryFence(ordering: .releasing)   // the zeroed words before any later store of this writer
    }

    /// The sequence the next item gets (= items published).
    @inlinable package var nextSequence: UInt64 { counters.published }

    /// The first sequence whose publish makes a loud one report that a sync may be due (see
    /// `PublicationCounters.syncDueAt`).
    @inlinable package var syncDueAt: UInt64 {
        get { counters.syncDueAt }
        set { counters.syncDueAt = newValue }
    }

    /// Whether a sync of the writer's policy is due after a publish that returned `loud`: a
    /// quiet publish never makes one due, so the test is folded into the publish's own branch.
    @inlinable
    package func syncIsDue(loud: Bool) -> Bool {
        loud && counters.published >= counters.syncDueAt
    }

    /// Publishes one item: `fill` receives the slot's payload bytes. Returns whether the
    /// publish was loud (see `PublicationCounters.quietBelow`).
    @inlinable @discardableResult
    package mutating func publish(_ fill: (UnsafeMutableRawPointer) -> Void) -> Bool {
        if _slowPath(slots.isChecked) { return publishChecked(fill) }
        let end = counters.published &+ 1
        let quiet = counters.claim(quietlyThrough: end)     // W1, W2
        fill(slot)                                          // W3
        slot = slots.slot(after: slot)
        counters.announce(through: end, quiet: quiet)       // W4, W5
        return !quiet
    }

    // Version 4's steps are out of line, so that a ring of versions 2 and 3 pays one test of a
    // stored flag a publish and keeps its code as it was (measured: with them inline, 12 more
    // instructions a push and 22 a pop of version 3).

    /// ``publish(_:)`` for version 4: V1 before W1, V3/V4 after W3.
    @inlinable @inline(never)
    mutating func publishChecked(_ fill: (UnsafeMutableRawPointer) -> Void) -> Bool {
        let end = counters.published &+ 1
        slots.word(slot).pointee.store(0, ordering: .relaxed)     // V1
        let quiet = counters.claim(quietlyThrough: end)           // W1, W2
        fill(slot)                                                // W3
        slots.seal(slot, sequence: counters.published)            // V3, V4
        slot = slots.slot(after: slot)
        counters.announce(through: end, quiet: quiet)             // W4, W5
        return !quiet
    }

    /// Publishes one item that `fill` writes where it lies, unless `fill` throws: then nothing
    /// is published, and the claim stays (W1 happened, so the slot counts as overwritten, as
    /// after a writer killed inside `fill`; `claimed` is never lowered). The next publish
    /// reuses the sequence and the slot.
    @inlinable @discardableResult
    package mutating func publishInPlace<E: Error>(_ fill: (UnsafeMutableRawPointer) throws(E) -> Void) throws(E) -> Bool {
        let end = counters.published &+ 1
        let checked = slots.isChecked
        if _slowPath(checked) { slots.word(slot).pointee.store(0, ordering: .relaxed) }   // V1
        let quiet = counters.claim(quietlyThrough: end)     // W1, W2
        try fill(slot)                                      // W3 (or abandoned: the word stays 0)
        if _slowPath(checked) { slots.seal(slot, sequence: counters.published) }          // V3, V4
        slot = slots.slot(after: slot)
        counters.announce(through: end, quiet: quiet)       // W4, W5
        return !quiet
    }

    /// Publishes `count` items (1 ≤ count ≤ length) at once: `fill(index, count, offset)` writes
    /// items `offset ..< offset + count` of the batch into the consecutive slots from `index`
    /// (called once, or twice when the batch wraps around the end of the ring).
    @inlinable
    package mutating func publish(count: Int, _ fill: (_ index: Int, _ count: Int, _ offset: Int) -> Void) {
        let end = counters.published &+ UInt64(count)
        let index = slots.index(at: slot)
        let checked = slots.isChecked
        if _slowPath(checked) { invalidate(count) }         // V1
        let quiet = counters.claim(quietlyThrough: end)     // W1, W2
        slots.forEachRun(from: index, count: count, fill)   // W3
        if _slowPath(checked) { sealBatch(count) }          // V3, V4
        slot = slots.slot(count, after: index)
        counters.announce(through: end, quiet: quiet)       // W4, W5
    }

    /// V1 for a batch of `count` items from ``nextSequence``.
    @inlinable @inline(never)
    func invalidate(_ count: Int) {
        forEachSlot(count) { payload, _ in slots.word(payload).pointee.store(0, ordering: .relaxed) }
    }

    /// Calls `body(payload, k)` for the slots of the next `count` sequences, in sequence order.
    @inlinable
    func forEachSlot(_ count: Int, _ body: (UnsafeMutableRawPointer, Int) -> Void) {
        var payload = slot
        for k in 0..<count {
            body(payload, k)
            payload = slots.slot(after: payload)
        }
    }

    /// V3 and V4 for a batch of `count` items from ``nextSequence``: the check words of all but
    /// the first, then the first's, the batch's publication point.
    @inlinable @inline(never)
    func sealBatch(_ count: Int) {
        let first = counters.published
        forEachSlot(count) { payload, k in if k > 0 { slots.seal(payload, sequence: first &+ UInt64(k)) } }
        slots.seal(slot, sequence: first)
    }
}

/// A reader's side of the protocol in positions: R1, R3 and R4 above, and the gate's shortcut
/// for a named reader under `block`. The part of reading that does not depend on how positions
/// map to bytes: it says whether a copy was good, and where the oldest intact position is when
/// it was not; what was lost and where to resume is the ring kind's to count.
@usableFromInline
struct ReadCheck {
    @usableFromInline let header: HeaderWords
    /// Positions the ring holds: a copy from position `c` is good only if `c >= claimed - capacity`.
    @usableFromInline let capacity: UInt64
    /// The last value of `published` this reader loaded: positions below it need no new look at
    /// the writer's line before being copied (R1 is done once for all of them).
    @usableFromInline var knownPublished: UInt64 = 0
    /// For a named reader under the `block` policy, the index of its record, which the writer's
    /// gate respects; nil otherwise.
    @usableFromInline let gatedRecord: Int?
    /// This process, as the record names it (read once: `getpid` is a system call).
    let processID: Int32
    /// Whether R4 can be the cheap check of the readers version (see above), and which version.
    @usableFromInline var reliesOnGate = false
    @usableFromInline var gateVersion: UInt32 = 0
    /// The position from which to try again to rely on the gate: a failed try (the writer has
    /// not taken the record in: it is idle, gone, or has not reached its gate since) waits
    /// `gateRetryInterval` positions, so that a named reader draining a backlog does not pay
    /// the try on every item. `.max` for a reader without a gated record.
    @usableFromInline var gateRetryAt: UInt64
    static let gateRetryInterval: UInt64 = 256

    init(header: HeaderWords, capacity: UInt64, gatedRecord: Int?) {
        self.header = header
        self.capacity = capacity
        self.gatedRecord = gatedRecord
        self.processID = gatedRecord == nil ? 0 : Sys.processID()
        self.gateRetryAt = gatedRecord == nil ? .max : 0
    }

    /// The oldest position that is certainly intact, given the writer's claim: every position
    /// below `claimed - capacity` may have been reused.
    @inlinable
    func oldestIntact(claimed: UInt64) -> UInt64 {
        claimed > capacity ? claimed &- capacity : 0
    }

    /// R1: how many positions from `next` can be copied now, looking at `published` again only
    /// if fewer than `wanted` are known to be there. Zero means the reader has caught up.
    @inlinable
    mutating func readable(from next: UInt64, wanting wanted: UInt64) -> UInt64 {
        if knownPublished < next &+ wanted {
            knownPublished = header.published.pointee.load(ordering: .acquiring)   // R1
            if next >= knownPublished { return 0 }
        }
        return knownPublished &- next
    }

    /// R1 for one position: whether `next` can be copied now (``readable(from:wanting:)`` > 0,
    /// with one comparison when it is already known to be published).
    @inlinable
    mutating func canRead(_ next: UInt64) -> Bool {
        if next < knownPublished { return true }
        knownPublished = header.published.pointee.load(ordering: .acquiring)       // R1
        return next < knownPublished
    }

    /// R3 and R4: whether what was copied from position `next` on is intact. If not, the
    /// reader resumes at ``resumePosition(after:)``.
    @inlinable
    mutating func copyIsIntact(from next: UInt64) -> Bool {
        atomicMemoryFence(ordering: .acquiring)                                         // R3
        if reliesOnGate {
            if header.readersVersion.pointee.load(ordering: .relaxed) == gateVersion { return true } // R4, gated
            reliesOnGate = false
        }
        let claimed = header.claimed.pointee.load(ordering: .relaxed)                   // R4
        guard next >= oldestIntact(claimed: claimed) else { return false }
        if next >= gateRetryAt { tryToRelyOnTheGate(at: next) }
        return true
    }

    /// Where a lapped reader at `next` resumes: past every position claimed for reuse.
    @usableFromInline
    func resumePosition(after next: UInt64) -> UInt64 {
        let claimed = header.claimed.pointee.load(ordering: .acquiring)
        return max(next &+ 1, oldestIntact(claimed: claimed))
    }

    /// Sets `reliesOnGate` if the writer's gate has taken this reader's record in (see above).
    @usableFromInline @inline(never)
    mutating func tryToRelyOnTheGate(at next: UInt64) {
        guard let index = gatedRecord else { return }
        gateRetryAt = next &+ Self.gateRetryInterval      // unless this try succeeds, which makes it moot
        let version = header.readersVersion.pointee.load(ordering: .acquiring)
        guard header.gateVersion.pointee.load(ordering: .acquiring) == version else { return }
        let table = ReaderTable(fileBase: header.base)
        guard table.state(index).pointee.load(ordering: .acquiring) == 1, table.pid(index) == processID,
              table.cursor(index).pointee.load(ordering: .relaxed) <= next else { return }
        // Loaded after the gate version: at least every claim made before the gate took it in.
        let claimed = header.claimed.pointee.load(ordering: .relaxed)
        guard next >= oldestIntact(claimed: claimed) else { return }
        gateVersion = version
        reliesOnGate = true
    }

    /// Positions published and not yet read from `next` (unbounded: the caller caps it).
    func unread(from next: UInt64) -> UInt64 {
        let published = header.published.pointee.load(ordering: .acquiring)
        return published > next ? published - next : 0
    }
}

/// A reader's cursor over a ring of slots: `ReadCheck` with position = sequence, plus the slot
/// it stands on, lap recovery, and waiting.
@usableFromInline
package struct RingCursor {
    @usableFromInline package let slots: SlotArray
    @usableFromInline let header: HeaderWords
    @usableFromInline var check: ReadCheck
    /// The sequence of the next item this reader will return.
    @usableFromInline package var nextSequence: UInt64
    /// Items this reader never saw because the writer overwrote them first.
    @usableFromInline package var missed: UInt64 = 0
    /// The slot of `nextSequence` (`nextSequence % length`).
    @usableFromInline var slot: UnsafeMutableRawPointer
    /// How long this reader spins before it sleeps, learnt from its recent waits.
    var spinBudget = SpinBudget()
    /// The delay a wait may add to coalesce wake-ups (see `FutexSleep`), in nanoseconds; 0: none.
    package var coalescingNanos: Int64 = 0

    package enum Start {
        case oldest, latest
        /// A named reader resuming: items overwritten since it stopped count as missed.
        case at(UInt64)
    }

    init(slots: SlotArray, header: HeaderWords, start: Start, gatedRecord: Int? = nil) {
        self.slots = slots
        self.header = header
        self.check = ReadCheck(header: header, capacity: UInt64(slots.length), gatedRecord: gatedRecord)
        nextSequence = Self.startSequence(start, header: header, slots: slots)
        slot = slots.payload(slots.index(of: nextSequence))
    }

    /// Where a new reader starting at `start` would begin.
    static func startSequence(_ start: Start, header: HeaderWords, slots: SlotArray) -> UInt64 {
        let published = header.published.pointee.load(ordering: .acquiring)
        switch start {
        case .latest: return published
        case .oldest: return min(slots.oldestIntact(claimed: header.claimed.pointee.load(ordering: .acquiring)), published)
        case .at(let sequence): return min(sequence, published)   // a cursor from the future is damage
        }
    }

    /// R3 and R4: whether the items copied from `nextSequence` on are intact. If not, the
    /// cursor has already moved past what was lost, and counted it.
    @inlinable
    mutating func copyWasIntact() -> Bool {
        if check.copyIsIntact(from: nextSequence) { return true }
        recoverFromLap()
        return false
    }

    /// Reads the next item if there is one: `copy` receives its payload bytes and must only copy
    /// them (it may see bytes the writer is changing; such a copy is discarded and the reader
    /// moves on). Returns nil when the reader has caught up with the writer.
    /// `acceptIf` may refuse a good copy: the value is returned but the cursor stays on it.
    @inlinable
    package mutating func read<T>(_ copy: (UnsafeRawPointer) -> T, acceptIf accept: (T) -> Bool = { _ in true }) -> T? {
        if _slowPath(slots.isChecked) { return readChecked(copy, acceptIf: accept) }
        while true {
            guard check.canRead(nextSequence) else { return nil }                      // R1
            let value = copy(UnsafeRawPointer(slot))                                    // R2
            guard copyWasIntact() else { continue }                                     // R3, R4
            if accept(value) {
                nextSequence &+= 1
                slot = slots.slot(after: slot)
            }
            return value
        }
    }

    /// ``read(_:acceptIf:)`` for version 4 (out of line, as ``RingPublisher/publishChecked(_:)``).
    @inlinable @inline(never)
    mutating func readChecked<T>(_ copy: (UnsafeRawPointer) -> T, acceptIf accept: (T) -> Bool) -> T? {
        while true {
            guard let word = stampedWord() else { return nil }                          // V5
            let value = copy(UnsafeRawPointer(slot))                                    // R2
            let exact = slots.vouches(word, for: slot, sequence: nextSequence)         // V6
            atomicMemoryFence(ordering: .acquiring)                                     // R3
            guard slots.word(slot).pointee.load(ordering: .relaxed) == word, exact else {  // V7
                recoverFromLap()
                continue
            }
            if accept(value) {
                nextSequence &+= 1
                slot = slots.slot(after: slot)
            }
            return value
        }
    }

    /// Reads up to `maxCount` items at once: `copy(index, count, offset)` copies items
    /// `offset ..< offset + count` of the batch from the consecutive slots from `index` (called
    /// once, or twice when the batch wraps). Returns how many were read; 0 when caught up.
    @inlinable
    package mutating func read(upTo maxCount: Int, _ copy: (_ index: Int, _ count: Int, _ offset: Int) -> Void) -> Int {
        if _slowPath(slots.isChecked) { return readChecked(upTo: maxCount, copy) }
        while true {
            let wanted = min(UInt64(maxCount), UInt64(slots.length))
            let count = Int(min(check.readable(from: nextSequence, wanting: wanted), wanted)) // R1
            guard count > 0 else { return 0 }
            let index = slots.index(at: slot)
            slots.forEachRun(from: index, count: count, copy)                           // R2
            guard copyWasIntact() else { continue }                                     // R3, R4
            nextSequence &+= UInt64(count)
            slot = slots.slot(count, after: index)
            return count
        }
    }

    /// ``read(upTo:_:)`` for version 4 (out of line).
    @inlinable @inline(never)
    mutating func readChecked(upTo maxCount: Int, _ copy: (_ index: Int, _ count: Int, _ offset: Int) -> Void) -> Int {
        let wanted = min(maxCount, slots.length)
        while true {
            guard let word = stampedWord() else { return 0 }                            // V5 for the first (which may move past a lap)
            let index = slots.index(at: slot)
            let count = stampedRun(upTo: wanted)                                        // V5 for the rest
            slots.forEachRun(from: index, count: count, copy)                           // R2
            let exact = vouchedRun(count)                                               // V6
            atomicMemoryFence(ordering: .acquiring)                                     // R3
            guard slots.word(slot).pointee.load(ordering: .relaxed) == word, exact > 0 else {  // V7, the first only
                recoverFromLap()
                continue
            }
            nextSequence &+= UInt64(exact)
            slot = slots.slot(exact, after: index)
            return exact
        }
    }

    /// V5 (version 4): the check word of `nextSequence`'s slot, loaded with acquire, if it
    /// stamps `nextSequence`: the item is complete and may be copied. If it does not, either the
    /// writer has not published it yet (nil: caught up) or it has and the slot was rewritten
    /// since (a lap, or a slot a recovery invalidated): `published` says which, and the word is
    /// loaded again after it, since the first load may have come before the writer's store.
    /// A lap is recovered from here, and the word of the new position returned (or nil).
    @inlinable
    mutating func stampedWord() -> UInt64? {
        while true {
            let word = slots.word(slot).pointee.load(ordering: .acquiring)
            if _fastPath(SlotArray.stamps(word, nextSequence)) { return word }
            guard check.canRead(nextSequence) else { return nil }                      // R1: not yet written
            let again = slots.word(slot).pointee.load(ordering: .acquiring)
            if SlotArray.stamps(again, nextSequence) { return again }
            recoverFromLap()                                                            // published, then rewritten
        }
    }

    /// V5 for the slots after `nextSequence`'s: how many consecutive sequences from it (at
    /// most `wanted`, at least 1) have their slot's word stamped for them.
    @inlinable
    func stampedRun(upTo wanted: Int) -> Int {
        var count = 1, payload = slots.slot(after: slot)
        while count < wanted, SlotArray.stamps(slots.word(payload).pointee.load(ordering: .acquiring), nextSequence &+ UInt64(count)) {
            count &+= 1
            payload = slots.slot(after: payload)
        }
        return count
    }

    /// V6 for `count` slots from `nextSequence`'s: how many of them, from the first, hold a word
    /// that vouches for their item as it lies now. (A rewrite of any slot of the run also
    /// changes the first one's word, which V7 sees; a shorter run that V7 accepts ends at damage,
    /// which the next read finds first.)
    @inlinable
    func vouchedRun(_ count: Int) -> Int {
        var payload = slot
        for k in 0..<count {
            guard slots.vouches(slots.word(payload).pointee.load(ordering: .relaxed), for: payload, sequence: nextSequence &+ UInt64(k)) else { return k }
            payload = slots.slot(after: payload)
        }
        return count
    }

    /// The item at `nextSequence` was (or is being) overwritten: skip to the oldest item that
    /// is still intact, and count every sequence skipped.
    @usableFromInline @inline(never)
    mutating func recoverFromLap() {
        let resume = check.resumePosition(after: nextSequence)
        Diagnostics.note(.readers, "a reader at sequence \(nextSequence) was lapped by the writer: it skips \(resume &- nextSequence) overwritten items to \(resume)")
        missed &+= resume &- nextSequence
        nextSequence = resume
        slot = slots.payload(slots.index(of: resume))
    }

    /// Whether an item is waiting (or was overwritten, which a read then counts).
    func hasItem() -> Bool {
        check.unread(from: nextSequence) > 0
    }

    /// Whether this cursor's R4 is the gated check (see above): for tests.
    package var reliesOnGate: Bool { check.reliesOnGate }

    /// Items available to this reader now (at most the ring's length).
    package var available: Int {
        Int(min(check.unread(from: nextSequence), UInt64(slots.length)))
    }

    /// Waits until the next item is readable (or was overwritten), at most `timeoutNanos`
    /// (negative: no limit); see `FutexSleep` for how it sleeps and why no wake-up is lost.
    /// Returns false on timeout.
    /// `orUntil` ends the wait as a readable item would (a named reader's removal under it).
    package mutating func wait(timeoutNanos: Int64, orUntil other: () -> Bool = { false }) -> Bool {
        var budget = spinBudget
        defer { spinBudget = budget }
        return FutexSleep.wait(until: { hasItem() || other() }, word: header.notify, address: header.notifyAddress,
                               request: header.waiters, acknowledged: true, budget: &budget, timeoutNanos: timeoutNanos,
                               coalescingNanos: coalescingNanos)
    }
}

