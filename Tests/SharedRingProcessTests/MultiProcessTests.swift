import Foundation
import Synchronization
import Testing
import TestSupport
@testable import SharedRing
import SharedRingProtocol
import SharedRingRegistry
import Spawning

/// The guarantees about processes (SharedRing.docc/Guarantees.md), with real separate processes (cbuff-test-agent). The tests
/// synchronise on what the agents print and on the buffer itself, never on sleeps.
@Suite(.serialized) struct MultiProcessTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// Each of the tests below with an argument `checked` runs over a ring of version 3's slots
    /// and over one of version 4's, a check word in every slot (`Publication.swift`).
    @Test(arguments: [false, true])
    func aWriterProcessAndTwoReaderProcessesMoveAMillionItems(checked: Bool) throws {
        let total = 1_000_000
        try directory.createBuffer("million", itemSize: 8, length: 1 << 20, integrity: checked ? .checked : .unchecked).close()
        let readers = try (0..<2).map { _ in try Agent(["read", dir, "million", String(total)]) }
        for reader in readers { #expect(reader.expectLine(startingWith: "ready") != nil) }
        let writer = try Agent(["write", dir, "million", String(total)])
        #expect(writer.expectLine(startingWith: "pushed") == "pushed \(total)")
        #expect(writer.wait() == 0)
        for reader in readers {
            let report = reader.expectLine(startingWith: "delivered")
            #expect(report == "delivered=\(total) missed=0 bad=0 first=0")
            #expect(reader.wait() == 0)
        }
    }

    /// Lapping stress: a 64-slot ring, one writer and four reader processes (two of them doing
    /// extra work per item), lapped over and over. Every delivered item is intact (its sequence
    /// and 56 repeated tag bytes checked: a wrong fence shows up as torn items, see the note in
    /// Publication.swift) and in sequence, and for each reader delivered + missed equals what
    /// was published. 1M items by default, 10M with CBUFF_LONG_TESTS=1.
    @Test(arguments: [false, true])
    func lappedReaderProcessesCountTheirLossesExactly(checked: Bool) throws {
        let total: UInt64 = ProcessInfo.processInfo.environment["CBUFF_LONG_TESTS"] == "1" ? 10_000_000 : 1_000_000
        try directory.createBuffer("lapped", itemSize: 64, length: 64, integrity: checked ? .checked : .unchecked).close()
        let paces = ["", "", "slow", "slow"]
        let readers = try paces.map { pace in try Agent(["read", dir, "lapped", String(total), pace]) }
        for reader in readers { #expect(reader.expectLine(startingWith: "ready") != nil) }
        let writer = try Agent(["write", dir, "lapped", String(total)])
        #expect(writer.wait() == 0)
        for (pace, reader) in zip(paces, readers) {
            let report = fields(reader.expectLine(startingWith: "delivered") ?? "")
            #expect(report["bad"] == 0, "\(report)")
            #expect(report["delivered", default: 0] + report["missed", default: 0] == total, "\(report)")
            #expect(report["delivered", default: 0] >= 64, "\(report)")
            if pace == "slow" { #expect(report["missed", default: 0] > 0, "a slow reader was never lapped: \(report)") }
            #expect(reader.wait() == 0)
        }
    }

    /// The same through the batch APIs: a batch copied while the writer lapped the reader is
    /// thrown away whole, never delivered with overwritten values in it.
    @Test(arguments: [false, true])
    func lappedBatchReaderProcessesCountTheirLossesExactly(checked: Bool) throws {
        let total: UInt64 = ProcessInfo.processInfo.environment["CBUFF_LONG_TESTS"] == "1" ? 10_000_000 : 1_000_000
        try directory.createBuffer("lapped-batch", itemSize: 8, length: 64, integrity: checked ? .checked : .unchecked).close()
        let paces = ["", "slow"]
        let readers = try paces.map { pace in try Agent(["read-batch", dir, "lapped-batch", String(total), pace]) }
        for reader in readers { #expect(reader.expectLine(startingWith: "ready") != nil) }
        let writer = try Agent(["write", dir, "lapped-batch", String(total), "batch"])
        #expect(writer.wait() == 0)
        for (pace, reader) in zip(paces, readers) {
            let report = fields(reader.expectLine(startingWith: "delivered") ?? "")
            #expect(report["bad"] == 0, "\(report)")
            #expect(report["delivered", default: 0] + report["missed", default: 0] == total, "\(report)")
            if pace == "slow" { #expect(report["missed", default: 0] > 0, "a slow reader was never lapped: \(report)") }
            #expect(reader.wait() == 0)
        }
    }

    /// A ring file truncated by another process while a writer and a reader have it mapped:
    /// each gets a "corrupted" error at its next access to a page that is gone, instead of dying
    /// of SIGBUS, and the other buffers of the directory are untouched. (Cut to its header, the
    /// file of a ring without check words still tells the reader that nothing new was
    /// published: it touches no missing page. A reader of one with check words looks at the
    /// next slot's word first, and learns at once.)
    @Test(arguments: [(0, ItemIntegrity.checked), (4096, .checked), (0, .unchecked), (4096, .unchecked)])
    func aRingFileTruncatedUnderLiveMappingsIsAnErrorNotASIGBUS(size: Int, integrity: ItemIntegrity) throws {
        try directory.createBuffer("cut", itemSize: 8, length: 1024, integrity: integrity).close()
        var bystander = try directory.createBuffer("bystander", itemSize: 8, length: 4)
        try bystander.push(7)
        let agent = try Agent(["outlive-truncation", dir, "cut"])
        #expect(agent.expectLine(startingWith: "ready") == "ready")
        #expect(truncate(directory.ringPath(of: "cut"), off_t(size)) == 0)
        agent.send("go")
        #expect(agent.expectLine(startingWith: "push") == "push corrupted")
        #expect(agent.expectLine(startingWith: "pop") == (size < 4096 || integrity == .checked ? "pop corrupted" : "popped nothing"))
        #expect(agent.expectLine(startingWith: "closed") == "closed")
        #expect(agent.wait() == 0)
        var reader = try directory.openReader("bystander")
        #expect(try reader.popItem() == 7)
        expectError(.corrupted) { _ = try directory.openReader("cut") }
    }

    @Test func aWriterKilledAtAKnownPointLosesNothingAndCanBeResumed() throws {
        try directory.createBuffer("killed", itemSize: 32, length: 4096).close()
        let writer = try Agent(["write", dir, "killed", "1000", "hang"])
        #expect(writer.expectLine(startingWith: "pushed") == "pushed 1000")
        #expect(try directory.hasLiveWriter("killed"))
        expectError(.writerBusy) { _ = try directory.takeOver("killed") }
        writer.kill(SIGKILL)
        #expect(writer.wait() == 128 + SIGKILL)

        #expect(try directory.hasLiveWriter("killed") == false)
        var reader = try directory.openReader("killed")
        for sequence in UInt64(0)..<1000 {
            let bytes = try reader.popBytes()
            #expect(bytes.flatMap(TestItem.sequence(of:)) == sequence)
        }
        #expect(try reader.popBytes() == nil)

        var resumed = try directory.takeOver("killed")
        #expect(resumed.nextSequence == 1000)
        try resumed.push(bytes: TestItem.bytes(1000, size: 32))
        #expect(try reader.popBytes().flatMap(TestItem.sequence(of:)) == 1000)
        #expect(reader.missedCount == 0)
    }

    /// The crash-injection harness: the writer is SIGKILLed at an arbitrary instant of a push
    /// loop, round after round, while a reader process reads throughout. After every kill, what
    /// can be read is a run of intact, consecutive items ending exactly where the next writer
    /// resumes (a half-written item is never delivered), and `inspect`'s status says the writer
    /// died. The reader never receives a torn or overwritten item, and its delivered + missed
    /// equals everything published. 200 kills by default, 10,000 with CBUFF_LONG_TESTS=1.
    @Test(arguments: [false, true])
    func writersKilledAtRandomInstantsNeverLeakAHalfWrittenItem(checked: Bool) throws {
        let seed = ProcessInfo.processInfo.environment["CBUFF_TEST_SEED"].flatMap { UInt64($0) } ?? 0x5EED_CB0F
        let rounds = ProcessInfo.processInfo.environment["CBUFF_LONG_TESTS"] == "1" ? 10_000 : 200
        var generator = SplitMix64(seed: seed)
        let length = 256
        try directory.createBuffer("random-kill", itemSize: 24, length: length, integrity: checked ? .checked : .unchecked).close()
        let follower = try Agent(["follow", dir, "random-kill"])
        #expect(follower.expectLine(startingWith: "ready") != nil)
        var published: UInt64 = 0
        for round in 0..<rounds {
            let context = "seed \(seed) round \(round), checked \(checked)"
            let threshold = 1 + generator.next() % 20_000
            let writer = try Agent(["write", dir, "random-kill", String(threshold), "forever"])
            // The agent prints this line once it pushed `threshold` items in this round, and goes
            // on pushing: the kill lands somewhere in its loop.
            #expect(writer.expectLine(startingWith: "pushed") != nil, "\(context)")
            writer.kill(SIGKILL)
            #expect(writer.wait() == 128 + SIGKILL, "\(context)")

            let status = try directory.status(of: "random-kill")
            #expect(!status.writerAlive && status.writerDied, "\(context)")
            var reader = try directory.openReader("random-kill")
            var sequences: [UInt64] = []
            while let bytes = try reader.popBytes() {
                guard let sequence = TestItem.sequence(of: bytes) else {
                    Issue.record("torn item after sequence \(sequences.last ?? 0); \(context)")
                    break
                }
                sequences.append(sequence)
            }
            var resumed = try directory.takeOver("random-kill")
            let next = resumed.nextSequence
            // Version 4: a writer killed after its item's word and before `published` has
            // published it to readers, who go by the words; its successor continues after it.
            let written = status.ring?.written ?? 0
            #expect(checked ? written == next || written + 1 == next : written == next, "\(context)")
            #expect(sequences.last.map { $0 + 1 } == next, "\(context)")
            #expect(sequences == Array((next - UInt64(sequences.count))..<next), "\(context)")
            #expect(sequences.count >= min(length - 1, Int(next)), "\(context)")
            try resumed.push(bytes: TestItem.bytes(next, size: 24))
            published = next + 1
            resumed.close()
        }
        follower.send("report")
        let report = fields(follower.expectLine(startingWith: "delivered") ?? "")
        #expect(report["bad"] == 0, "\(report)")
        #expect(report["next"] == published, "\(report)")
        #expect(report["delivered", default: 0] + report["missed", default: 0] == published, "\(report)")
        #expect(follower.wait() == 0)
    }

    /// The same for a writer publishing batches (1 to 63 items a call): a kill in the middle of
    /// a batch leaves `claimed` ahead of `published`; what can be read afterwards is a run of
    /// consecutive items, each holding its own sequence (none overwritten by the dead batch), that
    /// ends where the next writer resumes. 100 kills by default, 2,000 with CBUFF_LONG_TESTS=1.
    @Test(arguments: [false, true])
    func batchWritersKilledAtRandomInstantsLeaveOnlyIntactItems(checked: Bool) throws {
        let seed = ProcessInfo.processInfo.environment["CBUFF_TEST_SEED"].flatMap { UInt64($0) } ?? 0xBA7C_4ED5
        let rounds = ProcessInfo.processInfo.environment["CBUFF_LONG_TESTS"] == "1" ? 2_000 : 100
        var generator = SplitMix64(seed: seed)
        let length = 256
        try directory.createBuffer("batch-kill", itemSize: 8, length: length, integrity: checked ? .checked : .unchecked).close()
        var interrupted = 0
        for round in 0..<rounds {
            let context = "seed \(seed) round \(round), checked \(checked)"
            let threshold = 1 + generator.next() % 20_000
            let writer = try Agent(["write", dir, "batch-kill", String(threshold), "forever-batch"])
            #expect(writer.expectLine(startingWith: "pushed") != nil, "\(context)")
            writer.kill(SIGKILL)
            #expect(writer.wait() == 128 + SIGKILL, "\(context)")

            let status = try directory.status(of: "batch-kill")
            #expect(!status.writerAlive && status.writerDied, "\(context)")
            if status.ring?.interruptedWrite != nil { interrupted += 1 }
            // Read once the next writer has attached: it must not have declared the slots the
            // dead batch damaged intact again.
            let resumed = try directory.takeOver("batch-kill")
            let next = resumed.nextSequence
            var reader = try directory.openReader("batch-kill")
            var values: [UInt64] = []
            var first: UInt64?
            while let value = try reader.popItem() {
                if first == nil { first = reader.nextSequence - 1 }
                values.append(value)
            }
            let written = status.ring?.written ?? 0
            #expect(checked ? written <= next && next - written <= 63 : written == next, "\(context)")
            #expect(values == Array((first ?? next)..<next), "every item is its own sequence, up to the resume point; \(context)")
            #expect(values.count >= min(length - 63, Int(next)), "\(context)")
            resumed.close()
        }
        print("batch kills: \(interrupted) of \(rounds) landed mid-batch")
        // Kills land mid-batch often enough for the test to mean something.
        #expect(interrupted > 0, "no kill interrupted a batch in \(rounds) rounds")
    }

    /// Liveness locks belong to open file descriptions, which fork lends to the child until it
    /// execs: while a thread of this process spawns processes, a take-over (or a named reader's
    /// reopen) right after a close used to find the lock busy about once in ten. Now a busy lock
    /// whose recorded owner is gone or done is tried again for a moment, and none may fail.
    @Test func takingOverRightAfterACloseSucceedsWhileAThreadSpawnsProcesses() throws {
        try directory.createBuffer("spawning", itemSize: 8, length: 8).close()
        let stop = Atomic<Bool>(false)
        let stopped = DispatchSemaphore(value: 0)
        let spawner = Thread {
            while !stop.load(ordering: .relaxed) {
                (try? Spawned("/bin/true", [], environment: [:]))?.wait()
            }
            stopped.signal()
        }
        spawner.start()
        defer {
            stop.store(true, ordering: .relaxed)
            stopped.wait()   // its last child has been waited for
        }
        var writerBusy = 0, readerBusy = 0
        for _ in 0..<2_000 {
            do { try directory.takeOver("spawning").close() } catch { if error.code == .writerBusy { writerBusy += 1 } }
            do { try directory.openReader("spawning", named: "again").close() } catch { if error.code == .readerBusy { readerBusy += 1 } }
        }
        #expect(writerBusy == 0 && readerBusy == 0, "writer busy \(writerBusy), reader busy \(readerBusy) of 2,000 each")
    }

    /// 16 processes race to create one name on a fresh directory (issue 2 asks for 8): exactly
    /// one wins, the others get "already created", and the registry is migrated once.
    @Test(arguments: 0..<3)
    func processesRacingToCreateOneNameHaveExactlyOneWinner(round: Int) throws {
        let fresh = dir + "/fresh-\(round)"   // not even a registry yet: they also race to migrate it
        let racers = try (0..<16).map { _ in try Agent(["race", fresh, "contested"]) }
        for racer in racers { racer.send("go") }
        var outcomes: [String] = []
        for racer in racers {
            outcomes.append(racer.readLine() ?? "no answer")
            #expect(racer.wait() == 0)
        }
        #expect(outcomes.filter { $0 == "created" }.count == 1, "\(outcomes)")
        #expect(outcomes.filter { $0 == "refused buffer already created" }.count == 15, "\(outcomes)")
        let registry = try DataDirectory(path: fresh).registry()
        #expect(try registry.allRows().map(\.name) == ["contested"])
        #expect(try registry.appliedMigrations() == RegistryMigration.all.map(\.identifier))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: fresh).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }

    /// Four processes create, remove and list the same eight names at random for a while;
    /// afterwards the registry and the files agree exactly: no file without a row, no row
    /// without a file, no temporary file left. 2 s by default, 20 s with CBUFF_LONG_TESTS=1.
    @Test func createRemoveAndListChurnLeavesTheRegistryAndTheFilesInAgreement() throws {
        let seconds = ProcessInfo.processInfo.environment["CBUFF_LONG_TESTS"] == "1" ? "20" : "2"
        let agents = try (0..<4).map { try Agent(["churn", dir, "churn", seconds, String(0xC0FFEE + $0)]) }
        var operations: UInt64 = 0
        for agent in agents {
            let report = fields(agent.expectLine(startingWith: "done") ?? "")
            #expect(report["errors"] == 0, "\(report)")
            operations += report["ops", default: 0]
            #expect(agent.wait() == 0)
        }
        #expect(operations > 100)
        let rows = Set(try directory.buffers().map(\.file))
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".ring") })
        #expect(rows == files)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tmp") }.isEmpty)
    }

    @Test func aReaderProcessAsleepOnTheFutexIsWokenByAPush() throws {
        var writer = try directory.createBuffer("wake", itemSize: 8, length: 16)
        let reader = try Agent(["wait-pop", dir, "wake", "30000"])
        #expect(reader.expectLine(startingWith: "ready") != nil)
        // Wait (bounded) until the kernel reports the reader asleep in a futex wait, so this
        // really tests a wake-up rather than a spin that happened to see the item.
        let deadline = ContinuousClock.now + .seconds(10)
        var asleep = false
        while !asleep && ContinuousClock.now < deadline {
            let wchan = (try? String(contentsOfFile: "/proc/\(reader.pid)/wchan", encoding: .utf8)) ?? ""
            asleep = wchan.contains("futex")
            if !asleep { usleep(1000) }
        }
        #expect(asleep, "the reader never went to sleep on the futex")
        let pushed = ContinuousClock.now
        try writer.push(4242)
        #expect(reader.expectLine(startingWith: "got") == "got 4242")
        #expect(ContinuousClock.now - pushed < .seconds(5))
        #expect(reader.wait() == 0)
    }

    @Test func aReaderWaitingInThisProcessIsWokenByAWriterProcess() async throws {
        try directory.createBuffer("wake2", itemSize: 8, length: 16).close()
        let path = dir
        let waiting = Task.detached { () throws -> UInt64? in
            var reader = try DataDirectory(path: path).openReader("wake2")
            return try reader.pop(timeout: .seconds(30))
        }
        let writer = try Agent(["write", dir, "wake2", "1"])
        #expect(writer.wait() == 0)
        #expect(try await waiting.value == 0)
    }
}
