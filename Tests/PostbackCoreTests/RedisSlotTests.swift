import PostbackCore
import Testing

@Suite("Redis Cluster key slots")
struct RedisSlotTests {
    /// Values from Redis itself (`CLUSTER KEYSLOT`).
    @Test(arguments: [
        ("foo", 12182), ("123456789", 12739), ("postbackd:records", RedisSlot.of("{postbackd:records}:retries")),
        ("{user1000}.following", 3443), ("{user1000}.followers", 3443), ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015),
    ])
    func slotIsRedisOwn(key: String, slot: Int) {
        #expect(RedisSlot.of(key) == slot)
    }

    @Test func keysWithTheSameTagShareASlot() {
        #expect(RedisSlot.of("{s1}:records") == RedisSlot.of("{s1}:retries"))
        #expect(RedisSlot.of("postbackd:records") != RedisSlot.of("postbackd:retries"))
    }
}
