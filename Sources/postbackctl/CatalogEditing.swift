import ArgumentParser
import Foundation
import PostbackCore

/// `--catalog FILE | --config FILE`, `--state-dir`, `--no-reload`: where `add`, `edit`,
/// `pause` and `resume` write, and which daemon they reload.
struct CatalogTarget: ParsableArguments {
    @Option(help: "The catalog JSON file (default: the config's catalog).")
    var catalog: String?

    @Option(help: "The daemon's settings file (default: $POSTBACKD_CONFIG, else /etc/postbackd/postbackd.conf if it exists).")
    var config: String?

    @Option(help: "The daemon's state directory, with postbackd.pid and paused.json (default: the config's state_directory).")
    var stateDir: String?

    @Flag(help: "Write the catalog but do not reload the daemon.")
    var noReload = false

    func resolve() throws(ExitCode) -> (catalog: String, stateDirectory: String) {
        let settings = try settings()
        return (settings.catalog, settings.stateDirectory)
    }

    /// The daemon's settings with `--catalog` and `--state-dir` applied.
    func settings() throws(ExitCode) -> Settings {
        var flags: [(key: String, value: String)] = []
        if let catalog { flags.append(("catalog", catalog)) }
        if let stateDir { flags.append(("state_directory", stateDir)) }
        return try DaemonSettings.resolve(config: config, flags: flags)
    }
}

/// A catalog entry as JSON members (name → encoded value), before validation: an edit may make
/// it invalid, and then `Catalog.load` is the one judge, with the daemon's own messages.
struct CatalogEntry {
    static let order = ["id", "status", "description", "type", "level", "partner_id", "offer_id", "event_ids", "delivery", "url", "author",
                        "method", "body", "content_type", "headers", "signing_secret", "delay_ms"]

    var id: Int64
    var members: [String: String]
    /// `headers` as pairs, so an edit can change one header and keep the others.
    var headers: [(name: String, value: String)] = [] {
        didSet {
            members["headers"] = headers.isEmpty ? nil
                : "{" + headers.map { JSONText.quote($0.name) + ":" + JSONText.quote($0.value) }.joined(separator: ",") + "}"
        }
    }

    init(id: Int64) {
        self.id = id
        members = ["id": String(id)]
    }

    init(_ p: Postback) {
        self.init(id: p.id)
        members["status"] = JSONText.quote(p.status.rawValue)
        members["description"] = JSONText.quote(p.description)
        members["type"] = JSONText.quote(p.type.rawValue)
        members["level"] = JSONText.quote(p.level.rawValue)
        members["partner_id"] = p.partnerID.map(String.init)
        members["offer_id"] = p.offerID.map(String.init)
        members["event_ids"] = p.eventIDs.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }
        members["delivery"] = JSONText.quote(p.delivery.rawValue)
        members["url"] = JSONText.quote(p.url)
        members["author"] = JSONText.quote(p.author.rawValue)
        if p.method != .get { members["method"] = JSONText.quote(p.method.rawValue) }
        if let body = p.body {
            members["body"] = JSONText.quote(body.source)
            members["content_type"] = JSONText.quote(body.contentType.rawValue)
        }
        headers = p.headers.map { ($0.name, $0.value) }
        // The catalog file keeps the secret; only listings and test-fire mask it.
        members["signing_secret"] = p.signingSecret.map { JSONText.quote($0.text) }
        if p.delayMillis != 0 { members["delay_ms"] = String(p.delayMillis) }
    }

    /// The members in the catalog's field order, as one line.
    var json: String {
        "{" + Self.order.compactMap { name in members[name].map { "\"\(name)\":\($0)" } }.joined(separator: ",") + "}"
    }
}

/// `--status --description --type --level --partner --offer --event-ids --delivery --url --author`.
///
/// Values are passed through to the catalog as given (numbers as numbers when they are
/// integers, else as strings), so a wrong value is refused by the same validation the daemon
/// applies, with the same message, rather than by a second set of rules here.
struct PostbackFields: ParsableArguments {
    @Option(help: "active or inactive.")
    var status: String?
    @Option(help: "Free text for people.")
    var description: String?
    @Option(help: "conversion, event or cpc.")
    var type: String?
    @Option(help: "specific, global_offer or global.")
    var level: String?
    @Option(help: "Partner id (partner_id); `none` removes it.")
    var partner: String?
    @Option(help: "Offer id (offer_id); `none` removes it.")
    var offer: String?
    @Option(help: "Event ids for type event, e.g. 1,2; `none` fires on every event.")
    var eventIds: String?
    @Option(help: "postback, image_pixel or iframe_pixel.")
    var delivery: String?
    @Option(help: "The URL template, with a click-ID macro such as {sub1} or {transaction_id}.")
    var url: String?
    @Option(help: "network or partner: who wrote it.")
    var author: String?
    @Option(help: "GET or POST.")
    var method: String?
    @Option(help: "The POST body template, e.g. '{\"click\":\"{sub1}\",\"payout\":{payout_amount}}'; `none` removes it.")
    var body: String?
    @Option(help: "application/json (the default with a body) or application/x-www-form-urlencoded; `none` removes it.")
    var contentType: String?
    @Option(help: "A request header NAME=VALUE, macros in the value (repeatable); NAME= removes that header.")
    var header: [String] = []
    @Option(help: "A Standard Webhooks secret, whsec_ + base64 (POST only); `none` removes it. Never printed by list or test-fire.")
    var signingSecret: String?
    @Option(help: "delay_ms: hold the first attempt back this long after arrival, e.g. 1500, 1500ms or 2s (at most 300000 ms); 0 for none.")
    var delay: String?

