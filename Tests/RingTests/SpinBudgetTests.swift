import Testing
@testable import SharedRingProtocol

/// How long a waiter spins before it sleeps (`SpinBudget`, see `FutexSleep`): in full for a busy
/// peer, hardly at all for a slow stream, whose jitter does not bring the full spin back.
@Suite struct SpinBudgetTests {
    /// A budget settled on a slow stream: sleeps of a millisecond, one after another.
    private func settled() -> SpinBudget {
        var budget = SpinBudget()
        for _ in 0..<12 { budget.slept(nanoseconds: 1_000_000) }
        return budget
    }

    @Test func aSlowStreamSettlesAtTheFewestLooks() {
        #expect(settled().looks == SpinBudget.least)
    }

    /// One quick sleep among slow ones (two items close together after a late one) used to
    /// restore 4,096 looks, then 2,048, … : 8,176 looks for the next nine items.
    @Test func aLoneQuickSleepAmongSlowOnesChangesNothing() {
        var budget = settled()
        budget.slept(nanoseconds: 100_000)
        #expect(budget.looks == SpinBudget.least)
        budget.slept(nanoseconds: 1_000_000)
        #expect(budget.looks == SpinBudget.least)
    }

    /// A busy peer: a second quick sleep in a row, or a spin that finds the condition, spins in
    /// full at once.
    @Test func aBusyPeerGetsTheFullSpinBack() {
        var twice = settled()
        twice.slept(nanoseconds: 100_000)
        twice.slept(nanoseconds: 100_000)
        #expect(twice.looks == SpinBudget.most)
        var spun = settled()
        var looked = 0
        let found = spun.spin(until: { looked += 1; return looked == 3 })
        #expect(found)
        #expect(spun.looks == SpinBudget.most)
        spun.slept(nanoseconds: 100_000)                // quick, after a quick wait
        #expect(spun.looks == SpinBudget.most)
    }
}
