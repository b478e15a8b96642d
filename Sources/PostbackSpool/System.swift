import CSpoolShim
import Glibc

/// The spool's one door to the kernel. Every call retries EINTR, reads errno right after the
/// call, and turns failure into a `SpoolError` naming the operation and the path, so callers
/// never handle raw errno. Misuse the kernel reports (EBADF, EFAULT) is a bug here, not a
/// condition to recover from, hence the preconditions (as in swift-nio's System.swift).
enum System {
    /// `dir` is a directory descriptor; `dirPath` its path, used only in errors.
    struct Dir: Sendable {
        let fd: Int32
        let path: String
        func join(_ name: String) -> String { path + "/" + name }
    }

    @inline(__always)
    private static func check(_ operation: StaticString, _ path: @autoclosure () -> String, _ body: () -> Int32) throws(SpoolError) -> Int32 {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = Glibc.errno
            if code == EINTR { continue }
            precondition(code != EBADF && code != EFAULT, "\(operation) \(path()): errno \(code), a bug in the spool")
            throw SpoolError(code: .system, operation: "\(operation)", path: path(), errno: code)
        }
    }

    static func openAt(_ dir: Dir, _ name: String, _ flags: Int32, mode: mode_t = 0o640) throws(SpoolError) -> Int32 {
        try check("open", dir.join(name)) { openat(dir.fd, name, flags | O_CLOEXEC, mode) }
    }

    /// Spool directories must be real ones (`followingLinks` false); the folder of a file an
    /// operator names (a catalog under /etc) may be reached through a link.
    static func openDirectory(_ path: String, followingLinks: Bool = false) throws(SpoolError) -> Int32 {
        try check("open", path) { open(path, O_RDONLY | O_DIRECTORY | (followingLinks ? 0 : O_NOFOLLOW) | O_CLOEXEC) }
    }

    static func close(_ fd: Int32) {
        // Linux releases the descriptor even when close reports EINTR: never retry it.
        _ = Glibc.close(fd)
    }

    static func fstat(_ fd: Int32, path: @autoclosure () -> String) throws(SpoolError) -> stat {
        var st = stat()
        _ = try check("fstat", path()) { Glibc.fstat(fd, &st) }
        return st
    }

    /// lstat semantics: a symlink is reported as itself, never followed.
    static func statAt(_ dir: Dir, _ name: String) throws(SpoolError) -> stat {
        var st = stat()
        _ = try check("lstat", dir.join(name)) { fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) }
        return st
    }

    /// nil when the name does not exist.
    static func statAtIfPresent(_ dir: Dir, _ name: String) throws(SpoolError) -> stat? {
        do { return try statAt(dir, name) } catch where error.errno == ENOENT { return nil }
    }

    static func mkdir(_ path: String, mode: mode_t) throws(SpoolError) {
        _ = try check("mkdir", path) { Glibc.mkdir(path, mode) }
    }

    static func access(_ path: String, _ mode: Int32) throws(SpoolError) {
        _ = try check("access", path) { Glibc.access(path, mode) }
    }

    /// Reads up to `count` bytes into `buffer` at `offset`, 0 at end of file.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: @autoclosure () -> String) throws(SpoolError) -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            let code = Glibc.errno
            if code == EINTR { continue }
            precondition(code != EBADF && code != EFAULT, "read \(path()): errno \(code)")
            throw SpoolError(code: .system, operation: "read", path: path(), errno: code)
        }
    }

    /// Reads at `fileOffset` without moving the descriptor's offset (pread), returning the
    /// count, 0 at end of file; concurrent readers of one descriptor do not disturb each other.
    static func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at fileOffset: Int, path: @autoclosure () -> String) throws(SpoolError) -> Int {
        while true {
            let n = Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(fileOffset))
            if n >= 0 { return n }
            let code = Glibc.errno
            if code == EINTR { continue }
            precondition(code != EBADF && code != EFAULT, "pread \(path()): errno \(code)")
            throw SpoolError(code: .system, operation: "read", path: path(), errno: code)
        }
    }

    /// Reads into `bytes[offset...]`, returning the count, 0 at end of file.
    static func read(_ fd: Int32, into bytes: inout [UInt8], at offset: Int, path: @autoclosure () -> String) throws(SpoolError) -> Int {
        let result = bytes.withUnsafeMutableBytes { raw in
            Result { () throws(SpoolError) in
                try read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[offset...]), path: path())
            }
        }
        return try result.get()
    }

    /// Writes all of `bytes`, continuing after short writes.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: @autoclosure () -> String) throws(SpoolError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n >= 0 { offset += n; continue }
            let code = Glibc.errno
            if code == EINTR { continue }
            precondition(code != EBADF && code != EFAULT, "write \(path()): errno \(code)")
            throw SpoolError(code: .system, operation: "write", path: path(), errno: code)
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: @autoclosure () -> String) throws(SpoolError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(SpoolError) in try writeAll(fd, raw, path: path()) }
        }
        try result.get()
    }

    /// Reads from the descriptor's offset to the end, stopping once past `limit` bytes.
    /// Reads until the end, or past `limit` bytes (the caller then knows it grew).
    /// `expected`: the size fstat gave, so a small file costs a small buffer.
    static func readAll(_ fd: Int32, path: String, limit: Int, expected: Int? = nil) throws(SpoolError) -> [UInt8] {
        var bytes: [UInt8] = []
        if let expected, expected <= limit {
            // One read into a buffer one byte larger than fstat said: exactly `expected` bytes
            // back means the whole file, with no second read to see the end and no copy.
            // Anything else (it grew, shrank or came short) goes on by the general loop.
            bytes = [UInt8](repeating: 0, count: expected + 1)
            let n = try read(fd, into: &bytes, at: 0, path: path)
            bytes.removeLast(expected + 1 - n)
            if n == expected { return bytes }
        }
        var chunk = [UInt8](repeating: 0, count: min(1 << 14, max(64, (expected ?? .max - 1) + 1)))
        while bytes.count <= limit {
            let n = try read(fd, into: &chunk, at: 0, path: path)
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    static func fdatasync(_ fd: Int32, path: @autoclosure () -> String) throws(SpoolError) {
        _ = try check("fdatasync", path()) { Glibc.fdatasync(fd) }
    }

    /// Makes renames and unlinks inside `dir` durable.
    static func fsync(_ dir: Dir) throws(SpoolError) {
        _ = try check("fsync", dir.path) { Glibc.fsync(dir.fd) }
    }

    static func fsync(_ fd: Int32, path: @autoclosure () -> String) throws(SpoolError) {
        _ = try check("fsync", path()) { Glibc.fsync(fd) }
    }

    /// Returns false when the source is gone (ENOENT): another process moved it first.
    static func rename(_ from: Dir, _ fromName: String, _ to: Dir, _ toName: String) throws(SpoolError) -> Bool {
        do {
            _ = try check("rename", from.join(fromName) + " -> " + to.join(toName)) {
                renameat(from.fd, fromName, to.fd, toName)
            }
            return true
        } catch where error.errno == ENOENT {
            return false
        }
    }

    /// Renames unless `to/toName` exists: false when `from/fromName` is gone, `nil` when the
    /// target exists. One call where a lookup of the target and a rename took two, and no
    /// window between them. Where the filesystem lacks RENAME_NOREPLACE, the lookup and a
    /// plain rename.
    static func renameUnlessTaken(_ from: Dir, _ fromName: String, _ to: Dir, _ toName: String) throws(SpoolError) -> Bool? {
        do {
            _ = try check("rename", from.join(fromName) + " -> " + to.join(toName)) {
                spool_rename_noreplace(from.fd, fromName, to.fd, toName)
            }
            return true
        } catch where error.errno == ENOENT {
            return false
        } catch where error.errno == EEXIST {
            return nil
        } catch where error.errno == EINVAL || error.errno == ENOSYS {
            if try statAtIfPresent(to, toName) != nil { return nil }
            return try rename(from, fromName, to, toName)
        }
    }

    /// A second name for a file in the same directory (a backup that costs no copy).
    static func link(_ dir: Dir, _ name: String, as newName: String) throws(SpoolError) {
        _ = try check("link", dir.join(name) + " -> " + dir.join(newName)) { linkat(dir.fd, name, dir.fd, newName, 0) }
    }

    /// Returns false when the name was already gone.
    @discardableResult
    static func unlink(_ dir: Dir, _ name: String) throws(SpoolError) -> Bool {
        do {
            _ = try check("unlink", dir.join(name)) { unlinkat(dir.fd, name, 0) }
            return true
        } catch where error.errno == ENOENT {
            return false
        }
    }

    /// Takes an exclusive lock without waiting; false when someone else holds it.
    static func tryLock(_ fd: Int32, path: @autoclosure () -> String) throws(SpoolError) -> Bool {
        do {
            _ = try check("flock", path()) { flock(fd, LOCK_EX | LOCK_NB) }
            return true
        } catch where error.errno == EWOULDBLOCK {
            return false
        }
    }

    static func truncate(_ fd: Int32, to length: Int, path: @autoclosure () -> String) throws(SpoolError) {
        _ = try check("ftruncate", path()) { ftruncate(fd, off_t(length)) }
    }

    static func seekEnd(_ fd: Int32, path: @autoclosure () -> String) throws(SpoolError) -> Int {
        while true {
            let r = lseek(fd, 0, SEEK_END)
            if r >= 0 { return Int(r) }
            let code = Glibc.errno
            if code == EINTR { continue }
            throw SpoolError(code: .system, operation: "lseek", path: path(), errno: code)
        }
    }

    /// Sets a file's modification time to now, so retention counts from when it was finished.
    static func touch(_ fd: Int32, path: @autoclosure () -> String) throws(SpoolError) {
        _ = try check("futimens", path()) { futimens(fd, nil) }
    }

    /// The names in `dir`, without `.` and `..`, in directory order.
    static func list(_ dir: Dir) throws(SpoolError) -> [String] {
        // fdopendir takes ownership of its descriptor; give it a duplicate so `dir` stays open.
        let copy = try check("dup", dir.path) { fcntl(dir.fd, F_DUPFD_CLOEXEC, 0) }
        guard let stream = fdopendir(copy) else {
            let code = Glibc.errno
            Glibc.close(copy)
            throw SpoolError(code: .system, operation: "opendir", path: dir.path, errno: code)
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [String] = []
        while true {
            Glibc.errno = 0
            guard let entry = readdir(stream) else {
                let code = Glibc.errno
                if code != 0 { throw SpoolError(code: .system, operation: "readdir", path: dir.path, errno: code) }
                return names
            }
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    static func pipe() throws(SpoolError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        _ = try check("pipe", "(pipe)") { Glibc.pipe(&fds) }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        return (fds[0], fds[1])
    }
}

/// Wall-clock and monotonic time without Foundation, for hot paths. Spool times are Unix
/// milliseconds (due times, dead-letter times) or microseconds (attempts), as plain integers
/// that go into file names and JSON unchanged.
public enum SpoolTime {
    public static func unixMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    public static func unixMillis() -> Int64 { unixMicros() / 1000 }

    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
