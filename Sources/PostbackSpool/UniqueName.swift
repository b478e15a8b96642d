import Glibc
import Synchronization

/// Maildir-style unique names (`time.pid_counter.random`): unique across processes and hosts
/// sharing one spool without coordination, and sorting by name sorts by creation time.
enum UniqueName {
    private static let counter = Atomic<UInt64>(0)

    static func make(micros: Int64 = SpoolTime.unixMicros()) -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        let random = String(UInt32.random(in: .min ... .max), radix: 16)
        return "\(micros).\(getpid())_\(n).\(random)"
    }

    /// Names the spool uses for its own files inside `active/`; ingest must not use them.
    static func isReserved(_ name: String) -> Bool {
        name.hasSuffix(ActiveFile.ledgerSuffix) || name.hasSuffix(DeferredFire.fileSuffix)
    }

    /// A name that is one path component the spool can create and rename.
    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.utf8.contains(UInt8(ascii: "/"))
            && !name.utf8.contains(0) && name.utf8.count <= 200
    }
}

extension Spool {
    /// Writes `bytes` under `tmp/`, fsyncs it and renames it into `incoming/`: the ingest side
    /// of the protocol, so a daemon never sees a half-written file. Returns the name used.
    ///
    /// Tools and tests use this; a platform's own ingest does the same steps in its language.
    @discardableResult
    public func ingest(_ bytes: [UInt8], name: String? = nil) throws(SpoolError) -> String {
        let name = name ?? UniqueName.make()
        guard UniqueName.isValid(name), !name.hasPrefix("."), !UniqueName.isReserved(name) else {
            throw SpoolError(code: .badName, operation: "ingest", path: incoming.join(name),
                             detail: "not a usable spool file name")
        }
        try writeDurably(bytes, named: name, into: incoming)
        return name
    }

    /// tmp → fsync → rename → fsync dir (`DurableFile`'s two steps): the one way the spool
    /// creates a file others may read.
    func writeDurably(_ bytes: [UInt8], named name: String, into target: System.Dir) throws(SpoolError) {
        let tmpName = try writeTemporary(bytes)
        if try System.statAtIfPresent(target, name) != nil {
            _ = try? System.unlink(tmp, tmpName)
            throw SpoolError(code: .nameCollision, operation: "rename", path: target.join(name),
                             detail: "a file with this name is already there; the spool never overwrites")
        }
        #if POSTBACKD_CRASH_POINTS
        CrashPoint.reached(.fsyncRename)
        #endif
        try DurableFile.install(tmp, tmpName, as: name, in: target)
    }

    /// Writes and fdatasyncs a new file in `tmp/`, returning its name.
    func writeTemporary(_ bytes: [UInt8]) throws(SpoolError) -> String {
        let tmpName = UniqueName.make()
        try DurableFile.create(tmp, tmpName, bytes)
        return tmpName
    }
}
