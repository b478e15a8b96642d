import Testing
@testable import PostbackCore

@Suite("Catalog validation: one test per rule, exact messages")
struct CatalogValidationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var entry: String
        var problems: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "no click-ID macro",
             entry: Fixtures.entry(1, url: "https://p.example/pb?payout={payout_amount}"),
             problems: ["postback 1: url: no click-ID macro; add one of {sub1}..{sub10} or {transaction_id} so the partner can attribute the fire"]),
        Case(name: "unknown macro with a suggestion",
             entry: Fixtures.entry(2, url: "https://p.example/pb?c={sub1}&x={sbu1}"),
             problems: ["postback 2: url: unknown macro {sbu1} (did you mean {sub1}?)"]),
        Case(name: "unknown macro with no near name",
             entry: Fixtures.entry(3, url: "https://p.example/pb?c={sub1}&x={zzzzzzzzzz}"),
             problems: ["postback 3: url: unknown macro {zzzzzzzzzz}"]),
        Case(name: "upper-case macro is unknown but suggested",
             entry: Fixtures.entry(4, url: "https://p.example/pb?c={sub1}&t={TRANSACTION_ID}"),
             problems: ["postback 4: url: unknown macro {TRANSACTION_ID} (did you mean {transaction_id}?)"]),
        Case(name: "macro in the host",
             entry: Fixtures.entry(5, url: "https://{sub2}.p.example/pb?c={sub1}"),
             problems: ["postback 5: url: macro {sub2} in the host; a record must never choose where a fire goes"]),
        Case(name: "macro in the port",
             entry: Fixtures.entry(6, url: "https://p.example:{sub2}/pb?c={sub1}"),
             problems: ["postback 6: url: macro {sub2} in the port; a record must never choose where a fire goes"]),
        Case(name: "macro in the scheme",
             entry: Fixtures.entry(7, url: "{sub2}://p.example/pb?c={sub1}"),
             problems: ["postback 7: url: macro {sub2} in the scheme; a record must never choose where a fire goes"]),
        Case(name: "macro in the userinfo",
             entry: Fixtures.entry(8, url: "https://{sub2}@p.example/pb?c={sub1}"),
             problems: ["postback 8: url: macro {sub2} in the userinfo; a record must never choose where a fire goes"]),
        Case(name: "scheme other than http/https",
             entry: Fixtures.entry(9, url: "gopher://p.example/pb?c={sub1}"),
             problems: ["postback 9: url: scheme \"gopher\" is not allowed; only http and https"]),
        Case(name: "not an absolute URL",
             entry: Fixtures.entry(10, url: "/pb?c={sub1}"),
             problems: ["postback 10: url: is not an absolute URL; it must start with http:// or https://"]),
        Case(name: "space in the template",
             entry: Fixtures.entry(11, url: "https://p.example/p b?c={sub1}"),
             problems: ["postback 11: url: contains a space at position 20; encode it as %XX"]),
        Case(name: "unclosed macro",
             entry: Fixtures.entry(12, url: "https://p.example/pb?c={sub1}&d={sub2"),
             problems: ["postback 12: url: a '{' at position 33 is never closed"]),
        Case(name: "specific without offer",
             entry: Fixtures.entry(13, level: "specific", partner: 7, offer: nil),
             problems: ["postback 13: offer_id: required for level specific"]),
        Case(name: "specific without partner",
             entry: Fixtures.entry(14, level: "specific", partner: nil, offer: 3),
             problems: ["postback 14: partner_id: required for level specific"]),
        Case(name: "global_offer with a partner",
             entry: Fixtures.entry(15, level: "global_offer", partner: 7, offer: 3),
             problems: ["postback 15: partner_id: must be absent for level global_offer (it applies to every partner on the offer)"]),
        Case(name: "global_offer without offer",
             entry: Fixtures.entry(16, level: "global_offer", partner: nil, offer: nil),
             problems: ["postback 16: offer_id: required for level global_offer"]),
        Case(name: "global with an offer",
             entry: Fixtures.entry(17, level: "global", partner: 7, offer: 3),
             problems: ["postback 17: offer_id: must be absent for level global (it applies to every offer of the partner)"]),
        Case(name: "global without partner",
             entry: Fixtures.entry(18, level: "global", partner: nil, offer: nil),
             problems: ["postback 18: partner_id: required for level global"]),
        Case(name: "event_ids on a conversion postback",
             entry: Fixtures.entry(19, type: "conversion", eventIDs: [1]),
             problems: ["postback 19: event_ids: only allowed on type event (this postback is conversion)"]),
        Case(name: "empty event_ids",
             entry: Fixtures.entry(20, type: "event", eventIDs: []),
             problems: ["postback 20: event_ids: is empty; omit it to fire on every event"]),
        Case(name: "bad status",
             entry: Fixtures.entry(21, status: "paused"),
             problems: ["postback 21: status: \"paused\" is not one of active, inactive"]),
        Case(name: "bad type",
             entry: Fixtures.entry(22, type: "sale"),
             problems: ["postback 22: type: \"sale\" is not one of conversion, event, cpc"]),
        Case(name: "bad level",
             entry: Fixtures.entry(23, level: "partner"),
             problems: ["postback 23: level: \"partner\" is not one of specific, global_offer, global"]),
        Case(name: "bad delivery",
             entry: Fixtures.entry(24, delivery: "email"),
             problems: ["postback 24: delivery: \"email\" is not one of postback, image_pixel, iframe_pixel"]),
        Case(name: "bad author",
             entry: Fixtures.entry(25, author: "advertiser"),
             problems: ["postback 25: author: \"advertiser\" is not one of network, partner"]),
        Case(name: "pixel without click ID",
             entry: Fixtures.entry(26, delivery: "image_pixel", url: "https://p.example/px.gif"),
             problems: ["postback 26: url: no click-ID macro; add one of {sub1}..{sub10} or {transaction_id} so the partner can attribute the fire"]),
        Case(name: "id of the wrong type",
             entry: #"{"id": "x1", "type": "conversion", "level": "global", "partner_id": 7, "url": "https://p/?c={sub1}"}"#,
             problems: ["postback #1: id: expected an integer, got a string (\"x1\")"]),
        Case(name: "missing id, type, level and url",
             entry: #"{"status": "active"}"#,
             problems: ["postback #1: id: missing", "postback #1: type: missing (conversion, event or cpc)",
                        "postback #1: level: missing (specific, global_offer or global)", "postback #1: url: missing"]),
        Case(name: "partner_id of the wrong type",
             entry: #"{"id": 30, "type": "conversion", "level": "global", "partner_id": "7", "url": "https://p/?c={sub1}"}"#,
             problems: ["postback 30: partner_id: expected an integer, got a string (\"7\")"]),
    ]

    @Test(arguments: cases)
    func rule(_ c: Case) {
        #expect(Fixtures.problems([c.entry]) == c.problems)
    }

    @Test func everyProblemIsReportedAtOnce() {
        let problems = Fixtures.problems([
            Fixtures.entry(1, url: "https://p/?x={payout_amount}"),
            Fixtures.entry(2, status: "paused", level: "global", partner: 7, offer: 3, url: "ftp://{sub1}/"),
        ])
        #expect(problems == [
            "postback 1: url: no click-ID macro; add one of {sub1}..{sub10} or {transaction_id} so the partner can attribute the fire",
            "postback 2: status: \"paused\" is not one of active, inactive",
            "postback 2: offer_id: must be absent for level global (it applies to every offer of the partner)",
            "postback 2: url: scheme \"ftp\" is not allowed; only http and https",
            "postback 2: url: macro {sub1} in the host; a record must never choose where a fire goes",
        ])
    }

    @Test func duplicateIDs() {
        #expect(Fixtures.problems([Fixtures.entry(5), Fixtures.entry(6), Fixtures.entry(5)])
            == ["postback 5: id: duplicate id; also used by postback #1 in the list"])
    }

    @Test(arguments: [
        ("{\"postbacks\": [\n  {\"id\": 1,, }]}", "catalog: line 2, column 12: expected a member name in quotes but found ','"),
        ("{\"postbacks\": [", "catalog: line 1, column 16: expected a value but the input ended"),
        ("", "catalog: line 1, column 1: the file is empty"),
        ("[]", "catalog: line 1, column 1: expected an object {\"postbacks\": [...]}"),
        ("{\"items\": []}", "catalog: postbacks: missing; expected {\"postbacks\": [...]}"),
        ("{\"postbacks\": {}}", "catalog: line 1, column 15: \"postbacks\" must be an array"),
        ("{\"postbacks\": []} x", "catalog: line 1, column 19: unexpected 'x' after the end of the value"),
    ])
    func malformedJSONNamesLineAndColumn(_ json: String, _ message: String) {
        #expect(Fixtures.problems(json: json) == [message])
    }

    @Test func defaultsAndUnknownFields() throws {
        let catalog = try Fixtures.catalog([
            #"{"id": 9, "type": "conversion", "level": "global", "partner_id": 7, "url": "https://p/?c={sub1}", "created_by": "ui"}"#
        ])
        let p = try #require(catalog[id: 9])
        #expect(p.status == .active && p.delivery == .postback && p.author == .network && p.description == "")
    }

    @Test func deepNestingIsRefusedNotCrashed() {
        let deep = String(repeating: "[", count: 100_000)
        let problems = Fixtures.problems(json: "{\"postbacks\": [{\"x\": \(deep)}]}")
        #expect(problems.count == 1 && problems[0].contains("nesting deeper than 64 levels"))
    }
}
