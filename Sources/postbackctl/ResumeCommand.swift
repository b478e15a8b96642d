import ArgumentParser
import PostbackCore

/// `postbackctl resume ID`: make a postback fire again, whether an operator paused it (status
/// inactive in the catalog) or the daemon did (`paused.json` in its state directory, or the
/// Redis hash every daemon of the group reads with `source = redis`).
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Set a postback active again and lift the daemon's auto-pause (daemon reloaded).",
        discussion: """
            Sets status active in the catalog (written atomically, previous kept as .bak) and
            removes the id from <state_directory>/paused.json, where the daemon records the
            postbacks it paused after repeated permanent failures (with source = redis: from
            the hash <prefix>:paused of each stream, which every daemon of the group reads
            every 2 seconds, so the pause is lifted on all of them). Prints one line per change:
            `postback <id>: resumed (status active) in <catalog>` and `postback <id>: auto-pause
            lifted (paused since <time>: <reason>)`, or `postback <id>: already active`. An
            unknown id exits 1.

            Example: postbackctl resume 17 --config /etc/postbackd/postbackd.conf
            """)

    @Argument(help: "The postback's id.")
    var id: Int64

    @OptionGroup var target: CatalogTarget

    func run() throws {
        let settings = try target.settings()
        let (path, stateDirectory) = (settings.catalog, settings.stateDirectory)
        let (catalog, current) = try CatalogEditing.load(id, from: path)
        var paused = try PausedState.read(PausedState.place(settings))
        let autoPause = paused.entry(id)
        guard current.status == .inactive || autoPause != nil else {
            Output.line("postback \(id): already active")
            Output.flush()
            return
        }
        if current.status == .inactive {
            var entry = CatalogEntry(current)
            entry.members["status"] = JSONText.quote(PostbackStatus.active.rawValue)
            try CatalogEditing.write(catalog, replacing: id, with: entry, to: path)
            Output.line("postback \(id): resumed (status active) in \(path)")
        }
        if let autoPause {
            try paused.lift(id)
            let since = autoPause.sinceMs.map { " since \(TextTable.time(millis: $0))" } ?? ""
            let reason = autoPause.reason.map { ": \($0)" } ?? ""
            Output.line("postback \(id): auto-pause lifted (paused\(since)\(reason))")
        }
        try CatalogEditing.reload(target, stateDirectory: stateDirectory)
        Output.flush()
    }
}
