import Foundation
import PostbackRedis
import PostbackSpool
import PostbackTestSupport
import Testing

/// `postbackctl spool`, `dead-letters list|requeue` and `fires` with `source = redis`, against a real
/// `redis-server` on loopback, on keys written as the daemon writes them. Entry ids and fire
/// times are pinned, and `spool --now` with them, so every age is exact.
@Suite("postbackctl spool and dead-letters against Redis", .serialized)
struct RedisQueuesCLITests {
    let t0: Int64 = 1_764_000_000_000

    /// A fixture whose config says `source = redis` (its spool directory does not exist).
    func fixture(_ redis: RedisServer, streams: String = "pb:records", catalog: String = catalogText([])) throws -> OperatorFixture {
        try OperatorFixture(catalog: catalog, settings: [
            "source": "redis", "redis_url": redis.url, "redis_stream": streams, "redis_group": "postbackd",
            "redis_consumer": "ctl-test", "max_attempts": "3",
        ])
    }

    func send(_ redis: RedisServer, _ arguments: [String]) throws -> RedisReply {
        try send(redis, arguments.map { Array($0.utf8) })
    }

    func send(_ redis: RedisServer, _ arguments: [[UInt8]]) throws -> RedisReply {
        let reply = try RedisConnection(host: "127.0.0.1", port: redis.port).command(arguments)
        if let error = reply.errorMessage { Issue.record("\(arguments.first.map { String(decoding: $0, as: UTF8.self) } ?? ""): \(error)") }
        return reply
    }

    /// A fire as the daemon stores it, its last attempt (if any) at `lastAttempt` ms.
    func fire(_ transaction: String, postback: Int64 = 1, attempts: Int = 3, first: Int64, lastAttempt: Int64?,
              failedAt: Int64? = nil, error: String = "HTTP 503") -> DeferredFire {
        let history = lastAttempt.map {
            [FireAttempt(time: $0 * 1000, url: "http://p.example/\(transaction)", httpStatus: 503, error: error, latencyMicros: 900)]
        } ?? []
        return DeferredFire(source: "pb:records/\(first)-0", line: 1, postbackID: postback, record: Array(conversion(transaction).utf8),
                            attempts: attempts, firstAttempt: first, nextDue: first + 60_000, lastError: error,
                            history: history, failedAt: failedAt)
    }

    /// Two entries acknowledged or pending, two waiting; three retries (one due, one not,
    /// one taken); two dead letters, the second unreadable; one rejected line.
    func fill(_ redis: RedisServer, now: Int64) throws {
        for (n, offset) in [0, 1000, 2000, 5000, 9000].enumerated() {
            _ = try send(redis, ["XADD", "pb:records", "\(t0 + Int64(offset))-0", "record", conversion("s\(n)")])
        }
        _ = try send(redis, ["XGROUP", "CREATE", "pb:records", "postbackd", "0"])
        let read = try send(redis, ["XREADGROUP", "GROUP", "postbackd", "c1", "COUNT", "3", "STREAMS", "pb:records", ">"])
        #expect(read.elements.first?.elements.last?.elements.count == 3)
        _ = try send(redis, ["XACK", "pb:records", "postbackd", "\(t0)-0"])

        _ = try send(redis, [Array("ZADD".utf8), Array("pb:retries".utf8), Array(String(now - 1000).utf8),
                             fire("r-due", first: t0 + 5000, lastAttempt: t0 + 10_000).encoded()])
        _ = try send(redis, [Array("ZADD".utf8), Array("pb:retries".utf8), Array(String(now + 60_000).utf8),
                             fire("r-later", first: t0 + 20_000, lastAttempt: nil).encoded()])
        _ = try send(redis, [Array("ZADD".utf8), Array("pb:retries:taken".utf8), Array(String(now - 500).utf8),
                             fire("r-taken", first: t0 + 1000, lastAttempt: t0 + 30_000).encoded()])

        _ = try send(redis, [Array("XADD".utf8), Array("pb:dead-letters".utf8), Array("\(t0 + 3000)-0".utf8), Array("fire".utf8),
                             fire("t-1", attempts: 3, first: t0, lastAttempt: t0 + 2500, failedAt: t0 + 2900, error: "HTTP 404").encoded()])
        _ = try send(redis, ["XADD", "pb:dead-letters", "\(t0 + 4000)-0", "fire", "{not a fire"])
        _ = try send(redis, ["XADD", "pb:rejected", "\(t0 + 8000)-0", "stream", "pb:records", "entry", "\(t0 + 7000)-0",
                             "line", "1", "reason", "not a JSON object", "raw", "oops"])
    }

