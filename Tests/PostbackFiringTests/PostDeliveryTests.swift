import Foundation
import PostbackCore
import PostbackTestSupport
import Testing

@testable import PostbackFiring

/// Issue 15 on the wire: POST postbacks built from a real catalog entry and a real record,
/// fired by the engine at the loopback test server, and read back as the server got them.
/// Bodies are decoded with Foundation's JSON and form readers and the signature is checked
/// with the `openssl` command line, so nothing here trusts the code under test.
@Suite("PostbackFiringTests: POST bodies, headers and signatures on the wire")
struct PostDeliveryTests {
    static let key: [UInt8] = Array("0123456789abcdefghijklmnopqrstuv".utf8)  // 32 bytes
    static let secret = "whsec_" + Data(key).base64EncodedString()
    static let hostile = "say \"hi\" \\ back\nline 2 €&=x"

    static func postback(_ fields: String, url: String) throws -> Postback {
        let json = """
            {"postbacks": [{"id": 17, "type": "conversion", "level": "specific", "partner_id": 7, "offer_id": 3,
             "url": "\(url)", \(fields)}]}
            """
        return try #require(try Catalog.load(Array(json.utf8)).get()[id: 17])
    }

    static func record(sub1: String = hostile) -> Record {
        var r = Record(kind: .conversion, transactionID: "t-1", partnerID: 7, offerID: 3)
        r[.sub1] = sub1
        r[.payout] = "1.50"
        r[.eventName] = "purchase"
        return r
    }

    static func fire(_ postback: Postback, _ record: Record, server: TestServer, fireID: String = "fire_test",
                     now: Int64 = 1_700_000_000) async throws -> (FireResult, ReceivedRequest, FireRequest) {
        let (request, result) = try await fire(postback, record, fireID: fireID, now: now)
        let received = try #require(server.stats.received.last)
        return (result, received, request)
    }

    /// Builds the postback's request for `record` and fires it through a fresh engine.
    static func fire(_ postback: Postback, _ record: Record, fireID: String = "fire_test",
                     now: Int64 = 1_700_000_000) async throws -> (FireRequest, FireResult) {
        var url: [UInt8] = []
        let request = try FireRequest.build(
            postback, record: record, context: .init(postbackID: 17, arrivalTime: now, random: 1, fireID: fireID),
            now: now, url: &url).get()
        let engine = FiringEngine(configuration: testConfiguration())
        let result = await engine.fire(request)
        engine.shutdown()
        return (request, result)
    }

