import Foundation
import Testing
import TestSupport
@testable import SharedRing

/// A buffer that does not fit on its filesystem: a clear error, and neither a file nor a row
/// left; the other buffers are untouched. Uses a 2 MiB tmpfs when this process may mount one
/// (root), else a child process under a file-size limit.
@Suite(.serialized) struct FullDiskTests {
    let temporary: TemporaryDirectory

    init() throws { temporary = try TemporaryDirectory() }


    @Test func creatingABufferOnAFullFilesystemFailsCleanly() throws {
        let mountPoint = temporary.path + "/small"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
        guard shell("mount -t tmpfs -o size=2m,mode=0700 cbuff-test '\(mountPoint)'") == 0 else {
            print("FullDiskTests: cannot mount a tmpfs here (not root?); testing with a file-size limit instead")
            try fileSizeLimitFallback()
            return
        }
        defer { _ = shell("umount -l '\(mountPoint)'") }
        let data = DataDirectory(path: mountPoint + "/data")
        var small = try data.createBuffer("small", itemSize: 8, length: 16)
        try small.push(7)
        do {
            _ = try data.createBuffer("huge", itemSize: 1024, length: 4096)   // 4 MiB on a 2 MiB filesystem
            Issue.record("a buffer larger than its filesystem was created")
        } catch {
            #expect(error.code == .systemFailure)
            #expect(error.message.contains("No space left"), "\(error)")
        }
        let entries = try FileManager.default.contentsOfDirectory(atPath: data.path)
        #expect(!entries.contains("huge.ring") && !entries.contains { $0.hasSuffix(".tmp") }, "\(entries)")
        #expect(try data.buffers().map(\.name) == ["small"])
        var reader = try data.openReader("small")
        #expect(try reader.popItem() == 7)
        small.close()
    }

    /// Without a mount: the agent creates the buffer under `ulimit -f` (SIGXFSZ ignored, as a
    /// shell would leave it for a daemon), so reserving the file's space fails with EFBIG.
    private func fileSizeLimitFallback() throws {
        let dir = temporary.path + "/limited"
        let agent = ChildProcess.executable("cbuff-test-agent").path
        try DataDirectory(path: dir).createBuffer("small", itemSize: 8, length: 16).close()
        let status = shell("trap '' XFSZ; ulimit -f 1024; exec '\(agent)' create '\(dir)' huge 1024 4096")
        #expect(status == 1)
        let entries = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(!entries.contains("huge.ring") && !entries.contains { $0.hasSuffix(".tmp") }, "\(entries)")
        #expect(try DataDirectory(path: dir).buffers().map(\.name) == ["small"])
    }
}