    @Test func spoolTableCountsEveryQueueFromRedis() throws {
        let redis = try RedisServer()
        let now = t0 + 65_000
        try fill(redis, now: now)
        let f = try fixture(redis)
        let r = try f.ctl(["spool", "--config", f.configPath, "--now", String(now)])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "")
        #expect(r.stdout == "stream pb:records (group postbackd)\n" + aligned([
            ["QUEUE", "COUNT", "OLDEST"],
            ["incoming", "2", "1m00s"],
            ["active", "2", "1m04s", "delivered, not acknowledged"],
            ["deferred", "3", "55s", "1 due, 1 being retried"],
            ["failed", "2", "1m02s", "dead letters: postbackctl dead-letters list"],
            ["bad", "1", "57s"],
        ]) + "accounting: Redis keeps no ledgers; the journal has every fire's history\n")
        #expect(!FileManager.default.fileExists(atPath: f.spool), "the Redis path must not make a spool")
    }

    @Test func spoolJSONKeepsTheSpoolsQueueFields() throws {
        let redis = try RedisServer()
        let now = t0 + 65_500
        try fill(redis, now: now)
        let f = try fixture(redis)
        let r = try f.ctl(["spool", "--config", f.configPath, "--json", "--now", String(now)])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "{\"source\":\"redis\",\"group\":\"postbackd\",\"streams\":[{\"stream\":\"pb:records\",\"queues\":{"
            + "\"incoming\":{\"count\":2,\"oldest_age_seconds\":60.500},\"active\":{\"count\":2,\"oldest_age_seconds\":64.500},"
            + "\"deferred\":{\"count\":3,\"oldest_age_seconds\":55.500,\"due\":1,\"taken\":1},"
            + "\"failed\":{\"count\":2,\"oldest_age_seconds\":62.500},\"bad\":{\"count\":1,\"oldest_age_seconds\":57.500}}}]}\n")
    }

    /// A stream whose group does not exist yet counts every entry as incoming; a stream that
    /// does not exist counts nothing: neither is an error.
    @Test func severalStreamsOneBlockEachAndMissingOnesCountZero() throws {
        let redis = try RedisServer()
        _ = try send(redis, ["XADD", "pb2:records", "\(t0 + 1000)-0", "record", conversion("x")])
        _ = try send(redis, ["XADD", "pb2:records", "\(t0 + 2000)-0", "record", conversion("y")])
        let f = try fixture(redis, streams: "pb2:records,none:records")
        let r = try f.ctl(["spool", "--config", f.configPath, "--now", String(t0 + 11_000)])
        #expect(r.status == 0, "\(r.stderr)")
        let block = { (name: String, incoming: [String]) in
            "stream \(name) (group postbackd)\n" + aligned([
                ["QUEUE", "COUNT", "OLDEST"], incoming, ["active", "0", "-"], ["deferred", "0", "-"], ["failed", "0", "-"], ["bad", "0", "-"],
            ])
        }
        #expect(r.stdout == block("pb2:records", ["incoming", "2", "10s"]) + "\n" + block("none:records", ["incoming", "0", "-"])
            + "accounting: Redis keeps no ledgers; the journal has every fire's history\n")
        let json = try f.ctl(["spool", "--config", f.configPath, "--json", "--now", String(t0 + 11_000)])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let streams = try #require(object["streams"] as? [[String: Any]])
        #expect(streams.map { $0["stream"] as? String } == ["pb2:records", "none:records"])
        let incoming = (streams[1]["queues"] as? [String: Any])?["incoming"] as? [String: Any]
        #expect(incoming?["count"] as? Int == 0)
    }

    @Test func anUnreachableRedisIsAnErrorNamingIt() throws {
        let redis = try RedisServer(start: false)
        let f = try fixture(redis)
        for command in [["spool"], ["dead-letters", "list"], ["dead-letters", "requeue", "--all"]] {
            let r = try f.ctl(command + ["--config", f.configPath])
            #expect(r.status == 1, "\(command)")
            #expect(r.stdout == "")
            #expect(r.stderr.contains("redis://127.0.0.1:\(redis.port): cannot connect"), "\(command): \(r.stderr)")
        }
    }

    @Test func deadLettersListDecodesFiresAndShowsTheUnreadable() throws {
        let redis = try RedisServer()
        try fill(redis, now: t0 + 65_000)
        let f = try fixture(redis)
        let r = try f.ctl(["dead-letters", "list", "--config", f.configPath])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == aligned([
            ["ID", "POSTBACK", "TRANSACTION", "ATTEMPTS", "FAILED AT", "LAST ERROR"],
            ["\(t0 + 3000)-0", "1", "t-1", "3", isoTime(millis: t0 + 2900), "HTTP 404"],
            ["\(t0 + 4000)-0", "-", "-", "-", isoTime(millis: t0 + 4000), "unreadable: its fire field is not a fire's JSON"],
        ]))

        let json = try f.ctl(["dead-letters", "list", "--config", f.configPath, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        try #require(array.count == 2)
        #expect(array[0]["id"] as? String == "\(t0 + 3000)-0" && array[0]["transaction_id"] as? String == "t-1")
        #expect(array[0]["failed_at_ms"] as? Int == Int(t0 + 2900) && array[0]["record"] as? String == conversion("t-1"))
        #expect((array[0]["history"] as? [[String: Any]])?.first?["url"] as? String == "http://p.example/t-1")
        #expect(array[1]["id"] as? String == "\(t0 + 4000)-0" && array[1]["raw"] as? String == "{not a fire")
        #expect(array[1]["unreadable"] as? String == "its fire field is not a fire's JSON")
    }

    /// The requeued fire is the spool's (`DeferredFire.requeued`), and the real daemon fires it
    /// from the retries: the member format is the daemon's own.
    /// `fires --transaction` finds a transaction's retries and dead letters in Redis, with
    /// their attempts, and nothing of others'.
    @Test func firesFindsATransactionsRetriesAndDeadLettersInRedis() throws {
        let redis = try RedisServer()
        let now = t0 + 65_000
        try fill(redis, now: now)
        let f = try fixture(redis)
        let dead = try f.ctl(["fires", "--transaction", "t-1", "--config", f.configPath, "--no-journal"])
        #expect(dead.status == 0, "\(dead.stderr)")
        #expect(dead.stdout.contains("transaction t-1: 1 fire, 1 attempt"), "\(dead.stdout)")
        #expect(dead.stdout.contains("http://p.example/t-1"))
        #expect(dead.stdout.contains("dead letter: postback 1, 3 attempts"))
        #expect(dead.stdout.contains("postbackctl dead-letters requeue \(t0 + 3000)-0"))
        #expect(dead.stdout.contains("note: source = redis keeps no ledgers"))
        #expect(!dead.stdout.contains("r-due"))

        let taken = try f.ctl(["fires", "--transaction", "r-taken", "--config", f.configPath, "--no-journal", "--json"])
        #expect(taken.status == 0, "\(taken.stderr)")
        #expect(taken.stdout.contains("\"waiting\":[{\"id\":\"pb:retries:taken\",\"postback\":1,\"attempts\":3"), "\(taken.stdout)")
        #expect(taken.stdout.contains("\"seen_in\":[\"pb:retries:taken\"]"))

        let none = try f.ctl(["fires", "--transaction", "nobody", "--config", f.configPath, "--no-journal"])
        #expect(none.status == 1)
        #expect(none.stdout.contains("no fires found for transaction nobody"))
    }

    @Test func requeueMovesOneDeadLetterToTheRetriesOnceAndTheDaemonFiresIt() async throws {
        let redis = try RedisServer()
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let f = try fixture(redis, catalog: catalogText([entry(1, url: "\(sink.base)/status/200?t={transaction_id}")]))
        let dead = fire("t-1", attempts: 3, first: t0, lastAttempt: t0 + 2500, failedAt: t0 + 2900, error: "HTTP 404")
        let id = "\(t0 + 3000)-0"
        _ = try send(redis, [Array("XADD".utf8), Array("pb:dead-letters".utf8), Array(id.utf8), Array("fire".utf8), dead.encoded()])
        _ = try send(redis, ["XADD", "pb:dead-letters", "\(t0 + 4000)-0", "unreadable", "{not a fire"])

        let before = SpoolTime.unixMillis()
        let r = try f.ctl(["dead-letters", "requeue", id, "--config", f.configPath])
        let after = SpoolTime.unixMillis()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "requeued \(id): postback 1, transaction t-1\n")
        #expect(try send(redis, ["XLEN", "pb:dead-letters"]).integer == 1)
        let members = try send(redis, ["ZRANGE", "pb:retries", "0", "-1", "WITHSCORES"]).elements
        try #require(members.count == 2)
        let requeued = try DeferredFire.decode(try #require(members[0].bytes), path: "pb:retries")
        #expect(requeued.attempts == 0 && requeued.failedAt == nil && (before...after).contains(requeued.nextDue))
        #expect(requeued.firstAttempt == requeued.nextDue && requeued.history == dead.history && requeued.record == dead.record)
        #expect(members[1].text == String(requeued.nextDue))

        let again = try f.ctl(["dead-letters", "requeue", id, "--config", f.configPath])
        #expect(again.status == 1)
        #expect(again.stdout == "")
        #expect(again.stderr == "\(id): no such dead letter in pb:dead-letters (\(redis.url))\n")
        #expect(try send(redis, ["ZCARD", "pb:retries"]).integer == 1, "a second requeue made a second retry")

        let unreadable = try f.ctl(["dead-letters", "requeue", "--all", "--config", f.configPath])
        #expect(unreadable.status == 1)
        #expect(unreadable.stderr == "\(t0 + 4000)-0: unreadable dead letter (no fire field (fields: unreadable)), left in pb:dead-letters\n")
        #expect(try send(redis, ["XLEN", "pb:dead-letters"]).integer == 1)

        #expect(try f.runOnce().hasPrefix("{\"records\":0,\"fires\":1,\"succeeded\":1,"))
        #expect(sink.stats.uris == ["/status/200?t=t-1"])
        #expect(try send(redis, ["ZCARD", "pb:retries"]).integer == 0)
        #expect(try send(redis, ["ZCARD", "pb:retries:taken"]).integer == 0)
    }

    /// Two operators requeue the same thousand dead letters at the same time (a thousand, so
    /// their runs overlap): each moves once. A script that adds without checking its XDEL
    /// makes hundreds of retries too many here.
    @Test func concurrentRequeuesOfOneDeadLetterMakeOneRetry() throws {
        let redis = try RedisServer()
        let f = try fixture(redis)
        let ids = (0..<1000).map { "\(t0 + Int64($0))-0" }
        for (n, id) in ids.enumerated() {
            _ = try send(redis, [Array("XADD".utf8), Array("pb:dead-letters".utf8), Array(id.utf8), Array("fire".utf8),
                                 fire("c\(n)", first: t0, lastAttempt: t0, failedAt: t0).encoded()])
        }
        let operators = try (0..<2).map { _ in
            try ProcessRunner.start("postbackctl", ["dead-letters", "requeue", "--config", f.configPath] + ids,
                                    environment: OperatorFixture.environment)
        }
        let statuses = operators.map { $0.wait(timeoutSeconds: 60) }
        let moved = operators.flatMap { $0.stdout.split(separator: "\n") }
        let refused = operators.flatMap { $0.stderr.split(separator: "\n") }
        #expect(moved.count == ids.count, "\(moved.count) requeued of \(ids.count)")
        #expect(refused.count == ids.count && refused.allSatisfy { $0.contains("no such dead letter") })
        #expect(Set(moved.map { $0.split(separator: ":")[0] }) == Set(ids.map { "requeued \($0)" }))
        #expect(statuses.contains(1), "neither operator was refused an id")
        #expect(try send(redis, ["ZCARD", "pb:retries"]).integer == Int64(ids.count))
        #expect(try send(redis, ["XLEN", "pb:dead-letters"]).integer == 0)
    }

    @Test func severalStreamsNameDeadLettersByStreamAndUnknownIdsExit1() throws {
        let redis = try RedisServer()
        let f = try fixture(redis, streams: "pb:records,{b}:records")
        let id = "\(t0 + 3000)-0"
        _ = try send(redis, [Array("XADD".utf8), Array("{b}:dead-letters".utf8), Array(id.utf8), Array("fire".utf8),
                             fire("t-b", first: t0, lastAttempt: nil, failedAt: t0 + 2000, error: "HTTP 410").encoded()])
        let list = try f.ctl(["dead-letters", "list", "--config", f.configPath])
        #expect(list.stdout == aligned([
            ["ID", "POSTBACK", "TRANSACTION", "ATTEMPTS", "FAILED AT", "LAST ERROR"],
            ["{b}:records/\(id)", "1", "t-b", "3", isoTime(millis: t0 + 2000), "HTTP 410"],
        ]))
        let plain = try f.ctl(["dead-letters", "requeue", id, "--config", f.configPath])
        #expect(plain.status == 1)
        #expect(plain.stderr.hasPrefix("\(id): not a dead letter id of redis_stream pb:records,{b}:records"))
        let unknown = try f.ctl(["dead-letters", "requeue", "pb:records/1-1", "{b}:records/\(id)", "--config", f.configPath])
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "pb:records/1-1: no such dead letter in pb:dead-letters (\(redis.url))\n")
        #expect(unknown.stdout == "requeued {b}:records/\(id): postback 1, transaction t-b\n")
        #expect(try send(redis, ["ZCARD", "{b}:retries"]).integer == 1)
        #expect(try f.ctl(["dead-letters", "list", "--config", f.configPath]).stdout == "no dead letters\n")
    }
    /// `redis_stream` as a pattern: `spool` and `dead-letters` cover every shard it matches,
    /// the companion streams it matches too (dead letters, rejected lines) are no shard of
    /// their own, and a dead letter is named `<stream>/<entry id>`.
    @Test func aPatternCoversEveryMatchingShard() throws {
        let redis = try RedisServer()
        _ = try send(redis, ["XADD", "{s1}:records", "\(t0 + 1000)-0", "record", conversion("x")])
        _ = try send(redis, ["XADD", "{s2}:records", "\(t0 + 2000)-0", "record", conversion("y")])
        _ = try send(redis, ["XADD", "{s2}:records", "\(t0 + 3000)-0", "record", conversion("z")])
        let id1 = "\(t0 + 4000)-0", id2 = "\(t0 + 5000)-0"
        _ = try send(redis, [Array("XADD".utf8), Array("{s1}:dead-letters".utf8), Array(id1.utf8), Array("fire".utf8),
                             fire("t-s1", first: t0, lastAttempt: nil, failedAt: t0 + 3500, error: "HTTP 404").encoded()])
        _ = try send(redis, [Array("XADD".utf8), Array("{s2}:dead-letters".utf8), Array(id2.utf8), Array("fire".utf8),
                             fire("t-s2", first: t0, lastAttempt: nil, failedAt: t0 + 4500, error: "HTTP 410").encoded()])
        _ = try send(redis, ["XADD", "{s2}:rejected", "\(t0 + 6000)-0", "stream", "{s2}:records", "entry", "\(t0 + 2000)-0",
                             "line", "1", "reason", "not a JSON object", "raw", "oops"])
        let f = try fixture(redis, streams: "{s*}:*")

        let json = try f.ctl(["spool", "--config", f.configPath, "--json", "--now", String(t0 + 11_000)])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let streams = try #require(object["streams"] as? [[String: Any]])
        #expect(streams.map { $0["stream"] as? String } == ["{s1}:records", "{s2}:records"], "\(json.stdout)")
        func count(_ stream: Int, _ queue: String) -> Int? {
            ((streams[stream]["queues"] as? [String: Any])?[queue] as? [String: Any])?["count"] as? Int
        }
        if streams.count == 2 {
            #expect([count(0, "incoming"), count(1, "incoming")] == [1, 2])
            #expect([count(0, "failed"), count(1, "failed")] == [1, 1])
            #expect([count(0, "bad"), count(1, "bad")] == [0, 1])
        }
        let table = try f.ctl(["spool", "--config", f.configPath, "--now", String(t0 + 11_000)])
        #expect(table.stdout.components(separatedBy: "\nstream ").count == 2
            && table.stdout.hasPrefix("stream {s1}:records (group postbackd)\n")
            && table.stdout.contains("\nstream {s2}:records (group postbackd)\n"), "\(table.stdout)")

        let list = try f.ctl(["dead-letters", "list", "--config", f.configPath])
        #expect(list.stdout == aligned([
            ["ID", "POSTBACK", "TRANSACTION", "ATTEMPTS", "FAILED AT", "LAST ERROR"],
            ["{s1}:records/\(id1)", "1", "t-s1", "3", isoTime(millis: t0 + 3500), "HTTP 404"],
            ["{s2}:records/\(id2)", "1", "t-s2", "3", isoTime(millis: t0 + 4500), "HTTP 410"],
        ]), "\(list.stdout)\(list.stderr)")
        let requeue = try f.ctl(["dead-letters", "requeue", "{s2}:records/\(id2)", "--config", f.configPath])
        #expect(requeue.status == 0, "\(requeue.stderr)")
        #expect(try send(redis, ["ZCARD", "{s2}:retries"]).integer == 1)
        #expect(try send(redis, ["XLEN", "{s1}:dead-letters"]).integer == 1)
    }
}
