import PostbackCore
import Testing

@Suite("Redis companion key names and entry ids")
struct RedisKeysTests {
    @Test func companionKeysAreNamedAfterTheStreamsPrefix() {
        let keys = RedisKeys(stream: "postbackd:records")
        #expect([keys.retries, keys.retriesTaken, keys.deadLetters, keys.rejected, keys.paused]
            == ["postbackd:retries", "postbackd:retries:taken", "postbackd:dead-letters", "postbackd:rejected", "postbackd:paused"])
        #expect(RedisKeys(stream: "plain").paused == "plain:paused")
        #expect(RedisKeys(stream: "{s1}:records").shareTheStreamsSlot)
        #expect(!RedisKeys(stream: "postbackd:records").shareTheStreamsSlot)
    }

    @Test func patternsAndCompanionStreamsAreToldApart() {
        #expect(["{shard*}:records", "shard?:records", "{s[12]}:records", "*"].allSatisfy(RedisKeys.isPattern))
        #expect(!["postbackd:records", "{shard1}:records", "a.b-c_d"].contains(where: RedisKeys.isPattern))
        #expect(["{s1}:dead-letters", "{s1}:rejected", "postbackd:rejected"].allSatisfy(RedisKeys.isCompanion))
        #expect(!["{s1}:records", "{s1}:rejected-records", "dead-letters"].contains(where: RedisKeys.isCompanion))
        // What a pattern's match is, for the daemon and postbackctl alike.
        #expect(RedisKeys.found("{s1}:records", inCluster: true) == .records)
        #expect(RedisKeys.found("s1:records", inCluster: false) == .records)
        #expect(RedisKeys.found("s1:records", inCluster: true) == .untaggedInCluster)
        #expect(RedisKeys.found("{s1}:dead-letters", inCluster: true) == .companion)
        #expect(RedisKeys.found("s1:rejected", inCluster: true) == .companion)
        // A pattern is held to a name's cluster rule: its tag, if any, gives every match one.
        #expect(RedisKeys(stream: "{shard*}:records").shareTheStreamsSlot)
        #expect(!RedisKeys(stream: "shard*:records").shareTheStreamsSlot)
    }

    @Test(arguments: [
        ("1764000000000-0", Int64?.some(1_764_000_000_000)), ("1764000000123-17", 1_764_000_000_123), ("5", 5),
        ("0-0", 0), ("", nil), ("-", nil), ("12-", nil), ("a-1", nil), ("1-2-3", nil), ("-5-1", nil), ("+", nil),
    ])
    func entryIDsCarryTheirMillis(id: String, millis: Int64?) {
        #expect(RedisEntryID.millis(id) == millis)
    }

    @Test func agesAreNeverNegative() {
        #expect(RedisEntryID.ageSeconds("1000-0", now: 66_500) == 65.5)
        #expect(RedisEntryID.ageSeconds("9000-0", now: 1000) == 0)
        #expect(RedisEntryID.ageSeconds("nope", now: 1000) == 0)
    }
}
