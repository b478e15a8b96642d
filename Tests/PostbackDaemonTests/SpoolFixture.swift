import Foundation
import PostbackTestSupport

/// A temporary spool, catalog and config for one daemon test, removed afterwards by the OS's tmp cleaning.
struct SpoolFixture {
    let root: URL
    /// The spool: under `root`, unless the test put it elsewhere (a tmpfs) with `settings["spool"]`.
    let spool: String
    var catalogPath: String { root.appendingPathComponent("catalog.json").path }
    var configPath: String { root.appendingPathComponent("postbackd.conf").path }

    init(catalog: String, settings: [String: String] = [:]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("postbackd-daemon-\(UUID().uuidString)")
        spool = settings["spool"] ?? root.appendingPathComponent("spool").path
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try writeCatalog(catalog)
        var lines = [
            "spool = \(settings["spool"] ?? spool)", "catalog = \(catalogPath)", "state_directory = \(root.path)/state",
            "allow_address = 127.0.0.0/8", "retry_base = 100ms", "retry_cap = 200ms", "rescan_interval = 1s",
            "log_level = info",
        ]
        for (k, v) in settings.sorted(by: { $0.key < $1.key }) where k != "spool" { lines.append("\(k) = \(v)") }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: configPath))
    }

    func writeCatalog(_ json: String) throws {
        let tmp = catalogPath + ".tmp"
        try Data(json.utf8).write(to: URL(fileURLWithPath: tmp))
        _ = rename(tmp, catalogPath)
    }

    /// Drops a file as ingest does: written in tmp/, then renamed into incoming/.
    func drop(_ name: String, _ text: String) throws {
        let tmpDir = spool + "/tmp"
        try FileManager.default.createDirectory(atPath: tmpDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: spool + "/incoming", withIntermediateDirectories: true)
        let tmp = tmpDir + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, spool + "/incoming/" + name) == 0 else { throw POSIXError(.EIO) }
    }

    func files(in queue: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: spool + "/" + queue)) ?? []).sorted()
    }

    func read(_ queue: String, _ name: String) -> String {
        (try? String(contentsOfFile: spool + "/" + queue + "/" + name, encoding: .utf8)) ?? ""
    }

    /// `postbackd run --config <this> --once`, parsed; inside `namespace` when given, with
    /// `environment` added to a bare PATH.
    func runOnce(_ extra: [String] = [], in namespace: NetworkNamespace? = nil,
                 environment: [String: String] = [:]) throws -> (summary: [String: Double], result: ProcessRunner.Result) {
        let arguments = ["run", "--config", configPath, "--once"] + extra
        let environment = environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
        let r = try namespace.map {
            try $0.run([ProcessRunner.productsDirectory.appendingPathComponent("postbackd").path] + arguments,
                       environment: environment, timeoutSeconds: 120)
        } ?? ProcessRunner.run("postbackd", arguments, environment: environment)
        let line = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        return (object.compactMapValues { ($0 as? NSNumber)?.doubleValue }, r)
    }
}

/// Catalog JSON for tests: `entries` are (id, level, partner, offer, url).
func catalogJSON(_ entries: [(id: Int, partner: Int?, offer: Int?, level: String, url: String)], type: String = "conversion") -> String {
    let items = entries.map { e -> String in
        var fields = ["\"id\": \(e.id)", "\"status\": \"active\"", "\"type\": \"\(type)\"", "\"level\": \"\(e.level)\"",
                      "\"delivery\": \"postback\"", "\"url\": \"\(e.url)\""]
        if let p = e.partner { fields.append("\"partner_id\": \(p)") }
        if let o = e.offer { fields.append("\"offer_id\": \(o)") }
        return "{" + fields.joined(separator: ", ") + "}"
    }
    return "{\"postbacks\": [\n" + items.joined(separator: ",\n") + "\n]}"
}

func conversion(_ tid: String, partner: Int, offer: Int, sub1: String = "c") -> String {
    "{\"kind\":\"conversion\",\"transaction_id\":\"\(tid)\",\"partner_id\":\(partner),\"offer_id\":\(offer),\"sub1\":\"\(sub1)\"}"
}
