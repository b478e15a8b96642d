import Foundation
import PostbackTestSupport
import Testing

/// Issue 15 at the command line: `add`/`edit` write the new fields through the daemon's
/// validation, `list` shows method and delay and never the secret, and `test-fire` prints the
/// request it sent (method, headers with the signature masked, body) as the server got it.
@Suite("postbackctl: delivery beyond GET", .serialized)
struct DeliveryBeyondGetCLITests {
    static let secret = "whsec_" + Data(Array("0123456789abcdefghijklmnopqrstuv".utf8)).base64EncodedString()

    @Test func addAndEditTakeTheNewFieldsAndListShowsThemWithoutTheSecret() throws {
        let f = try OperatorFixture(catalog: catalogText([entry(1, url: "https://a.example/pb?click={sub1}")]))
        let add = try f.ctl(["add", "--catalog", f.catalogPath, "--type", "conversion", "--level", "specific", "--partner", "9",
                             "--offer", "4", "--url", "https://c.example/pb?click={sub2}", "--method", "POST",
                             "--body", #"{"click":"{sub2}","payout":{payout_amount}}"#, "--header", "X-Key=k-{sub3}",
                             "--header", "Authorization=Bearer t", "--signing-secret", Self.secret, "--delay", "2s", "--no-reload"])
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stdout == "postback 2: added to \(f.catalogPath)\n")
        let written = f.read(f.catalogPath)
        #expect(written.contains(#""method":"POST","body":"{\"click\":\"{sub2}\",\"payout\":{payout_amount}}","content_type":"application/json","headers":{"X-Key":"k-{sub3}","Authorization":"Bearer t"},"signing_secret":"\#(Self.secret)","delay_ms":2000}"#),
                "\(written)")
        #expect(try f.ctl(["validate", f.catalogPath]).status == 0)

        let list = try f.ctl(["list", "--catalog", f.catalogPath, "--columns", "id,method,delay,headers,signed"])
        #expect(list.status == 0)
        #expect(list.stdout == """
            ID  METHOD  DELAY   HEADERS              SIGNED
            1   GET     -       -                    no
            2   POST    2000ms  X-Key,Authorization  yes

            """, "\(list.stdout)")
        let json = try f.ctl(["list", "--catalog", f.catalogPath, "--json"])
        #expect(json.status == 0 && !json.stdout.contains(Self.secret) && !json.stdout.contains(String(Self.secret.dropFirst(6))))
        #expect(json.stdout.contains(#""signing_secret":"(masked)""#))

        // edit: one header changed, one removed, the delay dropped, back to GET refused while a body remains.
        let edit = try f.ctl(["edit", "2", "--catalog", f.catalogPath, "--header", "X-Key=k2-{sub3}", "--header", "Authorization=",
                              "--delay", "0", "--no-reload"])
        #expect(edit.status == 0, "\(edit.stderr)")
        #expect(edit.stdout == "postback 2: changed delay_ms, headers in \(f.catalogPath)\n")
        let edited = f.read(f.catalogPath)
        #expect(edited.contains(#""headers":{"X-Key":"k2-{sub3}"}"#) && !edited.contains("delay_ms") && edited.contains(Self.secret))
        let toGet = try f.ctl(["edit", "2", "--catalog", f.catalogPath, "--method", "GET", "--no-reload"])
        #expect(toGet.status == 1)
        #expect(toGet.stderr == """
            postback 2: body: only allowed with method POST (this postback is GET)
            postback 2: signing_secret: only allowed with method POST (the signature covers the body)

            """)
        let badDelay = try f.ctl(["edit", "2", "--catalog", f.catalogPath, "--delay", "301000", "--no-reload"])
        #expect(badDelay.stderr == "postback 2: delay_ms: must be from 0 to 300000 (milliseconds, Everflow's bound), got 301000\n")
        let badHeader = try f.ctl(["edit", "2", "--catalog", f.catalogPath, "--header", "X-{sub1}=v", "--no-reload"])
        #expect(badHeader.stderr == "postback 2: headers: header name \"X-{sub1}\": macros are allowed in values only\n")
    }

    @Test func thePOSTExampleCatalogIsValid() throws {
        let path = ProcessRunner.repositoryRoot.appendingPathComponent("config/catalog-post.json").path
        let r = try ProcessRunner.run("postbackctl", ["validate", path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "\(path): OK, 2 postbacks (2 active, 0 inactive; 2 server-to-server, 0 pixel)\n")
    }

    @Test func testFirePrintsMethodHeadersAndBodyWithTheSignatureMasked() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let path = try ProcessRunner.temporaryFile("""
            {"postbacks": [{"id": 17, "type": "conversion", "level": "specific", "partner_id": 7, "offer_id": 3,
              "url": "\(sink.base)/status/204?click={sub1}", "method": "POST", "headers": {"X-Click": "c-{sub1}"},
              "body": "{\\"click\\": \\"{sub1}\\", \\"fire\\": \\"{fire_id}\\"}", "signing_secret": "\(Self.secret)"}]}
            """, name: "catalog.json")
        let record = #"{"kind":"conversion","transaction_id":"t-77","partner_id":7,"offer_id":3,"sub1":"click 1"}"#
        let r = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "17",
                                                      "--record", record, "--allow-address", "127.0.0.1/32"])
        #expect(r.status == 0, "\(r.stderr)")
        let got = try #require(sink.stats.received.first)
        let fireID = try #require(got.header("webhook-id"))
        #expect(r.stdout.contains("request 1: POST \(sink.base)/status/204?click=click%201\n"), "\(r.stdout)")
        #expect(r.stdout.contains("  header: X-Click: c-click 1\n"))
        #expect(r.stdout.contains("  header: Content-Type: application/json\n"))
        #expect(r.stdout.contains("  header: webhook-id: \(fireID)\n"))
        #expect(r.stdout.contains("  header: webhook-signature: v1,(masked)\n"))
        #expect(r.stdout.contains(#"  request body: "{\"click\": \"click 1\", \"fire\": \"\#(fireID)\"}""#), "\(r.stdout)")
        #expect(!r.stdout.contains(Self.secret) && !r.stdout.contains(String(Self.secret.dropFirst(6))))
        #expect(!r.stdout.contains(got.header("webhook-signature") ?? "-"))
        #expect(got.method == "POST" && got.header("X-Click") == "c-click 1")
        #expect(r.stdout.hasSuffix("verdict: success: HTTP 204\n"))
    }

    @Test func testFireRefusesAHeaderThatWouldCarryALineBreak() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let path = try ProcessRunner.temporaryFile("""
            {"postbacks": [{"id": 17, "type": "conversion", "level": "specific", "partner_id": 7, "offer_id": 3,
              "url": "\(sink.base)/status/204?click={sub1}", "headers": {"X-Click": "{sub1}"}}]}
            """, name: "catalog.json")
        let record = #"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3,"sub1":"a\nb"}"#
        let r = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "17",
                                                      "--record", record, "--allow-address", "127.0.0.1/32"])
        #expect(r.status == 1)
        #expect(r.stdout.hasSuffix("verdict: permanent: header X-Click: the value would hold a line feed (LF) once its macros are filled; not sent\n"), "\(r.stdout)")
        #expect(sink.stats.requests == 0)
    }
}
