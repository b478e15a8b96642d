import Foundation
import PostbackTestSupport
import Testing

/// Bad bytes are rejected line by line (DESIGN.md, Records): a line with invalid UTF-8 or a
/// NUL, or longer than `max_line_size`, goes to `bad/NAME.rejected` alone and the rest of its
/// file fires; only a file that is not text at all goes to `bad/` whole.
@Suite("Bad lines rejected alone, through postbackd run --once", .serialized)
struct LineRejectionTests {
    static func fixture(_ sink: TestServer, settings: [String: String] = [:]) throws -> SpoolFixture {
        try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?click={sub1}&t={transaction_id}"),
        ]), settings: settings)
    }

    /// The entries of `bad/NAME.rejected`, as JSON objects.
    static func rejected(_ fixture: SpoolFixture, _ name: String) -> [[String: Any]] {
        fixture.read("bad", name + ".rejected").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    @Test func invalidUTF8AndNULLinesAreRejectedAloneAndTheRestFires() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try Self.fixture(sink)
        defer { fixture.remove() }
        // Line 5000 holds Latin-1 bytes, line 7000 a raw NUL inside a string (past the first
        // 4 KiB, where a NUL would make the whole file binary).
        let latin1: [UInt8] = Array("{\"kind\":\"conversion\",\"transaction_id\":\"t5000\",\"partner_id\":7,\"offer_id\":3,\"sub1\":\"caf".utf8)
            + [0xE9, 0xFF] + Array("\"}".utf8)
        let nul: [UInt8] = Array("{\"kind\":\"conversion\",\"transaction_id\":\"t7000\",\"partner_id\":7,\"offer_id\":3,\"sub1\":\"a".utf8)
            + [0x00] + Array("b\"}".utf8)
        var bytes: [UInt8] = []
        for n in 1...10_000 {
            switch n {
            case 5000: bytes += latin1
            case 7000: bytes += nul
            default: bytes += Array(conversion("t\(n)", partner: 7, offer: 3).utf8)
            }
            bytes.append(0x0A)
        }
        try fixture.drop(bytes: "mixed.jsonl", bytes)
        let run = try fixture.runOnceMeasured(timeoutSeconds: 120)
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(2000))")
        let s = run.summary
        #expect(s["records"] == 10_000 && s["succeeded"] == 9_998 && s["rejected"] == 2 && s["fires"] == 9_998, "\(s)")
        #expect(sink.stats.requests == 9_998)
        #expect(fixture.files(in: "bad") == ["mixed.jsonl.rejected"])
        #expect(fixture.files(in: "active").isEmpty && fixture.files(in: "incoming").isEmpty)

        let entries = Self.rejected(fixture, "mixed.jsonl")
        #expect(entries.map { $0["line"] as? Int } == [5000, 7000])
        guard entries.count == 2 else { return }
        // Invalid UTF-8: the reason, and the raw bytes escaped as base64, exactly as they were.
        #expect(entries[0]["reason"] as? String == "not valid UTF-8 text")
        let base64 = try #require(entries[0]["raw_base64"] as? String)
        #expect(Data(base64Encoded: base64).map(Array.init) == latin1)
        // The NUL: named in the reason, the line kept as JSON text with the NUL escaped.
        #expect((entries[1]["reason"] as? String)?.contains("control character byte 0x0") == true, "\(entries[1])")
        #expect(entries[1]["raw"] as? String == String(decoding: nul, as: UTF8.self))
        #expect(fixture.read("bad", "mixed.jsonl.rejected").contains("\\u0000"))
    }

    /// Not text at all: a NUL in the first 4 KiB, or no line valid UTF-8. Whole to bad/.
    @Test func aFileThatIsNotTextGoesToBadWhole() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try Self.fixture(sink)
        defer { fixture.remove() }
        var binary = Array((conversion("b1", partner: 7, offer: 3) + "\n").utf8)
        binary += (0..<8192).map { UInt8($0 % 256) }
        try fixture.drop(bytes: "image.bin", binary)
        let latin1Line: [UInt8] = Array("{\"sub1\":\"caf".utf8) + [0xE9] + Array("\"}\n".utf8)
        let latin1Only = latin1Line + latin1Line + latin1Line
        try fixture.drop(bytes: "latin1.jsonl", latin1Only)
        let run = try fixture.runOnceMeasured(timeoutSeconds: 60)
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(2000))")
        #expect(run.summary["records"] == 0 && sink.stats.requests == 0, "\(run.summary)")
        #expect(fixture.files(in: "bad") == ["image.bin", "image.bin.reason", "latin1.jsonl", "latin1.jsonl.reason"])
        #expect(fixture.read("bad", "image.bin.reason").hasPrefix("binary: NUL byte at offset"))
        #expect(fixture.read("bad", "latin1.jsonl.reason").hasPrefix("not UTF-8 text: no line is valid UTF-8"),
                "\(fixture.read("bad", "latin1.jsonl.reason"))")
        // Byte for byte what ingest dropped.
        #expect(FileManager.default.contents(atPath: fixture.spool + "/bad/image.bin").map(Array.init) == binary)
    }

    /// A 20 MB line under max_line_size 1M: rejected alone with its first bytes, read past
    /// without being held (the daemon stays far below the line's size), the lines around it fire.
    @Test func aLongLineIsRejectedAloneAndReadPast() async throws {
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let fixture = try Self.fixture(sink, settings: ["max_line_size": "1M"])
        defer { fixture.remove() }
        let blob = String(repeating: "x", count: 20 << 20)
        let long = String(conversion("long", partner: 7, offer: 3).dropLast()) + ",\"blob\":\"\(blob)\"}"
        try fixture.drop("long.jsonl", [conversion("before", partner: 7, offer: 3), long, conversion("after", partner: 7, offer: 3)]
            .joined(separator: "\r\n") + "\r\n")
        let run = try fixture.runOnceMeasured(timeoutSeconds: 60)
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(2000))")
        #expect(run.summary["records"] == 3 && run.summary["succeeded"] == 2 && run.summary["rejected"] == 1, "\(run.summary)")
        #expect(Set(sink.stats.uris) == ["/status/204?click=c&t=before", "/status/204?click=c&t=after"])
        let entries = Self.rejected(fixture, "long.jsonl")
        #expect(entries.count == 1 && entries.first?["line"] as? Int == 2)
        #expect(entries.first?["reason"] as? String == "longer than max_line_size (1048576 bytes)")
        let raw = try #require(entries.first?["raw"] as? String)
        #expect(raw.utf8.count == 1024 && long.hasPrefix(raw))
        // Held whole (as before), the line alone was 20 MB and copies of it several times that.
        #expect(run.peakRSSBytes < 60 << 20, "VmHWM \(run.peakRSSBytes >> 20) MB")
        print("long line: 20 MB line, max_line_size 1M: VmHWM \(run.peakRSSBytes >> 20) MB")
    }
}
