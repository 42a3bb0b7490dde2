import Foundation
import Spawning
import Testing
import TestSupport

/// Every program this repository starts (the tests' thousands, `cbuff demo`'s, cbuff-bench's,
/// the relay's tests') goes through `Spawned` (Sources/Spawning, posix_spawn), not Foundation's
/// `Process`, whose `run()` reads past glibc's directory buffer and crashed CI (see `Spawned`).
/// What `Process` gave for free is checked here: nothing of this process but the three standard
/// streams reaches a child, exit statuses and signals come back as the shell says them (and
/// apart), a wait is bounded, a child inherits this process's environment unless given one, and
/// no Swift source of the repository goes back to `Process`.
@Suite struct ProcessLaunchingTests {
    @Test func aChildGetsOnlyItsThreeStandardStreams() throws {
        // A descriptor of ours without close-on-exec, as some libraries leave them.
        let leaked = open("/dev/null", O_RDONLY)
        defer { close(leaked) }
        #expect(leaked > 2)
        let child = try Spawned("/bin/ls", ["/proc/self/fd"], environment: [:], output: .pipe)
        let listed = String(decoding: readToEnd(child.output), as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
        #expect(child.wait() == 0)
        // 0, 1, 2 and ls's own descriptor of the directory it lists.
        #expect(listed.count == 4 && listed.prefix(3) == [0, 1, 2] && !listed.contains(leaked), "\(listed)")
    }

    @Test func statusesSignalsAndBoundedWaits() throws {
        #expect(try Spawned("/bin/sh", ["-c", "exit 7"], environment: [:]).wait() == 7)
        let sleeper = try Spawned("/bin/sh", ["-c", "read line"], environment: [:], input: .pipe)
        #expect(sleeper.isRunning)
        #expect(sleeper.wait(timeout: 0.05) == nil)
        sleeper.kill(SIGTERM)
        #expect(sleeper.wait() == 128 + SIGTERM)
        #expect(!sleeper.isRunning)
        let echo = try run("/bin/sh", ["-c", "cat; echo oops >&2; exit 3"], input: "hello\n")
        #expect(echo.status == 3 && echo.stdout == "hello\n" && echo.stderr == "oops\n", "\(echo)")
    }

    @Test func exitsAndSignalsAreToldApart() throws {
        let exited = try Spawned("/bin/sh", ["-c", "exit 143"], environment: [:])
        #expect(exited.wait() == 143 && exited.termination == .exit(143))
        let killed = try Spawned("/bin/sh", ["-c", "kill -TERM $$"], environment: [:])
        #expect(killed.wait() == 143 && killed.termination == .signal(SIGTERM))
        // Once it has ended, a signal goes nowhere (its PID may be another process's by then).
        killed.kill(SIGKILL)
        #expect(killed.termination == .signal(SIGTERM))
    }

    /// A thread that blocks every signal (as Dispatch's and Swift Testing's do) still starts a
    /// child that SIGTERM ends.
    @Test func aChildOfAThreadBlockingSignalsStillDiesOfSIGTERM() throws {
        var all = sigset_t(), previous = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &previous)
        let child = Result { try Spawned("/bin/sh", ["-c", "read line"], environment: [:], input: .pipe) }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        let sleeper = try child.get()
        sleeper.kill(SIGTERM)
        #expect(sleeper.wait(timeout: 10) == 128 + SIGTERM)
    }

    @Test func aChildInheritsThisEnvironmentUnlessGivenOne() throws {
        let path = try #require(ProcessInfo.processInfo.environment["PATH"])
        let inherited = try Spawned("/usr/bin/env", [], output: .pipe)
        #expect(String(decoding: readToEnd(inherited.output), as: UTF8.self).split(separator: "\n").map(String.init).contains("PATH=\(path)"))
        #expect(inherited.wait() == 0)
        let given = try Spawned("/usr/bin/env", [], environment: ["ONLY": "this"], output: .pipe)
        #expect(String(decoding: readToEnd(given.output), as: UTF8.self) == "ONLY=this\n")
        #expect(given.wait() == 0)
    }

    /// A descriptor of this process as a child's stream: here a pipe whose reader is gone, so
    /// that the child's first write to stderr fails (EPIPE; SIGPIPE is at its default, so the
    /// shell dies of it).
    @Test func aDescriptorOfThisProcessCanBeAChildsStream() throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        close(ends[0])
        defer { close(ends[1]) }
        let child = try Spawned("/bin/sh", ["-c", "echo gone >&2; exit 0"], environment: [:], error: .descriptor(ends[1]))
        #expect(child.wait(timeout: 10) == 128 + SIGPIPE)
        var open: [Int32] = [-1, -1]
        #expect(pipe(&open) == 0)
        defer { close(open[0]) }
        let writer = try Spawned("/bin/sh", ["-c", "echo here >&2"], environment: [:], error: .descriptor(open[1]))
        close(open[1])
        #expect(writer.wait() == 0)
        #expect(String(decoding: readToEnd(open[0]), as: UTF8.self) == "here\n")
    }

    @Test func linesComeOneAtATimeAndTheLastWithoutItsNewline() throws {
        let child = try Spawned("/usr/bin/printf", ["one\\n\\ntwo\\nlast"], environment: [:], output: .pipe)
        var lines = LineReader(child.output)
        var read: [String] = []
        while let line = lines.next() { read.append(line) }
        #expect(read == ["one", "", "two", "last"])
        #expect(lines.next() == nil)
        #expect(child.wait() == 0)
    }

    /// The class, not the cases: Foundation's `Process` is named in no Swift source of the
    /// repository (the relay's package and the examples included), outside comments.
    @Test func noSourceStartsAProgramThroughFoundationsProcess() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let named = try Regex("\\b" + "Pro" + "cess" + "\\b")   // spelt so that this line does not name it
        var scanned = 0
        var uses: [String] = []
        for folder in ["Sources", "Tests", "Relay", "Examples", "Fuzz", "Plugins"] {
            guard let files = FileManager.default.enumerator(atPath: root.appendingPathComponent(folder).path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") && !file.split(separator: "/").contains(where: { $0.hasPrefix(".") }) {
                let path = root.appendingPathComponent(folder).appendingPathComponent(file).path
                scanned += 1
                for (number, line) in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let code = line.ranges(of: "//").first.map { line[..<$0.lowerBound] } ?? line[...]
                    if code.contains(named) { uses.append("\(folder)/\(file):\(number + 1): \(line)") }
                }
            }
        }
        #expect(scanned > 50, "found only \(scanned) Swift files under \(root.path)")
        #expect(uses.isEmpty, "Foundation's process class, whose run() crashes (start programs with Spawned, Sources/Spawning):\n\(uses.joined(separator: "\n"))")
    }
}
