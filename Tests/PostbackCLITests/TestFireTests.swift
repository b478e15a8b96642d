import Foundation
import Glibc
import PostbackTestSupport
import Testing

@Suite("postbackctl test-fire: the exact request, the answer, the verdict")
struct TestFireTests {
    static let record = #"{"kind":"conversion","transaction_id":"t-77","partner_id":7,"offer_id":3,"sub1":"click 1"}"#

    static func catalog(url: String) throws -> String {
        try ProcessRunner.temporaryFile("""
            {"postbacks": [{"id": 17, "type": "conversion", "level": "specific", "partner_id": 7, "offer_id": 3,
              "delivery": "postback", "url": "\(url)"}]}
            """, name: "catalog.json")
    }

    @Test func firesOnceAndShowsEverything() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let path = try Self.catalog(url: "\(sink.base)/status/204?click={sub1}&t={transaction_id}")
        let r = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "17",
                                                      "--record", Self.record, "--allow-address", "127.0.0.1/32"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("request 1: GET \(sink.base)/status/204?click=click%201&t=t-77\n"))
        #expect(r.stdout.contains("  answer: HTTP 204 in "))
        #expect(r.stdout.hasSuffix("verdict: success: HTTP 204\n"), "\(r.stdout)")
        #expect(sink.stats.requests == 1)
    }

    @Test func followsRedirectsHopByHopAndExits1OnAFailure() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let target = "\(sink.base)/status/503".percentEncoded
        let path = try Self.catalog(url: "\(sink.base)/redirect?to=\(target)&c={sub1}")
        let r = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "17",
                                                      "--record", Self.record, "--allow-address", "127.0.0.0/8"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("request 1: GET \(sink.base)/redirect?to="))
        #expect(r.stdout.contains("redirect to \(sink.base)/status/503"))
        #expect(r.stdout.contains("request 2: GET \(sink.base)/status/503"))
        #expect(r.stdout.hasSuffix("verdict: transient: HTTP 503\n"), "\(r.stdout)")
    }

    @Test func loopbackWithoutTheAllowListIsRefusedBeforeConnecting() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let path = try Self.catalog(url: "\(sink.base)/status/204?click={sub1}")
        let r = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "17", "--record", Self.record])
        #expect(r.status == 1)
        #expect(r.stdout.contains("verdict: permanent: refused: 127.0.0.1 is loopback"), "\(r.stdout)")
        #expect(sink.stats.accepted == 0)
    }

    @Test func pixelsAndUnknownIDsAreRefusedWithAReason() throws {
        let path = try ProcessRunner.temporaryFile("""
            {"postbacks": [{"id": 5, "type": "conversion", "level": "global", "partner_id": 7,
              "delivery": "image_pixel", "url": "https://px.example/p.gif?c={sub1}"}]}
            """)
        let pixel = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "5", "--record", Self.record])
        #expect(pixel.status == 1)
        #expect(pixel.stderr.contains("postback 5: delivery is image_pixel; pixels are rendered in a page, never fired"))
        let missing = try ProcessRunner.run("postbackctl", ["test-fire", "--catalog", path, "--postback", "6", "--record", Self.record])
        #expect(missing.status == 1)
        #expect(missing.stderr == "postback 6: not in \(path)\n")
    }
}

/// Tests about non-loopback addresses run inside a network namespace they create, with a
/// listener on the forbidden address to prove that nothing connected: no packet leaves the machine.
@Suite("test-fire against cloud metadata, inside a private network namespace", .serialized)
struct MetadataNamespaceTests {
    static let record = TestFireTests.record

    @Test func metadataAddressAndANameResolvingToItAreRefused() throws {
        guard getuid() == 0 else {
            print("skipped: network namespaces need root (CI runs as root)")
            return
        }
        let namespace = "pbd-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        func ip(_ args: [String]) throws { _ = try ProcessRunner.runSystem(["ip"] + args) }
        try FileManager.default.createDirectory(atPath: "/etc/netns/\(namespace)", withIntermediateDirectories: true)
        try Data("127.0.0.1 localhost\n169.254.169.254 metadata.partner.example\n".utf8)
            .write(to: URL(fileURLWithPath: "/etc/netns/\(namespace)/hosts"))
        try ip(["netns", "add", namespace])
        defer {
            _ = try? ProcessRunner.runSystem(["ip", "netns", "del", namespace])
            try? FileManager.default.removeItem(atPath: "/etc/netns/\(namespace)")
        }
        try ip(["netns", "exec", namespace, "ip", "link", "set", "lo", "up"])
        try ip(["netns", "exec", namespace, "ip", "addr", "add", "169.254.169.254/32", "dev", "lo"])

        // The listener prints a line for every connection it accepts, at once.
        let listener = try ProcessRunner.startSystem([
            "ip", "netns", "exec", namespace, "python3", "-u", "-c", """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("169.254.169.254", 80)); s.listen(16); print("listening", flush=True)
            while True:
                c, a = s.accept(); print("accepted", a, flush=True); c.close()
            """,
        ])
        defer { listener.kill() }
        let deadline = Date().addingTimeInterval(10)
        while !listener.stdout.contains("listening") && Date() < deadline { usleep(20_000) }
        #expect(listener.stdout.contains("listening"), "listener did not start: \(listener.stderr)")

        let postbackctl = ProcessRunner.productsDirectory.appendingPathComponent("postbackctl").path
        for (url, reason) in [
            ("http://169.254.169.254/latest/meta-data/?c={sub1}", "refused: 169.254.169.254 is link-local"),
            ("http://metadata.partner.example/latest/meta-data/?c={sub1}", "refused: 169.254.169.254 is link-local"),
            ("http://[::ffff:169.254.169.254]/?c={sub1}", "refused: ::ffff:169.254.169.254 is link-local"),
        ] {
            let catalog = try TestFireTests.catalog(url: url)
            let r = try ProcessRunner.runSystem(["ip", "netns", "exec", namespace, postbackctl, "test-fire",
                                                 "--catalog", catalog, "--postback", "17", "--record", Self.record])
            #expect(r.contains("verdict: permanent: \(reason)"), "\(url): \(r)")
        }
        usleep(200_000)
        #expect(!listener.stdout.contains("accepted"), "a refused address received a connection: \(listener.stdout)")
    }
}
