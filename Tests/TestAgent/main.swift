// cbuff-test-agent: a separate process for SharedRing's multi-process tests. It plays a writer,
// a reader or a racing creator, and reports on stdout one line per event, so the tests can
// synchronise on what it says (never on sleeps).
//
//   create DIR NAME ITEM_SIZE LENGTH   create NAME and close its writer
//   race DIR NAME                      wait for a line on stdin, then try to create NAME;
//                                      print "created" or "refused CODE"
//   write DIR NAME COUNT [hang|forever|batch|forever-batch]
//                                      take over NAME, push COUNT test items (or push forever);
//                                      print "pushed N"; with hang, then block until killed;
//                                      batch modes: 8-byte items whose values are their sequences
//   read DIR NAME TOTAL [slow]         open NAME at its oldest item, print "ready", read until
//                                      sequence TOTAL-1 was seen or skipped; check every item;
//                                      print "delivered=D missed=M bad=B first=F"; with slow,
//                                      do some busy work after each item (to be lapped)
//   drain DIR NAME TOTAL [READER]      like read, for 8-byte items and without allocating (as named
//                                      reader READER if given): check that each value is its
//                                      sequence; print the same report
//   latency DIR PREFIX COUNT           create COUNT buffers, then open each by name; print the
//                                      median and p99 of each, in microseconds
//   read-named DIR NAME READER COUNT [hang]
//                                      open named reader READER, print "got SEQUENCE" for each of
//                                      COUNT items (popped one at a time); with hang, then block
//                                      until killed, else close
//   tether-write DIR NAME COUNT        take NAME over, push COUNT 8-byte items (values: their
//                                      sequences) one at a time; print "pushed N longest=MS at=S
//                                      untethered=U": the longest single push in milliseconds, the
//                                      sequence it pushed, and the readers the writer untethered
//   reopen-named DIR NAME READER COUNT open named reader READER (start latest) COUNT times, each
//                                      time noting where it starts, then closing it without
//                                      reading; print "opens=O busy=B new=K positions=P1,P2,..."
//                                      (the distinct start positions, sorted)
//   register DIR NAME READER           wait for a line on stdin, open named reader READER, print
//                                      "slot K" (or "refused CODE"), then hold it until stdin ends
//   follow DIR NAME                    read NAME from its oldest item across writers coming and
//                                      going, checking every item; on a line "report" on stdin,
//                                      read what is left and print "delivered=D missed=M bad=B
//                                      next=N", then exit
//   crash-writer DIR NAME FIRST MAX    take NAME over, push FIRST messages, sync, print "synced D";
//                                      on each line "more K", push K more, print "pushed N"; then
//                                      block until killed (the crash-recovery tests)
//   list-messages DIR NAME             read NAME from its oldest message (recovering it if pending):
//                                      print "SEQUENCE HEX" per message, then "missed=M"
//   open-messages DIR NAME             open a reader of NAME (recovering it if pending), print "opened"
//   churn DIR PREFIX SECONDS SEED      for SECONDS, create, remove and list buffers PREFIX0..7 at
//                                      random; print "done ops=N errors=E" (E: unexpected errors)
//   wait-pop DIR NAME TIMEOUT_MS [COUNT]
//                                      open NAME at its latest item, print "ready", block in
//                                      pop(timeout:); print "got VALUE" or "timeout"; COUNT times
//                                      (1 if not given)
//   wake-count DIR NAME                take NAME over; for each line "push K" on stdin, push K
//                                      items and print "wakes=W": the futex wake calls this
//                                      process made so far; ends with stdin
//   wake-stress DIR NAME ROLE ROUNDS SEED [COALESCE_MS]
//                                      one side of LostWakeUpTests' ping-pong through buffers NAME-ping
//                                      and NAME-pong (created by the test): ROLE writer pushes k into
//                                      ping and waits for k on pong; echo waits for k on ping and pushes
//                                      it into pong; follower only waits for every k on ping (with a
//                                      wakeUpCoalescing of COALESCE_MS if given). Each waits a seeded
//                                      random while (0 to ~300 µs, busy) before each push and each wait,
//                                      so that sleeps begin at every point of a publish; every wait is
//                                      pop(timeout: 5 s). Prints "ready", then "done rounds=N slept=S",
//                                      or "stuck round=K" (exit 1) if a wait for an item ran out
//   follow-cost DIR NAME COUNT [events|events-here[@MS]]
//                                      open NAME at its latest item, print "ready", pop COUNT items
//                                      with pop(timeout: 10 s), or take them from events() (iterated
//                                      on the sequence's executor with events-here; @MS: with that
//                                      wakeUpCoalescing; print "got VALUE"
//                                      for each; then "switches=N", the voluntary context switches of all its
//                                      threads meanwhile), then print "barriers=B sleeps=S wakes=W":
//                                      the membarriers, futex waits and futex wake calls this process
//                                      made while following
//   idle-waiters DIR NAME COUNT MS events|pop
//                                      open COUNT readers of NAME at its latest item, each waiting
//                                      for an item: through events(), iterated by a task of its own
//                                      (on the global executor), or in pop(timeout: 60 s) on a thread
//                                      of its own; once the kernel counts COUNT sleepers on the
//                                      ring, print "switches=N" (the voluntary context switches of
//                                      all its threads over the next MS milliseconds). events: then
//                                      print "ended K ms=T" once every sequence has ended (T: the
//                                      milliseconds since the line "removed" came on stdin), or
//                                      "not ended K" after 60 s; pop: exit at the end of stdin
//   commit-count DIR NAME READER       open named reader READER, pop (and commit) every item
//                                      there is, then print "popped=P wakes=W" (as wake-count)
//   read-batch DIR NAME TOTAL [slow]   like read, for 8-byte items whose values are their
//                                      sequences, through popMany (32 a call)
//   outlive-truncation DIR NAME        hold NAME's writer and a reader; after a line on stdin,
//                                      push and pop once; print what each did, then "closed"
//   count-allocations DIR NAME COUNT   create NAME (block policy) with a named reader, warm up,
//                                      then move COUNT items through every non-allocating push
//                                      and pop; print "allocations=N generic=G messages=M control=C build=B"
//                                      (N: that loop; G: the same with push(contentsOf:) of a
//                                      range; M: messages through every push and pop of a message
//                                      buffer that returns no new array; C: one popMany(_:), which
//                                      returns a new array)
//   exit-writing DIR NAME MODE         take NAME over, push 1, print "pushed", then end without
//                                      closing the writer: MODE exit calls exit(0) (as a program
//                                      whose writer is a global ends); fork forks a child that
//                                      calls exit(0), prints "child exited" once it has, waits
//                                      for a line on stdin, then calls exit(0)
//   die-in-place DIR NAME COUNT        take NAME over, push COUNT test items with pushInPlace, print
//                                      "pushed N"; then start one more, write half of it (0xEE),
//                                      print "inside" and block there until killed
//   move-24 DIR NAME COUNT typed|bytes create NAME of 24-byte items and move COUNT items through
//                                      it in one process, one push and one pop each, as a
//                                      TypedBufferWriter/Reader of a 24-byte struct or as raw
//                                      bytes (push(bytes:) and pop(into:)); print "sum=S" (for
//                                      counting instructions per item with callgrind)
//   push-messages DIR NAME COUNT [SIZE [v3]] / pop-messages DIR NAME COUNT [SIZE [v3]]
//                                      as push-only and pop-only, with messages of SIZE bytes (64),
//                                      in a ring of format version 4 (or 3)
//   push-only DIR NAME COUNT / pop-only DIR NAME COUNT
//                                      COUNT pushes into a ring nobody reads, or COUNT pops from a full
//                                      ring, each loop a function of its own (for callgrind
//                                      --toggle-collect, against Benchmarks/callgrind-loops.c)
//   move-8 DIR NAME COUNT typed|int    the same with UInt64 items, through TypedBufferWriter/Reader
//                                      or the integer API (push(_:), popItem())
//   move-64 DIR NAME COUNT messages|slots
//                                      move COUNT 64-byte messages (or items) through a new buffer in
//                                      one process, one push and one pop each, named reader, block
//                                      policy; print "sum=S" (for callgrind)
//   map-many DIR NAME COUNT            open COUNT readers of NAME at once; print "opened COUNT", or
//                                      "refused at K: MESSAGE" for the first that fails
//   write-messages DIR NAME COUNT MAX [hang]
//                                      take message buffer NAME over, push COUNT test messages of 8
//                                      to MAX bytes; print "pushed N"; with hang, block until killed
//   read-messages DIR NAME TOTAL MAX [slow] [READER]
//                                      open NAME's messages at the oldest (as named reader READER if
//                                      given), print "ready", read until message TOTAL-1, checking
//                                      every byte and the order; print "delivered=D missed=M bad=B"
//   die-in-message DIR NAME COUNT MAX  take message buffer NAME over, push COUNT test messages, print
//                                      "pushed N", then write half of a MAX-byte message in place,
//                                      print "inside" and block there until killed
//
// Items are TestSupport's `TestItem`s: each carries its sequence and a check of it; messages
// are `TestMessage`s.
import AllocationCounter
import Foundation
import SharedRing
import SharedRingCommon
import SharedRingSystem
import Synchronization
import TestSupport

