import Foundation
import GRDB
import Testing
import TestSupport
@testable import SharedRing
import SharedRingProtocol
import SharedRingSystem
import Spawning

/// No one let in, nothing hangs or traps: what another local user can plant (a directory, a
/// symbolic link, a FIFO, a doctored registry row, a damaged counter) and what a user can type
/// gets a clear error, never another buffer's data, a file outside the data directory, a hang
/// or a signal. Real processes (the `cbuff` binary, the agent), real files, real users.
@Suite(.serialized) struct IntruderTests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }
    var directory: DataDirectory { temporary.directory }
    let nobody: (uid: UInt32, gid: UInt32) = (65534, 65534)

    init() throws { temporary = try TemporaryDirectory() }

    func cbuff(_ arguments: String..., timeout: Double = 20) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, timeout: timeout)
    }

    func expectOneSentence(_ outcome: Outcome, _ status: Int32, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!outcome.timedOut && outcome.status == status, "\(outcome)", sourceLocation: sourceLocation)
        #expect(outcome.stderr.hasPrefix("cbuff: ") && outcome.stderr.filter { $0 == "\n" }.count == 1, "\(outcome)", sourceLocation: sourceLocation)
        #expect(outcome.stderr.contains(text), "\(outcome)", sourceLocation: sourceLocation)
    }

    func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    // MARK: 9. a data directory someone else owns or can write

    @Test func aDataDirectoryAnotherUserOwnsOrAnyoneCanWriteIsRefused() throws {
        let everyone = dir + "/everyone"
        mkdir(everyone, 0o700)
        chmod(everyone, 0o1777)
        expectOneSentence(try run("cbuff", ["--dir", everyone, "create", "x", "--item-size", "8", "--length", "4"]), 77, mentioning: "every user")
        #expect(!exists(everyone + "/registry.sqlite"))
        guard getuid() == 0 else {
            print("IntruderTests: skipped the other-owner checks: they need root to make a directory another user owns")
            return
        }
        let planted = dir + "/planted"
        mkdir(planted, 0o700)
        chown(planted, nobody.uid, nobody.gid)
        chmod(planted, 0o2770)
        expectOneSentence(try run("cbuff", ["--dir", planted, "list"]), 77, mentioning: "belongs to user 65534")
        expectOneSentence(try run("cbuff", ["--dir", planted, "--group-access", "list"]), 77, mentioning: "not shared with a group this user belongs to")
        expectError(.permissionDenied) { _ = try DataDirectory(path: planted).createBuffer("x", itemSize: 8, length: 4) }
        #expect(!exists(planted + "/registry.sqlite") && !exists(planted + "/x.ring"))
    }

    /// With no HOME, the fallback is /tmp/cbuff-UID: another user who made it first (mode 2777)
    /// must not get the victim's buffers. Run in a mount namespace with a /tmp of its own. That
    /// new /tmp hides everything under the old one, the binary too when the repository is
    /// cloned under /tmp: the script opens the binary before mounting and copies it, from that
    /// descriptor, into the new /tmp.
    @Test func aFallbackDirectoryPlantedByAnotherUserIsRefused() throws {
        let binary = ChildProcess.executable("cbuff").path
        let script = """
            exec 3< '\(binary)' || exit 98
            mount -t tmpfs cbuff-test /tmp || exit 99
            cat <&3 > /tmp/cbuff-binary && chmod 700 /tmp/cbuff-binary || exit 98
            mkdir /tmp/cbuff-0 && chown 65534:65534 /tmp/cbuff-0 && chmod 2777 /tmp/cbuff-0
            env -u HOME -u XDG_DATA_HOME -u XDG_RUNTIME_DIR -u CBUFF_DIR /tmp/cbuff-binary create secret --item-size 8 --length 4
            status=$?
            ls -A /tmp/cbuff-0
            exit $status
            """
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            print("IntruderTests: skipped the fallback-directory check: it needs root and unshare")
            return
        }
        let outcome = try run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script], timeout: 30)
        guard outcome.status != 99 else {
            print("IntruderTests: skipped the fallback-directory check: cannot mount a private /tmp here (\(outcome.stderr))")
            return
        }
        #expect(outcome.status == 77 && outcome.stderr.contains("/tmp/cbuff-0") && outcome.stdout.isEmpty, "\(outcome)")
    }

    // MARK: 10. registry rows are input

    func insertRow(_ values: String) throws {
        let queue = try DatabaseQueue(path: dir + "/registry.sqlite")
        try queue.write { db in
            try db.execute(sql: "INSERT INTO buffers (name, item_size, length, policy, file, format_version, writer_pid) VALUES \(values)")
        }
    }

    @Test func aRowNamingAnotherFileIsCorruptionAndRemovingItTouchesNothingElse() throws {
        var other = try directory.createBuffer("other", itemSize: 8, length: 4)
        try other.push(42)
        other.close()
        let outside = try TemporaryDirectory()
        try Data("keep".utf8).write(to: URL(fileURLWithPath: outside.path + "/f"))
        let relativeOutside = "../" + (outside.path as NSString).lastPathComponent + "/f"
        try insertRow("('up', 8, 4, 'overwrite', '\(relativeOutside)', 2, NULL), ('sideways', 8, 4, 'overwrite', './other.ring', 2, NULL), ('self', 8, 4, 'overwrite', 'registry.sqlite', 2, NULL)")
        for name in ["up", "sideways", "self"] {
            expectOneSentence(try cbuff("pop", name), 65, mentioning: "\"\(name).ring\"")
            let removed = try cbuff("rm", name)
            #expect(removed.status == 0, "\(removed)")
        }
        #expect(exists(outside.path + "/f") && exists(dir + "/other.ring") && exists(dir + "/registry.sqlite"))
        #expect(try cbuff("pop", "other").lines == ["42"])
        #expect(try directory.buffers().map(\.name) == ["other"])
    }

    @Test func rowsWithWronglyTypedValuesAreCorruptionNotATrap() throws {
        try directory.createBuffer("fine", itemSize: 8, length: 4).close()
        try insertRow("('text', 'abc', 4, 'overwrite', 'text.ring', 2, NULL), ('huge', 8, 4, 'overwrite', 'huge.ring', 2, 99999999999), ('real', 8, 4.5, 'overwrite', 'real.ring', 2, NULL)")
        for arguments in [["list"], ["list", "--json"], ["inspect", "huge"], ["pop", "text"], ["push", "real", "1"], ["rm", "--dead"]] {
            let outcome = try run("cbuff", ["--dir", dir] + arguments, timeout: 20)
            #expect(!outcome.timedOut && outcome.status == 65 && outcome.stderr.contains("is damaged"), "\(arguments): \(outcome)")
        }
        for name in ["text", "huge", "real"] {
            #expect(try cbuff("rm", name).status == 0, "a damaged row could not be removed")
        }
        #expect(try cbuff("list").status == 0)
    }

    // MARK: 11. symbolic links and special files

    @Test func aSymbolicLinkInPlaceOfARingFileIsNeverFollowed() throws {
        var victim = try directory.createBuffer("victim", itemSize: 8, length: 4)
        try victim.push(1)
        victim.close()
        try directory.createBuffer("feed", itemSize: 8, length: 4).close()
        unlink(dir + "/feed.ring")
        symlink(dir + "/victim.ring", dir + "/feed.ring")
        expectOneSentence(try cbuff("push", "feed", "99"), 65, mentioning: "symbolic link")
        expectOneSentence(try cbuff("pop", "feed"), 65, mentioning: "symbolic link")
        #expect(try cbuff("pop", "victim", "-n", "5").lines == ["1"], "the push landed in another buffer")
    }

    @Test func aSymbolicLinkInPlaceOfTheRegistryIsNeverFollowed() throws {
        let target = try TemporaryDirectory()
        for file in ["registry.sqlite", "registry.sqlite-wal", "registry.lock"] {
            let data = dir + "/" + file.replacingOccurrences(of: ".", with: "-")
            mkdir(data, 0o700)
            symlink(target.path + "/stolen", data + "/" + file)
            let outcome = try run("cbuff", ["--dir", data, "create", "x", "--item-size", "8", "--length", "4"], timeout: 20)
            #expect(!outcome.timedOut && outcome.status == 65 && outcome.stderr.contains("symbolic link") || outcome.stderr.contains("not a regular file"), "\(file): \(outcome)")
            #expect(!exists(target.path + "/stolen"), "\(file): something was written through the link")
        }
    }

    @Test func fifosWhereFilesShouldBeHangNothing() throws {
        try directory.createBuffer("q", itemSize: 8, length: 4).close()
        try directory.createBuffer("r", itemSize: 8, length: 4).close()
        unlink(dir + "/q.ring")
        mkfifo(dir + "/q.ring", 0o600)                  // in place of a registered ring
        mkfifo(dir + "/stray.ring", 0o600)              // an unregistered one
        mkfifo(dir + "/.r.1.2.tmp", 0o600)              // a creator's temporary file, its PID gone
        for arguments in [["list"], ["list", "--dead"], ["inspect", "q"], ["create", "stray", "--item-size", "8", "--length", "4"],
                          ["rm", "--dead"], ["rm", "q"], ["pop", "q"]] {
            let outcome = try run("cbuff", ["--dir", dir] + arguments, timeout: 10)
            #expect(!outcome.timedOut, "\(arguments) hung on a FIFO")
            #expect(outcome.status < 128, "\(arguments) died of a signal: \(outcome)")
        }
        #expect(try cbuff("pop", "r").status == 0, "another buffer stopped working")
    }

    // MARK: 12. bounded waits

    /// The registry lock is taken only to create or upgrade the registry: a creator that must
    /// create it waits at most the lock timeout, and says who holds it.
    @Test func aHeldRegistryLockEndsTheWaitWithASentenceNamingItsHolder() throws {
        let lock = open(dir + "/registry.lock", O_RDWR | O_CREAT, 0o600)
        defer { close(lock) }
        #expect(flock(lock, LOCK_EX) == 0)
        let started = Date()
        let outcome = try cbuff("--lock-timeout", "0.5", "create", "b", "--item-size", "8", "--length", "4", timeout: 30)
        expectOneSentence(outcome, 75, mentioning: "PID \(getpid())")
        #expect(Date().timeIntervalSince(started) < 15, "the wait was not bounded by --lock-timeout")
        #expect(!exists(dir + "/b.ring"))
        flock(lock, LOCK_UN)
        #expect(try cbuff("create", "b", "--item-size", "8", "--length", "4").status == 0)
    }

    /// Readers never serialise on the registry lock: with it held by another process, every
    /// reading command (and a writer attaching to an existing buffer) works at once.
    @Test func readersDoNotWaitForTheRegistryLock() throws {
        var writer = try directory.createBuffer("b", itemSize: 8, length: 4)
        try writer.push(3)
        writer.close()
        let lock = open(dir + "/registry.lock", O_RDWR)
        defer { close(lock) }
        #expect(flock(lock, LOCK_EX) == 0)
        for arguments in [["list"], ["inspect", "b"], ["pop", "b"], ["tail", "b"], ["push", "b", "4"]] {
            let outcome = try run("cbuff", ["--dir", dir, "--lock-timeout", "0.5"] + arguments, timeout: 30)
            #expect(!outcome.timedOut && outcome.status == 0, "\(arguments) waited for the registry lock: \(outcome)")
        }
        flock(lock, LOCK_UN)
    }

    @Test func aHeldReaderTableLockEndsTheWaitAndRegistersNothing() throws {
        try directory.createBuffer("b", itemSize: 8, length: 4, policy: .block).close()
        let ring = open(directory.ringPath(of: "b"), O_RDWR)
        defer { close(ring) }
        var range = flock(l_type: Int16(F_WRLCK), l_whence: Int16(SEEK_SET), l_start: 64, l_len: 1, l_pid: 0)
        #expect(fcntl(ring, 37 /* F_OFD_SETLK */, &range) == 0)
        let outcome = try cbuff("--lock-timeout", "0.5", "pop", "b", "--reader", "r", timeout: 30)
        expectOneSentence(outcome, 75, mentioning: "PID \(getpid())")
        #expect(try directory.status(of: "b").ring?.readers.isEmpty == true, "a failed registration left a reader behind")
    }

    // MARK: 13. traps and loops

    @Test func agesThatCannotBeSecondsAreUsageErrors() throws {
        for age in ["1e16", "inf", "nan", "-1"] {
            let outcome = try cbuff("list", "--dead", "--older-than", age)
            expectOneSentence(outcome, 64, mentioning: "--older-than")
        }
    }

    @Test func countersThatContradictEachOtherAreCorruptionNotALoop() throws {
        var writer = try directory.createBuffer("bent", itemSize: 8, length: 8)
        try writer.push(contentsOf: [1, 2, 3] as [UInt64])
        writer.close()
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: directory.ringPath(of: "bent")))
        try handle.seek(toOffset: 128)                       // `published`
        try handle.write(contentsOf: withUnsafeBytes(of: (UInt64(1) << 40).littleEndian) { Array($0) })
        try handle.close()
        for arguments in [["tail", "bent"], ["push", "bent", "4"], ["pop", "bent", "-n", "100"]] {
            let outcome = try run("cbuff", ["--dir", dir] + arguments, timeout: 20)
            #expect(!outcome.timedOut && outcome.status == 65 && outcome.stderr.contains("counters contradict"), "\(arguments): \(outcome.status) \(outcome.stderr)")
        }
    }

    @Test func aProcessMappingMoreRingsThanTheSigbusGuardCoversGetsAnError() throws {
        try directory.createBuffer("many", itemSize: 8, length: 2).close()
        let agent = try Agent(["map-many", dir, "many", String(Sys.guardCapacity + 10)])
        let line = agent.readLine() ?? ""
        if line.hasPrefix("skipped") {
            print("IntruderTests: \(line); cannot map more rings than the SIGBUS guard covers here")
            _ = agent.wait(timeout: 20)
            return
        }
        #expect(line.hasPrefix("refused at \(Sys.guardCapacity - 1)") || line.hasPrefix("refused at \(Sys.guardCapacity)"), "\(line)")
        #expect(line.contains("SIGBUS guard"), "\(line)")
        #expect(agent.wait(timeout: 60).status == 0)
    }

    // MARK: 14. many values

    @Test func pushingManyValuesAsArgumentsIsFast() throws {
        try directory.createBuffer("wide", itemSize: 8, length: 1 << 17).close()
        let values = (1...120_000).map(String.init)
        let started = Date()
        let outcome = try run("cbuff", ["--dir", dir, "push", "wide"] + values, timeout: 60)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(try directory.status(of: "wide").ring?.written == 120_000)
    }

    // MARK: 15. words

    @Test func interruptedWriteDescribesTheCurrentWriter() throws {
        var writer = try directory.createBuffer("cut", itemSize: 8, length: 8)
        try writer.push(contentsOf: [1, 2] as [UInt64])
        writer.close()
        // As a writer killed in the middle of a 3-item batch leaves it: claimed ahead of
        // published, state attached, no lock.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: directory.ringPath(of: "cut")))
        try handle.seek(toOffset: UInt64(RingLayout.Offset.claimedOverwrite))
        try handle.write(contentsOf: withUnsafeBytes(of: UInt64(5).littleEndian) { Array($0) })
        try handle.seek(toOffset: UInt64(RingLayout.Offset.writerState))
        try handle.write(contentsOf: withUnsafeBytes(of: WriterState.attached.rawValue.littleEndian) { Array($0) })
        try handle.close()
        // `eventually`: the closed writer's lock may live on a moment in a child another test is
        // spawning (fork shares it until exec), and a live writer has no interrupted write.
        #expect(try eventually { try directory.status(of: "cut").ring?.interruptedWrite == 2 })
        #expect(try cbuff("push", "cut", "3").status == 0)
        let report = try cbuff("inspect", "cut", "--json")
        #expect(report.stdout.contains("\"interruptedWrite\":null"), "\(report)")
        #expect(try cbuff("inspect", "cut").stdout.contains("interrupted  no"))
    }

    /// A writer alive in another PID namespace: its recorded PID means nothing here, and the
    /// refusal must say so rather than blame a child the writer forked.
    @Test func aWriterInAnotherPIDNamespaceIsNotBlamedOnAForkedChild() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            print("IntruderTests: skipped the PID-namespace check: it needs root and unshare")
            return
        }
        try directory.createBuffer("ns", itemSize: 8, length: 16).close()
        let process = try Spawned("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", ChildProcess.executable("cbuff").path, "--dir", dir, "push", "ns", "--stdin"],
                                  environment: ProcessInfo.processInfo.environment, input: .pipe, error: .null)
        defer { process.kill(SIGTERM); process.wait() }
        process.write(Array("1\n".utf8))
        var reader = try directory.openReader("ns")
        guard try reader.pop(timeout: .seconds(20)) == 1 else {
            print("IntruderTests: skipped the PID-namespace check: the namespaced writer did not start (unshare refused?)")
            return
        }
        let refused = try cbuff("push", "ns", "2")
        expectOneSentence(refused, 75, mentioning: "another PID namespace")
        #expect(!refused.stderr.contains("most likely"), "\(refused)")
        process.closeInput()
        #expect(process.wait() == 0)
    }

    @Test func wordsAreOneEscapedSentence() throws {
        expectOneSentence(try cbuff("create"), 64, mentioning: "Missing expected argument")
        let escaped = try cbuff("pop", "a\u{1B}[31mred")
        #expect(escaped.status == 64 && !escaped.stderr.contains("\u{1B}") && escaped.stderr.contains("\\u{1b}"), "\(escaped)")
        try directory.createBuffer("line", itemSize: 8, length: 8).close()
        let line = try cbuff("push", "line", "--stdin", input: "1\n\u{1B}]0;owned\u{07}\n")
        #expect(line.status == 65 && !line.stderr.contains("\u{1B}") && !line.stderr.contains("\u{07}"), "\(line)")
        expectOneSentence(try run("cbuff", ["--dir", dir + "/no/such/dir", "list"]), 66, mentioning: "does not exist")
        expectOneSentence(try run("cbuff", ["--dir", dir + "/no/such/dir", "inspect", "x"]), 66, mentioning: "x")
        try directory.createBuffer("wide16", itemSize: 16, length: 4).close()
        expectOneSentence(try cbuff("push", "wide16", "18446744073709551616"), 65, mentioning: "larger than 18446744073709551615")
    }

    func cbuff(_ arguments: String..., input: String) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, input: input, timeout: 20)
    }
}
