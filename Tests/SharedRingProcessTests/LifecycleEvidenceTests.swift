import Foundation
import GRDB
import Testing
import TestSupport
import SharedRing

/// What a buffer's life leaves behind is never lost to an operation that did not mean to lose
/// it: a ring file without a row is someone's data (create never replaces it), a removal killed
/// half way leaves a file `rm` can finish (never a row without its file), and a take-over that
/// wrote nothing leaves a crash's evidence as it found it. Real processes: the test agent and
/// the `cbuff` binary.
@Suite struct LifecycleEvidenceTests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    func cbuff(_ arguments: String...) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments)
    }

    /// Deletes the row of `name` as a lost registry (or a removal killed after its commit)
    /// would leave it: the ring file stays, without a row.
    func forgetRow(_ name: String) throws {
        let queue = try DatabaseQueue(path: dir + "/registry.sqlite")
        try queue.write { db in try db.execute(sql: "DELETE FROM buffers WHERE name = ?", arguments: [name]) }
    }

    @Test func createNeverReplacesARingFileThatHoldsData() throws {
        var writer = try directory.createBuffer("kept", itemSize: 8, length: 4)
        for value: UInt64 in 1...3 { try writer.push(value) }
        writer.close()
        try forgetRow("kept")
        let created = try cbuff("create", "kept", "--item-size", "8", "--length", "4")
        #expect(created.status == 73 && created.stderr.contains("without a registry row and holds data (3 written)"), "\(created)")
        // The items are still there, in the file the registry lost.
        let file = try Data(contentsOf: URL(fileURLWithPath: directory.ringPath(of: "kept")))
        #expect(file.count > 0)
        // rm of that name finishes what a removal killed after its commit left: the file goes.
        #expect(try cbuff("rm", "kept").status == 0)
        #expect(!FileManager.default.fileExists(atPath: directory.ringPath(of: "kept")))
        #expect(try cbuff("create", "kept", "--item-size", "8", "--length", "4").status == 0)
    }

    /// A removal killed between its unlink and its commit (or a ring file deleted by hand)
    /// leaves a row without its file: every command says so, create says how to get out, and
    /// `rm --dead` removes it (nothing can be lost with it), beside the other dead buffers.
    @Test func aRowWithoutItsRingFileIsSaidAndSwept() throws {
        try directory.createBuffer("halfway", itemSize: 8, length: 4).close()
        try FileManager.default.removeItem(atPath: directory.ringPath(of: "halfway"))
        let inspected = try cbuff("inspect", "halfway")
        #expect(inspected.status == 65 && inspected.stderr.contains("is missing"), "\(inspected)")
        let created = try cbuff("create", "halfway", "--item-size", "8", "--length", "4")
        #expect(created.status == 73 && created.stderr.contains("is missing") && created.stderr.contains("`cbuff rm halfway`"), "\(created)")
        let swept = try cbuff("rm", "--dead")
        #expect(swept.status == 0 && swept.lines == ["halfway"], "\(swept)")
        #expect(try cbuff("inspect", "halfway").status == 66)
    }

    /// A creator killed between its rename and its commit leaves a file in which nothing was
    /// written: that one is debris, and the next create replaces it.
    @Test func createReplacesTheDebrisOfAKilledCreator() throws {
        try directory.createBuffer("debris", itemSize: 8, length: 4).close()
        try forgetRow("debris")
        let created = try cbuff("create", "debris", "--item-size", "8", "--length", "4")
        #expect(created.status == 0, "\(created)")
    }

    /// A writer that takes over a buffer whose writer died and writes nothing (a push that
    /// waited for room and was interrupted, say) closes without erasing the crash: the buffer
    /// still reads as died, with the dead writer's PID. One that writes closes it as its own.
    @Test func aTakeOverThatWroteNothingLeavesTheCrashAsItFoundIt() throws {
        try directory.createBuffer("crashed", itemSize: 8, length: 4, policy: .overwrite).close()
        let agent = try Agent(["write", dir, "crashed", "4", "hang"])
        let pushed = try #require(agent.expectLine(startingWith: "pushed"))
        agent.kill()
        _ = agent.wait()
        let before = try directory.status(of: "crashed")
        #expect(before.writerDied, "\(pushed): \(before)")
        try directory.takeOver("crashed").close()
        let after = try directory.status(of: "crashed")
        #expect(after.writerDied && after.ring?.writerPID == before.ring?.writerPID, "\(after)")
        #expect(try cbuff("list", "--dead").stdout.contains("crashed"))
        // A take-over that writes is the buffer's writer from then on: closed is closed.
        var writer = try directory.takeOver("crashed")
        try writer.push(10)
        writer.close()
        #expect(try !directory.status(of: "crashed").writerDied)
    }

    // MARK: A row over a ring file that holds no ring (issue 26)

    /// How a machine crash (or a hand) can leave a registered buffer's ring file with no ring
    /// in it: every byte zero at its full size (the data never reached the disk), empty (its
    /// size never did either), shorter than a header and zero, or gone.
    enum Loss: String, CaseIterable, CustomStringConvertible {
        case zeroed, empty, shortZeroed, missing
        var description: String { rawValue }

        func apply(to path: String) throws {
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            switch self {
            case .zeroed: try Data(count: size).write(to: URL(fileURLWithPath: path))
            case .empty: try Data().write(to: URL(fileURLWithPath: path))
            case .shortZeroed: try Data(count: 100).write(to: URL(fileURLWithPath: path))
            case .missing: try FileManager.default.removeItem(atPath: path)
            }
        }

        /// Words every command's sentence about it contains.
        var said: String {
            switch self {
            case .zeroed: "holds only zeros"
            case .empty: "is empty (0 bytes)"
            case .shortZeroed: "holds only zeros (100 bytes)"
            case .missing: "is missing"
            }
        }
    }

    /// Every command that opens the buffer says, in one sentence, what it found and the one
    /// command that recovers it (`cbuff rm NAME`); create says the same (73); `rm NAME`, without
    /// --force, then removes the row and the file, and the name can be created again.
    @Test(arguments: Loss.allCases) func aRowOverALostRingFileIsSaidByEveryCommandAndRemovedByRm(loss: Loss) throws {
        var writer = try directory.createBuffer("lost", itemSize: 8, length: 16)
        try writer.push(1)
        writer.close()
        let path = directory.ringPath(of: "lost")
        try loss.apply(to: path)
        for command in [["pop", "lost"], ["tail", "lost"], ["inspect", "lost"], ["push", "lost", "7"], ["inspect", "lost", "--json"]] {
            let outcome = try run("cbuff", ["--dir", dir] + command)
            #expect(outcome.status == 65 && outcome.stderr.contains(loss.said) && outcome.stderr.contains("`cbuff rm lost`"),
                    "\(loss): cbuff \(command.joined(separator: " ")): \(outcome)")
        }
        let listed = try cbuff("list")
        #expect(listed.status == 65 && listed.stderr.contains("`cbuff rm lost`"), "\(loss): \(listed)")
        let created = try cbuff("create", "lost", "--item-size", "8", "--length", "16")
        #expect(created.status == 73 && created.stderr.contains(loss.said) && created.stderr.contains("`cbuff rm lost`"), "\(loss): \(created)")
        // The library says the same, with the same codes.
        for attempt in [{ _ = try directory.openReader("lost") }, { _ = try directory.takeOver("lost") }] as [() throws -> Void] {
            #expect { try attempt() } throws: { ($0 as? CBuffError)?.code == .corrupted && "\($0)".contains("`cbuff rm lost`") }
        }
        #expect(try directory.status(of: "lost").problem?.description.contains(loss.said) == true)
        let removed = try cbuff("rm", "lost")
        #expect(removed.status == 0, "\(loss): \(removed)")
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try cbuff("inspect", "lost").status == 66)
        #expect(try cbuff("create", "lost", "--item-size", "8", "--length", "16").status == 0)
    }

    /// `rm --dead` removes a row over a lost ring file, and the file, whatever its age, beside
    /// the dead buffers; the library's sweep does the same.
    @Test(arguments: Loss.allCases) func rmDeadRemovesARowOverALostRingFile(loss: Loss) throws {
        try directory.createBuffer("lost", itemSize: 8, length: 16).close()
        try directory.createBuffer("healthy", itemSize: 8, length: 16).close()
        try loss.apply(to: directory.ringPath(of: "lost"))
        let swept = try cbuff("rm", "--dead")
        #expect(swept.status == 0 && swept.lines == ["lost"], "\(loss): \(swept)")
        #expect(!FileManager.default.fileExists(atPath: directory.ringPath(of: "lost")))
        #expect(try directory.buffers().map(\.name) == ["healthy"])
        try directory.createBuffer("again", itemSize: 8, length: 16).close()
        try loss.apply(to: directory.ringPath(of: "again"))
        #expect(try directory.removeDeadBuffers().removed == ["again"])
    }

    /// A file with any byte of its header set could be a ring someone can still read: it keeps
    /// today's rules. `rm --dead` leaves it (and its row), every command refuses it as damaged;
    /// only an explicit `rm NAME` deletes it.
    @Test func aDamagedRingFileWithAHeaderIsNeverSweptAsLost() throws {
        try directory.createBuffer("damaged", itemSize: 8, length: 16).close()
        let path = directory.ringPath(of: "damaged")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes.replaceSubrange(0..<8, with: Data(count: 8))   // the magic number gone, the rest kept
        try bytes.write(to: URL(fileURLWithPath: path))
        let popped = try cbuff("pop", "damaged")
        #expect(popped.status == 65 && !popped.stderr.contains("cbuff rm"), "\(popped)")
        #expect(try cbuff("rm", "--dead").lines == [])
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try cbuff("create", "damaged", "--item-size", "8", "--length", "16").status == 73)
        #expect(FileManager.default.fileExists(atPath: path))
    }

    /// A machine crash can lose a ring file's header page and keep its slots: zeros where the
    /// header belongs, items after it. That file holds data (readable by hand): it keeps the
    /// rules of a damaged file, never swept as lost, never replaced by a create. (The first
    /// version of the lost-ring rule looked at the header alone: `rm --dead` deleted it.)
    @Test func aZeroedHeaderOverItemsIsNeverTakenForALostRing() throws {
        var writer = try directory.createBuffer("items", itemSize: 8, length: 64)
        for value in UInt64(1)...40 { try writer.push(value) }
        writer.close()
        let path = directory.ringPath(of: "items")
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: Data(count: 4096))
        try handle.close()
        let popped = try cbuff("pop", "items")
        #expect(popped.status == 65 && !popped.stderr.contains("only zeros"), "\(popped)")
        #expect(try cbuff("rm", "--dead").lines == [])
        #expect(FileManager.default.fileExists(atPath: path))
        try forgetRow("items")
        #expect(try cbuff("create", "items", "--item-size", "8", "--length", "64").status == 73)
        #expect(FileManager.default.fileExists(atPath: path))
    }

    /// A machine crash can lose a create's rename after its row committed: the buffer's file,
    /// items and all, stays under its temporary name, whose creator's PID is gone after the
    /// reboot. `rm --dead` sweeps the row over the missing file but never that file: only a
    /// temporary file that holds nothing is a dead creator's debris.
    @Test func aTemporaryRingFileThatHoldsItemsIsNeverTakenForDebris() throws {
        var writer = try directory.createBuffer("renamed", itemSize: 8, length: 64)
        for value in UInt64(1)...40 { try writer.push(value) }
        writer.close()
        let pidMax = Int(try String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 4_194_304
        let temporaryPath = dir + "/.renamed.\(pidMax + 1).0.tmp"          // a PID no process can have
        #expect(rename(directory.ringPath(of: "renamed"), temporaryPath) == 0)
        let swept = try cbuff("rm", "--dead")
        #expect(swept.status == 0, "\(swept)")
        #expect(FileManager.default.fileExists(atPath: temporaryPath), "rm --dead deleted a buffer's items: \(swept)")
    }

    /// The lost-rename state (issue 26, F7): the row committed, the ring file's name lost, the
    /// buffer under its temporary name. Every command names that file and the one recovery that
    /// loses nothing, renaming it back; `rm --dead` keeps the row that recovery needs (it
    /// removed it, leaving the items under a name nothing could register again). The rename
    /// back recovers every item.
    @Test func aRingFileUnderItsTemporaryNameIsNamedWithItsRecovery() throws {
        var writer = try directory.createBuffer("renamed", itemSize: 8, length: 64)
        for value in UInt64(1)...3 { try writer.push(value) }
        writer.close()
        let pidMax = Int(try String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 4_194_304
        let temporaryPath = dir + "/.renamed.\(pidMax + 1).0.tmp"
        #expect(rename(directory.ringPath(of: "renamed"), temporaryPath) == 0)
        let recovery = "`mv \(temporaryPath) \(directory.ringPath(of: "renamed"))` recovers the buffer"
        for arguments in [["tail", "renamed"], ["inspect", "renamed"], ["push", "renamed", "4"], ["create", "renamed", "--item-size", "8", "--length", "64"]] {
            let outcome = try run("cbuff", ["--dir", dir] + arguments)
            #expect(outcome.status != 0 && outcome.stderr.contains(recovery), "\(arguments): \(outcome)")
        }
        #expect((try? directory.openReader("renamed")) == nil)
        do {
            _ = try directory.openReader("renamed")
        } catch {
            #expect(error.code == .corrupted && error.message.contains(recovery), "\(error)")
        }
        let swept = try cbuff("rm", "--dead")
        #expect(swept.status == 0 && swept.lines.isEmpty && swept.stderr.contains("kept \"renamed\"") && swept.stderr.contains(recovery), "\(swept)")
        #expect(rename(temporaryPath, directory.ringPath(of: "renamed")) == 0)
        let recovered = try cbuff("tail", "renamed")
        #expect(recovered.status == 0 && recovered.lines == ["1", "2", "3"], "\(recovered)")
    }

    /// With the registry itself lost, every ring file is one no row names: `list` says so (it
    /// printed an empty table and nothing else), and nothing is deleted (issue 26, F7).
    @Test func listNamesTheRingFilesOfALostRegistry() throws {
        for name in ["a", "b"] {
            var writer = try directory.createBuffer(name, itemSize: 8, length: 16)
            try writer.push(UInt64(7))
            writer.close()
        }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dir + "/registry.sqlite" + suffix) }
        let listed = try cbuff("list")
        #expect(listed.status == 0 && listed.stderr.contains("2 ring files") && listed.stderr.contains("a.ring, b.ring"), "\(listed)")
        #expect(try directory.unregisteredRingFiles() == ["a.ring", "b.ring"])
        #expect(try cbuff("rm", "--dead").status == 0)
        #expect(FileManager.default.fileExists(atPath: directory.ringPath(of: "a")) && FileManager.default.fileExists(atPath: directory.ringPath(of: "b")))
    }

    /// A zeroed ring file whose writer lock a live process holds is no crash's leftover: nothing
    /// removes it without --force (this test's process holds the writer; cbuff is another).
    @Test func aZeroedRingFileHeldByALiveWriterIsKept() throws {
        let writer = try directory.createBuffer("held", itemSize: 8, length: 16)
        let path = directory.ringPath(of: "held")
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: Data(count: 4096))
        try handle.close()
        let swept = try cbuff("rm", "--dead")
        #expect(swept.lines == [] && swept.stderr.contains("kept \"held\""), "\(swept)")
        let removed = try cbuff("rm", "held")
        #expect(removed.status == 75, "\(removed)")
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try cbuff("create", "held", "--item-size", "8", "--length", "16").status == 73)
        writer.close()
    }

    /// A ring file without a row whose header holds only zeros (a create of an older version
    /// cut by a power loss) holds nothing: a create of its name replaces it.
    @Test func createReplacesAZeroedRingFileWithoutARow() throws {
        try directory.createBuffer("zeros", itemSize: 8, length: 16).close()
        try forgetRow("zeros")
        try Loss.zeroed.apply(to: directory.ringPath(of: "zeros"))
        let created = try cbuff("create", "zeros", "--item-size", "8", "--length", "16")
        #expect(created.status == 0, "\(created)")
        #expect(try cbuff("pop", "zeros").status == 0)
    }
}
