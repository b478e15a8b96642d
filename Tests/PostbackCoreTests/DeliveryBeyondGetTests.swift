import Foundation
import Testing
@testable import PostbackCore

/// Issue 15's catalog fields and body/header templates: every validation rule with its exact
/// message, and expansion checked by decoding the bytes back with Foundation's own JSON and
/// form readers (independent of the code under test).
@Suite("Delivery beyond GET: catalog rules, body and header templates")
struct DeliveryBeyondGetTests {
    /// A postback entry with `extra` fields (JSON members) appended.
    static func entry(_ id: Int64, _ extra: String) -> String {
        String(Fixtures.entry(id).dropLast()) + ", " + extra + "}"
    }

    static let secret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var extra: String
        var problems: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a body on GET", extra: #""body": "{\"c\":\"{sub1}\"}""#,
             problems: ["postback 1: body: only allowed with method POST (this postback is GET)"]),
        Case(name: "a secret without whsec_", extra: #""method": "POST", "signing_secret": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0""#,
             problems: ["postback 1: signing_secret: must start with \"whsec_\" followed by base64 (Standard Webhooks)"]),
        Case(name: "a secret that is not base64", extra: #""method": "POST", "signing_secret": "whsec_not base64!""#,
             problems: ["postback 1: signing_secret: the part after \"whsec_\" is not base64"]),
        Case(name: "a secret too short", extra: #""method": "POST", "signing_secret": "whsec_c2VjcmV0""#,
             problems: ["postback 1: signing_secret: decodes to 6 bytes; Standard Webhooks secrets are 24 to 64 random bytes"]),
        Case(name: "a secret on GET", extra: "\"signing_secret\": \"\(secret)\"",
             problems: ["postback 1: signing_secret: only allowed with method POST (the signature covers the body)"]),
        Case(name: "a bad header name", extra: #""headers": {"X Click": "{sub1}"}"#,
             problems: ["postback 1: headers: header name \"X Click\" is not an HTTP token (it holds ' ')"]),
        Case(name: "a macro in a header name", extra: #""headers": {"X-{sub1}": "v"}"#,
             problems: ["postback 1: headers: header name \"X-{sub1}\": macros are allowed in values only"]),
        Case(name: "a framing header", extra: #""headers": {"Content-Length": "5"}"#,
             problems: ["postback 1: headers: header \"Content-Length\" may not be set: postbackd frames the request itself"]),
        Case(name: "Host in any case", extra: #""headers": {"hOST": "evil.example"}"#,
             problems: ["postback 1: headers: header \"hOST\" may not be set: postbackd frames the request itself"]),
        Case(name: "a header twice", extra: #""headers": {"X-A": "1", "x-a": "2"}"#,
             problems: ["postback 1: headers: header \"x-a\" appears twice"]),
        Case(name: "an unknown macro in a header value", extra: #""headers": {"X-A": "{sbu1}"}"#,
             problems: ["postback 1: headers: header \"X-A\": unknown macro {sbu1} (did you mean {sub1}?)"]),
        Case(name: "a header value that is not a string", extra: #""headers": {"X-A": 5}"#,
             problems: ["postback 1: headers: header \"X-A\": expected a string value, got a number (5)"]),
        Case(name: "a body that is not JSON with its macros filled", extra: #""method": "POST", "body": "{\"c\": \"{sub1}\",}""#,
             problems: ["postback 1: body: is not valid JSON with its macros filled (values present): expected a member name in quotes but found '}' at byte 21 of {\"c\": \"v\\\"\\\\\\n€&\",}"]),
        Case(name: "a string macro outside quotes", extra: #""method": "POST", "body": "{\"c\": {sub1}}""#,
             problems: ["postback 1: body: macro {sub1} stands outside a JSON string; put it in quotes (only numeric macros may stand bare)"]),
        Case(name: "a macro inside a JSON escape (found by the body fuzz target)", extra: #""method": "POST", "body": "{\"c\": \"\\u{postback_id}\"}""#,
             problems: ["postback 1: body: macro {postback_id} stands inside a JSON escape sequence (after a backslash)"]),
        Case(name: "a bare number glued to a digit (found by the body fuzz target)", extra: #""method": "POST", "body": "[2{postback_id}]""#,
             problems: ["postback 1: body: numeric macro {postback_id} outside quotes must stand alone as a JSON value (after '[', ',' or ':' and before ',', ']' or '}')"]),
        Case(name: "an unknown macro in a body", extra: #""method": "POST", "body": "{\"c\": \"{sbu1}\"}""#,
             problems: ["postback 1: body: unknown macro {sbu1} (did you mean {sub1}?)"]),
        Case(name: "delay_ms over the bound", extra: #""delay_ms": 300001"#,
             problems: ["postback 1: delay_ms: must be from 0 to 300000 (milliseconds, Everflow's bound), got 300001"]),
        Case(name: "delay_ms negative", extra: #""delay_ms": -1"#,
             problems: ["postback 1: delay_ms: must be from 0 to 300000 (milliseconds, Everflow's bound), got -1"]),
        Case(name: "an unknown content type", extra: #""method": "POST", "body": "a={sub1}", "content_type": "text/plain""#,
             problems: ["postback 1: content_type: \"text/plain\" is not one of application/json, application/x-www-form-urlencoded"]),
        Case(name: "an unknown method", extra: #""method": "PUT""#,
             problems: ["postback 1: method: \"PUT\" is not one of GET, POST"]),
        Case(name: "a content type without a body", extra: #""method": "POST", "content_type": "application/json""#,
             problems: ["postback 1: content_type: only allowed with a body"]),
    ]

    @Test(arguments: cases)
    func rule(_ c: Case) {
        #expect(Fixtures.problems([Self.entry(1, c.extra)]) == c.problems)
    }

    @Test func aPostMayCarryItsClickIDInTheBodyOrAHeaderOnly() throws {
        let url = "https://p.example/pb"
        let inBody = String(Fixtures.entry(1, url: url).dropLast()) + #", "method": "POST", "body": "{\"c\": \"{sub8}\"}"}"#
        let inHeader = String(Fixtures.entry(2, url: url).dropLast()) + #", "method": "POST", "headers": {"X-Click": "{transaction_id}"}}"#
        #expect(Fixtures.problems([inBody, inHeader]) == [])
        let nowhere = String(Fixtures.entry(3, url: url).dropLast()) + #", "method": "POST", "body": "{\"p\": {payout_amount}}"}"#
        let getWithHeader = String(Fixtures.entry(4, url: url).dropLast()) + #", "headers": {"X-Click": "{sub1}"}}"#
        let message = "url: no click-ID macro; add one of {sub1}..{sub10} or {transaction_id} so the partner can attribute the fire"
        #expect(Fixtures.problems([nowhere, getWithHeader]) == ["postback 3: " + message, "postback 4: " + message])
    }

    @Test func anEntryWithoutTheNewFieldsIsAGet() throws {
        let p = try #require(try Fixtures.catalog([Fixtures.entry(1)])[id: 1])
        #expect(p.method == .get && p.body == nil && p.headers.isEmpty && p.signingSecret == nil && p.delayMillis == 0)
        #expect(!p.usesFireID)
        #expect(!p.catalogJSON.contains("method") && !p.catalogJSON.contains("delay_ms"))
    }

    @Test func theNewFieldsLoadAndRoundTripWithTheSecretMaskedInListings() throws {
        let p = try #require(try Fixtures.catalog([Self.entry(1, """
            "method": "POST", "body": "{\\"c\\":\\"{sub1}\\"}", "headers": {"X-Key": "k-{sub2}", "Authorization": "Bearer t"},
            "signing_secret": "\(Self.secret)", "delay_ms": 1500
            """)])[id: 1])
        #expect(p.method == .post && p.body?.contentType == .json && p.delayMillis == 1500 && p.usesFireID)
        #expect(p.headers.map(\.name) == ["X-Key", "Authorization"])
        #expect(p.signingSecret?.key == Array(0..<32))
        #expect(!p.catalogJSON.contains(Self.secret) && p.catalogJSON.contains("\"signing_secret\":\"(masked)\""))
        #expect("\(p.signingSecret!)" == "whsec_…(masked)")
        // The file form keeps the secret and loads back to the same postback.
        let again = try #require(try Fixtures.catalog([p.catalogJSON(revealingSecret: true)])[id: 1])
        #expect(again.catalogJSON(revealingSecret: true) == p.catalogJSON(revealingSecret: true))
    }

    static func record() -> Record {
        var r = Record(kind: .conversion, transactionID: "t-1", partnerID: 7, offerID: 3)
        r[.sub1] = "say \"hi\" \\ back\nline 2 €&=x"
        r[.sub6] = "six"
        r[.adv10] = "ten"
        r[.eventName] = "purchase"
        r[.payout] = "1.50"
        return r
    }

    static let context = URLTemplate.Context(postbackID: 17, arrivalTime: 1_700_000_000, random: 42, fireID: "fire_abc")

    @Test func jsonBodyKeepsEveryValueExactAndNumbersBare() throws {
        let body = try BodyTemplate.compile(
            #"{"click": "{sub1}", "s6": "{sub6}", "a10": "{adv10}", "ev": "{event_name}", "payout": {payout_amount}, "sale": {sale_amount}, "pb": {postback_id}, "fire": "{fire_id}", "in": "p={payout_amount}"}"#,
            contentType: .json)
        let bytes = body.expand(Self.record(), context: Self.context)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["click"] as? String == "say \"hi\" \\ back\nline 2 €&=x")
        #expect(object["s6"] as? String == "six" && object["a10"] as? String == "ten" && object["ev"] as? String == "purchase")
        #expect((object["payout"] as? NSNumber)?.doubleValue == 1.5)
        #expect(object["sale"] is NSNull, "an absent numeric macro is null")
        #expect((object["pb"] as? NSNumber)?.intValue == 17)
        #expect(object["fire"] as? String == "fire_abc")
        #expect(object["in"] as? String == "p=1.50")
        #expect(String(decoding: bytes, as: UTF8.self).contains("\"payout\": 1.50"), "the amount as sent, not reformatted")
    }

    @Test func leadingZerosOfADecimalAreDroppedBare() throws {
        let body = try BodyTemplate.compile(#"{"p": {payout_amount}}"#, contentType: .json)
        var r = Self.record()
        r[.payout] = "-007.50"
        #expect(String(decoding: body.expand(r, context: Self.context), as: UTF8.self) == #"{"p": -7.50}"#)
    }

    @Test func formBodyDecodesExactly() throws {
        let body = try BodyTemplate.compile("click={sub1}&ev={event_name}&payout={payout_amount}", contentType: .form)
        let text = String(decoding: body.expand(Self.record(), context: Self.context), as: UTF8.self)
        var parts = URLComponents()
        parts.percentEncodedQuery = text
        let items = Dictionary(uniqueKeysWithValues: (parts.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        #expect(items == ["click": "say \"hi\" \\ back\nline 2 €&=x", "ev": "purchase", "payout": "1.50"])
    }

    @Test func headerValueWithALineBreakIsUnsendable() throws {
        let header = try HeaderTemplate.compile(name: "X-Click", value: "c={sub1}")
        var r = Self.record()
        r[.sub1] = "a\r\nX-Injected: 1"
        do {
            _ = try header.expand(r, context: Self.context)
            Issue.record("a CR/LF value was expanded")
        } catch {
            #expect(error.description == "header X-Click: the value would hold a carriage return (CR) once its macros are filled; not sent")
        }
        r[.sub1] = "a\u{0}b"
        #expect(throws: HeaderTemplate.Unsendable.self) { _ = try header.expand(r, context: Self.context) }
        r[.sub1] = "plain €"
        #expect(try header.expand(r, context: Self.context) == "c=plain €")
    }

    @Test func newMacrosInURLsAndClickIDs() throws {
        let t = try URLTemplate.compile("https://p.example/pb?c={sub7}&e={event_name}&a={adv6}&f={fire_id}")
        var r = Self.record()
        r[.sub7] = "seven&"
        r[.adv6] = "six"
        #expect(t.expand(r, context: Self.context) == "https://p.example/pb?c=seven%26&e=purchase&a=six&f=fire_abc")
        #expect(Macro.sub10.isClickID && !Macro.adv10.isClickID)
    }

    @Test func recordsCarryTheNewFields() throws {
        let line = #"{"kind":"conversion","transaction_id":"t","partner_id":1,"offer_id":2,"sub10":"s","adv7":"a","event_name":"signup"}"#
        let r = try RecordParser.parse(line: line).get()
        #expect(r[.sub10] == "s" && r[.adv7] == "a" && r[.eventName] == "signup")
    }
}
