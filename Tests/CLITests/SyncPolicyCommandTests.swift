import Foundation
import Testing
import TestSupport

/// `cbuff create --sync` (issue 26, decision 4): every spelling of a policy, the usage errors
/// (exit 64, nothing created) for the rest, `inspect`'s row and `syncPolicy` key, and `push`
/// following the buffer's policy as its writer.
@Suite struct SyncPolicyCommandTests {
    let cbuff: CBuffTool

    init() throws { cbuff = try CBuffTool() }

    func inspected(_ name: String) throws -> [String: Any] {
        let result = try cbuff("inspect", name, "--json")
        #expect(result.status == 0, "\(result)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    @Test(arguments: ["none", "each-batch", "every:1", "every:1000", "interval:1", "interval:10", "interval:3600000"])
    func everyPolicyIsRecordedAndShown(policy: String) throws {
        let created = try cbuff("create", "b", "--item-size", "8", "--length", "16", "--sync", policy)
        #expect(created.status == 0, "\(created)")
        #expect(try inspected("b")["syncPolicy"] as? String == policy)
        #expect(try cbuff("inspect", "b").stdout.contains("sync         \(policy)"))
        let messages = try cbuff("create", "m", "--messages", "--capacity", "4K", "--max-message", "64", "--sync", policy)
        #expect(messages.status == 0, "\(messages)")
        #expect(try inspected("m")["syncPolicy"] as? String == policy)
    }

    @Test(arguments: ["", "bogus", "every", "every:", "every:0", "every:-3", "every:1099511627777", "every:1e3", "interval:0",
                      "interval:3600001", "interval:5ms", "each-batch:2", "none:0", "EVERY:3", " every:3", "every:+3", "interval:+10"])
    func aBadPolicyIsAUsageErrorAndCreatesNothing(policy: String) throws {
        let created = try cbuff("create", "b", "--item-size", "8", "--length", "16", "--sync", policy)
        #expect(created.status == 64, "\(created)")
        #expect(created.stderr.contains("is not a sync policy"), "\(created)")
        #expect(try cbuff("inspect", "b").status == 66)
    }

    /// The push that becomes the writer follows the buffer's policy: every:3 leaves the durable
    /// sequence at 6 after seven values until its close syncs the seventh; `--sync` too.
    @Test func pushFollowsTheBuffersPolicy() throws {
        #expect(try cbuff("create", "n", "--item-size", "8", "--length", "16", "--sync", "every:3").status == 0)
        #expect(try cbuff("push", "n", "1", "2", "3", "4", "5", "6", "7").status == 0)
        #expect(try inspected("n")["durable"] as? Int == 7)                         // its close synced the seventh
        #expect(try cbuff("create", "p", "--item-size", "8", "--length", "16").status == 0)
        #expect(try cbuff("push", "p", "1", "2").status == 0)
        #expect(try inspected("p")["durable"] as? Int == 0)                         // none: nothing synced
        #expect(try cbuff("push", "p", "3", "--sync").status == 0)
        #expect(try inspected("p")["durable"] as? Int == 3)
        #expect(try cbuff("create", "i", "--item-size", "8", "--length", "16", "--sync", "interval:3600000").status == 0)
        #expect(try cbuff("push", "i", "1").status == 0)                             // its syncer stopped, its close synced
        #expect(try inspected("i")["durable"] as? Int == 1)
    }
}
