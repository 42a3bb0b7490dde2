import Foundation
import Testing
import TestSupport

/// The named-reader table is read whole, by everyone who reads it (issue 24, class 2): a table
/// that contradicts itself is `corrupted`, naming the record, never read as one of its records;
/// and a reader removed by force while its process runs is told so, and its record is not
/// handed to another reader while that process still holds it.
@Suite struct ReaderTableTrustTests {
    let cbuff: CBuffTool
    var dir: String { cbuff.dir }

    init() throws { cbuff = try CBuffTool() }

    /// Writes `bytes` at `offset` of buffer `name`'s ring file.
    func damage(_ name: String, at offset: UInt64, _ bytes: [UInt8]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: "\(dir)/\(name).ring"))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: Data(bytes))
    }

    /// The name in named-reader record `index` of buffer `name` if it is registered (state 1).
    func recordName(_ name: String, _ index: Int) throws -> String? {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).ring"))
        let record = 1024 + 128 * index
        guard data[record + 64] == 1 else { return nil }
        return String(decoding: data[(record + 84)..<(record + 84 + Int(data[record + 80]))], as: UTF8.self)
    }

    /// Copies named-reader record 0 over record 1: one name in two registered records.
    func duplicateRecordZero(_ name: String) throws {
        let url = URL(fileURLWithPath: "\(dir)/\(name).ring")
        let data = try Data(contentsOf: url)
        try damage(name, at: 1152, [UInt8](data[1024..<1152]))
    }

    @Test func aNameInTwoRecordsIsDamageForEveryReaderOfTheTable() throws {
        #expect(try cbuff("create", "x", "--item-size", "8", "--length", "8", "--policy", "block", "--reader", "r1").status == 0)
        #expect(try cbuff("push", "x", "1", "2", "3").status == 0)
        try duplicateRecordZero("x")
        for command in [["reader", "list", "x"], ["inspect", "x"], ["pop", "x", "--reader", "r1", "-n", "3"], ["tail", "x"],
                        ["push", "x", "4"], ["reader", "rm", "x", "r1"], ["reader", "seek", "x", "r1", "--to", "latest"],
                        ["reader", "add", "x", "r2"]] {
            let outcome = try cbuff(command)
            #expect(outcome.status == 65 && outcome.stderr.contains("records 0 and 1") && outcome.stderr.contains("\"r1\""), "\(command): \(outcome)")
        }
        let listed = try cbuff("list")
        #expect(listed.status == 65 && listed.stdout.contains("damaged"), "\(listed)")
        // A state that is neither free nor registered is said as such, not as a damaged name.
        #expect(try cbuff("create", "y", "--item-size", "8", "--length", "8", "--reader", "r").status == 0)
        try damage("y", at: 1088, [7, 0, 0, 0])
        let inspected = try cbuff("inspect", "y")
        #expect(inspected.status == 65 && inspected.stdout.contains("has state 7, neither free (0) nor registered (1)") && !inspected.stdout.contains("damaged name"), "\(inspected)")
        // The operator's way out.
        #expect(try cbuff("rm", "x", "--force").status == 0)
    }

    /// A `block` writer held back by a reader never overwrites on the strength of a table damaged
    /// under it, and never waits for room the damage may never give: its next look at the table
    /// ends the push with `corrupted`.
    @Test func aBlockWriterWaitingForRoomStopsOnADamagedTable() throws {
        #expect(try cbuff("create", "j", "--item-size", "8", "--length", "4", "--policy", "block", "--reader", "r").status == 0)
        let writer = try ChildProcess("cbuff", ["--dir", dir, "push", "j", "1", "2", "3", "4", "5"])
        #expect(try eventually(within: 30) { try cbuff("inspect", "j", "--json").stdout.contains("\"writerBlockedBy\":[\"r\"]") })
        try duplicateRecordZero("j")
        let pushed = writer.wait(timeout: 30)
        #expect(pushed.status == 65 && !pushed.timedOut, "\(pushed)")
        // Nothing r had not read was overwritten: the four items are there.
        try damage("j", at: 1216, [0, 0, 0, 0])      // free the copy again
        #expect(try cbuff("pop", "j", "--reader", "r", "-n", "10").lines == ["1", "2", "3", "4"])
    }

    /// `reader rm --force` under a running reader: the reader's process stops at its next read
    /// or wake-up (exit 66, one sentence), and its record is not handed to another reader while
    /// that process holds it, so a new reader is registered elsewhere, not refused with a false
    /// "in use by a live process (PID 0)".
    @Test func aReaderRemovedByForceStopsAndItsRecordWaitsForItsProcess() throws {
        #expect(try cbuff("create", "x", "--item-size", "8", "--length", "64", "--policy", "block", "--reader", "r1").status == 0)
        let follower = try ChildProcess("cbuff", ["--dir", dir, "tail", "x", "--follow", "--reader", "r1"])
        #expect(try cbuff("push", "x", "1", "2", "3").status == 0)
        #expect(follower.readLine() == "1" && follower.readLine() == "2" && follower.readLine() == "3")
        // Stopped, it cannot notice: its record stays held by its liveness lock.
        follower.kill(SIGSTOP)
        #expect(try cbuff("reader", "rm", "x", "r1", "--force").status == 0)
        let added = try cbuff("reader", "add", "x", "r2", "--from", "latest")
        #expect(added.status == 0, "\(added)")
        #expect(try recordName("x", 1) == "r2" && recordName("x", 0) == nil)
        follower.kill(SIGCONT)
        let stopped = follower.wait(timeout: 30)
        #expect(stopped.status == 66 && !stopped.timedOut, "\(stopped)")
        #expect(try cbuff("push", "x", "4", "5").status == 0)
        #expect(try cbuff("pop", "x", "--reader", "r2", "-n", "10").lines == ["4", "5"])
        // Once the removed reader's process is gone, its record is free for anyone.
        #expect(try cbuff("reader", "add", "x", "r3").status == 0)
        #expect(try recordName("x", 0) == "r3")
    }
}

extension CBuffTool {
    func callAsFunction(_ arguments: [String]) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, input: nil, timeout: 60)
    }
}
