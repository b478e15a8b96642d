import Foundation
import PostbackCore

extension Settings {
    /// The one settings loader of `postbackd run` and every `postbackctl` command, so an
    /// operator's `postbackctl spool` looks at the spool the running daemon uses without
    /// repeating its paths: the file from `configPath` (`--config`, else POSTBACKD_CONFIG, else
    /// the default path when it exists), then `resolve` for POSTBACKD_<KEY> and `flags`.
    ///
    /// The rules stay pure in PostbackCore; this is only their I/O (reading the file and the
    /// environment). A file that cannot be read is one more problem, with key `config` and
    /// source `config <path>`; how problems are printed is each executable's own.
    public static func load(config: String?, flags: [(key: String, value: String)] = [],
                            environment: [String: String] = ProcessInfo.processInfo.environment) -> Result<Settings, Problems> {
        var file: (name: String, text: String)?
        if let path = configPath(flag: config, environment: environment, exists: FileManager.default.fileExists) {
            guard let data = FileManager.default.contents(atPath: path) else {
                return .failure(Problems(all: [Problem(source: "config \(path)", key: "config",
                                                       message: "cannot read (missing or not readable)")]))
            }
            file = (path, String(decoding: data, as: UTF8.self))
        }
        return resolve(file: file, environment: environment, flags: flags)
    }
}
