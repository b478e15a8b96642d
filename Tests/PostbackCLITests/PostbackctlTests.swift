import Foundation
import PostbackTestSupport
import Testing

@Suite("postbackctl validate, plan and list, as DESIGN.md's command lines say")
struct PostbackctlTests {
    let exampleCatalog = ProcessRunner.repositoryRoot.appendingPathComponent("config/catalog.json").path
    let exampleRecords = ProcessRunner.repositoryRoot.appendingPathComponent("config/records.jsonl").path

    @Test func validateAcceptsTheExample() throws {
        let r = try ProcessRunner.run("postbackctl", ["validate", exampleCatalog])
        #expect(r.status == 0)
        #expect(r.stdout == "\(exampleCatalog): OK, 7 postbacks (6 active, 1 inactive; 6 server-to-server, 1 pixel)\n")
        #expect(r.stderr == "")
    }

    @Test func validateListsEveryProblemOnStderrAndExits1() throws {
        let path = try ProcessRunner.temporaryFile("""
            {"postbacks": [
              {"id": 3, "status": "active", "type": "conversion", "level": "specific", "partner_id": 7, "offer_id": 3, "delivery": "postback", "url": "https://p.example/pb?x={sbu1}"},
              {"id": 4, "status": "on", "type": "conversion", "level": "global", "partner_id": 7, "delivery": "postback", "url": "https://{sub1}.p.example/pb"}
            ]}
            """)
        let r = try ProcessRunner.run("postbackctl", ["validate", path])
        #expect(r.status == 1)
        #expect(r.stdout == "")
        #expect(r.stderr == """
            postback 3: url: unknown macro {sbu1} (did you mean {sub1}?)
            postback 4: status: "on" is not one of active, inactive
            postback 4: url: macro {sub1} in the host; a record must never choose where a fire goes

            """)
    }

    @Test func validateMissingFile() throws {
        let r = try ProcessRunner.run("postbackctl", ["validate", "/nonexistent/catalog.json"])
        #expect(r.status == 1)
        #expect(r.stderr == "catalog: /nonexistent/catalog.json: cannot read: no such file\n")
    }

    @Test func planTheExample() throws {
        let r = try ProcessRunner.run("postbackctl", ["plan", "--catalog", exampleCatalog, exampleRecords])
        #expect(r.status == 0)
        #expect(r.stderr == "")
        #expect(r.stdout == """
            1\t1\thttp://127.0.0.1:18090/acme/conv?click=acme-click-1&payout=1.50&currency=EUR&txn=t-1001
            2\t2\thttp://127.0.0.1:18090/acme/event?click=acme%20click%262&event=12
            3\t4\thttp://127.0.0.1:18090/offer5?tid=t-1003&amount=99.90&cur=US%24
            4\t5\thttp://127.0.0.1:18090/acme/global?click=acme-click-4&offer=11&ts=1764240000
            5\t7\thttp://127.0.0.1:18090/beta/cpc?c=beta%2F%E2%82%AC&p=0.05

            """)
    }

    @Test func planFromStdinWithRejectedLines() throws {
        let records = """
            {"kind":"conversion","transaction_id":"a","partner_id":7,"offer_id":3,"sub1":"x"}
            {"kind":"conversion","transaction_id":"b","partner_id":7}
            this is not json
            {"kind":"conversion","transaction_id":"c","partner_id":7,"offer_id":3,"sub1":"y"}
            """
        let r = try ProcessRunner.run("postbackctl", ["plan", "--catalog", exampleCatalog, "-"], stdin: records)
        #expect(r.status == 1)
        #expect(r.stdout == """
            1\t1\thttp://127.0.0.1:18090/acme/conv?click=x&payout=&currency=&txn=a
            4\t1\thttp://127.0.0.1:18090/acme/conv?click=y&payout=&currency=&txn=c

            """)
        #expect(r.stderr == """
            line 2: offer_id: missing
            line 3: not a JSON object; each line must be one record {...}

            """)
    }

    @Test func planRefusesABadCatalog() throws {
        let path = try ProcessRunner.temporaryFile(#"{"postbacks": [{"id": 1}]}"#)
        let r = try ProcessRunner.run("postbackctl", ["plan", "--catalog", path, exampleRecords])
        #expect(r.status == 1)
        #expect(r.stdout == "")
        #expect(r.stderr.hasPrefix("postback 1: type: missing"))
    }

    @Test func listDefaultColumns() throws {
        let r = try ProcessRunner.run("postbackctl", ["list", "--catalog", exampleCatalog, "--status", "inactive"])
        #expect(r.status == 0)
        #expect(r.stdout == """
            ID  STATUS    PARTNER  OFFER  LEVEL     TYPE        DELIVERY  DESCRIPTION
            6   inactive  7        3      specific  conversion  postback  Paused: old Acme endpoint

            """)
    }

    @Test func listAddsAndDropsColumns() throws {
        let r = try ProcessRunner.run("postbackctl", ["list", "--catalog", exampleCatalog, "--status", "active", "--columns", "-description,-delivery,-type,-level,-status,+author"])
        #expect(r.status == 0)
        #expect(r.stdout == """
            ID  PARTNER  OFFER  AUTHOR
            1   7        3      network
            2   7        3      partner
            3   -        3      network
            4   -        5      network
            5   7        -      network
            7   8        9      network

            """)
        let bad = try ProcessRunner.run("postbackctl", ["list", "--catalog", exampleCatalog, "--columns", "+colour"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("unknown column 'colour'"))
    }

    @Test func listJSON() throws {
        let r = try ProcessRunner.run("postbackctl", ["list", "--catalog", exampleCatalog, "--json"])
        #expect(r.status == 0)
        let decoded = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        #expect(decoded?.count == 7)
        #expect(decoded?.first?["url"] as? String
            == "http://127.0.0.1:18090/acme/conv?click={sub1}&payout={payout_amount}&currency={currency}&txn={transaction_id}")
        #expect(decoded?[2]["level"] as? String == "global_offer")
        #expect(decoded?[2]["partner_id"] == nil)
    }
}

@Suite("postbackctl render")
struct RenderCommandTests {
    @Test func rendersEscapedPixelsOfTheWinningLevel() throws {
        let catalog = try ProcessRunner.temporaryFile("""
            {"postbacks": [
              {"id": 1, "type": "conversion", "level": "global_offer", "offer_id": 3, "delivery": "image_pixel", "url": "https://px.example/p.gif?c={sub1}"},
              {"id": 2, "type": "conversion", "level": "global_offer", "offer_id": 3, "delivery": "postback", "url": "https://pb.example/?c={sub1}"}
            ]}
            """)
        let r = try ProcessRunner.run("postbackctl", ["render", "--catalog", catalog, "--record",
            #"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3,"sub1":"\"><script>"}"#])
        #expect(r.status == 0)
        #expect(r.stdout == "<img src=\"https://px.example/p.gif?c=%22%3E%3Cscript%3E\" width=\"1\" height=\"1\" style=\"display:none\" alt=\"\">\n")
        let bad = try ProcessRunner.run("postbackctl", ["render", "--catalog", catalog, "--record", "{}"])
        #expect(bad.status == 1)
        #expect(bad.stderr == "record: kind: missing (conversion, event or click)\n")
    }
}

@Suite("partner_postbacks = off in plan and test-fire")
struct PartnerPostbacksTests {
    let exampleCatalog = ProcessRunner.repositoryRoot.appendingPathComponent("config/catalog.json").path
    let exampleRecords = ProcessRunner.repositoryRoot.appendingPathComponent("config/records.jsonl").path

    @Test func planSaysWhatIsSkipped() throws {
        let r = try ProcessRunner.run("postbackctl", ["plan", "--catalog", exampleCatalog, "--partner-postbacks", "off", exampleRecords])
        #expect(r.status == 0)
        // Postback 2 (the event postback) is partner-authored in the example catalog.
        #expect(!r.stdout.contains("\t2\t"))
        #expect(r.stdout.split(separator: "\n").count == 4)
        #expect(r.stderr == "line 2: postback 2 skipped: partner-authored postbacks are off\n")
    }

    @Test func testFireSaysTheDaemonWouldSkipIt() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let catalog = try ProcessRunner.temporaryFile("""
            {"postbacks": [{"id": 9, "type": "conversion", "level": "specific", "partner_id": 7, "offer_id": 3,
              "delivery": "postback", "author": "partner", "url": "\(sink.base)/status/204?c={sub1}"}]}
            """)
        let r = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", catalog, "--postback", "9", "--record",
            #"{"kind":"conversion","transaction_id":"t","partner_id":7,"offer_id":3}"#,
            "--allow-address", "127.0.0.1/32", "--partner-postbacks", "off"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("note: partner-authored, and partner postbacks are off: the daemon skips it"))
    }
}
