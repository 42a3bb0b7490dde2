import Foundation
import Testing
import TestSupport

/// The tests start thousands of processes, through `Spawned` (posix_spawn), not Foundation's
/// `Process`, whose `run()` reads past glibc's directory buffer and crashed CI (see `Spawned`).
/// What `Process` gave for free is checked here: nothing of this process but the three standard
/// streams reaches a child, exit statuses and signals come back as the shell says them, and a
/// wait is bounded.
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
}
