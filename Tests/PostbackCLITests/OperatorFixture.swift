import Foundation
import PostbackTestSupport

/// A temporary spool, catalog, state directory and config for the operator-command tests: the
/// config the daemon and postbackctl both read, set up to produce dead letters at once
/// (`max_attempts = 1`) and to keep finished files and their ledgers (`done_retention = 1h`).
struct OperatorFixture {
    let root: String
    var spool: String { root + "/spool" }
    var catalogPath: String { root + "/catalog.json" }
    var configPath: String { root + "/postbackd.conf" }
    var stateDirectory: String { root + "/state" }

    init(catalog: String, settings: [String: String] = [:]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("postbackctl-ops-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/state", withIntermediateDirectories: true)
        try Data(catalog.utf8).write(to: URL(fileURLWithPath: catalogPath))
        var values = [
            "spool": spool, "catalog": catalogPath, "state_directory": stateDirectory,
            "allow_address": "127.0.0.0/8", "retry_base": "100ms", "retry_cap": "200ms", "max_attempts": "1",
            "done_retention": "1h", "log_level": "info",
        ]
        values.merge(settings) { $1 }
        let text = values.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: configPath))
    }

    /// Drops a file as ingest does: written in tmp/, then renamed into incoming/.
    func drop(_ name: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: spool + "/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: spool + "/incoming", withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: spool + "/tmp/" + name))
        guard rename(spool + "/tmp/" + name, spool + "/incoming/" + name) == 0 else { throw POSIXError(.EIO) }
    }

    /// `postbackd run --config <this> --once`; returns its summary line.
    @discardableResult
    func runOnce() throws -> String {
        let r = try ProcessRunner.run("postbackd", ["run", "--config", configPath, "--once"], environment: Self.environment)
        guard r.status == 0 else { throw DaemonFailed(stderr: r.stderr) }
        return r.stdout.split(separator: "\n").last.map(String.init) ?? ""
    }

    /// postbackctl with only PATH in its environment: no POSTBACKD_CONFIG from the test's shell.
    func ctl(_ arguments: [String]) throws -> ProcessRunner.Result {
        try ProcessRunner.run("postbackctl", arguments, environment: Self.environment)
    }

    static let environment = ["PATH": "/usr/bin:/bin"]

    func files(in queue: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: spool + "/" + queue)) ?? []).sorted()
    }

    func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    struct DaemonFailed: Error { var stderr: String }
}

/// One catalog entry in the catalog's field order, as the CLI writes it.
func entry(_ id: Int, partner: Int? = 7, offer: Int? = 3, level: String = "specific", status: String = "active",
           url: String, description: String = "", author: String = "network") -> String {
    var fields = ["\"id\":\(id)", "\"status\":\"\(status)\"", "\"description\":\"\(description)\"",
                  "\"type\":\"conversion\"", "\"level\":\"\(level)\""]
    if let partner { fields.append("\"partner_id\":\(partner)") }
    if let offer { fields.append("\"offer_id\":\(offer)") }
    fields += ["\"delivery\":\"postback\"", "\"url\":\"\(url)\"", "\"author\":\"\(author)\""]
    return "{" + fields.joined(separator: ",") + "}"
}

/// A catalog file's text as the CLI writes it: one entry per line, in id order.
func catalogText(_ entries: [String]) -> String {
    "{\"postbacks\": [\n" + entries.joined(separator: ",\n") + "\n]}\n"
}

func conversion(_ transaction: String, partner: Int = 7, offer: Int = 3, sub1: String = "c1") -> String {
    "{\"kind\":\"conversion\",\"transaction_id\":\"\(transaction)\",\"partner_id\":\(partner),\"offer_id\":\(offer),\"sub1\":\"\(sub1)\"}"
}

/// UTC with milliseconds, as postbackctl prints times.
func isoTime(millis: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
}

/// Sets a file's modification time, so ages printed by `spool --now` are exact.
func setModificationTime(_ path: String, millis: Int64) throws {
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: Double(millis) / 1000)], ofItemAtPath: path)
}

/// Columns two spaces apart, the last one unpadded: how postbackctl prints tables.
func aligned(_ rows: [[String]]) -> String {
    let widths = (0..<(rows.map(\.count).max() ?? 0)).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count + 2) }
            .joined()
    }.joined(separator: "\n") + "\n"
}
