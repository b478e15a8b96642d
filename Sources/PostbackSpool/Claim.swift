import Glibc

/// What claiming a file gave: work for the daemon, or a file that went straight to `bad/`.
public enum ClaimOutcome: Sendable {
    /// Yours alone until you finish or release it.
    case active(ActiveFile)
    /// Not processable as a whole; now in `bad/NAME` with `bad/NAME.reason`.
    case quarantined(name: String, reason: String)
}

/// A name waiting in `incoming/` and the type it had when listed: claiming it from a listing
/// needs no second lookup before the open.
public struct PendingFile: Sendable {
    public let name: String
    let mode: mode_t
}

extension Spool {
    /// Names waiting in `incoming/`, oldest first (by modification time, then name), so a
    /// burst cannot starve a file that arrived earlier. Dotfiles are skipped: tools like
    /// rsync write `.name.XXXX` in place and rename when complete.
    public func pending() throws(SpoolError) -> [String] {
        try pendingFiles().map(\.name)
    }

    /// `pending()` with what the listing learnt of each file, for `claim(_: PendingFile)`.
    public func pendingFiles() throws(SpoolError) -> [PendingFile] {
        var entries: [(mtime: Int64, file: PendingFile)] = []
        for name in try System.list(incoming) where !name.hasPrefix(".") {
            guard let st = try System.statAtIfPresent(incoming, name) else { continue }
            entries.append((Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec), PendingFile(name: name, mode: st.st_mode)))
        }
        entries.sort { $0.mtime != $1.mtime ? $0.mtime < $1.mtime : $0.file.name < $1.file.name }
        return entries.map(\.file)
    }

    /// Claims the oldest claimable file; nil when `incoming/` has nothing this process can take.
    public func claimNext() throws(SpoolError) -> ClaimOutcome? {
        for file in try pendingFiles() {
            if let outcome = try claim(file) { return outcome }
        }
        return nil
    }

    /// Claims `incoming/NAME`: nil when another daemon got it first (or it is gone).
    ///
    /// The protocol, which makes two daemons on one spool never process one file twice, even
    /// across crashes: open the file without following links, take an exclusive `flock`
    /// without waiting, check the name still names the locked inode, rename it into
    /// `active/`, fsync `active/`. The lock lives as long as the `ActiveFile`; the kernel drops
    /// it if the daemon dies, which is how `recover()` tells orphans from live work.
    public func claim(_ name: String) throws(SpoolError) -> ClaimOutcome? {
        guard UniqueName.isValid(name), !name.hasPrefix(".") else { return nil }
        guard let st = try System.statAtIfPresent(incoming, name) else { return nil }
        return try claim(PendingFile(name: name, mode: st.st_mode))
    }

    /// `claim(_: String)` for a file from `pendingFiles()`, trusting its listed type to keep
    /// FIFOs and devices unopened. A file replaced by another type since the listing is still
    /// refused: the open follows no link and `load` checks the opened file's type.
    public func claim(_ file: PendingFile) throws(SpoolError) -> ClaimOutcome? {
        let name = file.name
        guard UniqueName.isValid(name), !name.hasPrefix(".") else { return nil }
        if UniqueName.isReserved(name) {
            return try quarantineUnopened(name, reason: "reserved name: the spool uses the suffixes .ledger and .fire itself")
        }
        if file.mode & S_IFMT != S_IFREG {
            // Never opened: a FIFO would block, a device could have side effects on open.
            return try quarantineUnopened(name, reason: "not a regular file (\(Spool.fileType(file.mode)))")
        }
        let fd: Int32
        do {
            fd = try System.openAt(incoming, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch where error.errno == ENOENT {
            return nil
        } catch where error.errno == ELOOP {
            return try quarantineUnopened(name, reason: "not a regular file (symlink)")
        }
        do {
            guard let st = try lockAndMove(fd, from: incoming, name, to: active, name) else {
                System.close(fd)
                return nil
            }
            return try load(fd: fd, st, name: name, recovered: false)
        } catch where error.code == .nameCollision {
            // A file of this name is still being processed: move the newcomer aside rather
            // than fail every claim after it.
            defer { System.close(fd) }
            return try quarantineUnopened(name, reason: "name collision: active/\(name) exists; spool names must be unique")
        } catch {
            System.close(fd)
            throw error
        }
    }

    /// Takes over `active/` files whose daemon died (their lock is free), oldest first.
    /// Call at start-up, and now and then when several daemons share the spool. Also removes
    /// ledgers left behind by a crash during `finish`.
    public func recover() throws(SpoolError) -> [ClaimOutcome] {
        let names = try System.list(active)
        let present = Set(names)
        var result: [ClaimOutcome] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            if name.hasSuffix(ActiveFile.ledgerSuffix) {
                let spoolName = String(name.dropLast(ActiveFile.ledgerSuffix.utf8.count))
                if !present.contains(spoolName), try System.statAtIfPresent(active, spoolName) == nil {
                    try System.unlink(active, name)
                }
                continue
            }
            if name.hasSuffix(DeferredFire.fileSuffix) { continue }  // `recoverTakenFires()`
            guard let st = try System.statAtIfPresent(active, name) else { continue }
            if st.st_mode & S_IFMT != S_IFREG {
                let reason = "not a regular file (\(Spool.fileType(st.st_mode)))"
                if let outcome = try quarantineUnopened(name, from: active, reason: reason) { result.append(outcome) }
                continue
            }
            guard let fd = try lockOrphan(name) else { continue }
            do {
                if let outcome = try load(fd: fd, try System.fstat(fd, path: active.join(name)), name: name, recovered: true) {
                    result.append(outcome)
                }
            } catch {
                System.close(fd)
                throw error
            }
        }
        return result
    }

    /// Locks `fd`, checks `from/name` is still that file, and renames it; returns the file's
    /// status (so loading it needs no second `fstat`). nil when another process holds the
    /// lock or already moved the file.
    func lockAndMove(_ fd: Int32, from: System.Dir, _ name: String, to: System.Dir, _ newName: String) throws(SpoolError) -> stat? {
        guard try System.tryLock(fd, path: from.join(name)) else { return nil }
        // The previous owner may have finished (unlinked or moved) the file between our open
        // and our lock: only the name, checked under the lock, tells.
        guard let st = try Spool.openFileIfNamed(fd, from, name) else { return nil }
        guard let moved = try System.renameUnlessTaken(from, name, to, newName) else {
            throw SpoolError(code: .nameCollision, operation: "claim", path: to.join(newName),
                             detail: "a file with this name is already there; spool names must be unique")
        }
        guard moved else { return nil }
        // No directory fsync here: nothing is promised on the strength of the claim alone.
        // A crash that undoes the rename only makes the file (or deferred fire) claimable
        // again, repeating fires that had no durable outcome, as the design allows; and the
        // first outcome to become durable fsyncs these directories first (ActiveFile.write,
        // TakenFire.replace). The fsync here cost the first fire of every file 0.25 ms to
        // several ms (Benchmarks/latency).
        #if POSTBACKD_CRASH_POINTS
        CrashPoint.reached(.claim)
        #endif
        return st
    }

    static func sameFile(_ fd: Int32, _ dir: System.Dir, _ name: String) throws(SpoolError) -> Bool {
        try openFileIfNamed(fd, dir, name) != nil
    }

    /// The open file's status if `dir/name` still names it, else nil.
    static func openFileIfNamed(_ fd: Int32, _ dir: System.Dir, _ name: String) throws(SpoolError) -> stat? {
        let open = try System.fstat(fd, path: dir.join(name))
        guard open.st_nlink > 0, let named = try System.statAtIfPresent(dir, name),
              named.st_ino == open.st_ino && named.st_dev == open.st_dev else { return nil }
        return open
    }

    /// Reads a locked, claimed file (`st`: its status, taken under the lock) and decides:
    /// active work, or quarantine.
    private func load(fd: Int32, _ st: stat, name: String, recovered: Bool) throws(SpoolError) -> ClaimOutcome? {
        let path = active.join(name)
        var outcome: ClaimOutcome? = nil
        // The lock is held until the file is in `bad/`, so no other daemon races the move.
        defer { if case .quarantined = outcome { System.close(fd) } }
        if st.st_mode & S_IFMT != S_IFREG {
            outcome = try quarantineUnopened(name, from: active, reason: "not a regular file (\(Spool.fileType(st.st_mode)))")
            return outcome
        }
        let configuration = configuration
        let limit = configuration.maxFileBytes
        if Int(st.st_size) > limit {
            outcome = try quarantineUnopened(name, from: active, reason: "too large: \(st.st_size) bytes, the limit is \(limit)")
            return outcome
        }
        // Small files are read once, whole; larger ones a chunk at a time when needed, from a
        // descriptor of their own (FileBytes), so memory is bounded by a line, not a file.
        let source: FileBytes
        if Int(st.st_size) <= LineReader.chunkBytes {
            let bytes = try System.readAll(fd, path: path, limit: LineReader.chunkBytes, expected: Int(st.st_size))
            if bytes.count > LineReader.chunkBytes {
                // Still growing (an ingest bug that wrote in place): refuse it whole.
                outcome = try quarantineUnopened(name, from: active, reason: "changed while claimed: grew past \(st.st_size) bytes")
                return outcome
            }
            source = FileBytes(held: bytes, fd: -1, path: path)
        } else {
            source = FileBytes(held: nil, fd: try System.openAt(active, name, O_RDONLY | O_NOFOLLOW), path: path)
        }
        let problem: String?
        do {
            problem = try TextCheck.notText(source, maxLineBytes: configuration.maxLineBytes)
        } catch {
            if source.fd >= 0 { System.close(source.fd) }
            throw error
        }
        if let problem {
            if source.fd >= 0 { System.close(source.fd) }
            outcome = try quarantineUnopened(name, from: active, reason: problem)
            return outcome
        }
        let replay: LedgerReplay
        do {
            replay = recovered ? try readLedger(name) : LedgerReplay()
        } catch {
            if source.fd >= 0 { System.close(source.fd) }
            throw error
        }
        return .active(ActiveFile(spool: self, name: name, lockFD: fd, source: source,
                                  maxLineBytes: configuration.maxLineBytes, replay: replay, recovered: recovered))
    }

    private func readLedger(_ name: String) throws(SpoolError) -> LedgerReplay {
        let ledgerName = name + ActiveFile.ledgerSuffix
        let fd: Int32
        do {
            fd = try System.openAt(active, ledgerName, O_RDONLY | O_NOFOLLOW)
        } catch where error.errno == ENOENT {
            return LedgerReplay()
        }
        defer { System.close(fd) }
        return LedgerReplay(bytes: try System.readAll(fd, path: active.join(ledgerName), limit: .max))
    }

    static func fileType(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "FIFO"
        case S_IFLNK: return "symlink"
        case S_IFSOCK: return "socket"
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        case S_IFDIR: return "directory"
        default: return "unknown type"
        }
    }

    /// Opens `active/NAME` and takes its lock if no live daemon holds it (its daemon died):
    /// the locked descriptor, or nil when the file is gone or still someone's work.
    func lockOrphan(_ name: String) throws(SpoolError) -> Int32? {
        let fd: Int32
        do {
            fd = try System.openAt(active, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch where error.errno == ENOENT || error.errno == ELOOP {
            return nil
        }
        do {
            guard try System.tryLock(fd, path: active.join(name)), try Spool.sameFile(fd, active, name) else {
                System.close(fd)
                return nil
            }
        } catch {
            System.close(fd)
            throw error
        }
        return fd
    }
}
