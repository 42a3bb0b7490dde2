import Foundation
import Testing
import TestSupport

/// A failure is reported as what it is: a descriptor limit is not a permission problem, a path
/// SQLite cannot take is not one either, and a read-only mount lets every reading command work
/// (with every trust check) and refuses the others with one sentence saying "read-only".
/// Real processes, real limits, real mounts.
@Suite(.serialized) struct CauseTests {
    let temporary: TemporaryDirectory
    var dir: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    func cbuff(_ arguments: String..., in directory: String? = nil) throws -> Outcome {
        try run("cbuff", ["--dir", directory ?? dir] + arguments, timeout: 30)
    }

    /// `cbuff ARGUMENTS` under `ulimit -n limit`, through the shell.
    func cbuff(limitingOpenFilesTo limit: Int, _ arguments: [String]) throws -> Outcome {
        let command = ([ChildProcess.executable("cbuff").path, "--dir", dir] + arguments).map { "'\($0)'" }.joined(separator: " ")
        return try run("/bin/sh", ["-c", "ulimit -n \(limit) && exec \(command)"], timeout: 30)
    }

    /// With descriptor limits from "nothing left" up, each command either works or says
    /// "Too many open files" with status 1; never "permission denied" (77), never a crash.
    @Test func aDescriptorLimitIsReportedAsTooManyOpenFiles() throws {
        #expect(try cbuff("create", "x", "--item-size", "8", "--length", "4").status == 0)
        #expect(try cbuff("push", "x", "7").status == 0)
        var failed = 0
        for limit in [4, 5, 6, 7, 8, 9, 10, 11, 12, 16] {
            for arguments in [["list"], ["pop", "x"], ["create", "y\(limit)", "--item-size", "8", "--length", "4"]] {
                let outcome = try cbuff(limitingOpenFilesTo: limit, arguments)
                if outcome.status == 0 { continue }
                failed += 1
                #expect(!outcome.timedOut && outcome.status == 1 && outcome.stderr.contains("Too many open files")
                        && outcome.stderr.filter { $0 == "\n" }.count == 1,
                        "ulimit -n \(limit), \(arguments): \(outcome)")
            }
        }
        #expect(failed > 0, "no limit was low enough to fail: the test tested nothing")
        #expect(try cbuff("pop", "x").lines == ["7"])
    }

    /// SQLite opens a database by a path of at most 504 bytes: a longer data directory is a
    /// usage error that says so (status 64), and nothing is left half made.
    @Test func aDataDirectoryPathSQLiteCannotTakeIsReportedAsTooLong() throws {
        var long = dir
        while long.utf8.count < 520 { long += "/" + String(repeating: "d", count: 100) }
        let outcome = try cbuff("create", "x", "--item-size", "8", "--length", "4", in: long)
        #expect(outcome.status == 64 && outcome.stderr.contains("too long") && !outcome.stderr.contains("Permission"), "\(outcome)")
        #expect(try cbuff("list", in: long).status == 0, "a directory without a registry lists nothing")
    }

    /// The read-only mount is made in a private mount namespace (`unshare --mount`), so that it
    /// disappears with the script and never touches the machine's mounts, and so that this test
    /// passes wherever the repository is cloned (the mount covers only a directory of its own).
    @Test func readingCommandsWorkOnAReadOnlyDataDirectoryAndWritingOnesSayReadOnly() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            print("CauseTests: skipped the read-only mount check: it needs root and unshare")
            return
        }
        let source = dir + "/source", mounted = dir + "/mounted"
        mkdir(source, 0o700)
        mkdir(mounted, 0o700)
        #expect(try cbuff("create", "x", "--item-size", "8", "--length", "4", in: source).status == 0)
        #expect(try cbuff("push", "x", "5", "6", in: source).status == 0)
        #expect(try cbuff("create", "m", "--item-size", "8", "--length", "4", in: source).status == 0)
        #expect(try cbuff("create", "logs", "--messages", "--capacity", "64K", "--max-message", "1K", in: source).status == 0)
        #expect(try run("cbuff", ["--dir", source, "push", "logs", "--stdin"], input: "hello\n", timeout: 30).status == 0)
        let binary = ChildProcess.executable("cbuff").path
        // Each command's status, then its output and errors on one line each.
        let commands: [(String, [String])] = [
            ("list", ["list"]), ("inspect", ["inspect", "x", "--json"]), ("pop", ["pop", "x", "-n", "5"]),
            ("tail", ["tail", "x"]), ("follow", ["tail", "m", "--follow"]), ("message", ["pop", "logs"]),
            ("named", ["pop", "x", "--reader", "r"]), ("push", ["push", "x", "9"]),
            ("create", ["create", "y", "--item-size", "8", "--length", "4"]), ("rm", ["rm", "x"]),
        ]
        var script = """
            mount --bind '\(source)' '\(mounted)' && mount -o remount,bind,ro '\(mounted)' || exit 99

            """
        for (label, arguments) in commands {
            let line = ([binary, "--dir", mounted] + arguments).map { "'\($0)'" }.joined(separator: " ")
            let bounded = label == "follow" ? "timeout --preserve-status -s INT 1 " : ""
            script += """
                \(bounded)\(line) > "$T/out" 2> "$T/err"; echo "\(label) $?"; tr '\\n' '|' < "$T/out"; echo; tr '\\n' '|' < "$T/err"; echo

                """
        }
        for registryCompanions in [true, false] {
            if !registryCompanions {
                // As a registry every process closed, or one copied alone, leaves it: without
                // its -wal and -shm, which SQLite cannot create on a read-only mount.
                for suffix in ["-wal", "-shm"] { unlink(source + "/registry.sqlite" + suffix) }
            }
            let scratch = try TemporaryDirectory()
            let outcome = try run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script],
                                  environment: ["T": scratch.path], timeout: 60)
            guard outcome.status != 99 else {
                print("CauseTests: skipped the read-only mount check: cannot mount here (\(outcome.stderr))")
                return
            }
            var results: [String: (status: String, out: String, err: String)] = [:]
            let lines = outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var index = 0
            while index + 2 < lines.count {
                let head = lines[index].split(separator: " ")
                if head.count == 2 { results[String(head[0])] = (String(head[1]), lines[index + 1], lines[index + 2]) }
                index += 3
            }
            let context = "with\(registryCompanions ? "" : "out") -wal and -shm: \(outcome)"
            #expect(results["list"]?.status == "0" && results["list"]?.out.contains("x") == true, "\(context)")
            #expect(results["inspect"]?.status == "0" && results["inspect"]?.out.contains("\"written\":2") == true, "\(context)")
            #expect(results["pop"]?.status == "0" && results["pop"]?.out == "5|6|", "\(context)")
            #expect(results["tail"]?.status == "0" && results["tail"]?.out == "5|6|", "\(context)")
            #expect(results["follow"]?.status == "0", "tail --follow, ended by SIGINT after 1 s: \(context)")
            #expect(results["message"]?.status == "0" && results["message"]?.out == "hello|", "\(context)")
            for label in ["named", "push", "create", "rm"] {
                let result = results[label]
                #expect(result?.status == "77" && result?.err.hasPrefix("cbuff: Read-only") == true
                        && result?.err.filter({ $0 == "|" }).count == 1, "\(label): \(context)")
            }
        }
        // Nothing was written: the buffer is as it was.
        #expect(try cbuff("pop", "x", "-n", "5", in: source).lines == ["5", "6"])
        #expect(try cbuff("inspect", "x", "--json", in: source).stdout.contains("\"readers\":[]"))
    }
}
