import Testing
@testable import PostbackCore

@Suite("Pixel HTML")
struct PixelHTMLTests {
    let context = URLTemplate.Context(postbackID: 1, arrivalTime: 0, random: 9)

    @Test func hostileValueStaysText() throws {
        let catalog = try Fixtures.catalog([
            Fixtures.entry(1, delivery: "image_pixel", url: "https://px.example/p.gif?c={sub1}&r={random}"),
            Fixtures.entry(2, delivery: "iframe_pixel", url: "https://px.example/f?c={sub1}"),
            Fixtures.entry(3, delivery: "postback"),
        ])
        var record = Record(kind: .conversion, transactionID: "t", partnerID: 7, offerID: 3)
        record[.sub1] = "\"><script>alert(1)</script>"
        #expect(PixelHTML.render(catalog[id: 1]!, record: record, context: context)
            == "<img src=\"https://px.example/p.gif?c=%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E&amp;r=9\" width=\"1\" height=\"1\" style=\"display:none\" alt=\"\">")
        #expect(PixelHTML.render(catalog[id: 2]!, record: record, context: context)
            == "<iframe src=\"https://px.example/f?c=%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E\" width=\"1\" height=\"1\" style=\"display:none\" frameborder=\"0\"></iframe>")
        #expect(PixelHTML.render(catalog[id: 3]!, record: record, context: context) == nil)
    }

    @Test func escapesTheFiveCharacters() {
        #expect(PixelHTML.escape("<a href=\"x\" title='y'>&</a>") == "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;")
    }
}
