import Foundation
import Testing
import TestSupport
import SharedRing
import SharedRingSystem

/// Fault injection over every system call of the System layer (issue 24): each scenario (create,
/// take-over and push, pop, a named reader, remove, message buffers, the status of every buffer)
/// is run once counting its calls, then once per (call, errno) pair with that call failing, on a
/// fresh data directory each time. Every run must end in success or a `CBuffError` (never another
/// error, a trap or a hang: a lock the injection makes look held is waited for at most the
/// directory's lock timeout), and afterwards, with nothing injected, the buffer must be in a state
/// every later command reads correctly: what was published before is there in order, and the
/// name can be created, taken over, read and removed again.
///
/// Only calls made on the test's own thread are failed (the injection is per thread), so the
/// suites running beside it are untouched. The registry's own file I/O is SQLite's, outside this
/// layer; its failures are the registry tests' business.
@Suite(.enabled(if: FaultInjection.isAvailable, "fault injection exists in debug builds only"))
struct FaultInjectionTests {
    /// The errnos a call can plausibly fail with, by call name; EINTR wherever the kernel can
    /// interrupt the call (the layer must retry it, so the run must then succeed as if nothing
    /// happened).
    static let plausible: [String: [Int32]] = [
        "open": [EINTR, EACCES, EMFILE, ENFILE, ENOSPC, EIO, EROFS, ENOMEM],
        "fcntl(F_DUPFD_CLOEXEC)": [EMFILE],
        "fchmod": [EPERM, EIO, EROFS],
        "fstat": [EIO, ENOMEM, EOVERFLOW],
        "lstat": [EACCES, EIO, ENOMEM, ELOOP],
        "stat": [EACCES, EIO, ENOMEM, ELOOP],
        "posix_fallocate": [EINTR, ENOSPC, EIO, EFBIG, EOPNOTSUPP],
        "pread": [EINTR, EIO],
        "pwrite": [EINTR, EIO, ENOSPC, EDQUOT],
        "rename": [EACCES, EIO, EBUSY, ENOSPC, EROFS],
        "unlink": [EACCES, EIO, EBUSY, EROFS],
        "mkdir": [EACCES, ENOSPC, EROFS, EIO],
        "chmod": [EPERM, EIO],
        "opendir": [EACCES, EMFILE, ENOMEM],
        "mmap": [ENOMEM, EACCES, ENODEV, EAGAIN],
        "flock": [EINTR, ENOLCK, EWOULDBLOCK],
        "fcntl(F_OFD_SETLK)": [EINTR, ENOLCK, EAGAIN],
        "fcntl(F_OFD_GETLK)": [EINTR, ENOLCK],
        "membarrier(REGISTER)": [EPERM, ENOSYS],
        "openat": [EINTR, EACCES, EMFILE, ENFILE, ENOSPC, EIO, EROFS, ENOMEM],
        "fstatat": [EACCES, EIO, ENOMEM, ELOOP],
        "renameat": [EACCES, EIO, EBUSY, ENOSPC, EROFS],
        "unlinkat": [EACCES, EIO, EBUSY, EROFS],
        // Creation syncs the new ring file and the directory, removal the directory (issue
        // 26). EINVAL is a file system without synchronization: nothing to make durable, success.
        "fsync": [EINTR, EIO, ENOSPC, EDQUOT, EROFS, EINVAL],
        // A writer's sync (issue 26): `fsync` of the ring file, then `msync` of its header page.
        "msync": [EINTR, EIO, ENOMEM, EINVAL],
        // Whether a ring file is in memory, for `inspect` (unknown when it fails).
        "fstatfs": [EIO, ENOMEM, ENOSYS, EOVERFLOW],
    ]

    /// One operation under test: `prepare` builds the state it starts from (nothing injected),
    /// `operation` is what fails, `verify` checks the state afterwards (nothing injected),
    /// knowing whether the operation succeeded.
    struct Scenario: Sendable, CustomStringConvertible {
        let description: String
        let prepare: @Sendable (DataDirectory) throws -> Void
        let operation: @Sendable (DataDirectory) throws -> Void
        let verify: @Sendable (DataDirectory, _ succeeded: Bool) throws -> Void
    }

    static let items = Array(UInt64(100)..<105)

    static func fiveItems(_ directory: DataDirectory) throws {
        var writer = try directory.createBuffer("a", itemSize: 8, length: 16)
        try writer.push(contentsOf: items)
        writer.close()
    }

    static func fiveMessages(_ directory: DataDirectory) throws {
        var writer = try directory.createMessageBuffer("m", capacity: 4096, maxMessageSize: 64)
        for value in items { try writer.push("message \(value)") }
        writer.close()
    }

