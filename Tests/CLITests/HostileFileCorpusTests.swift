import Foundation
import Testing
import TestSupport

/// The hostile-file conformance corpus (`Tests/HostileFiles/corpus.json`), run against the
/// `cbuff` tool. The Python package runs the same corpus (python/tests/test_hostile_corpus.py):
/// the cases are data, so both must agree case by case. Each case starts from a copy of one base
/// data directory, damages it as its steps say, then reads (`cbuff tail NAME`), writes (`cbuff
/// push NAME 1`), lists the named readers of (`cbuff reader list NAME`) or creates again (`cbuff
/// create NAME …`) one buffer by name and must end with the expected status (and, where the
/// case says, a sentence holding its words).
@Suite struct HostileFileCorpusTests {
    struct Corpus: Decodable {
        let cases: [Case]
    }

    struct Case: Decodable, Sendable, CustomStringConvertible {
        let name: String
        let buffer: String
        let action: String?
        let steps: [Step]
        let expect: Int32
        /// Words the refusal's sentence must hold (its recovery, say), if given.
        let says: String?
        var description: String { name }
    }

    /// One damaging step; exactly one of the operation keys is set.
    struct Step: Decodable, Sendable {
        let write: String?
        let at: Int?
        let file: String?
        let truncate: Int?
        let remove: String?
        let symlink: String?
        let to: String?
        let link: String?
        let fifo: String?
        let directory: String?
        let chmod: String?
        let mode: String?
        let sql: String?
        let age: String?
    }

    /// The command of each action: read every item or message; take it over and push one;
    /// list its named readers; create it (again) with the base's geometry.
    static func arguments(_ action: String?, _ buffer: String) -> [String] {
        switch action {
        case "write": ["push", buffer, "1"]
        case "readers": ["reader", "list", buffer]
        case "create":
            ["create", buffer] + (["messages": ["--messages", "--capacity", "4096", "--max-message", "64"],
                                   "fields": ["--fields", "time:u64,qty:u32", "--length", "8"]][buffer] ?? ["--item-size", "8", "--length", "16"])
        default: ["tail", buffer]
        }
    }

    static let corpusPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("HostileFiles/corpus.json").path

    static let cases: [Case] = {
        guard let data = FileManager.default.contents(atPath: corpusPath),
              let corpus = try? JSONDecoder().decode(Corpus.self, from: data) else { return [] }
        return corpus.cases
    }()

    /// Where the base lives: one per test process, removed when it exits.
    static var basePath: String { NSTemporaryDirectory() + "cbuff-corpus-base-\(getpid())" }

    /// The base data directory every case copies, built once with the tool itself.
    static let base: Result<String, any Error> = Result(catching: { () throws -> String in
        let path = basePath
        try? FileManager.default.removeItem(atPath: path)
        atexit { try? FileManager.default.removeItem(atPath: HostileFileCorpusTests.basePath) }
        let cbuff = ChildProcess.executable("cbuff").path
        let steps: [[String]] = [
            ["create", "items", "--item-size", "8", "--length", "16"],
            ["push", "items"] + (1...20).map(String.init),
            ["pop", "items", "--reader", "r", "-n", "2"],
            ["create", "messages", "--messages", "--capacity", "4096", "--max-message", "64"],
            ["push", "messages"] + (1...5).map { "message \($0)" },
            ["create", "fields", "--fields", "time:u64,qty:u32", "--length", "8"],
            ["push", "fields", "{\"time\":1,\"qty\":2}", "{\"time\":3,\"qty\":4}"],
        ]
        for arguments in steps {
            let outcome = try run(cbuff, ["--dir", path] + arguments, timeout: 60)
            guard outcome.status == 0 else { throw POSIXError(.EIO, userInfo: ["step": "\(arguments): \(outcome)"]) }
        }
        return path
    })

    @Test func theCorpusIsThere() {
        #expect(Self.cases.count >= 40, "\(Self.corpusPath) holds \(Self.cases.count) cases")
        #expect(Set(Self.cases.map(\.name)).count == Self.cases.count, "case names are unique")
    }

    @Test(arguments: cases)
    func everyHostileFileGetsItsExpectedStatus(_ hostile: Case) throws {
        let base = try Self.base.get()
        let temporary = try TemporaryDirectory()
        let dir = temporary.path + "/d"
        #expect(shell("cp -a '\(base)' '\(dir)'") == 0)
        for step in hostile.steps { try Self.apply(step, in: dir, buffer: hostile.buffer) }
        let outcome = try run("cbuff", ["--dir", dir] + Self.arguments(hostile.action, hostile.buffer), timeout: 30)
        #expect(outcome.status == hostile.expect && !outcome.timedOut, "\(hostile): \(outcome)")
        if let words = hostile.says {
            #expect(outcome.stderr.contains(words), "\(hostile) should say \"\(words)\": \(outcome)")
        }
        if outcome.status != 0 {
            #expect(outcome.stderr.hasPrefix("cbuff: ") && outcome.stderr.filter { $0 == "\n" }.count == 1, "\(hostile): \(outcome)")
        }
        try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir)
    }

    /// The path a step's FILE names.
    static func path(_ file: String, in dir: String, buffer: String) -> String {
        switch file {
        case "ring": "\(dir)/\(buffer).ring"
        case "registry": "\(dir)/registry.sqlite"
        case "dir": dir
        default: "\(dir)/\(file)"
        }
    }

    static func apply(_ step: Step, in dir: String, buffer: String) throws {
        func at(_ file: String?) -> String { path(file ?? "ring", in: dir, buffer: buffer) }
        if let hex = step.write {
            let bytes = stride(from: 0, to: hex.count, by: 2).map { index -> UInt8 in
                let start = hex.index(hex.startIndex, offsetBy: index)
                return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
            }
            let handle = try #require(FileHandle(forUpdatingAtPath: at(step.file)), "cannot open \(at(step.file))")
            try handle.seek(toOffset: UInt64(step.at ?? 0))
            try handle.write(contentsOf: Data(bytes))
            try handle.close()
        } else if let size = step.truncate {
            #expect(Glibc.truncate(at(step.file), off_t(size)) == 0)
        } else if let file = step.remove {
            _ = unlink(at(file))
        } else if let file = step.symlink, let target = step.to {
            #expect(Glibc.symlink(target, at(file)) == 0)
        } else if let file = step.link, let target = step.to {
            // A hard link: `file` becomes one more name of the existing file `target` (both FILE names).
            #expect(Glibc.link(at(target), at(file)) == 0, "link \(at(file)) to \(at(target))")
        } else if let file = step.fifo {
            #expect(mkfifo(at(file), 0o600) == 0)
        } else if let file = step.directory {
            #expect(mkdir(at(file), 0o700) == 0)
        } else if let file = step.chmod, let mode = step.mode.flatMap({ mode_t($0, radix: 8) }) {
            #expect(Glibc.chmod(at(file), mode) == 0)
        } else if let sql = step.sql {
            let script = "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA ignore_check_constraints=ON'); c.execute(sys.argv[2]); c.commit()"
            #expect(shell("python3 -c \"\(script)\" '\(dir)/registry.sqlite' \"\(sql)\"") == 0, "\(sql)")
        } else if let file = step.age {
            // Last modified before this boot (1970): what a file that survived a reboot says.
            var times = [timespec(tv_sec: 0, tv_nsec: 0), timespec(tv_sec: 0, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, at(file), &times, 0) == 0, "age \(at(file))")
        } else {
            Issue.record("a step with no operation: \(step)")
        }
    }
}
