import Foundation
import PostbackCore
import Synchronization

/// The daemon's own state, beside the spool: its pid file (so `postbackctl` can reload it)
/// and the postbacks it paused after repeated permanent failures (`paused.json`), kept here
/// rather than in the catalog file, which belongs to the platform or the operator.
public struct StateDirectory: Sendable {
    public let path: String
    public var pidFile: String { path + "/postbackd.pid" }
    public var pausedFile: String { path + "/paused.json" }

    /// One auto-paused postback, as `postbackctl list` and `resume` read it.
    public struct Paused: Sendable, Equatable {
        public var id: Int64
        public var sinceMillis: Int64
        public var reason: String
    }

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
        try? Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: pidFile), options: .atomic)
    }

    public func removePid() {
        unlink(pidFile)
    }

    /// The paused postbacks; an unreadable file counts as none, and says so.
    public func loadPaused() throws -> [Paused] {
        guard let data = FileManager.default.contents(atPath: pausedFile) else { return [] }
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let list = object["paused"] as? [[String: Any]]
        else { throw DaemonStartError(message: "\(pausedFile): expected {\"paused\": [...]}") }
        return list.compactMap { entry in
            guard let id = (entry["id"] as? NSNumber)?.int64Value else { return nil }
            return Paused(id: id, sinceMillis: (entry["since_ms"] as? NSNumber)?.int64Value ?? 0,
                          reason: entry["reason"] as? String ?? "")
        }
    }

    /// Written whole to a temporary file and renamed, so a crash leaves the old or the new list.
    public func savePaused(_ paused: [Paused]) throws {
        let entries = paused.sorted { $0.id < $1.id }.map {
            "{\"id\":\($0.id),\"since_ms\":\($0.sinceMillis),\"reason\":\(JSONText.quote($0.reason))}"
        }
        let text = "{\"paused\":[" + entries.joined(separator: ",\n") + "]}\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: pausedFile), options: .atomic)
    }
}

/// The auto-paused postbacks, shared by the recorder (which adds) and reload (which re-reads
/// what `postbackctl resume` changed).
final class PausedPostbacks: Sendable {
    let state: StateDirectory
    private let list: Mutex<[StateDirectory.Paused]>

    init(state: StateDirectory) throws {
        self.state = state
        list = Mutex(try state.loadPaused())
    }

    var ids: Set<Int64> { list.withLock { Set($0.map(\.id)) } }

    /// Records a new pause durably and returns every paused id.
    func add(_ id: Int64, reason: String) throws -> Set<Int64> {
        let now = list.withLock { list -> [StateDirectory.Paused] in
            if !list.contains(where: { $0.id == id }) {
                list.append(.init(id: id, sinceMillis: Int64(Date().timeIntervalSince1970 * 1000), reason: reason))
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
