import Glibc
import PostbackSpool

/// The catalog's writes: `DurableFile.replace` (the one durable replace, shared with the
/// daemon's state files), a new catalog world-readable like the platform's exports, and
/// failures worded `PATH: OPERATION: REASON` as operators and scripts have seen them.
enum AtomicFile {
    struct Failure: Error, CustomStringConvertible {
        var error: SpoolError
        var description: String {
            error.errno == 0 ? error.description : "\(error.path): \(error.operation): \(String(cString: strerror(error.errno)))"
        }
    }

    /// Writes `bytes` to `path`; with `backup`, the previous file stays as `path.bak`.
    static func replace(_ path: String, with bytes: [UInt8], backup: Bool) throws(Failure) {
        do {
            try DurableFile.replace(path, with: bytes, mode: 0o644, backup: backup)
        } catch {
            throw Failure(error: error)
        }
    }
}
