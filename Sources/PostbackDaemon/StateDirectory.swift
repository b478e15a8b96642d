import Foundation
import PostbackCore
import PostbackSpool
import Synchronization

/// The daemon's own state, beside the spool: its pid file (so `postbackctl` can reload it)
/// and the postbacks it paused after repeated permanent failures (`paused.json`), kept here
/// rather than in the catalog file, which belongs to the platform or the operator.
public struct StateDirectory: Sendable {
    public let path: String
    public var pidFile: String { PidFile.path(stateDirectory: path) }
    public var pausedFile: String { PausedPostbacksFile.path(stateDirectory: path) }

    public init(path: String) throws(DaemonStartError) {
        self.path = path
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
        } catch {
            throw DaemonStartError(message: "state directory \(path): cannot create: \(error.localizedDescription)")
        }
        guard access(path, W_OK) == 0 else {
            throw DaemonStartError(message: "state directory \(path): not writable: \(String(cString: strerror(errno)))")
        }
    }

    public func writePid() {
        try? PidFile.write(getpid(), stateDirectory: path)
    }

    public func removePid() {
        unlink(pidFile)
    }

    /// The paused postbacks (none when the file does not exist yet).
    public func loadPaused() throws(SpoolError) -> [PausedPostbacksFile.Entry] {
        try PausedPostbacksFile.read(stateDirectory: path)
    }

    /// Replaced whole, so a crash leaves the old or the new list.
    public func savePaused(_ paused: [PausedPostbacksFile.Entry]) throws(SpoolError) {
        try PausedPostbacksFile.write(paused, stateDirectory: path)
    }
}

/// The auto-paused postbacks of `source = spool`, in `paused.json`: shared by the recorder
/// (which adds) and reload (which re-reads what `postbackctl resume` changed).
final class PausedPostbacks: PausedPostbackStore {
    let state: StateDirectory
    private let list: Mutex<[PausedPostbacksFile.Entry]>

    var location: String { state.pausedFile }

    init(state: StateDirectory) throws {
        self.state = state
        list = Mutex(try state.loadPaused())
    }

    var ids: Set<Int64> { list.withLock { Set($0.map(\.id)) } }

    /// Records a new pause durably and returns every paused id.
    func add(_ id: Int64, reason: String) throws -> Set<Int64> {
        let now = list.withLock { list -> [PausedPostbacksFile.Entry] in
            if !list.contains(where: { $0.id == id }) {
                list.append(.init(id: id, sinceMs: SpoolTime.unixMillis(), reason: reason))
            }
            return list
        }
        try state.savePaused(now)
        return Set(now.map(\.id))
    }

    /// Re-reads the file (after `postbackctl resume`) and returns every paused id.
    func reload() throws -> Set<Int64> {
        let fresh = try state.loadPaused()
        list.withLock { $0 = fresh }
        return Set(fresh.map(\.id))
    }
}
