import Foundation
import Glibc
import PostbackTestSupport
import Testing

@Suite("A full disk stops claiming, loses nothing, and resumes when space returns", .serialized)
struct DiskFullTests {
    static func sh(_ command: String) throws -> String {
        try ProcessRunner.runSystem(["sh", "-c", command])
    }

    @Test func fullTmpfsPausesThenResumes() async throws {
        guard getuid() == 0 else {
            print("skipped: mounting a tmpfs needs root (CI runs as root)")
            return
        }
        let sink = try await TestServer()
        defer { Task { await sink.stop() } }
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("postbackd-tmpfs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        _ = try Self.sh("mount -t tmpfs -o size=4m tmpfs \(mountPoint) && echo mounted")
        defer {
            _ = try? Self.sh("umount -l \(mountPoint)")
            try? FileManager.default.removeItem(atPath: mountPoint)
        }
        let fixture = try SpoolFixture(catalog: catalogJSON([
            (1, 7, 3, "specific", "\(sink.base)/status/204?click={sub1}&t={transaction_id}"),
        ]), settings: ["spool": mountPoint + "/spool", "log_target": "stderr"])
        let spool = mountPoint + "/spool"
        try FileManager.default.createDirectory(atPath: spool + "/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: spool + "/incoming", withIntermediateDirectories: true)
        let records = 2000
        let text = (0..<records).map { conversion("full-\($0)", partner: 7, offer: 3) }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: spool + "/tmp/a.jsonl"))
        #expect(rename(spool + "/tmp/a.jsonl", spool + "/incoming/a.jsonl") == 0)
        // Fill what is left, so the ledger cannot be written.
        _ = try Self.sh("dd if=/dev/zero of=\(mountPoint)/filler bs=64k 2>/dev/null; true")

        let notify = try DatagramReceiver(timeoutSeconds: 10)
        let daemon = try ProcessRunner.start("postbackd", ["run", "--config", fixture.configPath],
                                             environment: ["NOTIFY_SOCKET": notify.path])
        defer { daemon.kill() }
        #expect(ServiceModeTests.expectNotify(notify, "STATUS=DISK FULL, not claiming"), "stderr: \(daemon.stderr)")
        #expect(daemon.stderr.contains("spool disk full"))
        #expect(eventually(10) { sink.stats.requests == records })

        // Space returns: the file's outcomes are written, it is resumed from its ledger, finished.
        unlink(mountPoint + "/filler")
        #expect(eventually(15) { fixture.files(in: "active").isEmpty && daemon.stderr.contains("claiming resumes") },
                "active: \(fixture.files(in: "active")), stderr: \(daemon.stderr.suffix(1500))")
        daemon.signal(SIGTERM)
        #expect(daemon.wait(timeoutSeconds: 30) == 0)
        let transactions = Set(sink.stats.uris.compactMap { $0.split(separator: "&t=").last.map(String.init) })
        #expect(transactions.count == records, "every record fired")
        #expect(sink.stats.requests <= records + 64, "no wholesale re-fire after the resume: \(sink.stats.requests)")
        #expect(fixture.files(in: "incoming").isEmpty)
    }

    @Test func readOnlySpoolAtStartIsAClearError() throws {
        guard getuid() == 0 else {
            print("skipped: mounting needs root")
            return
        }
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("postbackd-ro-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        _ = try Self.sh("mount -t tmpfs -o size=1m,ro tmpfs \(mountPoint)")
        defer {
            _ = try? Self.sh("umount -l \(mountPoint)")
            try? FileManager.default.removeItem(atPath: mountPoint)
        }
        let fixture = try SpoolFixture(catalog: catalogJSON([(1, 7, 3, "specific", "http://127.0.0.1:9/?c={sub1}")]),
                                       settings: ["spool": mountPoint + "/spool"])
        let (_, result) = try fixture.runOnce()
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("postbackd: spool: "), "\(result.stderr)")
        #expect(result.stderr.contains("Read-only file system"), "\(result.stderr)")
    }
}
