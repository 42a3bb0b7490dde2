public import Synchronization
internal import SharedRingCommon
internal import SharedRingSystem

/// The `block` policy on the writer's side: never write sequence `s` while a named reader has
/// not acknowledged `s - length` (its cursor, the first sequence it has not acknowledged, must
/// stay above `s - length`).
///
/// The writer caches `limit` (sequences below it are known to be free) and the reader table's
/// version, so a push costs one comparison and one load of a read-mostly line; the table of 24
/// records is scanned only when the limit is reached or a reader came or went.
///
/// Waiting for space is `FutexSleep` with the roles swapped: the writer sleeps on `space` and
/// asks to be woken in `writerWaiting`; a named reader stores its cursor, then loads
/// `writerWaiting` and wakes the writer (named readers register for the membarrier).
///
/// A reader that registers at the oldest item of a full ring may still lose the items the writer
/// was writing at that moment (it counts them as missed); from then on nothing it has not
/// acknowledged is overwritten.
///
/// The limit is never beyond `Limits.maxCount`, under either policy: a ring file counts no
/// further (see `Limits.maxCount`), so the last positions below it are the end of the sequence
/// space, not a ring full of unconsumed items. The writers refuse a push there with a typed
/// error before they would wait (`BufferWriter`, `MessageWriter`), and the gate itself never
/// waits for room that cannot come. Cursors come from the file, so a cursor beyond `sequence`
/// (damage another process wrote after the file was opened) counts as `sequence`: no sum here
/// wraps.
@usableFromInline
package struct SpaceGate {
    @usableFromInline package let table: ReaderTable?          // nil: the overwrite policy, which never waits
    @usableFromInline package let header: HeaderWords
    @usableFromInline package let length: UInt64
    @usableFromInline package var limit: UInt64
    @usableFromInline package var version: UInt32
    /// The end of the sequence space, `Limits.maxCount`: no position at or beyond it is ever
    /// written (a stored copy, so that the writers' inlined checks read a field, not another
    /// module's constant).
    @usableFromInline package let end: UInt64
    /// The room a push that may wait lets a consuming reader free before it resumes, once it
    /// has found the ring (nearly) full: see ``makeRoom(for:timeoutNanos:)``.
    let resumeRoom: UInt64
    /// How long the writer spins before it sleeps for room, learnt from its recent waits.
    var spinBudget = SpinBudget()

    package init(table: ReaderTable?, header: HeaderWords, length: Int) {
        self.table = table
        self.header = header
        self.length = UInt64(length)
        self.resumeRoom = UInt64(max(1, min(64, length / 4)))
        self.end = Limits.maxCount
        self.limit = table == nil ? Limits.maxCount : 0
        self.version = header.readersVersion.pointee.load(ordering: .acquiring)
    }

    /// Whether `sequence` may be written now.
    @inlinable
    package mutating func hasSpace(for sequence: UInt64) -> Bool {
        if hasKnownSpace(for: sequence) { return true }
        return refresh(for: sequence)
    }

    /// Whether `sequence` is below the limit the gate last computed, for the same readers: the
    /// push's fast path, which never looks at the readers' records.
    @inlinable
    package func hasKnownSpace(for sequence: UInt64) -> Bool {
        sequence < limit && header.readersVersion.pointee.load(ordering: .acquiring) == version
    }

    /// The slow path of a push: looks at the readers' records and, unless `timeoutNanos` is 0,
    /// waits up to that long (negative: no limit) for room.
    ///
    /// When it finds a little room but less than ``resumeRoom`` and the reader that holds the
    /// writer back is still consuming (the limit moved between two looks), it lets it free that
    /// much before resuming. Each look at a record takes its cache line from the reader, whose
    /// next cursor store then misses: a writer that resumed for every slot or two freed made a
    /// fast reader pay that miss every few items (a full ring of a fast writer and a reader
    /// hardly slower is the lossless transfer's steady state). A reader that is idle or slow (the
    /// limit did not move between two looks, about 0.2 µs apart) is not waited for: the writer
    /// takes what room there is at once, as before. (Only single pushes wait this way: the same
    /// wait in 64-item batches measured 0.91x, since a batch already takes what room it finds in
    /// one publication; batches and messages wait with ``waitForSpace(for:timeoutNanos:)``.)
    @usableFromInline @inline(never)
    package mutating func makeRoom(for sequence: UInt64, timeoutNanos: Int64) -> Bool {
        let found = refresh(for: sequence)
        guard sequence < Limits.maxCount else { return false }     // the end of the sequence space, not a full ring
        if timeoutNanos == 0 || (found && limit &- sequence >= resumeRoom) { return found }
        var seen = found ? limit : 0
        var budget = spinBudget
        defer { spinBudget = budget }
        return FutexSleep.wait(until: {
            guard refresh(for: sequence) else { return false }
            if limit &- sequence >= resumeRoom || limit == seen { return true }
            seen = limit
            for _ in 0..<8 { Sys.cpuRelax() }      // the next look, after the reader has moved on
            return false
        }, word: header.space, address: header.spaceAddress, request: header.writerWaiting, budget: &budget,
           timeoutNanos: timeoutNanos)
    }

    /// How many items, from `sequence` on, may be written now (0 when the ring is full).
    @inlinable
    package mutating func room(at sequence: UInt64) -> UInt64 {
        hasSpace(for: sequence) ? limit &- sequence : 0
    }

    @usableFromInline @inline(never)
    package mutating func refresh(for sequence: UInt64) -> Bool {
        version = header.readersVersion.pointee.load(ordering: .acquiring)
        guard let table else {
            limit = Limits.maxCount
            return sequence < limit
        }
        var lowest = UInt64.max
        for index in 0..<RingLayout.readerCapacity where table.state(index).pointee.load(ordering: .acquiring) == 1 {
            lowest = min(lowest, table.cursor(index).pointee.load(ordering: .acquiring))
        }
        // Without named readers nothing holds the writer back; look again after `length` items.
        // (`sequence` is within a ring of `Limits.maxCount`, so the sum stays far below 2^64.)
        limit = min(min(lowest, sequence) &+ length, Limits.maxCount)
        // Tells named readers that every write from now on respects the records of `version`
        // (see `RingCursor.tryToRelyOnTheGate`). Release: the writes before it are visible too.
        if header.gateVersion.pointee.load(ordering: .relaxed) != version {
            header.gateVersion.pointee.store(version, ordering: .releasing)
        }
        return sequence < limit
    }

    /// Waits until `sequence` may be written, at most `timeoutNanos` (negative: no limit);
    /// see `FutexSleep`.
    @usableFromInline
    package mutating func waitForSpace(for sequence: UInt64, timeoutNanos: Int64) -> Bool {
        if hasSpace(for: sequence) { return true }
        guard sequence < Limits.maxCount else { return false }     // the end of the sequence space, not a full ring
        var budget = spinBudget
        defer { spinBudget = budget }
        return FutexSleep.wait(until: { refresh(for: sequence) }, word: header.space, address: header.spaceAddress,
                               request: header.writerWaiting, budget: &budget, timeoutNanos: timeoutNanos)
    }
}
