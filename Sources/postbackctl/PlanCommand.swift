import ArgumentParser
import Foundation
import PostbackCore

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what each record would fire, without firing.",
        discussion: """
            One line per fire on stdout, `<line number>\\t<postback id>\\t<url>`, server-to-server
            postbacks only, in resolution order. A rejected record prints `line <n>: <reason>` on
            stderr and the command exits 1 at the end. With --partner-postbacks off, as the daemon
            with partner_postbacks = off, partner-authored postbacks are left out and each skip is
            said on stderr (not an error). {random} is a fresh number per fire and
            {timestamp} of a record without one is the current time, as the daemon would send.

            Example: postbackctl plan --catalog config/catalog.json config/spool/incoming/example.jsonl
            """)

    @Option(help: "The catalog JSON file.")
    var catalog: String

    @Option(help: "The daemon's partner_postbacks setting: off skips partner-authored postbacks (said on stderr).")
    var partnerPostbacks: PartnerPostbacks = .on

    @Argument(help: "A JSON Lines file of records, or - for standard input.")
    var records: String

    func run() throws {
        let index = PostbackIndex(catalog: try InputFiles.loadCatalog(catalog))
        let bytes: [UInt8]
        do {
            bytes = try InputFiles.read(records)
        } catch {
            Output.error("records: \(error)")
            throw ExitCode.failure
        }
        let now = Int64(Date().timeIntervalSince1970)
        var rejected = 0
        var line: [UInt8] = []
        var generator = SystemRandomNumberGenerator()
        RecordParser.parseLines(bytes) { number, result in
            switch result {
            case .failure(let rejection):
                rejected += 1
                Output.error(rejection.description)
            case .success(let record):
                for postback in index.resolve(record).fires {
                    if postback.author == .partner && partnerPostbacks == .off {
                        Output.error("line \(number): postback \(postback.id) skipped: partner-authored postbacks are off")
                        continue
                    }
                    line.removeAll(keepingCapacity: true)
                    line.append(contentsOf: "\(number)\t\(postback.id)\t".utf8)
                    let context = URLTemplate.Context(postbackID: postback.id, arrivalTime: now, random: generator.next())
                    postback.template.expand(record, context: context, into: &line)
                    line.append(0x0A)
                    Output.write(line)
                }
            }
        }
        Output.flush()
        if rejected > 0 { throw ExitCode.failure }
    }
}