    /// What an anonymous reader from the oldest sees.
    static func contents(_ directory: DataDirectory) throws -> [UInt64] {
        var reader = try directory.openReader("a")
        return try reader.popMany(100)
    }

    static func messages(_ directory: DataDirectory) throws -> [String] {
        var reader = try directory.openMessageReader("m")
        var texts: [String] = []
        while let message = try reader.pop() { texts.append(String(decoding: message.bytes, as: UTF8.self)) }
        return texts
    }

    /// Runs `body` again while it fails with a busy writer or reader, for at most 5 s: a lock
    /// this process released may still be shared, until it execs, by a child another test is
    /// forking at that moment (see `eventually`).
    static func whileBusy<T>(_ body: () throws -> T) throws -> T {
        let deadline = Date(timeIntervalSinceNow: 5)
        while true {
            do {
                return try body()
            } catch let error as CBuffError where (error.code == .writerBusy || error.code == .readerBusy) && Date() < deadline {
                usleep(1000)
            }
        }
    }

    /// The buffer `a` is fully usable: it can be taken over, pushed to, read in order, removed
    /// and created again; and no ring file lies in the directory without its row.
    static func usable(_ directory: DataDirectory, startingWith expected: [UInt64]) throws {
        let before = try contents(directory)
        #expect(Array(before.prefix(expected.count)) == expected, "items after the failure: \(before)")
        try whileBusy {
            var writer = try directory.takeOver("a")
            try writer.push(999)
            writer.close()
        }
        #expect(try contents(directory) == before + [999])
        try whileBusy { try directory.removeBuffer("a") }
        #expect(try directory.unregisteredRingFiles().isEmpty)
        try directory.createBuffer("a", itemSize: 8, length: 16).close()
        try whileBusy { try directory.removeBuffer("a") }
    }

