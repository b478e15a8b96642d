import Testing
@testable import PostbackCore

@Suite("Auto-pause: 10 permanent failures in a row within 72 h")
struct AutoPauseTests {
    static let hour: Int64 = 3_600_000

    /// Fails `id` permanently at each time in turn; returns which failures paused it.
    static func failures(_ rule: inout AutoPause, _ id: Int64, at times: [Int64]) -> [Bool] {
        times.map { rule.failedPermanently(id, nowMillis: $0) }
    }

    @Test func tenInARowPauses() {
        var rule = AutoPause()
        let paused = Self.failures(&rule, 17, at: (0..<10).map { Int64($0) * Self.hour })
        #expect(paused == Array(repeating: false, count: 9) + [true])
        #expect(rule.failures(of: 17) == 0)
    }

    @Test func nineDoNot() {
        var rule = AutoPause()
        #expect(!Self.failures(&rule, 17, at: Array(0..<9)).contains(true))
        #expect(rule.failures(of: 17) == 9)
    }

    @Test func aSuccessInBetweenStartsAgain() {
        var rule = AutoPause()
        _ = Self.failures(&rule, 17, at: Array(0..<5))
        rule.succeeded(17)
        #expect(!Self.failures(&rule, 17, at: Array(10..<19)).contains(true))
        #expect(Self.failures(&rule, 17, at: [100]) == [true])
    }

    /// Two daemons share a pause: the one that did not pause had counted failures of its own,
    /// and the first of them after a resume must not pause the postback again.
    @Test func aPauseOrResumeElsewhereStartsAgain() {
        var rule = AutoPause()
        _ = Self.failures(&rule, 17, at: Array(0..<9))
        rule.forget(17)
        #expect(rule.failures(of: 17) == 0)
        #expect(!Self.failures(&rule, 17, at: Array(10..<19)).contains(true))
        #expect(Self.failures(&rule, 17, at: [100]) == [true])
    }

    @Test func aRunLongerThanTheWindowStartsAgain() {
        var rule = AutoPause()
        _ = Self.failures(&rule, 17, at: Array(0..<9))
        #expect(Self.failures(&rule, 17, at: [73 * Self.hour]) == [false])
        #expect(rule.failures(of: 17) == 1)
    }

    @Test func postbacksAreCountedApart() {
        var rule = AutoPause()
        _ = Self.failures(&rule, 1, at: Array(0..<9))
        #expect(Self.failures(&rule, 2, at: [10]) == [false])
        #expect(Self.failures(&rule, 1, at: [11]) == [true])
    }
}
