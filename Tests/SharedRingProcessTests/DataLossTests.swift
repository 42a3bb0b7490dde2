import Foundation
import GRDB
import Testing
import TestSupport
@testable import SharedRing

/// Nothing published, or read and not yet handled, is lost in ordinary operation: a slow
/// producer, Ctrl-C, a normal exit, `rm --dead`, a registry that cannot be written, a full disk,
/// an output that fails, a WAL nobody checkpointed. Real processes: the `cbuff` binary and the
/// test agent.
@Suite(.serialized) struct DataLossTests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    func cbuff(_ arguments: String..., timeout: Double = 30, stdoutPath: String? = nil) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, timeout: timeout, stdoutPath: stdoutPath)
    }

    func state(_ name: String) throws -> WriterState? {
        try directory.status(of: name).ring?.writerState
    }

    // MARK: 1. push --stdin publishes at once, and stops cleanly

    @Test func pushStandardInputPublishesEachLineAsItArrives() throws {
        try directory.createBuffer("temps", itemSize: 8, length: 64).close()
        let push = try ChildProcess("cbuff", ["--dir", dir, "push", "temps", "--stdin"])
        var reader = try directory.openReader("temps")
        for value: UInt64 in [21, 22, 23] {
            push.send(String(value))
            // Waits on the buffer itself: the line must be published while stdin stays open.
            #expect(try reader.pop(timeout: .seconds(20)) == value, "line \(value) was not published while the producer was still running")
        }
        push.closeInput()
        #expect(push.wait(timeout: 20) == (0, false))
        #expect(try state("temps") == .closed)
    }

    @Test(arguments: [SIGINT, SIGTERM, SIGHUP] as [Int32])
    func aStopSignalPublishesWhatWasReadClosesTheWriterAndExits128PlusN(signal: Int32) throws {
        try directory.createBuffer("feed", itemSize: 8, length: 64).close()
        let push = try ChildProcess("cbuff", ["--dir", dir, "push", "feed", "--stdin"])
        var reader = try directory.openReader("feed")
        for value: UInt64 in 1...5 {
            push.send(String(value))
            #expect(try reader.pop(timeout: .seconds(20)) == value)
        }
        push.kill(signal)
        #expect(push.wait(timeout: 20) == (128 + signal, false))   // 130, 143, 129
        let status = try directory.status(of: "feed")
        #expect(status.ring?.writerState == .closed, "a stopped push must not look crashed")
        #expect(status.ring?.written == 5)
    }

    @Test func aStopSignalEndsAPushWaitingForRoomInABlockBuffer() throws {
        var writer = try directory.createBuffer("held", itemSize: 8, length: 4, policy: .block)
        try directory.openReader("held", named: "slow").close()   // registered, consumes nothing
        try writer.push(contentsOf: [1, 2, 3, 4] as [UInt64])
        writer.close()
        let push = try ChildProcess("cbuff", ["--dir", dir, "push", "held", "5", "6"])
        // Synchronise on the buffer: the push has attached (and so is waiting for room).
        let deadline = Date(timeIntervalSinceNow: 20)
        while try !directory.hasLiveWriter("held"), Date() < deadline { usleep(1000) }
        push.kill(SIGTERM)
        #expect(push.wait(timeout: 20) == (143, false))
        #expect(try state("held") == .closed)
        #expect(try directory.status(of: "held").ring?.written == 4)
    }

    // MARK: 2. a normal exit is not a crash

    @Test func aWriterLeftOpenAtANormalExitReadsAsClosed() throws {
        try directory.createBuffer("global", itemSize: 8, length: 8).close()
        let agent = try Agent(["exit-writing", dir, "global", "exit"])
        #expect(agent.expectLine(startingWith: "pushed") != nil)
        #expect(agent.wait(timeout: 20) == (0, false))
        let status = try directory.status(of: "global")
        #expect(status.ring?.writerState == .closed, "a process that exited normally is reported as died")
        #expect(!status.writerDied)
    }

    @Test func aForkedChildThatExitsLeavesItsParentsWriterAttached() throws {
        try directory.createBuffer("parent", itemSize: 8, length: 8).close()
        let agent = try Agent(["exit-writing", dir, "parent", "fork"])
        #expect(agent.expectLine(startingWith: "child exited") != nil)
        let status = try directory.status(of: "parent")
        #expect(status.writerAlive && status.ring?.writerState == .attached, "the child's exit closed its parent's writer")
        agent.send("go")
        #expect(agent.wait(timeout: 20) == (0, false))
        #expect(try state("parent") == .closed)
    }

    // MARK: 3. rm --dead keeps what someone registered to receive

    @Test func removingDeadBuffersKeepsOnesWithUnconsumedItemsUnlessForced() throws {
        for name in ["waited", "abandoned"] {
            try directory.createBuffer(name, itemSize: 16, length: 128).close()
        }
        try directory.openReader("waited", named: "billing").close()
        for name in ["waited", "abandoned"] {
            let writer = try Agent(["write", dir, name, "64", "hang"])
            #expect(writer.expectLine(startingWith: "pushed") != nil)
            writer.kill()
            _ = writer.wait()
        }
        let swept = try cbuff("rm", "--dead")
        #expect(swept.status == 0 && swept.lines == ["abandoned"], "\(swept)")
        #expect(swept.stderr.contains("kept \"waited\"") && swept.stderr.contains("\"billing\" (64 items)"), "\(swept)")
        #expect(try directory.buffers().map(\.name) == ["waited"])
        var reader = try directory.openReader("waited", named: "billing")
        #expect(try reader.popBytes() != nil, "the kept items are still there")
        reader.close()
        let forced = try cbuff("rm", "--dead", "--force")
        #expect(forced.status == 0 && forced.lines == ["waited"], "\(forced)")
    }

    /// A ring file this user does not trust (another user's) cannot be examined for a writer's
    /// lock: the buffer is kept unless forced.
    @Test func aBufferWhoseWriterCannotBeCheckedIsNotRemoved() throws {
        try directory.createBuffer("foreign", itemSize: 8, length: 4).close()
        #expect(chown(directory.ringPath(of: "foreign"), 54_321, 54_321) == 0)
        let removed = try cbuff("rm", "foreign", timeout: 10)
        #expect(!removed.timedOut && removed.status == 77 && removed.stderr.contains("not removed"), "\(removed)")
        #expect(try directory.buffers().map(\.name) == ["foreign"], "the row went although liveness was unknown")
        expectError(.permissionDenied) { try directory.removeBuffer("foreign") }
        try directory.removeBuffer("foreign", force: true)
        #expect(try directory.buffers().isEmpty)
    }

    /// A FIFO where the ring file belongs was planted (every writer opens its ring without
    /// following links and checks it is a regular file): no writer holds it, and rm removes the
    /// buffer and the FIFO itself, without opening it (an open could block on a FIFO).
    @Test func aFIFOAtTheRingPathHoldsNoWriterAndGoesWithTheBuffer() throws {
        try directory.createBuffer("fifo", itemSize: 8, length: 4).close()
        let ring = directory.ringPath(of: "fifo")
        unlink(ring)
        #expect(mkfifo(ring, 0o600) == 0)
        let removed = try cbuff("rm", "fifo", timeout: 10)
        #expect(!removed.timedOut && removed.status == 0, "\(removed)")
        #expect(try directory.buffers().isEmpty)
        #expect(access(ring, F_OK) != 0, "the FIFO is gone")
    }

    // MARK: 4, 5, 7. the registry's writes are not on the way of writers and named readers

    /// Runs `body` while this process holds the registry's write lock (an IMMEDIATE transaction).
    func holdingTheRegistryWriteLock(_ body: () throws -> Void) throws {
        let queue = try DatabaseQueue(path: dir + "/registry.sqlite")
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            defer { try? db.execute(sql: "ROLLBACK") }
            try body()
        }
    }

    @Test func writersAndNamedReadersWorkWhileTheRegistryCannotBeWritten() throws {
        try directory.createBuffer("busy", itemSize: 8, length: 16, policy: .block).close()
        try holdingTheRegistryWriteLock {
            let pushed = try cbuff("--lock-timeout", "0.3", "push", "busy", "5", "6")
            #expect(pushed.status == 0 && pushed.stderr.contains("warning"), "\(pushed)")
            let popped = try cbuff("--lock-timeout", "0.3", "pop", "busy", "--reader", "r", "-n", "1")
            #expect(popped.status == 0 && popped.lines == ["5"], "\(popped)")
        }
        let status = try directory.status(of: "busy")
        #expect(status.ring?.writerState == .closed, "a push that met a locked registry left the buffer looking crashed")
        #expect(status.ring?.readers.map { "\($0.name)@\($0.position)" } == ["r@1"], "the reader is registered, at what it consumed")
        #expect(try cbuff("pop", "busy", "--reader", "r").lines == ["6"])
    }

    @Test func aFullDiskDoesNotStopPushAndPopOfAllocatedBuffers() throws {
        let mountPoint = dir + "/small"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
        guard shell("mount -t tmpfs -o size=1m,mode=0700 cbuff-test '\(mountPoint)'") == 0 else {
            print("DataLossTests: skipped the full-disk check: cannot mount a tmpfs here (not root?)")
            return
        }
        defer { _ = shell("umount -l '\(mountPoint)'") }
        let data = mountPoint + "/data"
        let here = DataDirectory(path: data)
        try here.createBuffer("b", itemSize: 8, length: 64).close()
        try here.openReader("b", named: "r").close()
        // A ring file replaced by a sparse copy of itself (as `cp --sparse=always` makes it).
        try here.createBuffer("sparse", itemSize: 4096, length: 16).close()
        let ring = here.ringPath(of: "sparse")
        #expect(shell("cp --sparse=always '\(ring)' '\(ring).copy' && mv '\(ring).copy' '\(ring)'") == 0)
        _ = shell("dd if=/dev/zero of='\(mountPoint)/filler' bs=4k 2>/dev/null")   // until ENOSPC
        #expect(shell("dd if=/dev/zero of='\(mountPoint)/more' bs=4k count=1 2>/dev/null") != 0, "the disk is not full")
        let pushed = try run("cbuff", ["--dir", data, "push", "b", "1", "2", "3"], timeout: 30)
        #expect(pushed.status == 0, "\(pushed)")
        let popped = try run("cbuff", ["--dir", data, "pop", "b", "--reader", "r", "-n", "3"], timeout: 30)
        #expect(popped.status == 0 && popped.lines == ["1", "2", "3"], "\(popped)")
        #expect(try here.status(of: "b").ring?.writerState == .closed)
        let sparse = try run("cbuff", ["--dir", data, "push", "sparse", "1"], timeout: 30)
        #expect(sparse.status == 1 && sparse.stderr.contains("No space left") && sparse.stderr.contains("sparse"), "\(sparse)")
    }


    // MARK: 6. pop commits only what reached its output

    @Test func popCommitsOnlyTheItemsItPrinted() throws {
        var writer = try directory.createBuffer("out", itemSize: 8, length: 2048)
        try writer.push(contentsOf: Array(1...1000) as [UInt64])
        writer.close()
        let failed = try cbuff("pop", "out", "-n", "1000", "--reader", "r", stdoutPath: "/dev/full")
        #expect(failed.status == 74 && failed.stderr.hasPrefix("cbuff: ") && failed.stderr.filter { $0 == "\n" }.count == 1, "\(failed)")
        #expect(try cbuff("pop", "out", "-n", "3", "--reader", "r").lines == ["1", "2", "3"], "items that never reached the output were committed")
        #expect(try cbuff("pop", "out", "-n", "2", "--reader", "r").lines == ["4", "5"])
        #expect(try cbuff("list").status == 0)
        #expect(try cbuff("list", stdoutPath: "/dev/full").status == 74)
        // A first attempt that delivered nothing registers nobody (all or nothing).
        #expect(try cbuff("pop", "out", "--reader", "fresh", stdoutPath: "/dev/full").status == 74)
        #expect(try directory.status(of: "out").ring?.readers.map(\.name) == ["r"], "a failed first pop left a reader behind")
    }

    // MARK: 8. the registry file alone is complete; a damaged WAL is loud

    @Test func theRegistryFileAloneHoldsEveryCommittedChange() throws {
        for name in ["one", "two", "three"] { try directory.createBuffer(name, itemSize: 8, length: 4).close() }
        try directory.removeBuffer("two")
        let backup = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: dir + "/registry.sqlite", toPath: backup.path + "/registry.sqlite")
        let copy = try DatabaseQueue(path: backup.path + "/registry.sqlite")
        #expect(try copy.read { try String.fetchAll($0, sql: "SELECT name FROM buffers ORDER BY name") } == ["one", "three"])
    }

    @Test func aDamagedWriteAheadLogIsALoudError() throws {
        try directory.createBuffer("first", itemSize: 8, length: 4).close()
        // Another program's changes, left in the WAL (its connection stays open, so nothing
        // checkpoints them).
        let queue = try DatabaseQueue(path: dir + "/registry.sqlite")
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            for name in ["second", "third", "fourth"] {
                try db.execute(sql: "INSERT INTO buffers (name, item_size, length, policy, file, format_version) VALUES (?, 8, 4, 'overwrite', ?, 2)",
                               arguments: [name, name + ".ring"])
            }
        }
        let wal = dir + "/registry.sqlite-wal"
        let size = (try FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0
        #expect(size > 4 * 4096, "the changes are not in the WAL (\(size) bytes)")
        for offset in [32 + 24 + 4096 + 24 + 100, size - 50] {   // in frame 2, then in the last frame
            try flip(wal, at: offset)
            let listed = try cbuff("list")
            #expect(listed.status == 65 && listed.stderr.contains("write-ahead log"), "offset \(offset): \(listed)")
            try flip(wal, at: offset)
            // Healed, every row is read again. (The other program's rows name no ring file: list
            // marks those buffers and ends with 65 for them, not for the log.)
            let healed = try cbuff("list")
            #expect(!healed.stderr.contains("write-ahead log") && healed.stderr.contains("missing")
                    && ["first", "second", "third", "fourth"].allSatisfy(healed.stdout.contains), "\(healed)")
        }
    }

    func flip(_ path: String, at offset: Int) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let byte = try handle.read(upToCount: 1)?.first ?? 0
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: [byte ^ 0xFF])
    }
}
