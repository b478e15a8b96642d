import ArgumentParser
import Foundation
import PostbackCore

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The table of postbacks.",
        discussion: """
            Default columns: id, status, partner, offer, level, type, delivery, description.
            Other columns: url, author, event_ids, method, delay (delay_ms), content_type,
            headers (names only), signed (yes when the postback has a signing secret, which is
            never printed, here or with --json). `--columns +url,-description` adds and drops;
            `--columns id,url` names exactly the columns to show.

            Postbacks the daemon paused itself (listed in <state-dir>/paused.json, or with
            source = redis in each stream's <prefix>:paused hash) show status `paused (auto)`;
            --status active leaves them out, --status inactive includes them. The state
            directory is --state-dir, else the config file's state_directory (or its Redis)
            when --config or POSTBACKD_CONFIG names one.

            Example: postbackctl list --catalog catalog.json --status active --columns +url
            Example: postbackctl list --catalog catalog.json --author partner --state-dir /var/lib/postbackd/state
            """)

    enum StatusFilter: String, ExpressibleByArgument, CaseIterable {
        case active, inactive, all
    }

    static let defaultColumns = ["id", "status", "partner", "offer", "level", "type", "delivery", "description"]
    static let allColumns = defaultColumns + ["url", "author", "event_ids", "method", "delay", "content_type", "headers", "signed"]

    @Option(help: "The catalog JSON file.")
    var catalog: String

    @Option(help: "Which postbacks to show: active, inactive or all.")
    var status: StatusFilter = .all

    enum AuthorFilter: String, ExpressibleByArgument, CaseIterable {
        case network, partner
    }

    @Option(help: "Only postbacks written by network or partner.")
    var author: AuthorFilter?

    @Option(help: "The daemon's state directory, to show its auto-pauses (paused.json).")
    var stateDir: String?

    @Option(help: "The daemon's settings file, for its state_directory (or its Redis, with source = redis).")
    var config: String?

    // Unconditional, so `--columns -description` is read as a value, not as an unknown flag.
    @Option(parsing: .unconditional, help: "Columns to add (+name), drop (-name), or show (name,name,...).")
    var columns: String?

    @Flag(help: "One JSON array of catalog entries, for scripts.")
    var json = false

    func validate() throws {
        _ = try Self.columnList(columns)
    }

    static func columnList(_ spec: String?) throws -> [String] {
        guard let spec, !spec.isEmpty else { return defaultColumns }
        let items = spec.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        var result = items.allSatisfy { $0.hasPrefix("+") || $0.hasPrefix("-") } ? defaultColumns : []
        for item in items {
            let name = item.hasPrefix("+") || item.hasPrefix("-") ? String(item.dropFirst()) : item
            guard allColumns.contains(name) else {
                throw ValidationError("unknown column '\(name)'; columns are \(allColumns.joined(separator: ", "))")
            }
            if item.hasPrefix("-") {
                result.removeAll { $0 == name }
            } else if !result.contains(name) {
                result.append(name)
            }
        }
        return result
    }

    func run() throws {
        let paused = try autoPaused()
        let postbacks = try InputFiles.loadCatalog(catalog).postbacks.filter { p in
            let active = p.status == .active && !paused.contains(p.id)
            return (status == .all || (status == .active) == active) && (author == nil || p.author.rawValue == author?.rawValue)
        }
        if json {
            // The catalog entry, plus "auto_paused": true for the daemon's pauses (no key otherwise,
            // so entries stay pasteable into a catalog).
            let entries = postbacks.map { p in
                paused.contains(p.id) ? String(p.catalogJSON.dropLast()) + ",\"auto_paused\":true}" : p.catalogJSON
            }
            Output.line("[" + entries.joined(separator: ",\n") + "]")
            Output.flush()
            return
        }
        let names = try Self.columnList(columns)
        let rows = [names.map { $0.uppercased() }] + postbacks.map { p in
            names.map { $0 == "status" && paused.contains(p.id) && p.status == .active ? "paused (auto)" : Self.cell($0, of: p) }
        }
        let widths = names.indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        for row in rows {
            var line = ""
            for (c, cell) in row.enumerated() {
                if c == row.count - 1 {
                    line += cell
                } else {
                    line += cell + String(repeating: " ", count: widths[c] - cell.count + 2)
                }
            }
            Output.line(line)
        }
        Output.flush()
    }

    /// Ids the daemon paused, when it is known where it keeps them: paused.json in `--state-dir`,
    /// or where a config named by `--config`/POSTBACKD_CONFIG says (its state directory, or
    /// Redis with `source = redis`); not the default config, so `list --catalog` of a file on a
    /// laptop does not mix in a production host's state.
    func autoPaused() throws(ExitCode) -> Set<Int64> {
        if let stateDir { return try PausedState.read(stateDirectory: stateDir).ids }
        guard config != nil || ProcessInfo.processInfo.environment["POSTBACKD_CONFIG"] != nil else { return [] }
        return try PausedState.read(PausedState.place(try DaemonSettings.resolve(config: config))).ids
    }

    static func cell(_ column: String, of p: Postback) -> String {
        switch column {
        case "id": return String(p.id)
        case "status": return p.status.rawValue
        case "partner": return p.partnerID.map(String.init) ?? "-"
        case "offer": return p.offerID.map(String.init) ?? "-"
        case "level": return p.level.rawValue
        case "type": return p.type.rawValue
        case "delivery": return p.delivery.rawValue
        case "description": return p.description
        case "url": return p.url
        case "author": return p.author.rawValue
        case "event_ids": return p.eventIDs.map { $0.map(String.init).joined(separator: ",") } ?? "-"
        case "method": return p.method.rawValue
        case "delay": return p.delayMillis == 0 ? "-" : "\(p.delayMillis)ms"
        case "content_type": return p.body?.contentType.rawValue ?? "-"
        case "headers": return p.headers.isEmpty ? "-" : p.headers.map(\.name).joined(separator: ",")
        case "signed": return p.signingSecret == nil ? "no" : "yes"
        default: return ""
        }
    }
}