func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// RLIMIT_NOFILE, as getrlimit takes it (an enum on glibc, imported as a struct).
let RLIMIT_NOFILE_ID = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("cbuff-test-agent: \(message)\n".utf8))
    exit(2)
}

/// Whether a line (or end of input) is waiting on stdin, without blocking.
func standardInputHasData() -> Bool {
    var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
    return poll(&descriptor, 1, 0) == 1
}

let args = Array(CommandLine.arguments.dropFirst())
guard args.count >= 3 else { fail("usage: see the comment at the top of main.swift") }
let directory = DataDirectory(path: args[1])
let name = args[2]

do {
    switch args[0] {
    case "create":
        guard args.count >= 5, let itemSize = Int(args[3]), let length = Int(args[4]) else { fail("create needs ITEM_SIZE LENGTH") }
        try directory.createBuffer(name, itemSize: itemSize, length: length).close()

    case "race":
        _ = readLine()
        do {
            let writer = try directory.createBuffer(name, itemSize: 8, length: 16)
            say("created")
            writer.close()
        } catch {
            say("refused \(error.code)")
        }

    case "write":
        guard args.count >= 4, let count = UInt64(args[3]) else { fail("write needs COUNT") }
        let mode = args.count > 4 ? args[4] : ""
        var writer = try directory.takeOver(name)
        let size = writer.itemSize
        let start = writer.nextSequence
        var sequence = start
        let end = mode.hasPrefix("forever") ? UInt64.max : start + count
        while sequence < end {
            if mode == "forever-batch" {
                // Batches of 1 to 63 8-byte items whose values are their sequences, forever;
                // says "pushed COUNT" once, when at least COUNT were pushed. Stored from the
                // range one by one, so that much of the loop is spent between claim and publish.
                let values = sequence..<(sequence + 1 + sequence % 63)
                try writer.push(contentsOf: values)
                if sequence - start < count && values.upperBound - start >= count { say("pushed \(count)") }
                sequence = values.upperBound
                continue
            }
            if mode == "batch" {
                // push(contentsOf:), 16 items a call, alternately from an array (copied in one go)
                // and from a range (stored one by one): values are their sequences.
                let values = sequence..<min(sequence + 16, end)
                if sequence & 16 == 0 { try writer.push(contentsOf: Array(values)) } else { try writer.push(contentsOf: values) }
                sequence = values.upperBound
                continue
            }
            if size == 8 { try writer.push(sequence) } else { try writer.push(bytes: TestItem.bytes(sequence, size: size)) }
            sequence += 1
            if mode == "forever" && sequence - start == count { say("pushed \(count)") }
        }
        say("pushed \(writer.nextSequence)")
        if mode == "hang" {
            // Keeps the writer (and so its lock) alive until the test kills this process.
            withExtendedLifetime(writer) { while true { pause() } }
        }
        writer.close()

    case "read":
        guard args.count >= 4, let total = UInt64(args[3]) else { fail("read needs TOTAL") }
        var reader = try directory.openReader(name)
        say("ready")
        var delivered: UInt64 = 0
        var bad: UInt64 = 0
        var first: UInt64? = nil
        var previous: Int64 = Int64(reader.nextSequence) - 1
        var missedBefore = reader.missedCount
        let slow = args.count > 4 && args[4] == "slow"
        var busyWork: UInt64 = 0
        while reader.nextSequence < total {
            guard reader.wait(timeout: .seconds(30)) else { fail("no item for 30 s at sequence \(reader.nextSequence)") }
            guard let bytes = try reader.popBytes() else { continue }
            let expected = reader.nextSequence - 1
            let claimed = TestItem.sequence(of: bytes)
            // Every delivered item is intact, is the one its position says, and follows the
            // previous one exactly by the number of items the reader says it missed.
            let missedNow = reader.missedCount
            if claimed != expected || Int64(expected) != previous + 1 + Int64(missedNow - missedBefore) {
                bad += 1
                if bad <= 5 {
                    FileHandle.standardError.write(Data("bad item at \(expected): claims \(claimed.map(String.init) ?? "torn"), previous \(previous), missed +\(missedNow - missedBefore)\n".utf8))
                }
            }
            if first == nil { first = expected }
            previous = Int64(expected)
            missedBefore = missedNow
            delivered += 1
            if slow {
                for i in 0..<2_000 as Range<UInt64> { busyWork = busyWork &* 31 &+ i }
            }
        }
        if busyWork == 42 { say("") }   // keeps the busy work from being optimised away
        say("delivered=\(delivered) missed=\(reader.missedCount) bad=\(bad) first=\(first ?? 0)")

    case "read-batch":
        // popMany(into:), 32 items a call, of 8-byte items whose values are their sequences: a
        // batch whose copy overlapped a lapping write must be thrown away whole.
        guard args.count >= 4, let total = UInt64(args[3]) else { fail("read-batch needs TOTAL") }
        var reader = try directory.openReader(name)
        say("ready")
        var delivered: UInt64 = 0, bad: UInt64 = 0, busyWork: UInt64 = 0
        let slow = args.count > 4 && args[4] == "slow"
        while reader.nextSequence < total {
            guard reader.wait(timeout: .seconds(30)) else { fail("no item for 30 s at sequence \(reader.nextSequence)") }
            let batch = try reader.popMany(32)   // through popMany(into:)
            let count = batch.count
            let first = reader.nextSequence - UInt64(count)
            for i in 0..<count where batch[i] != first + UInt64(i) {
                bad += 1
                if bad <= 5 { FileHandle.standardError.write(Data("bad item at \(first + UInt64(i)): \(batch[i])\n".utf8)) }
            }
            delivered += UInt64(count)
            if slow {
                for i in 0..<20_000 as Range<UInt64> { busyWork = busyWork &* 31 &+ i }
            }
        }
        if busyWork == 42 { say("") }
        say("delivered=\(delivered) missed=\(reader.missedCount) bad=\(bad)")

    case "drain":
        guard args.count >= 4, let total = UInt64(args[3]) else { fail("drain needs TOTAL") }
        var reader = try args.count > 4 ? directory.openReader(name, named: args[4]) : directory.openReader(name)
        say("ready")
        var delivered: UInt64 = 0
        var bad: UInt64 = 0
        while reader.nextSequence < total {
            guard let value = try reader.popItem() else {
                guard reader.wait(timeout: .seconds(30)) else { fail("no item for 30 s at sequence \(reader.nextSequence)") }
                continue
            }
            if value != reader.nextSequence - 1 { bad += 1 }
            delivered += 1
        }
        say("delivered=\(delivered) missed=\(reader.missedCount) bad=\(bad) first=0")

    case "latency":
        guard args.count >= 4, let count = Int(args[3]), count > 0 else { fail("latency needs COUNT") }
        let clock = ContinuousClock()
        var creates: [Duration] = [], opens: [Duration] = []
        for i in 0..<count {
            let start = clock.now
            let writer = try directory.createBuffer("\(name)\(i)", itemSize: 8, length: 1024)
            creates.append(clock.now - start)
            writer.close()
        }
        for i in 0..<count {
            let start = clock.now
            let reader = try directory.openReader("\(name)\(i)")
            opens.append(clock.now - start)
            reader.close()
        }
        func micros(_ samples: [Duration], _ quantile: Double) -> String {
            let sorted = samples.sorted()
            let d = sorted[min(sorted.count - 1, Int(Double(sorted.count) * quantile))]
            return String(format: "%.0f", Double(d.components.attoseconds) / 1e12 + Double(d.components.seconds) * 1e6)
        }
        say("create_median_us=\(micros(creates, 0.5)) create_p99_us=\(micros(creates, 0.99)) open_median_us=\(micros(opens, 0.5)) open_p99_us=\(micros(opens, 0.99))")

    case "tether-write":
        guard args.count >= 4, let count = UInt64(args[3]) else { fail("tether-write needs COUNT") }
        var writer = try directory.takeOver(name)
        var longest = Duration.zero
        var longestAt: UInt64 = 0
        for _ in 0..<count {
            let sequence = writer.nextSequence
            let started = ContinuousClock.now
            try writer.push(sequence)
            let took = ContinuousClock.now - started
            if took > longest { (longest, longestAt) = (took, sequence) }
        }
        let milliseconds = Double(longest.components.seconds) * 1000 + Double(longest.components.attoseconds) / 1e15
        say("pushed \(writer.nextSequence) longest=\(Int(milliseconds)) at=\(longestAt) untethered=\(writer.untetheredReaders)")
        writer.close()

    case "reopen-named":
        guard args.count >= 5, let count = Int(args[4]) else { fail("reopen-named needs READER COUNT") }
        var positions = Set<UInt64>()
        var busy = 0, new = 0
        for _ in 0..<count {
            do {
                var reader = try directory.openReader(name, named: args[3], start: .latest)
                reader.commitsOnRead = false
                positions.insert(reader.nextSequence)
                if reader.isNewlyRegistered { new += 1 }
                reader.close()
            } catch where error.code == .readerBusy || error.code == .notFound {
                busy += 1
            } catch {
                fail("reopen-named: \(error)")
            }
        }
        say("opens=\(count) busy=\(busy) new=\(new) positions=\(positions.sorted().map(String.init).joined(separator: ","))")

    case "read-named":
        guard args.count >= 5, let count = Int(args[4]) else { fail("read-named needs READER COUNT") }
        var reader = try directory.openReader(name, named: args[3])
        for _ in 0..<count {
            guard reader.wait(timeout: .seconds(30)), let bytes = try reader.popBytes() else { fail("no item for 30 s") }
            say("got \(TestItem.sequence(of: bytes).map(String.init) ?? "torn") at \(reader.nextSequence - 1)")
        }
        if args.count > 5 && args[5] == "hang" {
            withExtendedLifetime(reader) { while true { pause() } }
        }
        reader.close()

    case "register":
        guard args.count >= 4 else { fail("register needs READER") }
        _ = readLine()
        do {
            let reader = try directory.openReader(name, named: args[3])
            let slot = try directory.status(of: name).ring?.readers.first { $0.name == args[3] }?.slot
            say("slot \(slot.map(String.init) ?? "?")")
            while readLine() != nil {}
            reader.close()
        } catch {
            say("refused \(error.code)")
        }

    case "follow":
        var reader = try directory.openReader(name)
        say("ready")
        var delivered: UInt64 = 0, bad: UInt64 = 0
        var missedBefore = reader.missedCount
        var previous = Int64(reader.nextSequence) - 1
        func drain() throws(CBuffError) {
            while let bytes = try reader.popBytes() {
                let expected = reader.nextSequence - 1
                let missedNow = reader.missedCount
                if TestItem.sequence(of: bytes) != expected || Int64(expected) != previous + 1 + Int64(missedNow - missedBefore) {
                    bad += 1
                }
                previous = Int64(expected)
                missedBefore = missedNow
                delivered += 1
                if delivered & 4095 == 0 && standardInputHasData() { return }
            }
        }
        while true {
            try drain()
            if standardInputHasData() {
                _ = readLine()
                try drain()
                say("delivered=\(delivered) missed=\(reader.missedCount) bad=\(bad) next=\(reader.nextSequence)")
                break
            }
            _ = reader.wait(timeout: .milliseconds(20))
        }

    case "outlive-truncation":
        // Holds NAME's writer and a reader; after a line on stdin (the test truncates the file
        // meanwhile) pushes and pops once more, and says what each did.
        var writer = try directory.takeOver(name)
        var reader = try directory.openReader(name)
        try writer.push(1)
        guard try reader.popItem() == 1 else { fail("the first item did not come back") }
        say("ready")
        _ = readLine()
        do { try writer.push(2); say("pushed") } catch { say("push \(error.code)") }
        do { say("popped \(try reader.popItem().map(String.init) ?? "nothing")") } catch { say("pop \(error.code)") }
        writer.close()
        reader.close()
        say("closed")

    case "count-allocations":
        guard args.count >= 4, let count = UInt64(args[3]) else { fail("count-allocations needs COUNT") }
        guard cbuff_allocations_are_counted() != 0 else {
            say("allocations=unknown: this build runs under a sanitizer, whose runtime owns malloc")
            break
        }
        var writer = try directory.createBuffer(name, itemSize: 8, length: 1024, policy: .block)
        var reader = try directory.openReader(name, named: "counted")
        var batch = [UInt64](repeating: 0, count: 64)
        var sum: UInt64 = 0
        let warmUp: UInt64 = 64 * 1000
        // Two loops: the concrete APIs, then the generic ones (push(contentsOf:) of a range,
        // pushInPlace, withNextItem), whose code allocates when it is not specialized (in a debug build);
        // optimized, it must not either.
        var counts: [UInt64] = [0, 0]
        for generic in [false, true] {
            var before: UInt64 = 0
            for first in stride(from: UInt64(0), to: warmUp + count, by: 64) {
                if first == warmUp { before = UInt64(cbuff_allocation_count()) }
                try writer.push(first)
                _ = try writer.tryPush(first + 1)
                if generic {
                    try writer.pushInPlace { $0.storeBytes(of: (first + 2).littleEndian, as: UInt64.self) }
                } else {
                    _ = try writer.push(first + 2, timeout: .seconds(1))
                }
                if generic {
                    try writer.push(contentsOf: first + 3 ..< first + 64)
                } else {
                    for i in 3..<64 { batch[i] = first + UInt64(i) }
                    try batch.withUnsafeBufferPointer { buffer throws(CBuffError) in try writer.push(contentsOf: UnsafeBufferPointer(rebasing: buffer[3...])) }
                }
                sum &+= try reader.popItem() ?? 0
                _ = try reader.pop(timeout: .seconds(1))
                if generic { sum &+= try reader.withNextItem { $0.load(as: UInt64.self) } ?? 0 }
                let popped = try batch.withUnsafeMutableBufferPointer { buffer throws(CBuffError) in try reader.popMany(into: buffer) }
                sum &+= UInt64(popped)
                reader.commit()
            }
            counts[generic ? 1 : 0] = UInt64(cbuff_allocation_count()) - before
        }
        // Messages: every push and pop that returns no new array, named reader, block policy.
        var messages = try directory.createMessageBuffer(name + "-messages", capacity: 1 << 16, maxMessageSize: 256, policy: .block)
        var messageReader = try directory.openMessageReader(name + "-messages", named: "counted")
        let message = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)
        defer { message.deallocate() }
        message.initializeMemory(as: UInt8.self, repeating: 7)
        var messageCount: UInt64 = 0
        for round in UInt64(0)..<((warmUp + count) / 8) {
            if round == warmUp / 8 { messageCount = UInt64(cbuff_allocation_count()) }
            let length = Int(round % 200)
            try messages.push(UnsafeRawBufferPointer(rebasing: message[..<length]))
            _ = try messages.tryPush(UnsafeRawBufferPointer(rebasing: message[..<8]))
            _ = try messages.push(UnsafeRawBufferPointer(message), timeout: .seconds(1))
            try messages.pushInPlace(length: 16) { $0.storeBytes(of: round, as: UInt64.self) }
            try messages.pushInPlace(upTo: 64) { bytes in bytes.storeBytes(of: round, as: UInt64.self); return 8 }
            for _ in 0..<3 { sum &+= try messageReader.pop(into: message).map { UInt64($0.count) } ?? 0 }
            sum &+= try messageReader.withNextMessage { UInt64($0.count) }?.value ?? 0
            sum &+= try messageReader.withNextMessage { UInt64($0.count) }?.value ?? 0
            messageReader.commit()
        }
        messageCount = UInt64(cbuff_allocation_count()) - messageCount
        // The control: popMany(_:) returns a new array, so this one must be counted.
        let control = UInt64(cbuff_allocation_count())
        try writer.push(1)
        sum &+= UInt64(try reader.popMany(10).count)
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        say("allocations=\(counts[0]) generic=\(counts[1]) messages=\(messageCount) control=\(UInt64(cbuff_allocation_count()) - control) build=\(build) sum=\(sum)")

    case "churn":
        guard args.count >= 5, let seconds = Double(args[3]), let seed = UInt64(args[4]) else { fail("churn needs SECONDS SEED") }
        var random = SplitMix64(seed: seed)
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var operations = 0, errors = 0
        while ContinuousClock.now < end {
            let target = "\(name)\(random.next() % 8)"
            do {
                switch random.next() % 3 {
                case 0: try directory.createBuffer(target, itemSize: 8, length: 16).close()
                case 1: try directory.removeBuffer(target)
                default: _ = try directory.statuses()
                }
            } catch {
                // Losing a race is expected; anything else is a finding.
                if ![.bufferAlreadyCreated, .notFound, .writerBusy].contains(error.code) {
                    errors += 1
                    FileHandle.standardError.write(Data("churn: \(error)\n".utf8))
                }
            }
            operations += 1
        }
        say("done ops=\(operations) errors=\(errors)")

    case "move-24":
        guard args.count >= 5, let count = UInt64(args[3]) else { fail("move-24 needs COUNT typed|bytes") }
        struct Item24: BitwiseCopyable { var a: UInt64; var b: Double; var c: UInt32 }
        var sum: UInt64 = 0
        if args[4] == "typed" {
            var writer = try directory.createBuffer(name, of: Item24.self, length: 1024)
            var reader = try directory.openReader(name, of: Item24.self)
            for i in 0..<count {
                try writer.push(Item24(a: i, b: 0.5, c: 3))
                sum &+= try reader.pop()?.a ?? 0
            }
        } else {
            var writer = try directory.createBuffer(name, itemSize: 24, length: 1024)
            var reader = try directory.openReader(name)
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 24, alignment: 8)
            defer { bytes.deallocate() }
            bytes.initializeMemory(as: UInt8.self, repeating: 0)
            for i in 0..<count {
                bytes.storeBytes(of: i, as: UInt64.self)
                try writer.push(bytes: UnsafeRawBufferPointer(bytes))
                if try reader.pop(into: bytes) { sum &+= bytes.load(as: UInt64.self) }
            }
        }
        say("sum=\(sum)")

    case "push-only", "pop-only":
        // For callgrind --toggle-collect: N pushes of 8-byte integers into a ring nobody reads
        // (overwrite), or N pops from a ring filled with N items first; each loop in a function
        // of its own (cbuffPushLoop, cbuffPopLoop) so that only it is counted.
        // With "lossless" (a 5th argument): the `block` policy, and a named reader popping (it
        // acknowledges as it goes), as cbuff-bench's lossless transfer runs them.
        guard args.count >= 4, let count = Int(args[3]) else { fail("\(args[0]) needs COUNT") }
        // With "checked" (a 7th argument): a ring of version 4, a check word in every slot.
        let lossless = args.count >= 5 && args[4] == "lossless"
        var writer = try directory.createBuffer(name, itemSize: 8, length: max(1024, args[0] == "pop-only" ? count : 1024),
                                                policy: lossless ? .block : .overwrite, integrity: args.count >= 7 && args[6] == "checked" ? .checked : .unchecked)
        // With "batch" (a 6th argument): 64 items per call, push(contentsOf:) of a range and
        // popMany(into:), as cbuff-bench's batch64 transfer runs them.
        let batched = args.count >= 6 && args[5] == "batch"
        if args[0] == "push-only" {
            try batched ? cbuffPushBatchLoop(&writer, count) : cbuffPushLoop(&writer, count)
            say("pushed \(writer.nextSequence)")
        } else {
            try writer.push(contentsOf: UInt64(0)..<UInt64(count))
            var reader = lossless ? try directory.openReader(name, named: "counted") : try directory.openReader(name)
            say("sum=\(try batched ? cbuffPopBatchLoop(&reader, count) : cbuffPopLoop(&reader, count))")
        }

    case "push-messages", "pop-messages":
        // For callgrind --toggle-collect, as "push-only" and "pop-only" for messages: N pushes of
        // 64-byte messages into a ring nobody reads (overwrite, 32 MiB: wrapped, so every push
        // walks the tail), or N pops by a named reader (as cbuff-bench's messages transfer)
        // from a ring that holds them all.
        // A 5th argument sets the message's size (default 64 bytes); "v3" as a 6th, the ring's
        // format: version 3's records, without a check word (default: version 4's).
        guard args.count >= 4, let count = Int(args[3]) else { fail("\(args[0]) needs COUNT") }
        let size = args.count >= 5 ? Int(args[4]) ?? 64 : 64
        let records: MessageRecordFormat = args.count >= 6 && args[5] == "v3" ? .unchecked : .newest
        var writer = try directory.createMessageBuffer(name, capacity: args[0] == "pop-messages" ? 1 << 27 : 1 << 25,
                                                       maxMessageSize: max(size, 256), records: records)
        if args[0] == "push-messages" {
            try cbuffPushMessageLoop(&writer, count, size: size)
            say("pushed \(writer.nextSequence)")
        } else {
            try cbuffPushMessageLoop(&writer, count, size: size)
            var reader = try directory.openMessageReader(name, named: "counted")
            say("sum=\(try cbuffPopMessageLoop(&reader, count))")
        }

    case "move-8":
        guard args.count >= 5, let count = UInt64(args[3]) else { fail("move-8 needs COUNT typed|int") }
        // UInt64 through the typed API and through the integer API: one push and one pop each.
        var sum: UInt64 = 0
        if args[4] == "typed" {
            var writer = try directory.createBuffer(name, of: UInt64.self, length: 1024)
            var reader = try directory.openReader(name, of: UInt64.self)
            for i in 0..<count {
                try writer.push(i)
                sum &+= try reader.pop() ?? 0
            }
        } else {
            var writer = try directory.createBuffer(name, itemSize: 8, length: 1024)
            var reader = try directory.openReader(name)
            for i in 0..<count {
                try writer.push(i)
                sum &+= try reader.popItem() ?? 0
            }
        }
        say("sum=\(sum)")

    case "move-64":
        guard args.count >= 5, let count = UInt64(args[3]) else { fail("move-64 needs COUNT messages|slots") }
        // One 64-byte push and one pop each, named reader, block policy: as cbuff-bench's
        // `messages` and `sizes` transfers, in one process (for callgrind).
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { bytes.deallocate() }
        bytes.initializeMemory(as: UInt8.self, repeating: 0xA5)
        var sum: UInt64 = 0
        if args[4] == "messages" {
            var writer = try directory.createMessageBuffer(name, capacity: 1 << 19, maxMessageSize: 64, policy: .block)
            var reader = try directory.openMessageReader(name, named: "counted")
            for i in 0..<count {
                bytes.storeBytes(of: i, as: UInt64.self)
                try writer.push(UnsafeRawBufferPointer(bytes))
                if let read = try reader.pop(into: bytes) { sum &+= read.sequence }
            }
        } else {
            var writer = try directory.createBuffer(name, itemSize: 64, length: 8192, policy: .block)
            var reader = try directory.openReader(name, named: "counted")
            for i in 0..<count {
                bytes.storeBytes(of: i, as: UInt64.self)
                try writer.push(bytes: UnsafeRawBufferPointer(bytes))
                if try reader.pop(into: bytes) { sum &+= bytes.load(as: UInt64.self) }
            }
        }
        say("sum=\(sum)")

    case "die-in-place":
        guard args.count >= 4, let count = UInt64(args[3]) else { fail("die-in-place needs COUNT") }
        var writer = try directory.takeOver(name)
        let size = writer.itemSize
        for sequence in writer.nextSequence..<(writer.nextSequence + count) {
            let bytes = TestItem.bytes(sequence, size: size)
            try writer.pushInPlace { slot in slot.copyBytes(from: bytes) }
        }
        say("pushed \(writer.nextSequence)")
        try writer.pushInPlace { slot in
            for i in 0..<(size / 2) { slot[i] = 0xEE }
            say("inside")
            while true { pause() }
        }

    case "write-messages", "die-in-message":
        guard args.count >= 5, let count = UInt64(args[3]), let max = Int(args[4]) else { fail("\(args[0]) needs COUNT MAX") }
        var writer = try directory.takeOverMessages(name)
        let end = writer.nextSequence + count
        while writer.nextSequence < end { try writer.push(TestMessage.bytes(writer.nextSequence, max: max)) }
        say("pushed \(writer.nextSequence)")
        if args[0] == "die-in-message" {
            try writer.pushInPlace(length: max) { bytes in
                for i in 0..<(max / 2) { bytes[i] = 0xEE }
                say("inside")
                while true { pause() }
            }
        }
        if args.count > 5, args[5] == "hang" { while true { pause() } }

    case "crash-writer":
        // Take over NAME, push FIRST messages (TestMessage, at most MAX bytes), sync, print
        // "synced N"; then for each line "more K" on stdin push K more and print "pushed N".
        // The test snapshots the file between the steps and kills this process at the end.
        guard args.count >= 5, let first = UInt64(args[3]), let max = Int(args[4]) else { fail("crash-writer needs FIRST MAX") }
        var writer = try directory.takeOverMessages(name)
        for _ in 0..<first { try writer.push(TestMessage.bytes(writer.nextSequence, max: max)) }
        say("synced \(try writer.sync())")
        while let line = readLine(), line.hasPrefix("more "), let more = UInt64(line.dropFirst(5)) {
            for _ in 0..<more { try writer.push(TestMessage.bytes(writer.nextSequence, max: max)) }
            say("pushed \(writer.nextSequence)")
        }
        while true { pause() }

    case "open-messages":
        // Open a reader of NAME (which recovers it if a crash left it needing that; tests kill
        // this process inside the recovery with CBUFF_TEST_KILL_AT), then print "opened".
        _ = try directory.openMessageReader(name)
        say("opened")

    case "list-messages":
        // Open a reader of NAME at its oldest message (recovering it if pending), print
        // "SEQUENCE HEX" for each message there is, then "missed=M next=N".
        var reader = try directory.openMessageReader(name)
        while let message = try reader.pop() {
            say("\(message.sequence) " + message.bytes.map { String(format: "%02x", $0) }.joined())
        }
        say("missed=\(reader.missedCount)")

    case "read-messages":
        guard args.count >= 5, let total = UInt64(args[3]), let max = Int(args[4]) else { fail("read-messages needs TOTAL MAX") }
        let slow = args.count > 5 && args[5] == "slow"
        let readerName = args.count > 6 ? args[6] : (args.count > 5 && args[5] != "slow" ? args[5] : nil)
        var reader = if let readerName { try directory.openMessageReader(name, named: readerName) } else { try directory.openMessageReader(name) }
        say("ready")
        var delivered: UInt64 = 0, bad: UInt64 = 0
        var last: UInt64?
        var spin: UInt64 = 0
        while last.map({ $0 < total - 1 }) ?? true {
            guard let message = try reader.pop(timeout: .seconds(30)) else { fail("no message for 30 s after \(String(describing: last))") }
            if !TestMessage.check(message.bytes, sequence: message.sequence, max: max) || (last.map { message.sequence <= $0 } ?? false) { bad += 1 }
            last = message.sequence
            delivered += 1
            if slow { for i in 0..<2_000 { spin &+= UInt64(i) &* message.sequence } }
        }
        say("delivered=\(delivered) missed=\(reader.missedCount) bad=\(bad)\(spin == 1 ? " " : "")")

    case "exit-writing":
        guard args.count >= 4 else { fail("exit-writing needs MODE") }
        var writer = try directory.takeOver(name)
        try writer.push(1)
        // The writer lives until exit (a non-copyable value's life may otherwise end at its
        // last use): exit(0) comes before any deinit, as it does for a global.
        withExtendedLifetime(writer) {
            say("pushed")
            if args[3] == "fork" {
                let child = fork()
                if child == 0 { exit(0) }   // runs this process's exit handlers, in the child
                var status: Int32 = 0
                waitpid(child, &status, 0)
                say("child exited")
                _ = readLine()
            }
            exit(0)
        }

    case "map-many":
        guard args.count >= 4, let count = Int(args[3]) else { fail("map-many needs COUNT") }
        // Each reader holds a descriptor: raise the soft limit as far as the hard one allows.
        var limit = rlimit()
        getrlimit(RLIMIT_NOFILE_ID, &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(RLIMIT_NOFILE_ID, &limit)
        guard limit.rlim_cur >= rlim_t(count + 64) else {
            say("skipped: the open-file limit is \(limit.rlim_cur)")
            exit(0)
        }
        var readers: [SharedCircularBuffer] = []
        for index in 0..<count {
            do {
                readers.append(try SharedCircularBuffer(name: name, directory: directory))
            } catch {
                say("refused at \(index): \(error.message)")
                exit(0)
            }
        }
        say("opened \(readers.count)")

    case "wait-pop":
        guard args.count >= 4, let milliseconds = Int(args[3]) else { fail("wait-pop needs TIMEOUT_MS") }
        let count = args.count >= 5 ? Int(args[4]) ?? 1 : 1
        var reader = try directory.openReader(name, start: .latest)
        say("ready")
        for _ in 0..<count {
            if let value = try reader.pop(timeout: .milliseconds(milliseconds)) {
                say("got \(value)")
            } else {
                say("timeout")
            }
        }

    case "wake-count":
        var writer = try directory.takeOver(name)
        while let line = readLine() {
            guard line.hasPrefix("push "), let count = UInt64(line.dropFirst(5)) else { fail("wake-count reads \"push K\" lines") }
            for value in 0..<count { try writer.push(value) }
            say("wakes=\(Sys.futexWakeCalls.load(ordering: .relaxed))")
        }
        writer.close()

    case "follow-cost":
        guard args.count >= 4, let count = Int(args[3]) else { fail("follow-cost needs COUNT") }
        var reader = try directory.openReader(name, start: .latest)
        let barriers = Sys.globalBarrierCalls.load(ordering: .relaxed), sleeps = Sys.futexWaitCalls.load(ordering: .relaxed)
        let wakes = Sys.futexWakeCalls.load(ordering: .relaxed)
        let mode = args.count >= 5 ? args[4].split(separator: "@").map(String.init) : []
        if let kind = mode.first, kind == "events" || kind == "events-here" {
            if mode.count == 2, let milliseconds = Int(mode[1]) { reader.wakeUpCoalescing = .milliseconds(milliseconds) }
            let events = reader.events()
            // `events-here`: the task runs on the sequence's own thread.
            let executor: (any TaskExecutor)? = kind == "events-here" ? events.executor : nil
            say("ready")
            let finished = DispatchSemaphore(value: 0)
            let switches = contextSwitches()
            defer { say("switches=\(contextSwitches() - switches)") }
            Task.detached(executorPreference: executor) {     // not on the main actor, whose thread waits below
                var received = 0
                do {
                    for try await event in events {
                        guard case .item(_, let value) = event else { fail("unexpected \(event)") }
                        say("got \(value)")
                        received += 1
                        if received == count { break }
                    }
                } catch { fail("\(error)") }
                finished.signal()
            }
            guard finished.wait(timeout: .now() + 60) == .success else { fail("no item for 60 s") }
        } else {
            say("ready")
            for _ in 0..<count {
                guard let value = try reader.pop(timeout: .seconds(10)) else { fail("no item for 10 s") }
                say("got \(value)")
            }
        }
        say("barriers=\(Sys.globalBarrierCalls.load(ordering: .relaxed) - barriers) sleeps=\(Sys.futexWaitCalls.load(ordering: .relaxed) - sleeps) wakes=\(Sys.futexWakeCalls.load(ordering: .relaxed) - wakes)")

    case "idle-waiters":
        guard args.count == 6, let count = Int(args[3]), let milliseconds = UInt32(args[4]), ["events", "pop"].contains(args[5]) else {
            fail("idle-waiters needs COUNT MS events|pop")
        }
        let ended = Atomic<Int>(0)
        if args[5] == "events" {
            for _ in 0..<count {
                let events = Unchecked(try directory.openReader(name, start: .latest).events())
                Task.detached {
                    do {
                        for try await event in events.value { fail("unexpected \(event)") }
                    } catch { fail("\(error)") }
                    ended.add(1, ordering: .releasing)
                }
            }
        } else {
            for _ in 0..<count {
                let reader = Unchecked(try directory.openReader(name, start: .latest))
                Thread.detachNewThread {
                    do {
                        while true { if let value = try reader.value.pop(timeout: .seconds(60)) { fail("unexpected \(value)") } }
                    } catch { fail("\(error)") }
                }
            }
        }
        guard eventually(within: 30, { (try? directory.status(of: name).ring?.sleepingReaders) == UInt32(count) }) else {
            fail("the waiters never all slept on the ring")
        }
        let switches = contextSwitches()
        usleep(milliseconds * 1_000)
        say("switches=\(contextSwitches() - switches)")
        guard args[5] == "events" else {
            while readLine() != nil {}
            exit(0)
        }
        guard readLine() == "removed" else { fail("idle-waiters events waits for a line \"removed\"") }
        let removed = ContinuousClock.now
        if eventually(within: 60, { ended.load(ordering: .acquiring) == count }) {
            say("ended \(count) ms=\((ContinuousClock.now - removed).components.seconds * 1_000 + (ContinuousClock.now - removed).components.attoseconds / 1_000_000_000_000_000)")
        } else {
            say("not ended \(count - ended.load(ordering: .acquiring))")
        }

    case "wake-stress":
        guard args.count >= 6, let rounds = Int(args[4]), let seed = UInt64(args[5]) else { fail("wake-stress needs ROLE ROUNDS SEED") }
        var random = SplitMix64(seed: seed)
        /// Busy for a random while: up to ~300 µs, but most often a few µs, where the races are.
        func jitter() {
            let roll = random.next() % 100
            let spins = roll < 40 ? 0 : roll < 80 ? random.next() % 2_000 : random.next() % 40_000
            var x: UInt64 = 0
            for i in 0..<spins { x &+= i; Sys.cpuRelax() }
            withExtendedLifetime(x) {}
        }
        func waitFor(_ reader: inout BufferReader, _ k: Int) throws(CBuffError) {
            guard let value = try reader.pop(timeout: .seconds(5)) else {
                say("stuck round=\(k)")
                exit(1)
            }
            guard value == UInt64(k) else { fail("round \(k) received \(value)") }
        }
        let before = Sys.futexWaitCalls.load(ordering: .relaxed)
        switch args[3] {
        case "writer":
            var ping = try directory.takeOver("\(name)-ping")
            var pong = try directory.openReader("\(name)-pong", start: .oldest)
            say("ready")
            for k in 0..<rounds {
                jitter()
                try ping.push(UInt64(k))
                jitter()
                try waitFor(&pong, k)
            }
            ping.close()
        case "echo":
            var ping = try directory.openReader("\(name)-ping", start: .oldest)
            var pong = try directory.takeOver("\(name)-pong")
            say("ready")
            for k in 0..<rounds {
                jitter()
                try waitFor(&ping, k)
                jitter()
                try pong.push(UInt64(k))
            }
            pong.close()
        case "follower":
            var ping = try directory.openReader("\(name)-ping", start: .oldest)
            if args.count >= 7, let milliseconds = Int(args[6]) { ping.wakeUpCoalescing = .milliseconds(milliseconds) }
            say("ready")
            for k in 0..<rounds {
                jitter()
                try waitFor(&ping, k)
            }
        default:
            fail("wake-stress ROLE is writer, echo or follower")
        }
        say("done rounds=\(rounds) slept=\(Sys.futexWaitCalls.load(ordering: .relaxed) - before)")

    case "commit-count":
        guard args.count >= 4 else { fail("commit-count needs READER") }
        var reader = try directory.openReader(name, named: args[3])
        var popped = 0
        while try reader.popItem() != nil { popped += 1 }
        say("popped=\(popped) wakes=\(Sys.futexWakeCalls.load(ordering: .relaxed))")
        reader.close()

    default:
        fail("unknown command \(args[0])")
    }
} catch {
    say("error \(error.code): \(error)")
    exit(1)
}

