import ArgumentParser
import PostbackCore

/// `postbackctl edit ID`: change some fields of one postback, the others kept as they are.
struct EditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Change fields of a postback (validated, written atomically, daemon reloaded).",
        discussion: """
            Only the fields given change. `--partner none`, `--offer none` and `--event-ids none`
            remove those fields (e.g. when moving to level global_offer). Prints
            `postback <id>: changed <field>, ... in <catalog>` (or `postback <id>: nothing
            changed`), keeps the previous catalog as <catalog>.bak and reloads the daemon.
            Problems are printed as `postback <id>: <field>: <what is wrong>`, the file is left
            untouched and the exit status is 1; an unknown id also exits 1.

            Example: postbackctl edit 17 --catalog catalog.json --url 'https://acme.example/v2/pb?click={sub1}'
            """)

    @Argument(help: "The postback's id.")
    var id: Int64

    @OptionGroup var fields: PostbackFields
    @OptionGroup var target: CatalogTarget

    func validate() throws {
        if fields.isEmpty { throw ValidationError("give at least one field to change (see --help)") }
    }

    func run() throws {
        let (path, stateDirectory) = try target.resolve()
        let (catalog, current) = try CatalogEditing.load(id, from: path)
        var entry = CatalogEntry(current)
        let changed = fields.apply(to: &entry)
        guard !changed.isEmpty else {
            Output.line("postback \(id): nothing changed")
            Output.flush()
            return
        }
        try CatalogEditing.write(catalog, replacing: id, with: entry, to: path)
        Output.line("postback \(id): changed \(changed.joined(separator: ", ")) in \(path)")
        try CatalogEditing.reload(target, stateDirectory: stateDirectory)
        Output.flush()
    }
}
