import Foundation
import Glibc
import PostbackCore

/// The daemon's auto-pauses: `<state_directory>/paused.json`,
/// `{"paused":[{"id":17,"since_ms":1764256000000,"reason":"…"}]}`.
///
/// The daemon adds a postback here when it reaches the auto-pause threshold, never touching
/// the catalog file, and `postbackctl resume` removes it. With `source = redis` the same
/// entries live in the hash `<prefix>:paused` instead (`Entry.json` per field), shared by
/// every daemon of the group. One reader and one writer serve both,
/// so the two sides cannot drift apart on the format or on how the file is replaced.
public enum PausedPostbacksFile {
    public struct Entry: Sendable, Equatable, Codable {
        public var id: Int64
        /// Unix milliseconds of the pause.
        public var sinceMs: Int64?
        public var reason: String?

        public init(id: Int64, sinceMs: Int64?, reason: String?) {
            self.id = id
            self.sinceMs = sinceMs
            self.reason = reason
        }

        enum CodingKeys: String, CodingKey { case id, sinceMs = "since_ms", reason }

        /// `{"id":17,"since_ms":...,"reason":"..."}`, keys in this order: one line of the file,
        /// and the value of the entry's field in Redis's `<prefix>:paused` hash.
        public var json: String {
            "{\"id\":\(id)" + (sinceMs.map { ",\"since_ms\":\($0)" } ?? "")
                + (reason.map { ",\"reason\":\(JSONText.quote($0))" } ?? "") + "}"
        }

        /// One entry's JSON (a value of the Redis hash); `source` names where it was, for the error.
        public static func decode(_ bytes: [UInt8], source: String) throws(SpoolError) -> Entry {
            do {
                return try JSONDecoder().decode(Entry.self, from: Data(bytes))
            } catch {
                throw SpoolError(code: .corrupt, operation: "read", path: source,
                                 detail: "not {\"id\":N,\"since_ms\":N,\"reason\":\"...\"}: \(error)")
            }
        }

        /// One entry per id: where several hold one (each stream's `<prefix>:paused` hash may),
        /// the earliest pause, an entry without a time counting as the latest; on a tie the
        /// first. The daemon and postbackctl merge the hashes by this one rule.
        public static func earliestByID(_ entries: [Entry]) -> [Int64: Entry] {
            var result: [Int64: Entry] = [:]
            for entry in entries {
                if let kept = result[entry.id], (kept.sinceMs ?? .max) <= (entry.sinceMs ?? .max) { continue }
                result[entry.id] = entry
            }
            return result
        }
    }

    private struct File: Codable { var paused: [Entry] }

    public static func path(stateDirectory: String) -> String { stateDirectory + "/paused.json" }

    /// The auto-pauses; none when the file does not exist (no daemon ever paused anything).
    public static func read(stateDirectory: String) throws(SpoolError) -> [Entry] {
        let path = path(stateDirectory: stateDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SpoolError(code: .system, operation: "read", path: path, errno: EACCES)
        }
        do {
            return try JSONDecoder().decode(File.self, from: data).paused
        } catch {
            throw SpoolError(code: .corrupt, operation: "read", path: path,
                             detail: "not {\"paused\":[{\"id\":N,...}]}: \(error)")
        }
    }

    /// Replaces the file whole (`DurableFile.replace`), entries in
    /// id order and keys in a fixed order, so a crash leaves the old list or the new one.
    public static func write(_ entries: [Entry], stateDirectory: String) throws(SpoolError) {
        let items = entries.sorted { $0.id < $1.id }.map(\.json)
        let text = "{\"paused\":[" + items.joined(separator: ",") + "]}\n"
        try DurableFile.replace(path(stateDirectory: stateDirectory), with: Array(text.utf8))
    }
}
