import Testing
@testable import PostbackCore

@Suite("Precedence: specific > global offer > global partner")
struct PrecedenceTests {
    let index: PostbackIndex

    init() throws {
        index = PostbackIndex(catalog: try Fixtures.catalog([
            // Partner 7 on offer 3: two specific conversion postbacks, one paused.
            Fixtures.entry(11, level: "specific", partner: 7, offer: 3),
            Fixtures.entry(10, level: "specific", partner: 7, offer: 3),
            Fixtures.entry(12, status: "inactive", level: "specific", partner: 7, offer: 3),
            // Offer 3 for every partner, offer 4 for every partner.
            Fixtures.entry(20, level: "global_offer", partner: nil, offer: 3),
            Fixtures.entry(21, level: "global_offer", partner: nil, offer: 4),
            // Partner 7 and 8 on every offer.
            Fixtures.entry(30, level: "global", partner: 7, offer: nil),
            Fixtures.entry(31, level: "global", partner: 8, offer: nil),
            // Partner 9 on offer 5: only a paused specific postback, so the global offer one wins.
            Fixtures.entry(40, status: "inactive", level: "specific", partner: 9, offer: 5),
            Fixtures.entry(41, level: "global_offer", partner: nil, offer: 5),
            // Events on offer 6 for partner 7: one for all events, one for event 2 only.
            Fixtures.entry(50, type: "event", level: "specific", partner: 7, offer: 6),
            Fixtures.entry(51, type: "event", level: "specific", partner: 7, offer: 6, eventIDs: [2]),
            // Events on offer 7: only for event 5, with a global fallback for partner 7.
            Fixtures.entry(52, type: "event", level: "specific", partner: 7, offer: 7, eventIDs: [5]),
            Fixtures.entry(53, type: "event", level: "global", partner: 7, offer: nil),
            // CPC on offer 8 for partner 7.
            Fixtures.entry(60, type: "cpc", level: "specific", partner: 7, offer: 8),
            // Pixels next to a postback at the same level.
            Fixtures.entry(70, level: "specific", partner: 10, offer: 3, delivery: "image_pixel"),
            Fixtures.entry(71, level: "specific", partner: 10, offer: 3, delivery: "iframe_pixel"),
            Fixtures.entry(72, level: "specific", partner: 10, offer: 3),
        ]))
    }

    func fired(_ line: String) throws -> [Int64] {
        index.resolve(try Fixtures.record(line)).fires.map(\.id)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var record: String
        var fires: [Int64]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "specific wins, every active one fires, in id order",
             record: #"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3}"#, fires: [10, 11]),
        Case(name: "no specific: global offer wins over global partner",
             record: #"{"kind":"conversion","transaction_id":"t","partner_id":8,"offer_id":4}"#, fires: [21]),
        Case(name: "nothing for the offer: global partner",
             record: #"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":99}"#, fires: [30]),
        Case(name: "a paused specific lets global offer win",
             record: #"{"kind":"conversion","transaction_id":"t","partner_id":9,"offer_id":5}"#, fires: [41]),
        Case(name: "another partner's specific postback never fires",
             record: #"{"kind":"conversion","transaction_id":"t","partner_id":8,"offer_id":3}"#, fires: [20]),
        Case(name: "no match at all",
             record: #"{"kind":"conversion","transaction_id":"t","partner_id":99,"offer_id":99}"#, fires: []),
        Case(name: "event without event_ids filter and with a matching filter",
             record: #"{"kind":"event","transaction_id":"t","partner_id":7,"offer_id":6,"event_id":2}"#, fires: [50, 51]),
        Case(name: "event filtered out by event_ids",
             record: #"{"kind":"event","transaction_id":"t","partner_id":7,"offer_id":6,"event_id":3}"#, fires: [50]),
        Case(name: "a level whose only postback filters the event out does not win",
             record: #"{"kind":"event","transaction_id":"t","partner_id":7,"offer_id":7,"event_id":6}"#, fires: [53]),
        Case(name: "event postbacks do not fire on conversions",
             record: #"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":6}"#, fires: [30]),
        Case(name: "CPC fires for clicks",
             record: #"{"kind":"click","transaction_id":"t","partner_id":7,"offer_id":8}"#, fires: [60]),
        Case(name: "CPC postbacks never fire on conversions",
             record: #"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":8}"#, fires: [30]),
        Case(name: "clicks fire only CPC postbacks",
             record: #"{"kind":"click","transaction_id":"t","partner_id":7,"offer_id":3}"#, fires: []),
        Case(name: "pixels are never in the fire list",
             record: #"{"kind":"conversion","transaction_id":"t","partner_id":10,"offer_id":3}"#, fires: [72]),
    ]

    @Test(arguments: cases)
    func resolves(_ c: Case) throws {
        #expect(try fired(c.record) == c.fires)
    }

    @Test func pixelsAreReturnedSeparately() throws {
        let resolution = index.resolve(try Fixtures.record(#"{"kind":"conversion","transaction_id":"t","partner_id":10,"offer_id":3}"#))
        #expect(resolution.level == .specific)
        #expect(resolution.pixels.map(\.id) == [70, 71])
        #expect(resolution.matches.map(\.id) == [70, 71, 72])
    }

    /// `fires`, `pixels` and `matches` are views over the index's bucket (no closure, no
    /// allocation); as collections they skip what the filter leaves out at either end.
    @Test func selectionsBehaveAsCollections() throws {
        let resolution = index.resolve(try Fixtures.record(#"{"kind":"conversion","transaction_id":"t","partner_id":10,"offer_id":3}"#))
        #expect(resolution.fires.count == 1 && resolution.fires.first?.id == 72)
        #expect(resolution.pixels.count == 2 && !resolution.pixels.isEmpty)
        #expect(resolution.matches.contains { $0.id == 71 })
        let event = index.resolve(try Fixtures.record(#"{"kind":"event","transaction_id":"t","partner_id":7,"offer_id":6,"event_id":3}"#))
        #expect(Array(event.fires.map(\.id)) == [50])
        let none = index.resolve(try Fixtures.record(#"{"kind":"conversion","transaction_id":"t","partner_id":99,"offer_id":99}"#))
        #expect(none.fires.isEmpty && none.pixels.isEmpty && none.matches.count == 0)
    }

    @Test func levelIsReported() throws {
        #expect(index.resolve(try Fixtures.record(#"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":99}"#)).level == .global)
        #expect(index.resolve(try Fixtures.record(#"{"kind":"conversion","transaction_id":"t","partner_id":99,"offer_id":99}"#)).isEmpty)
    }

    @Test func pausedByTheDaemonIsLeftOut() throws {
        let paused = PostbackIndex(catalog: index.catalog, paused: [10])
        let record = try Fixtures.record(#"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3}"#)
        #expect(paused.resolve(record).fires.map(\.id) == [11])
    }

    @Test func resolutionIsDeterministic() throws {
        let record = try Fixtures.record(#"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3}"#)
        let rebuilt = PostbackIndex(catalog: index.catalog)
        #expect(rebuilt.resolve(record).fires.map(\.id) == index.resolve(record).fires.map(\.id))
    }
}