    @Test func jsonBodyArrivesAsValidJSONWithExactValuesAndHeaders() async throws {
        let server = try await TestServer()
        let postback = try Self.postback(#"""
            "method": "POST", "headers": {"X-Click": "c-{sub6}", "Authorization": "Bearer abc"},
            "body": "{\"click\": \"{sub1}\", \"event\": \"{event_name}\", \"payout\": {payout_amount}, \"sale\": {sale_amount}, \"fire\": \"{fire_id}\"}"
            """#, url: "\(server.base)/status/204?c={sub1}")
        var record = Self.record()
        record[.sub6] = "six"
        let (result, got, _) = try await Self.fire(postback, record, server: server)
        #expect(result.verdict.kind == .success)
        #expect(got.method == "POST")
        #expect(got.uri.hasPrefix("/status/204?c=say%20%22hi%22"))
        #expect(got.header("Content-Type") == "application/json")
        #expect(got.header("X-Click") == "c-six" && got.header("Authorization") == "Bearer abc")
        #expect(got.header("Expect") == nil && got.header("Content-Length") == String(got.body.count))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(got.body)) as? [String: Any])
        #expect(object["click"] as? String == Self.hostile)
        #expect(object["event"] as? String == "purchase" && object["fire"] as? String == "fire_test")
        #expect((object["payout"] as? NSNumber)?.doubleValue == 1.5 && object["sale"] is NSNull)
        await server.stop()
    }

    @Test func formBodyDecodesExactly() async throws {
        let server = try await TestServer()
        let postback = try Self.postback(#"""
            "method": "POST", "content_type": "application/x-www-form-urlencoded",
            "body": "click={sub1}&payout={payout_amount}&ev={event_name}"
            """#, url: "\(server.base)/status/204?c={sub1}")
        let (result, got, _) = try await Self.fire(postback, Self.record(), server: server)
        #expect(result.verdict.kind == .success)
        #expect(got.header("Content-Type") == "application/x-www-form-urlencoded")
        var form = URLComponents()
        form.percentEncodedQuery = String(decoding: got.body, as: UTF8.self)
        let fields = (form.queryItems ?? []).map { [$0.name, $0.value ?? ""] }
        #expect(fields == [["click", Self.hostile], ["payout", "1.50"], ["ev", "purchase"]])
        await server.stop()
    }

    @Test func signatureVerifiesWithTheStandardWebhooksAlgorithmComputedByOpenSSL() async throws {
        let server = try await TestServer()
        let postback = try Self.postback(
            "\"method\": \"POST\", \"signing_secret\": \"\(Self.secret)\", \"body\": \"{\\\"c\\\": \\\"{sub1}\\\"}\"",
            url: "\(server.base)/status/204?c={sub1}")
        let (result, got, _) = try await Self.fire(postback, Self.record(), server: server, fireID: "fire_0123", now: 1_712_345_678)
        #expect(result.verdict.kind == .success)
        let id = try #require(got.header("webhook-id"))
        let timestamp = try #require(got.header("webhook-timestamp"))
        let signature = try #require(got.header("webhook-signature"))
        #expect(id == "fire_0123" && timestamp == "1712345678")
        // The spec's algorithm, by another implementation: HMAC-SHA256 keyed with the decoded
        // secret over "id.timestamp.body", base64.
        let signed = Array("\(id).\(timestamp).".utf8) + got.body
        let expected = try Self.openSSLHMAC(key: Self.key, data: signed)
        #expect(signature == "v1," + expected)
        #expect(!got.headers.contains { $0.value.contains(Self.secret) || $0.value.contains(String(Self.secret.dropFirst(6))) })
        await server.stop()
    }

    @Test func aPostWithoutABodySendsNoContentTypeAndSignsTheEmptyBody() async throws {
        let server = try await TestServer()
        let postback = try Self.postback("\"method\": \"POST\", \"signing_secret\": \"\(Self.secret)\"",
                                         url: "\(server.base)/status/204?c={sub1}")
        let (result, got, _) = try await Self.fire(postback, Self.record(), server: server, fireID: "fire_empty", now: 1_700_000_001)
        #expect(result.verdict.kind == .success)
        #expect(got.method == "POST" && got.body.isEmpty && got.header("Content-Length") == "0")
        #expect(got.header("Content-Type") == nil, "curl's default form content type is not sent for an empty body")
        #expect(got.header("webhook-signature") == "v1," + (try Self.openSSLHMAC(key: Self.key, data: Array("fire_empty.1700000001.".utf8))))
        await server.stop()
    }

    @Test func headerValueWithCRLFIsNeverSent() async throws {
        let server = try await TestServer()
        let postback = try Self.postback(#""headers": {"X-Click": "{sub1}"}"#, url: "\(server.base)/status/204?c={sub1}")
        var url: [UInt8] = []
        let built = FireRequest.build(
            postback, record: Self.record(sub1: "a\r\nX-Injected: yes"), context: .init(postbackID: 17, arrivalTime: 0, random: 0),
            now: 0, url: &url)
        guard case .failure(let why) = built else {
            Issue.record("a CR/LF header value was built into a request")
            return
        }
        #expect(why.description == "header X-Click: the value would hold a carriage return (CR) once its macros are filled; not sent")
        let unsent = FireResult.unsendable(String(decoding: url, as: UTF8.self), reason: why.description)
        #expect(unsent.verdict.kind == .permanent && !unsent.judgesPartner)
        #expect(server.stats.requests == 0)
        await server.stop()
    }

    @Test func aPostToARefusedAddressIsRefusedAndNeverContacted() async throws {
        let refused = try await TestServer(host: "127.0.0.2")
        let postback = try Self.postback(#""method": "POST", "body": "{\"c\": \"{sub1}\"}""#,
                                         url: "http://127.0.0.2:\(refused.port)/status/204?c={sub1}")
        let (request, result) = try await Self.fire(postback, Self.record())
        #expect(request.method == .post)
        #expect(result.verdict == FireVerdict(.permanent, "refused: 127.0.0.2 is loopback"))
        #expect(refused.stats.accepted == 0)
        await refused.stop()
    }

    @Test func aPostRedirectedToARefusedAddressIsRefusedAndNeverContacted() async throws {
        let server = try await TestServer()
        let refused = try await TestServer(host: "127.0.0.2")
        let target = "http://127.0.0.2:\(refused.port)/status/204"
        let postback = try Self.postback(#""method": "POST", "body": "{\"c\": \"{sub1}\"}""#,
                                         url: "\(server.base)/redirect?to=\(target.percentEncoded)&c={sub1}")
        let (_, result) = try await Self.fire(postback, Self.record())
        #expect(result.verdict == FireVerdict(.permanent, "refused: 127.0.0.2 is loopback"))
        #expect(server.stats.received.map(\.method) == ["POST"])
        #expect(refused.stats.accepted == 0)
        await server.stop()
        await refused.stop()
    }

    @Test func aGetAfterAPostOnTheSameHandleIsAPlainGet() async throws {
        let server = try await TestServer()
        let post = try Self.postback(#""method": "POST", "headers": {"X-A": "1"}, "body": "{\"c\": \"{sub1}\"}""#,
                                     url: "\(server.base)/status/204?c={sub1}")
        var url: [UInt8] = []
        let request = try FireRequest.build(post, record: Self.record(), context: .init(postbackID: 17, arrivalTime: 0, random: 0),
                                            now: 0, url: &url).get()
        // One handle: maxConcurrent 1 makes the engine reuse it for both fires.
        let engine = FiringEngine(configuration: testConfiguration(maxConcurrent: 1, perHost: 1))
        _ = await engine.fire(request)
        let get = await engine.fire(url: server.base + "/status/204?plain=1")
        engine.shutdown()
        #expect(get.verdict.kind == .success)
        let last = try #require(server.stats.received.last)
        #expect(last.method == "GET" && last.body.isEmpty && last.header("X-A") == nil && last.header("Content-Type") == nil)
        #expect(server.stats.received.first?.method == "POST")
        await server.stop()
    }

    /// `openssl dgst -sha256 -mac HMAC -macopt hexkey:...` over `data`, base64.
    static func openSSLHMAC(key: [UInt8], data: [UInt8]) throws -> String {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("hmac-\(UUID().uuidString)")
        try Data(data).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        let hexKey = key.map { String(format: "%02x", $0) }.joined()
        process.arguments = ["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:\(hexKey)", "-binary", input.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let mac = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && mac.count == 32)
        return mac.base64EncodedString()
    }
}
