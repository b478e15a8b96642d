import ArgumentParser
import Foundation
import PostbackCore

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "The HTML of the pixel postbacks a record triggers.",
        discussion: """
            Image and iframe pixels are shown in a page, never fired by the daemon. Prints one tag
            per pixel of the winning level, values percent-encoded and the URL HTML-escaped.

            Example: postbackctl render --catalog catalog.json --record '{"kind":"conversion","transaction_id":"t1","partner_id":7,"offer_id":3}'
            """)

    @Option(help: "The catalog JSON file.")
    var catalog: String

    @Option(help: "The record as one JSON line, or @FILE for the first line of a file.")
    var record: String

    @Flag(help: "JSON output: [{\"postback_id\": N, \"html\": \"...\"}].")
    var json = false

    func run() throws {
        let index = PostbackIndex(catalog: try InputFiles.loadCatalog(catalog))
        let sample = try RecordArgument.parse(record)
        let now = Int64(Date().timeIntervalSince1970)
        var generator = SystemRandomNumberGenerator()
        var rendered: [(Int64, String)] = []
        for pixel in index.resolve(sample).pixels {
            let context = URLTemplate.Context(postbackID: pixel.id, arrivalTime: now, random: generator.next())
            if let html = PixelHTML.render(pixel, record: sample, context: context) { rendered.append((pixel.id, html)) }
        }
        if json {
            Output.line("[" + rendered.map { "{\"postback_id\":\($0.0),\"html\":\(JSONText.quote($0.1))}" }.joined(separator: ",") + "]")
        } else {
            for (_, html) in rendered { Output.line(html) }
        }
        Output.flush()
    }
}
