import Foundation

/// `<state_directory>/postbackd.pid`: written by the daemon at start, read by `postbackctl`
/// to reload the daemon of that state directory. One owner of its name and format (the pid
/// in decimal, a newline), shared by both sides as `PausedPostbacksFile` is.
public enum PidFile {
    public static func path(stateDirectory: String) -> String { stateDirectory + "/postbackd.pid" }

    /// Replaced whole (`DurableFile.replace`), so a reader never sees half a pid.
    public static func write(_ pid: Int32, stateDirectory: String) throws(SpoolError) {
        try DurableFile.replace(path(stateDirectory: stateDirectory), with: Array("\(pid)\n".utf8), mode: 0o644)
    }

    /// The pid in the file; nil when there is none or it is not a number. Whether that process
    /// is still a postbackd is the reader's question.
    public static func read(stateDirectory: String) -> Int32? {
        guard let data = FileManager.default.contents(atPath: path(stateDirectory: stateDirectory)) else { return nil }
        return Int32(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
