import ArgumentParser
import PostbackCore

/// `postbackctl pause ID`: stop a postback firing without deleting it (status inactive).
struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Set a postback's status to inactive (written atomically, daemon reloaded).",
        discussion: """
            Prints `postback <id>: paused (status inactive) in <catalog>`, or `postback <id>:
            already inactive` without writing. An unknown id exits 1. Deferred fires of a paused
            postback are dead-lettered when they come due; requeue them after resuming.

            Example: postbackctl pause 17 --config /etc/postbackd/postbackd.conf
            """)

    @Argument(help: "The postback's id.")
    var id: Int64

    @OptionGroup var target: CatalogTarget

    func run() throws {
        let (path, stateDirectory) = try target.resolve()
        let (catalog, current) = try CatalogEditing.load(id, from: path)
        guard current.status == .active else {
            Output.line("postback \(id): already inactive")
            Output.flush()
            return
        }
        var entry = CatalogEntry(current)
        entry.members["status"] = JSONText.quote(PostbackStatus.inactive.rawValue)
        try CatalogEditing.write(catalog, replacing: id, with: entry, to: path)
        Output.line("postback \(id): paused (status inactive) in \(path)")
        try CatalogEditing.reload(target, stateDirectory: stateDirectory)
        Output.flush()
    }
}
