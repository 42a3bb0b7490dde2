import Foundation
import Testing
import TestSupport

/// Who may touch a data directory: its owner only by default, its group when asked, and never a
/// process of another user when it is private.
@Suite(.serialized) struct PermissionTests {
    let temporary: TemporaryDirectory
    /// nobody:nogroup, the unprivileged user every Debian system has.
    let nobody: (uid: UInt32, gid: UInt32) = (65534, 65534)

    init() throws {
        temporary = try TemporaryDirectory()
        chmod(temporary.path, 0o755)   // let other users reach the directories inside
    }

    func mode(_ path: String) -> mode_t {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    func cbuff(_ dir: String, _ arguments: String..., user: (uid: UInt32, gid: UInt32)? = nil) throws -> Outcome {
        try run("cbuff", ["--dir", dir] + arguments, user: user)
    }

    /// Every file of a data directory other than the ring files.
    func registryFiles(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("registry") }.map { dir + "/" + $0 }
    }

    @Test func everythingIsOwnerOnlyByDefaultWhateverTheUmask() throws {
        let dir = temporary.path + "/private/nested"
        let old = umask(0)   // would leave every bit a careless create asks for
        defer { umask(old) }
        #expect(try cbuff(dir, "create", "p", "--item-size", "8", "--length", "4").status == 0)
        #expect(try cbuff(dir, "push", "p", "1").status == 0)
        #expect(mode(temporary.path + "/private") == 0o700 && mode(dir) == 0o700)
        #expect(mode(dir + "/p.ring") == 0o600)
        let registry = registryFiles(dir)
        #expect(registry.count >= 2, "\(registry)")
        for file in registry { #expect(mode(file) == 0o600, "\(file) is \(String(mode(file), radix: 8))") }
    }

    @Test func groupAccessSharesTheDirectoryAndItsFilesWithTheGroup() throws {
        let dir = temporary.path + "/shared"
        let old = umask(0o077)   // would take the group bits away
        defer { umask(old) }
        #expect(try cbuff(dir, "--group-access", "create", "s", "--item-size", "8", "--length", "4").status == 0)
        #expect(try cbuff(dir, "push", "s", "1").status == 0)
        #expect(mode(dir) == 0o2770)
        #expect(mode(dir + "/s.ring") == 0o660)
        for file in registryFiles(dir) { #expect(mode(file) == 0o660, "\(file) is \(String(mode(file), radix: 8))") }
    }

    /// Run as root, the test drops to nobody in a child; elsewhere it says why it cannot.
    @Test func anotherUserCannotAttachToAPrivateBufferButTheGroupCanToASharedOne() throws {
        guard getuid() == 0 else {
            print("PermissionTests: skipped the cross-user check: it needs root to run a child as another user (running as uid \(getuid())).")
            return
        }
        guard try run("cbuff", ["--version"], user: nobody).status == 0 else {
            print("PermissionTests: skipped the cross-user check: user nobody cannot run \(ChildProcess.executable("cbuff").path) (setpriv missing or the build directory is private).")
            return
        }
        // Private: the directory is 0700. Opened up to 0711, the files themselves (0600) still refuse.
        let privateDir = temporary.path + "/mine"
        #expect(try cbuff(privateDir, "create", "p", "--item-size", "8", "--length", "4").status == 0)
        #expect(try cbuff(privateDir, "push", "p", "7").status == 0)
        for directoryMode: mode_t in [0o700, 0o711] {
            chmod(privateDir, directoryMode)
            for arguments in [["pop", "p"], ["push", "p", "8"], ["list"], ["inspect", "p"], ["rm", "p"]] {
                let outcome = try run("cbuff", ["--dir", privateDir] + arguments, user: nobody)
                #expect(outcome.status == 77, "\(arguments) with the directory \(String(directoryMode, radix: 8)): \(outcome)")
                #expect(outcome.stderr.hasPrefix("cbuff: ") && outcome.stderr.contains("ermission"), "\(outcome)")
            }
        }
        #expect(try cbuff(privateDir, "pop", "p").lines == ["7"], "the refused attempts changed nothing")

        // Shared with nobody's group: it can read, and take over as the writer, once it asks for
        // group sharing (a directory another user owns is never used silently).
        let sharedDir = temporary.path + "/ours"
        mkdir(sharedDir, 0o700)
        chown(sharedDir, 0, nobody.gid)
        chmod(sharedDir, 0o2770)
        #expect(try cbuff(sharedDir, "create", "s", "--item-size", "8", "--length", "4").status == 0)
        #expect(try cbuff(sharedDir, "push", "s", "1", "2").status == 0)
        let unasked = try cbuff(sharedDir, "pop", "s", user: nobody)
        #expect(unasked.status == 77 && unasked.stderr.contains("--group-access"), "\(unasked)")
        #expect(try cbuff(sharedDir, "--group-access", "pop", "s", "-n", "2", user: nobody).lines == ["1", "2"])
        let pushed = try cbuff(sharedDir, "--group-access", "push", "s", "3", user: nobody)
        #expect(pushed.status == 0, "\(pushed)")
        #expect(try cbuff(sharedDir, "pop", "s", "-n", "3").lines == ["1", "2", "3"])
    }
}
