import Foundation
import Synchronization
import Testing
import TestSupport
import SharedRing

/// A buffer removed and created again while others open, inspect and list it is seen as it was
/// before or after, never as damage: a reader's look at the registry row and its open of the
/// ring file are two steps, and a remove and a create can both fall between them.
@Suite struct RemoveCreateRaceTests {
    let temporary: TemporaryDirectory

    init() throws { temporary = try TemporaryDirectory() }

    @Test func lookersSeeTheBufferBeforeOrAfterNeverDamaged() throws {
        // Each side has its own DataDirectory (its own registry connection), as two processes.
        let churner = DataDirectory(path: temporary.path)
        let looker = DataDirectory(path: temporary.path)
        try churner.createBuffer("r", itemSize: 8, length: 16).close()
        let rounds = 400
        let done = Atomic<Bool>(false)
        let churnFailure = Mutex<String?>(nil)
        let churn = Thread {
            defer { done.store(true, ordering: .releasing) }
            do {
                for _ in 0..<rounds {
                    try churner.removeBuffer("r")
                    var writer = try churner.createBuffer("r", itemSize: 8, length: 16)
                    try writer.push(1)
                    writer.close()
                }
            } catch {
                churnFailure.withLock { $0 = "\(error)" }
            }
        }
        churn.start()
        var looks = 0
        var damage: [String] = []
        while !done.load(ordering: .acquiring) {
            looks += 1
            for look in [
                { () throws -> Void in _ = try looker.status(of: "r") },
                { () throws -> Void in
                    var reader = try looker.openReader("r")
                    _ = try reader.popItem()
                },
                { () throws -> Void in _ = try looker.statuses() },
                { () throws -> Void in
                    let strays = try looker.unregisteredRingFiles()
                    if !strays.isEmpty { throw StrayFile(paths: strays) }
                },
            ] {
                do {
                    try look()
                } catch let error as CBuffError where error.code == .notFound {
                    // Removed and not created yet: seen after the remove.
                } catch {
                    damage.append("\(error)")
                }
            }
        }
        #expect(churnFailure.withLock { $0 } == nil)
        #expect(looks > 0)
        let damaged = damage.count, firstDamage = damage.first ?? ""
        #expect(damaged == 0, "\(damaged) of \(looks * 4) looks saw damage, the first: \(firstDamage)")
    }
}

/// A ring file reported as having no registry row.
private struct StrayFile: Error, CustomStringConvertible {
    let paths: [String]
    var description: String { "ring files reported without a registry row: \(paths)" }
}
