import Foundation
import GRDB
import Testing
import TestSupport
@testable import SharedRing

/// Named readers across processes: a killed reader resumes, racing registrations never share a record.
@Suite(.serialized) struct NamedReaderProcessTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    /// A named reader killed with SIGKILL and restarted loses nothing, and re-reads only the
    /// item it had been given last (it never asked for the next one, so never acknowledged it).
    @Test func aKilledNamedReaderRestartsWithNoLossAndOneReRead() throws {
        var writer = try directory.createBuffer("kill", itemSize: 16, length: 4096)
        for sequence in UInt64(0)..<1000 { try writer.push(bytes: TestItem.bytes(sequence, size: 16)) }
        let first = try ChildProcess("cbuff-test-agent", ["read-named", dir, "kill", "consumer", "300", "hang"])
        var seen: [UInt64] = []
        while seen.count < 300, let line = first.readLine() {
            seen.append(UInt64(line.split(separator: " ")[1])!)
        }
        #expect(seen == Array(0..<300))
        first.kill()
        #expect(first.wait() == 128 + SIGKILL)
        #expect(try directory.status(of: "kill").ring?.readers.first?.alive == false)

        let second = try ChildProcess("cbuff-test-agent", ["read-named", dir, "kill", "consumer", "10"])
        var resumed: [UInt64] = []
        while let line = second.readLine() { resumed.append(UInt64(line.split(separator: " ")[1])!) }
        #expect(second.wait() == 0)
        #expect(resumed == Array(299..<309))
        #expect(try directory.status(of: "kill").ring?.readers.first?.position == 309)
    }


    /// Eight processes register eight readers at the same moment, and two more race for one
    /// name: every reader gets its own record, and exactly one of the two racers is refused.
    @Test func processesRegisteringAtOnceNeverShareARecord() throws {
        try directory.createBuffer("race", itemSize: 8, length: 8).close()
        let names = (0..<8).map { "reader-\($0)" } + ["twin", "twin"]
        let agents = try names.map { try ChildProcess("cbuff-test-agent", ["register", dir, "race", $0]) }
        for agent in agents { agent.send("go") }
        let answers = agents.map { $0.readLine() ?? "no answer" }
        for agent in agents { agent.closeInput() }
        for agent in agents { #expect(agent.wait() == 0) }
        let slots = answers.prefix(8).compactMap { $0.hasPrefix("slot ") ? Int($0.dropFirst(5)) : nil }
        #expect(slots.count == 8 && Set(slots).count == 8, "\(answers)")
        let twins = answers.suffix(2)
        #expect(twins.filter { $0.hasPrefix("slot ") }.count == 1 && twins.contains("refused reader busy"), "\(answers)")
        let recorded = try directory.status(of: "race").ring?.readers.map(\.name).sorted()
        #expect(recorded == (names.prefix(8) + ["twin"]).sorted())
    }
}
