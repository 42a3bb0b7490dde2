import Foundation
import Testing
import TestSupport

/// A buffer removed under a running writer (issue 24, class 4): `push --stdin` used to go on
/// writing into the unlinked file with exit 0 and no word. It now notices (before each read of
/// its input, and every second while none comes), stops with exit 66 and one sentence, and
/// never writes into a buffer created again under the same name.
@Suite struct RemovedUnderWriterTests {
    let cbuff: CBuffTool
    var dir: String { cbuff.dir }

    init() throws { cbuff = try CBuffTool() }

    /// Starts `cbuff push NAME --stdin`, feeds it `first`, and waits until the buffer shows them
    /// (read through the buffer itself, never a sleep).
    func feedingWriter(_ name: String, _ first: [String]) throws -> ChildProcess {
        let writer = try ChildProcess("cbuff", ["--dir", dir, "push", name, "--stdin"])
        for line in first { writer.send(line) }
        let arrived = try eventually(within: 30) { try cbuff("tail", name).lines.count == first.count }
        #expect(arrived, "the writer's first lines never reached buffer \(name)")
        return writer
    }

    @Test(arguments: [false, true])
    func anIdleWriterNoticesRemovalOnItsOwn(messages: Bool) throws {
        let created = messages ? try cbuff("create", "a", "--messages", "--capacity", "4096", "--max-message", "64")
                               : try cbuff("create", "a", "--item-size", "8", "--length", "16")
        #expect(created.status == 0, "\(created)")
        let writer = try feedingWriter("a", ["1", "2"])
        #expect(try cbuff("rm", "a", "--force").status == 0)
        // No more input: the writer must notice by itself, within its one-second slice.
        let ended = writer.wait(timeout: 20)
        #expect(!ended.timedOut && ended.status == 66, "\(ended)")
    }

    @Test func aWriterNeverFeedsABufferCreatedAgainUnderItsName() throws {
        #expect(try cbuff("create", "a", "--item-size", "8", "--length", "16").status == 0)
        let writer = try feedingWriter("a", ["1", "2"])
        #expect(try cbuff("rm", "a", "--force").status == 0)
        #expect(try cbuff("create", "a", "--item-size", "8", "--length", "16").status == 0)
        writer.send("3")
        writer.closeInput()
        let ended = writer.wait(timeout: 20)
        #expect(!ended.timedOut && ended.status == 66, "\(ended)")
        let items = try cbuff("pop", "a", "-n", "10")
        #expect(items.status == 0 && items.lines.isEmpty, "the new buffer received \(items)")
    }
}