/// N single pushes (see "push-only").
@inline(never)
func cbuffPushLoop(_ writer: inout BufferWriter, _ count: Int) throws(CBuffError) {
    for value in 0..<UInt64(count) { try writer.push(value) }
}

/// N pushes of messages of `size` bytes (see "push-messages"). 64 is a constant in the loop, as it
/// was before the size could be chosen (the copy of a known size inlines), so that the counts of
/// 64-byte pushes stay comparable with earlier ones.
@inline(never)
func cbuffPushMessageLoop(_ writer: inout MessageWriter, _ count: Int, size: Int = 64) throws(CBuffError) {
    if size == 64 { try pushMessages(&writer, count, size: 64) } else { try pushMessages(&writer, count, size: size) }
}

@inline(__always)
func pushMessages(_ writer: inout MessageWriter, _ count: Int, size: Int) throws(CBuffError) {
    var message = [UInt8](repeating: 0xA5, count: size)
    let outcome = message.withUnsafeMutableBytes { bytes in
        Result { () throws(CBuffError) in
            for sequence in 0..<UInt64(count) {
                bytes.storeBytes(of: sequence.littleEndian, as: UInt64.self)
                try writer.push(UnsafeRawBufferPointer(bytes))
            }
        }
    }
    try outcome.get()
}

