import ArgumentParser
import PostbackCore

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a catalog before deploying it.",
        discussion: """
            Prints a one-line summary and exits 0, or prints one line per problem on stderr,
            `postback <id>: <field>: <what is wrong>`, and exits 1.

            Example: postbackctl validate /etc/postbackd/catalog.json
            """)

    @Argument(help: "The catalog JSON file ({\"postbacks\": [...]}).")
    var catalog: String

    func run() throws {
        let loaded = try InputFiles.loadCatalog(catalog)
        let all = loaded.postbacks
        let active = all.filter { $0.status == .active }.count
        let s2s = all.filter { $0.delivery == .postback }.count
        Output.line(
            "\(catalog): OK, \(all.count) postbacks (\(active) active, \(all.count - active) inactive; "
                + "\(s2s) server-to-server, \(all.count - s2s) pixel)")
        Output.flush()
    }
}
