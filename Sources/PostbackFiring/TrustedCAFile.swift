#if canImport(Glibc)
import Glibc
#endif

/// The `ca_file` check made once at start (and by `test-fire`), so a missing or wrong
/// bundle stops the daemon with its name instead of failing every https fire later as a
/// TLS error that the partner would be blamed for.
public enum TrustedCAFile {
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Reads the whole file; it must hold at least one PEM certificate. Returns how many.
    @discardableResult
    public static func check(_ path: String) throws(Problem) -> Int {
        guard let file = fopen(path, "r") else {
            throw Problem(description: "ca_file \(path): cannot read: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > 64 << 20 { throw Problem(description: "ca_file \(path): larger than 64 MiB, not a CA bundle") }
        }
        let marker = Array("-----BEGIN CERTIFICATE-----".utf8)
        var count = 0
        var i = 0
        while i + marker.count <= bytes.count {
            if bytes[i] == marker[0] && bytes[i..<(i + marker.count)].elementsEqual(marker) {
                count += 1
                i += marker.count
            } else {
                i += 1
            }
        }
        guard count > 0 else {
            throw Problem(description: "ca_file \(path): holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        return count
    }
}

/// The process's limit on open files, which bounds the connections curl may keep.
public enum FileDescriptorLimit {
    /// Raises the soft limit to the hard one (systemd's unit sets LimitNOFILE; a shell's
    /// soft 1,024 would otherwise cap idle connections) and returns the soft limit now.
    /// The soft limit now.
    static func current() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(clamping: limit.rlim_cur)
    }

    @discardableResult
    public static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }
}