    /// Either `a` exists and is usable, or it does not and can be created; nothing is left over.
    static func createdOrAbsent(_ directory: DataDirectory, succeeded: Bool) throws {
        let exists = try directory.buffers().contains { $0.name == "a" }
        if succeeded { #expect(exists) }
        if exists {
            try usable(directory, startingWith: [])
        } else {
            // A ring file the failed operation could not remove may be left; creating the
            // name again must replace it.
            try directory.createBuffer("a", itemSize: 8, length: 16).close()
            try usable(directory, startingWith: [])
        }
    }

    static let scenarios: [Scenario] = [
        Scenario(description: "create", prepare: { _ in }, operation: { directory in
            try directory.createBuffer("a", itemSize: 8, length: 16).close()
        }, verify: createdOrAbsent),
        Scenario(description: "create messages", prepare: { _ in }, operation: { directory in
            try directory.createMessageBuffer("m", capacity: 4096, maxMessageSize: 64).close()
        }, verify: { directory, succeeded in
            let exists = try directory.buffers().contains { $0.name == "m" }
            if succeeded { #expect(exists) }
            if !exists { try directory.createMessageBuffer("m", capacity: 4096, maxMessageSize: 64).close() }
            try whileBusy {
                var writer = try directory.takeOverMessages("m")
                try writer.push("after")
                writer.close()
            }
            #expect(try messages(directory) == ["after"])
            try whileBusy { try directory.removeBuffer("m") }
        }),
        Scenario(description: "take over and push", prepare: fiveItems, operation: { directory in
            var writer = try directory.takeOver("a")
            try writer.push(contentsOf: [UInt64(105), 106])
            writer.close()
        }, verify: { directory, succeeded in
            try usable(directory, startingWith: succeeded ? items + [105, 106] : items)
        }),
        // A sync stores the durable sequence only after `fsync` succeeded; a failed `msync` of
        // the header page after it leaves a value that is true either way.
        Scenario(description: "take over, push, sync", prepare: fiveItems, operation: { directory in
            var writer = try directory.takeOver("a")
            try writer.push(105)
            #expect(try writer.sync() == 6)
            writer.close()
        }, verify: { directory, succeeded in
            let durable = try directory.status(of: "a").ring?.durable
            #expect(succeeded ? durable == 6 : durable == 0 || durable == 6, "durable \(String(describing: durable))")
            try usable(directory, startingWith: items)
        }),
        Scenario(description: "pop", prepare: fiveItems, operation: { directory in
            let read = try contents(directory)
            #expect(read == items)
        }, verify: { directory, _ in try usable(directory, startingWith: items) }),
        Scenario(description: "named reader", prepare: fiveItems, operation: { directory in
            var reader = try directory.openReader("a", named: "r")
            #expect(try reader.popMany(3) == Array(items.prefix(3)))
            reader.close()
        }, verify: { directory, succeeded in
            let rest = try whileBusy {
                var reader = try directory.openReader("a", named: "r")
                let rest = try reader.popMany(100)
                reader.close()
                return rest
            }
            if succeeded { #expect(rest == Array(items.dropFirst(3))) }
            #expect(rest == items || rest == Array(items.dropFirst(3)), "the named reader resumed with \(rest)")
            try whileBusy { try directory.removeReader("r", of: "a") }
            try usable(directory, startingWith: items)
        }),
        Scenario(description: "remove", prepare: fiveItems, operation: { directory in
            try directory.removeBuffer("a")
        }, verify: { directory, succeeded in
            if succeeded { #expect(try !directory.buffers().contains { $0.name == "a" }) }
            try createdOrAbsent(directory, succeeded: false)
        }),
        Scenario(description: "messages: take over, push, read", prepare: fiveMessages, operation: { directory in
            var writer = try directory.takeOverMessages("m")
            try writer.push("message 105")
            writer.close()
            _ = try messages(directory)
        }, verify: { directory, succeeded in
            let texts = try messages(directory)
            let expected = items.map { "message \($0)" }
            #expect(Array(texts.prefix(5)) == expected && (texts.count == 5 || texts.last == "message 105"), "\(texts)")
            if succeeded { #expect(texts.count == 6) }
            try whileBusy { try directory.removeBuffer("m") }
        }),
        Scenario(description: "status of every buffer", prepare: { directory in
            try fiveItems(directory)
            try fiveMessages(directory)
        }, operation: { directory in
            _ = try directory.statuses()
        }, verify: { directory, _ in
            #expect(try directory.statuses().count == 2)
            #expect(try messages(directory).count == 5)
            try usable(directory, startingWith: items)
        }),
    ]

    /// Runs `scenario` with the `nth` call failing with `code` (0: nothing fails, calls only
    /// counted) in a fresh directory. Returns the calls made, and whether the operation succeeded.
    static func run(_ scenario: Scenario, failing nth: Int, with code: Int32) throws -> (calls: [String], fired: Bool, succeeded: Bool) {
        let temporary = try TemporaryDirectory()
        let directory = DataDirectory(path: temporary.path, lockTimeout: .milliseconds(300))
        try scenario.prepare(directory)
        let started = Date()
        FaultInjection.arm(failingCall: nth, errno: code)
        var succeeded = true
        do {
            try scenario.operation(directory)
        } catch is CBuffError {
            succeeded = false
        } catch {
            FaultInjection.disarm()
            Issue.record("\(scenario) with call \(nth) failing with errno \(code): not a CBuffError: \(error)")
            return ([], true, false)
        }
        let calls = FaultInjection.calls, fired = FaultInjection.fired
        FaultInjection.disarm()
        let seconds = Date().timeIntervalSince(started)
        #expect(seconds < 5, "\(scenario) with call \(nth) (\(calls.dropFirst(nth - 1).first ?? "?")) failing with errno \(code) took \(seconds) s")
        try scenario.verify(directory, succeeded)
        return (calls, fired, succeeded)
    }

    @Test(arguments: scenarios)
    func everyFailingSystemCallEndsInATypedErrorAndAUsableBuffer(scenario: Scenario) throws {
        // Counted on a warm process: the first create of a process reads its own start time
        // from /proc once (`RingFile.thisProcess`), calls the runs after it do not make, and a
        // count that includes them puts every later index on another call.
        _ = try Self.run(scenario, failing: 0, with: 0)
        let counted = try Self.run(scenario, failing: 0, with: 0)
        #expect(counted.succeeded, "\(scenario) fails with nothing injected")
        var pairs = 0
        for (index, call) in counted.calls.enumerated() {
            let codes = try #require(Self.plausible[call], "no plausible errnos listed for '\(call)'")
            for code in codes {
                let outcome = try Self.run(scenario, failing: index + 1, with: code)
                // EINTR is retried where the kernel can raise it: the operation must not notice.
                if code == EINTR && outcome.fired {
                    #expect(outcome.succeeded, "\(scenario): EINTR on call \(index + 1) (\(call)) was not retried")
                }
                pairs += 1
            }
        }
        print("fault injection: \(scenario): \(counted.calls.count) calls, \(pairs) (call, errno) pairs, calls: \(Set(counted.calls).sorted())")
        #expect(pairs > 0)
    }
}
