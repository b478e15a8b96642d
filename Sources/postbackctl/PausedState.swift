import ArgumentParser
import Foundation
import PostbackCore
import PostbackSpool

/// The daemon's auto-pauses: `<state_directory>/paused.json`,
/// `{"paused":[{"id":17,"since_ms":1764256000000,"reason":"…"}]}`.
///
/// The daemon pauses a postback here, never in the catalog file (DESIGN "Partner health"), so a
/// platform re-export of the catalog cannot silently undo it; `resume` lifts it and `list` shows
/// it. The format and the atomic replace are `PausedPostbacksFile`, shared with the daemon.
struct PausedState: Sendable, Equatable {
    typealias Entry = PausedPostbacksFile.Entry

    var entries: [Entry] = []

    /// The auto-pauses; none when the file does not exist (no daemon ever paused anything).
    static func read(stateDirectory: String) throws(ExitCode) -> PausedState {
        do {
            return PausedState(entries: try PausedPostbacksFile.read(stateDirectory: stateDirectory))
        } catch {
            Output.error("\(error)")
            throw ExitCode.failure
        }
    }

    func entry(_ id: Int64) -> Entry? { entries.first { $0.id == id } }

    var ids: Set<Int64> { Set(entries.map(\.id)) }

    /// Replaces the file atomically, in the one format the daemon shares.
    func write(stateDirectory: String) throws(ExitCode) {
        do {
            try PausedPostbacksFile.write(entries, stateDirectory: stateDirectory)
        } catch {
            Output.error("\(error)")
            throw ExitCode.failure
        }
    }
}
