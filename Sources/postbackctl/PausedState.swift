import ArgumentParser
import Foundation
import PostbackCore

/// The daemon's auto-pauses: `<state_directory>/paused.json`,
/// `{"paused":[{"id":17,"since_ms":1764256000000,"reason":"…"}]}`.
///
/// The daemon pauses a postback here, never in the catalog file (DESIGN "Partner health"), so a
/// platform re-export of the catalog cannot silently undo it; `resume` lifts it and `list` shows
/// it. The daemon writes the same format; both sides replace the file atomically.
struct PausedState: Sendable, Equatable {
    struct Entry: Sendable, Equatable, Codable {
        var id: Int64
        var sinceMs: Int64?
        var reason: String?

        enum CodingKeys: String, CodingKey { case id, sinceMs = "since_ms", reason }
    }

    var entries: [Entry] = []

    private struct File: Codable { var paused: [Entry] }

    static func path(stateDirectory: String) -> String { stateDirectory + "/paused.json" }

    /// The auto-pauses; none when the file does not exist (no daemon ever paused anything).
    static func read(stateDirectory: String) throws(ExitCode) -> PausedState {
        let path = path(stateDirectory: stateDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return PausedState() }
        guard let data = FileManager.default.contents(atPath: path) else {
            Output.error("\(path): cannot read")
            throw ExitCode.failure
        }
        do {
            return PausedState(entries: try JSONDecoder().decode(File.self, from: data).paused)
        } catch {
            Output.error("\(path): not {\"paused\":[{\"id\":N,...}]}: \(error)")
            throw ExitCode.failure
        }
    }

    func entry(_ id: Int64) -> Entry? { entries.first { $0.id == id } }

    var ids: Set<Int64> { Set(entries.map(\.id)) }

    /// Writes the file atomically, entries in id order, keys in a fixed order.
    func write(stateDirectory: String) throws(ExitCode) {
        let items = entries.sorted { $0.id < $1.id }.map { e in
            "{\"id\":\(e.id)" + (e.sinceMs.map { ",\"since_ms\":\($0)" } ?? "")
                + (e.reason.map { ",\"reason\":\(JSONText.quote($0))" } ?? "") + "}"
        }
        let text = "{\"paused\":[" + items.joined(separator: ",") + "]}\n"
        do {
            try AtomicFile.replace(PausedState.path(stateDirectory: stateDirectory), with: Array(text.utf8), backup: false)
        } catch {
            Output.error("\(error)")
            throw ExitCode.failure
        }
    }
}
