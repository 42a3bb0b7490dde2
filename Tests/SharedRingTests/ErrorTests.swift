import Foundation
import Testing
import TestSupport
@testable import SharedRing
import SharedRingCommon
import SharedRingSystem

/// The errors as callers see them: every failure of the layers below becomes a `CBuffError`
/// with its own code, and a failed system call stays inspectable as its cause. The tests
/// match codes, and check that sentences name what they must (the buffer, the file, the call),
/// not their exact wording.
@Suite struct ErrorTests {
    let temporary: TemporaryDirectory
    var directory: DataDirectory { temporary.directory }

    init() throws { temporary = try TemporaryDirectory() }

    @Test func everyKindOfFailureHasItsOwnPublicCodeAndName() {
        let codes = CBuffFailure.Code.allCases.map { CBuffError(CBuffFailure($0, "sentence")).code }
        #expect(Set(codes).count == CBuffFailure.Code.allCases.count)
        #expect(Set(codes.map(\.description)).count == codes.count)
        for (kind, code) in zip(CBuffFailure.Code.allCases, codes) {
            #expect(code.raw == kind.rawValue, "\(kind)")
        }
        // The codes the documentation names, spot-checked by name.
        #expect(CBuffError(CBuffFailure(.notFound, "")).code == .notFound)
        #expect(CBuffError(CBuffFailure(.timedOut, "")).code == .timedOut)
        #expect(CBuffError(CBuffFailure(.readerBusy, "")).code == .readerBusy)
    }

    /// Every errno is reported as what it means (one table, `CBuffFailure.system`): a
    /// descriptor limit is not a permission problem, nor is a read-only mount, and an errno the
    /// table does not know is "cannot", never another cause.
    @Test(arguments: [
        (EMFILE, CBuffFailure.Code.systemFailure, "Too many open files"), (ENFILE, .systemFailure, "Too many open files in the system"),
        (ENAMETOOLONG, .invalidArgument, "name too long"), (EROFS, .permissionDenied, "Read-only"),
        (EACCES, .permissionDenied, "Permission denied"), (EPERM, .permissionDenied, "Permission denied"),
        (ENOSPC, .systemFailure, "No space left"), (EDQUOT, .systemFailure, "No space left"), (EFBIG, .systemFailure, "File too large"),
        (ENOMEM, .systemFailure, "Out of memory"), (EIO, .systemFailure, "Input/output error"), (ENOENT, .notFound, "Not found"),
        (ELOOP, .corrupted, "symbolic link"), (ENXIO, .corrupted, "FIFO"), (EISDIR, .corrupted, "a directory is where"),
        (EXDEV, .systemFailure, "Cannot open"),
    ])
    func eachErrnoIsReportedAsItsCause(errno: Int32, code: CBuffFailure.Code, words: String) {
        let failure = CBuffFailure.system(SystemCallFailure(call: "open", errno: errno), "open the thing /d/t")
        #expect(failure.code == code, "errno \(errno): \(failure)")
        #expect(failure.message.contains(words) && failure.message.contains("/d/t"), "errno \(errno): \(failure)")
        #expect(failure.code == .permissionDenied || !failure.message.contains("Permission denied"), "errno \(errno): \(failure)")
    }

    @Test func aFailedSystemCallIsTheCauseWithItsNameAndErrno() throws {
        try directory.createBuffer("gone", itemSize: 8, length: 4).close()
        try FileManager.default.removeItem(atPath: directory.ringPath(of: "gone"))
        do {
            _ = try directory.openReader("gone")
            Issue.record("opened a buffer whose ring file is gone")
        } catch {
            #expect(error.code == .corrupted)
            #expect(error.message.contains("\"gone\"") && error.message.contains(directory.ringPath(of: "gone")), "\(error)")
            let cause = try #require(error.cause as? SystemCallError, "\(error)")
            #expect(cause.call == "openat")
            #expect(cause.errno == ENOENT)
            #expect(error.description == "\(error.message) (openat: No such file or directory (errno \(ENOENT)))")
        }
    }

    @Test func argumentsOutOfRangeAreRefusedBeforeAnythingIsCreated() throws {
        for (itemSize, length, named) in [(8, 1, "Length 1"), (0, 4, "Item size 0"), (1 << 25, 4, "Item size \(1 << 25)")] {
            do {
                _ = try directory.createBuffer("bad", itemSize: itemSize, length: length)
                Issue.record("created a buffer of \(itemSize) × \(length)")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.hasPrefix(named), "\(error)")
                #expect(error.cause == nil)
            }
        }
        #expect(try directory.buffers().isEmpty)
    }

    @Test func aSecondCreatorIsToldTheWriterIsAliveWithItsPID() throws {
        let writer = try directory.createBuffer("taken", itemSize: 8, length: 4)
        do {
            _ = try directory.createBuffer("taken", itemSize: 8, length: 4)
            Issue.record("created a buffer twice")
        } catch {
            #expect(error.code == .bufferAlreadyCreated)
            #expect(error.message.contains("PID \(getpid())") && error.message.contains("alive"), "\(error)")
        }
        writer.close()
        do {
            _ = try directory.createBuffer("taken", itemSize: 8, length: 4)
            Issue.record("created a buffer twice")
        } catch {
            #expect(error.code == .bufferAlreadyCreated)
            #expect(error.message.contains("gone") && error.message.contains("take it over"), "\(error)")
        }
    }

    @Test func codesMatchInCatchClauses() throws {
        // The documented ways to match: `catch CBuffError.Code.x` (with an untyped throw) and
        // `catch where error.code == …` (typed).
        func untyped() throws { _ = try directory.openReader("absent") }
        var matched = false
        do { try untyped() } catch CBuffError.Code.notFound { matched = true } catch {}
        #expect(matched)
        #expect(throws: CBuffError.self) { _ = try directory.openReader("absent") }
    }
}
