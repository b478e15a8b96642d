import Glibc

/// The one way postbackd and postbackctl put a file where others read it: written whole under
/// a temporary name and fdatasync'd, renamed into place, the directory fsync'd. A reader (the
/// daemon on SIGHUP, another daemon on the spool) and a crash at any instant see the old file
/// or the new one, never a mix or nothing.
///
/// Two uses, both these steps: `Spool.writeDurably` publishes into a queue (deferred fires,
/// dead letters, ingest: the temporary file in `tmp/`, never overwriting), and `replace`
/// replaces a file in place (the catalog, `paused.json`, the pid file: the temporary file
/// beside it).
public enum DurableFile {
    /// Replaces (or creates) `path` with `bytes`. The new file keeps the old one's mode
    /// (`mode` when there was none). With `backup`, the previous file is kept as `path.bak`
    /// first: a hard link to the old inode, so no copy and no moment without a catalog (a copy
    /// where the filesystem has no hard links), itself put in place by rename.
    /// A crash leaves at most a dotfile `.NAME.tmp-…` beside `path`, never `path` itself torn.
    public static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o640, backup: Bool = false) throws(SpoolError) {
        let slash = path.lastIndex(of: "/")
        let dirPath = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let dir = System.Dir(fd: try System.openDirectory(dirPath, followingLinks: true), path: dirPath)
        defer { System.close(dir.fd) }
        var st = stat()
        let exists = stat(path, &st) == 0
        let tmpName = "." + name + ".tmp-" + UniqueName.make()
        try create(dir, tmpName, bytes, mode: exists ? st.st_mode & 0o7777 : mode)
        do throws(SpoolError) {
            if exists && backup { try keepBackup(of: name, in: dir, mode: st.st_mode & 0o7777) }
            guard try System.rename(dir, tmpName, dir, name) else { throw vanished(dir, tmpName) }
        } catch {
            _ = try? System.unlink(dir, tmpName)
            throw error
        }
        try System.fsync(dir)
    }

    /// Step one: a new file `name` in `dir` holding `bytes`, fdatasync'd; removed again when
    /// a step fails (a full disk must not leave a torn file behind).
    static func create(_ dir: System.Dir, _ name: String, _ bytes: [UInt8], mode: mode_t = 0o640) throws(SpoolError) {
        let fd = try System.openAt(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        do {
            try System.writeAll(fd, bytes, path: dir.join(name))
            try System.fdatasync(fd, path: dir.join(name))
            System.close(fd)
        } catch {
            System.close(fd)
            _ = try? System.unlink(dir, name)
            throw error
        }
    }

    /// Step two: the finished temporary file renamed to `name` in `target`, and `target`
    /// fsync'd so the rename survives a power cut. Throws when the temporary file is gone.
    static func install(_ from: System.Dir, _ tmpName: String, as name: String, in target: System.Dir) throws(SpoolError) {
        guard try System.rename(from, tmpName, target, name) else { throw vanished(from, tmpName) }
        try System.fsync(target)
    }

    /// `NAME.bak` ← the current `NAME`, by a link (or copy) under a temporary name, then rename.
    private static func keepBackup(of name: String, in dir: System.Dir, mode: mode_t) throws(SpoolError) {
        let bakTmp = "." + name + ".bak-tmp-" + UniqueName.make()
        do {
            try System.link(dir, name, as: bakTmp)
        } catch where [EPERM, EXDEV, EOPNOTSUPP, EMLINK].contains(error.errno) {
            // No hard links here: copy instead.
            let fd = try System.openAt(dir, name, O_RDONLY)
            let contents: [UInt8]
            do {
                contents = try System.readAll(fd, path: dir.join(name), limit: .max)
                System.close(fd)
            } catch {
                System.close(fd)
                throw error
            }
            try create(dir, bakTmp, contents, mode: mode)
        }
        do throws(SpoolError) {
            guard try System.rename(dir, bakTmp, dir, name + ".bak") else { throw vanished(dir, bakTmp) }
        } catch {
            _ = try? System.unlink(dir, bakTmp)
            throw error
        }
    }

    private static func vanished(_ dir: System.Dir, _ name: String) -> SpoolError {
        SpoolError(code: .system, operation: "rename", path: dir.join(name), errno: ENOENT,
                   detail: "our own temporary file vanished; is something cleaning up behind us?")
    }
}
