import Glibc

/// Replaces a file so that a reader (the daemon on SIGHUP) and a crash at any instant see
/// either the old contents or the new, never a mix or nothing: temp file in the same
/// directory, fsync, rename over, fsync the directory.
enum AtomicFile {
    struct Failure: Error, CustomStringConvertible {
        var path: String
        var operation: String
        var code: Int32
        var description: String { "\(path): \(operation): \(String(cString: strerror(code)))" }
    }

    /// Writes `bytes` to `path`. With `backup`, the previous file stays as `path.bak` (a hard
    /// link to the old inode, so no copy and no window where the catalog is missing; a copy
    /// where the filesystem has no hard links). The new file keeps the old one's mode.
    static func replace(_ path: String, with bytes: [UInt8], backup: Bool) throws(Failure) {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let tmp = dir + "/." + base + ".tmp-\(getpid())-\(UInt32.random(in: .min ... .max))"

        var mode: mode_t = 0o644
        var st = stat()
        let exists = stat(path, &st) == 0
        if exists { mode = st.st_mode & 0o7777 }

        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(path: tmp, operation: "create", code: errno) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { close(fd) }
            try writeAll(fd, bytes, path: tmp)
            guard fsync(fd) == 0 else { throw Failure(path: tmp, operation: "fsync", code: errno) }
        }
        if exists && backup { try keepBackup(of: path, dir: dir, base: base, mode: mode) }
        guard rename(tmp, path) == 0 else { throw Failure(path: path, operation: "rename", code: errno) }
        ok = true
        try syncDirectory(dir)
    }

    /// `path.bak` ← the current file, itself replaced atomically (link to a temp name, rename).
    private static func keepBackup(of path: String, dir: String, base: String, mode: mode_t) throws(Failure) {
        let bakTmp = dir + "/." + base + ".bak-tmp-\(getpid())-\(UInt32.random(in: .min ... .max))"
        if link(path, bakTmp) != 0 {
            guard errno == EPERM || errno == EXDEV || errno == EOPNOTSUPP || errno == EMLINK else {
                throw Failure(path: bakTmp, operation: "link", code: errno)
            }
            // No hard links here: copy instead.
            let contents = try readAll(path)
            let fd = open(bakTmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
            guard fd >= 0 else { throw Failure(path: bakTmp, operation: "create", code: errno) }
            defer { close(fd) }
            do { try writeAll(fd, contents, path: bakTmp) } catch { unlink(bakTmp); throw error }
            guard fsync(fd) == 0 else { let e = errno; unlink(bakTmp); throw Failure(path: bakTmp, operation: "fsync", code: e) }
        }
        guard rename(bakTmp, path + ".bak") == 0 else {
            let e = errno
            unlink(bakTmp)
            throw Failure(path: path + ".bak", operation: "rename", code: e)
        }
    }

    static func syncDirectory(_ dir: String) throws(Failure) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(path: dir, operation: "open", code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Failure(path: dir, operation: "fsync", code: errno) }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(path: path, operation: "write", code: errno)
            }
            offset += n
        }
    }

    private static func readAll(_ path: String) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(path: path, operation: "open", code: errno) }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(path: path, operation: "read", code: errno)
            }
            if n == 0 { return result }
            result.append(contentsOf: buffer[..<n])
        }
    }
}