/// N pops of messages into a caller's buffer (see "pop-messages"); the sum of their first words.
@inline(never)
func cbuffPopMessageLoop(_ reader: inout MessageReader, _ count: Int) throws(CBuffError) -> UInt64 {
    var message = [UInt8](repeating: 0, count: 4096)
    let outcome = message.withUnsafeMutableBytes { bytes in
        Result { () throws(CBuffError) -> UInt64 in
            var sum: UInt64 = 0
            for _ in 0..<count {
                if try reader.pop(into: bytes) != nil { sum &+= UInt64(littleEndian: bytes.load(as: UInt64.self)) }
            }
            return sum
        }
    }
    return try outcome.get()
}

/// N pushes, 64 per call (see "push-only").
@inline(never)
func cbuffPushBatchLoop(_ writer: inout BufferWriter, _ count: Int) throws(CBuffError) {
    var next: UInt64 = 0
    while next < UInt64(count) {
        let end = min(next + 64, UInt64(count))
        try writer.push(contentsOf: next..<end)
        next = end
    }
}

/// N pops, up to 64 per call (see "pop-only").
@inline(never)
func cbuffPopBatchLoop(_ reader: inout BufferReader, _ count: Int) throws(CBuffError) -> UInt64 {
    var sum: UInt64 = 0, popped = 0
    var batch = [UInt64](repeating: 0, count: 64)
    try batch.withUnsafeMutableBufferPointer { (buffer) throws(CBuffError) in
        while popped < count {
            let n = try reader.popMany(into: buffer)
            if n == 0 { break }
            for value in buffer[..<n] { sum &+= value }
            popped += n
        }
    }
    return sum
}

/// N single pops (see "pop-only").
@inline(never)
func cbuffPopLoop(_ reader: inout BufferReader, _ count: Int) throws(CBuffError) -> UInt64 {
    var sum: UInt64 = 0
    for _ in 0..<count { sum &+= try reader.popItem() ?? 0 }
    return sum
}

/// The voluntary context switches (a thread went to sleep) of every thread of this process so
/// far: the ones preemption adds on a loaded host are not the follower's doing.
func contextSwitches() -> Int {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.reduce(0) { total, task in
        let status = (try? String(contentsOfFile: "/proc/self/task/\(task)/status", encoding: .utf8)) ?? ""
        return total + status.split(separator: "\n").reduce(0) { sum, line in
            guard line.hasPrefix("voluntary_ctxt_switches:") else { return sum }
            return sum + (Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0)
        }
    }
}

/// A value handed to the one task or thread that uses it (a reader, an event sequence).
final class Unchecked<Value: ~Copyable>: @unchecked Sendable {
    var value: Value
    init(_ value: consuming Value) { self.value = value }
}
