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
///
/// # The tether timeout
///
/// A buffer may record a *tether timeout* (`RingLayout.tetherNanos`, 0: off). A named reader
/// whose process is not alive, and which has held the writer back for longer than that (measured
/// from the moment the writer first found no room, across pushes, until it finds room again),
/// is *untethered*: the gate stops counting its cursor, and the writer goes on, overwriting what
/// that reader had not read. Its record keeps its cursor; when the reader is opened again,
/// `RingFile.claimReader` ties it again (``ReaderTable/Offset/untethered``), and its first read
/// counts exactly what was overwritten, as any lapped reader's does. A live reader is never
/// untethered, however slow.
///
/// All of it is on the slow path: the push's fast path (``hasKnownSpace(for:)``) is unchanged;
/// the clock is read only once the ring is full, and the reader table lock and the liveness
/// locks are examined only once the timeout has passed (then at most every
/// ``tetherLookInterval``). The writer's sleeps for room end at the tether deadline, so it
/// looks exactly then, not at the next 50 ms slice.
///
/// Why it is safe, for each party (every change below happens under the table lock, which
/// `RingFile.claimReader` holds while a reader takes its liveness lock and resumes):
///
/// - *The reader is not alive, for the whole of the change.* Under the table lock the gate
///   finds the record's liveness lock (byte `1 + k`) free with `F_OFD_GETLK`; no process can
///   take it before the gate releases the table lock, because opening a named reader takes the
///   table lock first. So nobody reads through this record while it is marked.
/// - *The mark is published before anything it allows.* The gate stores the flag, then bumps
///   the readers version (a sequentially consistent RMW, so release), then rescans the table,
///   and only then claims positions the reader had not acknowledged. A reader that relied on the
///   gate (R4 of `Publication.swift` is then a look at the readers version) cannot have been
///   alive, but one of an earlier version that opens the record later must not rely on it
///   either: while any registered record is untethered, the gate stores in `gateVersion` a
///   value that is never the readers version (its complement), so no reader of any version
///   takes the shortcut, and every read checks `claimed` (R4) and counts what it missed.
/// - *Coming back.* Under the table lock, with its liveness lock taken, the reader clears the
///   flag and bumps the readers version. The gate acquires the new version before its next
///   claim beyond its cached limit (``hasKnownSpace(for:)`` compares the version on every push)
///   and rescans: it sees the cleared flag (the bump's release orders it) and the reader's
///   cursor, which lies more than `length` behind, so it waits. The reader's first read fails
///   R4 (`claimed` is beyond its cursor plus `length`), so it jumps to the oldest intact item
///   and counts the gap; when it commits past that, the writer goes on. (A claim the writer
///   made before it acquired the new version may still overwrite the oldest items; the reader's
///   R4 counts those too: nothing torn is delivered, nothing lost goes uncounted.)
/// - *A writer or reader of an earlier version* ignores the flag: such a writer waits for the
///   untethered reader as before (its cursor is a lapped one, so until the reader returns); such
///   a reader coming back leaves the flag set and reads with R4, counting what it misses, until
///   this writer's next rescan finds its liveness lock held and ties it again itself
///   (``retetherLiveReaders()``, under the table lock, at most every 10 ms).
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
    /// The ring file's descriptor, on which the liveness and table locks are examined (-1
    /// without a tether timeout).
    let descriptor: CInt
    /// The tether timeout in nanoseconds; 0: off (see above).
    let tetherNanos: Int64
    /// When (monotonic nanoseconds) the writer first found no room since it last found some;
    /// 0 while it finds room. Kept across pushes: a writer whose pushes time out and are tried
    /// again is held back all along.
    var blockedSince: Int64 = 0
    /// The earliest time of the next look at the readers' liveness once the timeout has passed.
    var nextTetherLook: Int64 = 0
    /// The earliest time of the next look for live readers left untethered (see
    /// ``retetherLiveReaders()``).
    var nextRetetherLook: Int64 = 0
    /// How many named readers this writer untethered.
    package private(set) var untetherings = 0
    /// Whether the ring counts messages (a named reader's record then holds a sequence too).
    let countsMessages: Bool
    /// What the last rescan found contradictory in the named-reader table, or nil (see
    /// ``ReaderTable/problem(published:countsMessages:)``). A damaged table tells the writer
    /// neither which items a reader that may be running still needs nor whether room will ever
    /// come: the gate then gives no room at all (nothing is overwritten on its strength), and
    /// its waits end at once, so that the push fails with `corrupted` naming the record instead
    /// of waiting for room the damage may never give.
    @usableFromInline package private(set) var tableDamage: String?
    /// After a look that untethered nobody (the readers holding the writer back are alive, or
    /// the table lock was busy), the next look comes no sooner than this.
    static let tetherLookInterval: Int64 = 10_000_000

    package init(table: ReaderTable?, header: HeaderWords, length: Int, tetherNanos: UInt64 = 0, descriptor: CInt = -1,
                 countsMessages: Bool = false) {
        self.table = table
        self.countsMessages = countsMessages
        self.header = header
        self.length = UInt64(length)
        self.resumeRoom = UInt64(max(1, min(64, length / 4)))
        self.end = Limits.maxCount
        self.limit = table == nil ? Limits.maxCount : 0
        self.version = header.readersVersion.pointee.load(ordering: .acquiring)
        let tether = table == nil || descriptor < 0 ? 0 : Int64(clamping: min(tetherNanos, Limits.maxTetherNanos))
        self.tetherNanos = tether
        self.descriptor = tether > 0 ? descriptor : -1
    }

    /// Whether `sequence` may be written now.
    @inlinable
    package mutating func hasSpace(for sequence: UInt64) -> Bool {
        if hasKnownSpace(for: sequence) { return true }
        return look(for: sequence)
    }

    /// The slow path's look: ``refresh(for:)``, and when there is no room, the tether (see
    /// above): the moment the writer was first held back, and, once the timeout has passed
    /// since, the untethering of the dead readers that hold it.
    @usableFromInline @inline(never)
    package mutating func look(for sequence: UInt64) -> Bool {
        if refresh(for: sequence) {
            blockedSince = 0
            return true
        }
        guard tetherNanos > 0, tableDamage == nil else { return false }
        let now = Sys.monotonicNanos()
        if blockedSince == 0 { blockedSince = now }
        guard now &- blockedSince >= tetherNanos, now >= nextTetherLook else { return false }
        nextTetherLook = now &+ Self.tetherLookInterval
        guard untetherDeadReaders(holding: sequence, heldFor: now &- blockedSince) else { return false }
        if refresh(for: sequence) {
            blockedSince = 0
            return true
        }
        return false
    }

    /// When the writer, held back since ``blockedSince``, should look again at the readers it
    /// waits for (the tether deadline), or `Int64.max` if it need not wake for that.
    var tetherDeadline: Int64 {
        guard tetherNanos > 0, blockedSince != 0 else { return .max }
        let deadline = blockedSince &+ tetherNanos
        return max(deadline, nextTetherLook)
    }

    /// Untethers, under the table lock, every registered, tethered named reader whose cursor
    /// holds `sequence` back and whose process is not alive (its liveness lock is free); says
    /// so once for each. Returns whether it untethered any. A table lock held by another
    /// process (one opening a reader) is not waited for: the next look tries again.
    mutating func untetherDeadReaders(holding sequence: UInt64, heldFor nanos: Int64) -> Bool {
        guard let table, descriptor >= 0 else { return false }
        // Lock-free first: a record that holds the writer back and whose lock is free.
        func holdsBack(_ index: Int) -> Bool {
            table.state(index).pointee.load(ordering: .acquiring) == 1
                && table.untethered(index).pointee.load(ordering: .relaxed) == 0
                && table.cursor(index).pointee.load(ordering: .acquiring) &+ length <= sequence
        }
        func isDead(_ index: Int) -> Bool {
            (try? Sys.isLocked(descriptor, start: ReaderTable.lockByte(ofRecord: index)).get()) == false
        }
        let candidates = (0..<RingLayout.readerCapacity).filter { holdsBack($0) && isDead($0) }
        guard !candidates.isEmpty else { return false }
        guard (try? Sys.tryLock(descriptor, start: ReaderTable.tableLockByte).get()) == true else { return false }
        defer { Sys.unlock(descriptor, start: ReaderTable.tableLockByte) }
        var untethered: [(name: String, pid: Int32, cursor: UInt64)] = []
        // Under the table lock nobody can take a record's liveness lock: look again, then mark.
        for index in candidates where holdsBack(index) && isDead(index) {
            table.markUntethered(index, at: Sys.realtimeNanos())
            untethered.append((table.name(index) ?? "#\(index)", table.pid(index), table.cursor(index).pointee.load(ordering: .relaxed)))
        }
        guard !untethered.isEmpty else { return false }
        // Publishes the marks (release) to the rescan below and to everyone who acquires it.
        header.readersVersion.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
        untetherings += untethered.count
        let file = Sys.resolvedPath(descriptor) ?? "its ring file"
        for reader in untethered {
            Diagnostics.warn(.readers, "named reader \"\(reader.name)\" (last opened by PID \(reader.pid), not alive) held the writer of \(file) back for \(nanos / 1_000_000) ms, more than its tether timeout of \(tetherNanos / 1_000_000) ms: the writer goes on without it, overwriting from sequence \(reader.cursor) what it has not read; when it is opened again it counts what it missed and holds the writer back again")
        }
        return true
    }

    /// Whether `sequence` is below the limit the gate last computed, for the same readers: the
    /// push's fast path, which never looks at the readers' records.
    @inlinable
    package func hasKnownSpace(for sequence: UInt64) -> Bool {
        sequence < limit && header.readersVersion.pointee.load(ordering: .acquiring) == version
    }

    /// Ties again every untethered record whose process is alive: a reader of an
    /// implementation that does not clear the flag when it opens the reader (an earlier version,
    /// or another language's), or a record registered anew over a flag an earlier version left
    /// when it freed it. A live reader is never untethered, whoever opened it. Looked at no more
    /// often than every ``tetherLookInterval`` (a clock read per rescan while a record is
    /// untethered, a lock probe per untethered record per look), under the table lock as
    /// untethering is (a busy lock: the next look). Returns whether it tied any.
    mutating func retetherLiveReaders() -> Bool {
        guard let table, descriptor >= 0 else { return false }
        let now = Sys.monotonicNanos()
        guard now >= nextRetetherLook else { return false }
        nextRetetherLook = now &+ Self.tetherLookInterval
        func isFlaggedAndAlive(_ index: Int) -> Bool {
            table.state(index).pointee.load(ordering: .acquiring) == 1
                && table.untethered(index).pointee.load(ordering: .relaxed) != 0
                && (try? Sys.isLocked(descriptor, start: ReaderTable.lockByte(ofRecord: index)).get()) == true
        }
        let alive = (0..<RingLayout.readerCapacity).filter(isFlaggedAndAlive)
        guard !alive.isEmpty else { return false }
        guard (try? Sys.tryLock(descriptor, start: ReaderTable.tableLockByte).get()) == true else { return false }
        defer { Sys.unlock(descriptor, start: ReaderTable.tableLockByte) }
        var tied = false
        for index in alive where isFlaggedAndAlive(index) {
            table.untethered(index).pointee.store(0, ordering: .relaxed)
            tied = true
            Diagnostics.note(.readers, "named reader \"\(table.name(index) ?? "#\(index)")\" is open again by a live process that did not tie it: the writer waits for it again")
        }
        // Publishes the cleared flags (release), as a reader's own re-tether does.
        if tied { header.readersVersion.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent) }
        return tied
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
        let found = look(for: sequence)
        guard sequence < Limits.maxCount, tableDamage == nil else { return false }     // the end of the sequence space, not a full ring
        if timeoutNanos == 0 || (found && limit &- sequence >= resumeRoom) { return found }
        var seen = found ? limit : 0
        var budget = spinBudget
        defer { spinBudget = budget }
        let waited = FutexSleep.wait(until: {
            guard look(for: sequence) else { return tableDamage != nil }
            if limit &- sequence >= resumeRoom || limit == seen { return true }
            seen = limit
            for _ in 0..<8 { Sys.cpuRelax() }      // the next look, after the reader has moved on
            return false
        }, word: header.space, address: header.spaceAddress, request: header.writerWaiting, budget: &budget,
           timeoutNanos: timeoutNanos, lookAt: { tetherDeadline })
        return waited && tableDamage == nil
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
        // The table is read whole before any cursor in it is trusted (a second look, as at an
        // open: a record being removed or registered meanwhile can look torn for an instant).
        let published = header.published.pointee.load(ordering: .acquiring)
        if table.problem(published: published, countsMessages: countsMessages) != nil,
           let problem = table.problem(published: header.published.pointee.load(ordering: .acquiring), countsMessages: countsMessages) {
            tableDamage = problem
            limit = 0
            return false
        }
        tableDamage = nil
        var lowest = UInt64.max
        var anyUntethered = false
        for index in 0..<RingLayout.readerCapacity where table.state(index).pointee.load(ordering: .acquiring) == 1 {
            // An untethered reader (see above) no longer holds the writer back. (Relaxed: the
            // flag was published by the readers version this rescan acquired.) Without a tether
            // timeout a flag means nothing (only damage sets one): the reader holds it back.
            if tetherNanos > 0 && table.untethered(index).pointee.load(ordering: .relaxed) != 0 {
                anyUntethered = true
                continue
            }
            lowest = min(lowest, table.cursor(index).pointee.load(ordering: .acquiring))
        }
        // Without named readers nothing holds the writer back; look again after `length` items.
        // (`sequence` is within a ring of `Limits.maxCount`, so the sum stays far below 2^64.)
        limit = min(min(lowest, sequence) &+ length, Limits.maxCount)
        // Tells named readers that every write from now on respects the records of `version`
        // (see `RingCursor.tryToRelyOnTheGate`). Release: the writes before it are visible too.
        // While a record is untethered the gate does not respect every record: it stores a value
        // that is never the readers version, so that no reader relies on it (see above).
        if anyUntethered && retetherLiveReaders() { return refresh(for: sequence) }
        let advertised = anyUntethered ? ~version : version
        if header.gateVersion.pointee.load(ordering: .relaxed) != advertised {
            header.gateVersion.pointee.store(advertised, ordering: .releasing)
        }
        return sequence < limit
    }

    /// Waits until `sequence` may be written, at most `timeoutNanos` (negative: no limit);
    /// see `FutexSleep`.
    @usableFromInline
    package mutating func waitForSpace(for sequence: UInt64, timeoutNanos: Int64) -> Bool {
        if hasSpace(for: sequence) { return true }
        guard sequence < Limits.maxCount, tableDamage == nil else { return false }     // the end of the sequence space, not a full ring
        var budget = spinBudget
        defer { spinBudget = budget }
        let waited = FutexSleep.wait(until: { look(for: sequence) || tableDamage != nil }, word: header.space, address: header.spaceAddress,
                                     request: header.writerWaiting, budget: &budget, timeoutNanos: timeoutNanos,
                                     lookAt: { tetherDeadline })
        return waited && tableDamage == nil
    }
}