    var isEmpty: Bool {
        [status, description, type, level, partner, offer, eventIds, delivery, url, author, method, body, contentType, signingSecret, delay]
            .allSatisfy { $0 == nil } && header.isEmpty
    }

    /// Sets the given fields; returns the names of those whose value changed.
    func apply(to entry: inout CatalogEntry) -> [String] {
        var changed: [String] = []
        func set(_ name: String, _ value: String??) {
            guard let value else { return }
            if entry.members[name] != value { changed.append(name) }
            entry.members[name] = value
        }
        func text(_ s: String?) -> String?? { s.map { .some(JSONText.quote($0)) } }
        func integer(_ s: String?) -> String?? {
            guard let s else { return nil }
            if s == "none" { return .some(nil) }
            return .some(Int64(s) != nil ? s : JSONText.quote(s))
        }
        set("status", text(status))
        set("description", text(description))
        set("type", text(type))
        set("level", text(level))
        set("partner_id", integer(partner))
        set("offer_id", integer(offer))
        if let eventIds {
            if eventIds == "none" {
                set("event_ids", .some(nil))
            } else {
                let items = eventIds.split(separator: ",", omittingEmptySubsequences: false).map {
                    let item = $0.trimmingCharacters(in: .whitespaces)
                    return Int64(item) != nil ? item : JSONText.quote(item)
                }
                set("event_ids", .some("[" + items.joined(separator: ",") + "]"))
            }
        }
        set("delivery", text(delivery))
        set("url", text(url))
        set("author", text(author))
        set("method", text(method))
        func removable(_ s: String?) -> String?? {
            guard let s else { return nil }
            return s == "none" ? .some(nil) : .some(JSONText.quote(s))
        }
        set("body", removable(body))
        set("content_type", removable(contentType))
        set("signing_secret", removable(signingSecret))
        if let delay {
            // Whole milliseconds as given, or a duration ("2s"); anything else is passed on as
            // text so validation names it.
            let millis = Int64(delay) ?? Settings.parseDuration(delay).map { $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000 }
            let member: String? = millis.map { $0 == 0 ? nil : String($0) } ?? JSONText.quote(delay)
            set("delay_ms", .some(member))
        }
        if !header.isEmpty {
            var headers = entry.headers
            for item in header {
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0])
                let value = parts.count > 1 ? String(parts[1]) : ""
                if let i = headers.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) {
                    if value.isEmpty { headers.remove(at: i) } else { headers[i] = (name, value) }
                } else if !value.isEmpty {
                    headers.append((name, value))
                }
            }
            let before = entry.members["headers"]
            entry.headers = headers
            if entry.members["headers"] != before { changed.append("headers") }
        }
        return changed
    }
}

/// Validate, write atomically, reload: the one way the CLI changes a catalog.
enum CatalogEditing {
    /// The edited catalog for validation: one entry per line, in id order.
    static func text(_ entries: [CatalogEntry]) -> String {
        "{\"postbacks\": [\n" + entries.sorted { $0.id < $1.id }.map(\.json).joined(separator: ",\n") + "\n]}\n"
    }

    /// Checks the edited catalog with `Catalog.load` (the daemon's rules) and, only if it is
    /// valid, replaces the file (previous one kept as `.bak`). On a problem, prints
    /// `postback <id>: <field>: <what is wrong>` per problem and exits 1 with the file untouched.
    /// The catalog at `path` and its postback `id`; an unknown id is a one-line error, exit 1.
    static func load(_ id: Int64, from path: String) throws(ExitCode) -> (Catalog, Postback) {
        let catalog = try InputFiles.loadCatalog(path)
        guard let postback = catalog[id: id] else {
            Output.error("postback \(id): not in \(path)")
            throw ExitCode.failure
        }
        return (catalog, postback)
    }

    /// Writes `catalog` back with postback `entry`'s id replaced by `entry`.
    static func write(_ catalog: Catalog, replacing id: Int64, with entry: CatalogEntry, to path: String) throws(ExitCode) {
        try write(catalog.postbacks.map { $0.id == id ? entry : CatalogEntry($0) }, to: path)
    }

    static func write(_ entries: [CatalogEntry], to path: String) throws(ExitCode) {
        let catalog: Catalog
        switch Catalog.load(Array(text(entries).utf8)) {
        case .success(let loaded):
            catalog = loaded
        case .failure(let error):
            for problem in error.problems { Output.error(problem.description) }
            throw ExitCode.failure
        }
        // Written from what was validated, so defaults (status, delivery, author) are spelled out.
        let bytes = Array(("{\"postbacks\": [\n" + catalog.postbacks.map { $0.catalogJSON(revealingSecret: true) }.joined(separator: ",\n") + "\n]}\n").utf8)
        do {
            try AtomicFile.replace(path, with: bytes, backup: true)
        } catch {
            Output.error("catalog: \(error)")
            throw ExitCode.failure
        }
    }

    /// Reloads the daemon unless told not to; exit 1 when a daemon was found but refused.
    static func reload(_ target: CatalogTarget, stateDirectory: String) throws(ExitCode) {
        guard !target.noReload else { return }
        let outcome = DaemonReload.reload(stateDirectory: stateDirectory)
        if case .failed = outcome {
            Output.error(outcome.message)
            throw ExitCode.failure
        }
        Output.line(outcome.message)
    }
}
