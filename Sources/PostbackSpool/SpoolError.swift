import Glibc

/// A spool operation that failed, with enough context for an operator to fix it from the
/// log line alone: which operation, on which path, and the kernel's reason.
public struct SpoolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members (`.system`, ...).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case system, notADirectory, notWritable, nameCollision, badName, corrupt, unfinished
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A system call failed; `errno` says why.
        public static let system = Code(.system)
        /// A spool directory exists but is something else (a file, a symlink).
        public static let notADirectory = Code(.notADirectory)
        /// A spool directory cannot be written (permissions, read-only filesystem).
        public static let notWritable = Code(.notWritable)
        /// The target name is already taken; the spool never overwrites a file.
        public static let nameCollision = Code(.nameCollision)
        /// A name the spool refuses (empty, a path, a reserved suffix).
        public static let badName = Code(.badName)
        /// A spool metadata file could not be decoded.
        public static let corrupt = Code(.corrupt)
        /// An active file was asked to finish while some of its records have no outcome.
        public static let unfinished = Code(.unfinished)

        public var description: String { "\(base)" }
    }

    public var code: Code
    /// The system call or spool step, e.g. `open`, `rename`, `layout`.
    public var operation: String
    /// The path involved; for a rename, `from -> to`.
    public var path: String
    /// The errno of a failed system call, 0 otherwise.
    public var errno: Int32
    /// Extra words for non-system errors.
    public var detail: String

    public init(code: Code, operation: String, path: String, errno: Int32 = 0, detail: String = "") {
        self.code = code
        self.operation = operation
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = "\(operation) \(path): "
        if errno != 0 {
            text += String(cString: strerror(errno)) + " (errno \(errno))"
            if !detail.isEmpty { text += "; " + detail }
        } else {
            text += detail.isEmpty ? code.description : detail
        }
        return text
    }
}
