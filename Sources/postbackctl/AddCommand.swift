import ArgumentParser
import PostbackCore

/// `postbackctl add`: a new postback, validated with the daemon's rules before the catalog is touched.
struct AddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a postback to the catalog (validated, written atomically, daemon reloaded).",
        discussion: """
            Needs what validation needs: --type, --level, --url, and --partner and/or --offer as
            the level requires. The id is --id, else one more than the highest id. The whole
            catalog is validated as the daemon would; on a problem each is printed on stderr as
            `postback <id>: <field>: <what is wrong>`, the file is left untouched and the exit
            status is 1. Otherwise prints `postback <id>: added to <catalog>`, keeps the previous
            catalog as <catalog>.bak and reloads the daemon (see --no-reload).

            Example: postbackctl add --catalog catalog.json --type conversion --level specific --partner 7 --offer 3 --url 'https://acme.example/pb?click={sub1}&payout={payout_amount}' --description 'Acme on offer 3'
            """)

    @Option(help: "The new postback's id (default: highest id + 1).")
    var id: Int64?

    @OptionGroup var fields: PostbackFields
    @OptionGroup var target: CatalogTarget

    func run() throws {
        let (path, stateDirectory) = try target.resolve()
        let catalog = try InputFiles.loadCatalog(path)
        let newID = id ?? ((catalog.postbacks.last?.id ?? 0) + 1)
        if catalog[id: newID] != nil {
            Output.error("postback \(newID): id: already in \(path) (change it with postbackctl edit \(newID))")
            throw ExitCode.failure
        }
        var entry = CatalogEntry(id: newID)
        _ = fields.apply(to: &entry)
        try CatalogEditing.write(catalog.postbacks.map(CatalogEntry.init) + [entry], to: path)
        Output.line("postback \(newID): added to \(path)")
        try CatalogEditing.reload(target, stateDirectory: stateDirectory)
        Output.flush()
    }
}
