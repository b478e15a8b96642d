import Testing

@testable import PostbackCore


@Suite("RetryPolicy")
struct RetryPolicyTests {
    @Test(arguments: [
        (1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 960), (7, 1920), (8, 3600), (9, 3600), (1000, 3600),
    ])
    func ceilingDoublesUpToTheCap(attempts: Int, seconds: Int64) {
        #expect(RetryPolicy().ceiling(afterAttempt: attempts) == .seconds(seconds))
    }

    @Test func delaysStayWithinZeroAndTheCeiling() {
        let policy = RetryPolicy()
        var random = SplitMix64(seed: 42)
        for attempt in 1..<10 {
            for _ in 0..<200 {
                guard case .retry(let delay) = policy.decide(attemptsMade: attempt, age: .zero, using: &random) else {
                    Issue.record("attempt \(attempt) should retry")
                    return
                }
                #expect(delay >= .zero && delay <= policy.ceiling(afterAttempt: attempt))
            }
        }
    }

    @Test func sameSeedSameSchedule() {
        let policy = RetryPolicy()
        var a = SplitMix64(seed: 7)
        var b = SplitMix64(seed: 7)
        let first = (1..<10).map { policy.decide(attemptsMade: $0, age: .zero, using: &a) }
        let second = (1..<10).map { policy.decide(attemptsMade: $0, age: .zero, using: &b) }
        #expect(first == second)
        #expect(Set(first.map { "\($0)" }).count > 1, "jitter should vary the delays")
    }

    @Test func jitterIsFull() {
        // Full jitter draws from [0, ceiling]: over many draws both ends of the range show up.
        let policy = RetryPolicy(base: .seconds(1), cap: .seconds(1))
        var random = SplitMix64(seed: 1)
        var delays: [Duration] = []
        for _ in 0..<2000 {
            if case .retry(let d) = policy.decide(attemptsMade: 1, age: .zero, using: &random) { delays.append(d) }
        }
        #expect(delays.count == 2000)
        #expect(delays.min()! < .milliseconds(50))
        #expect(delays.max()! > .milliseconds(950))
    }

    @Test(arguments: [10, 11, 50])
    func givesUpAfterMaxAttempts(attempts: Int) {
        var random = SplitMix64(seed: 3)
        #expect(RetryPolicy().decide(attemptsMade: attempts, age: .zero, using: &random)
            == .giveUp(.attemptsExhausted(attempts)))
    }

    @Test func retryAfterIsALowerBound() {
        let policy = RetryPolicy(base: .seconds(1), cap: .seconds(2))
        var random = SplitMix64(seed: 9)
        for _ in 0..<100 {
            #expect(policy.decide(attemptsMade: 1, age: .zero, retryAfter: .seconds(120), using: &random)
                == .retry(after: .seconds(120)))
        }
        // A Retry-After shorter than the jittered delay does not shorten it.
        var zeros = ZeroRandom()
        #expect(RetryPolicy(base: .seconds(10), cap: .seconds(10))
            .decide(attemptsMade: 1, age: .zero, retryAfter: .seconds(3), using: &zeros) == .retry(after: .seconds(3)))
        var maxes = MaxRandom()
        #expect(RetryPolicy(base: .seconds(10), cap: .seconds(10))
            .decide(attemptsMade: 1, age: .zero, retryAfter: .seconds(3), using: &maxes) == .retry(after: .seconds(10)))
    }

    @Test func givesUpWhenTheNextAttemptWouldBeTooOld() {
        let policy = RetryPolicy()
        var random = SplitMix64(seed: 5)
        #expect(policy.decide(attemptsMade: 2, age: .seconds(86_399), retryAfter: .seconds(5), using: &random)
            == .giveUp(.tooOld(maxAge: .seconds(86_400))))
        #expect(policy.decide(attemptsMade: 2, age: .seconds(10), retryAfter: .seconds(2 * 86_400), using: &random)
            == .giveUp(.tooOld(maxAge: .seconds(86_400))))
        var zeros = ZeroRandom()
        #expect(policy.decide(attemptsMade: 2, age: .seconds(86_400), using: &zeros) == .retry(after: .zero))
    }

    @Test func defaultsAreTheDesignDocuments() {
        let policy = RetryPolicy()
        #expect(policy.base == .seconds(30))
        #expect(policy.cap == .seconds(3600))
        #expect(policy.maxAttempts == 10)
        #expect(policy.maxAge == .seconds(86_400))
    }
}

/// Always the low end of any range. (Not 0: the stdlib's unbiased sampling would reject 0
/// forever and draw again.)
struct ZeroRandom: RandomNumberGenerator {
    mutating func next() -> UInt64 { 1 }
}

/// Always the high end of any range.
struct MaxRandom: RandomNumberGenerator {
    mutating func next() -> UInt64 { .max }
}
