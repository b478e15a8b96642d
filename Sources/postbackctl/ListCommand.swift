import ArgumentParser
import Foundation
import PostbackCore

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The table of postbacks.",
        discussion: """
            Default columns: id, status, partner, offer, level, type, delivery, description.
            Other columns: url, author, event_ids. `--columns +url,-description` adds and drops;
            `--columns id,url` names exactly the columns to show.

            Example: postbackctl list --catalog catalog.json --status active --columns +url
            """)

    enum StatusFilter: String, ExpressibleByArgument, CaseIterable {
        case active, inactive, all
    }

    static let defaultColumns = ["id", "status", "partner", "offer", "level", "type", "delivery", "description"]
    static let allColumns = defaultColumns + ["url", "author", "event_ids"]

    @Option(help: "The catalog JSON file.")
    var catalog: String

    @Option(help: "Which postbacks to show: active, inactive or all.")
    var status: StatusFilter = .all

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
        let postbacks = try InputFiles.loadCatalog(catalog).postbacks.filter {
            status == .all || $0.status.rawValue == status.rawValue
        }
        if json {
            Output.line("[" + postbacks.map(\.catalogJSON).joined(separator: ",\n") + "]")
            Output.flush()
            return
        }
        let names = try Self.columnList(columns)
        let rows = [names.map { $0.uppercased() }] + postbacks.map { p in names.map { Self.cell($0, of: p) } }
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
        default: return ""
        }
    }
}
