#if canImport(Glibc)
import Glibc
#endif

/// Sends one sd_notify datagram to an explicit socket address.
///
/// Why not `sd_notify(3)`: it reads NOTIFY_SOCKET from the environment on every call and has
/// no parameter for the address, so a notifier could not be pointed at a test socket without
/// `setenv` (unsafe while other threads read the environment), and parallel tests would race
/// on one variable. The wire protocol is small and stable (sd_notify(3) publishes a standalone
/// reference implementation for daemons that do not link libsystemd): one `AF_UNIX` datagram of
/// newline-separated assignments, to a path or, with a leading `@`, an abstract socket name.
/// This mirrors libsystemd 252: a fresh `SOCK_CLOEXEC` socket per message, `MSG_NOSIGNAL`, no
/// credentials attached (the kernel adds them when systemd asks with SO_PASSCRED).
/// `vsock:` addresses (systemd 254+, for VMs) are not supported and are reported as invalid.
enum NotifyDatagram {
    static func send(_ message: String, to address: String) throws(SystemdNotifyError) {
        var storage = sockaddr_un()
        guard let length = fill(&storage, with: address) else {
            throw SystemdNotifyError(.invalidSocketAddress, socketAddress: address)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw SystemdNotifyError(.socketFailed, socketAddress: address, errnoCode: errno)
        }
        defer { close(fd) }

        var text = message
        let failure: Int32? = text.withUTF8 { bytes in
            withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    while true {
                        let sent = sendto(
                            fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), socketAddress, length)
                        if sent >= 0 { return nil }
                        if errno != EINTR { return errno }
                    }
                }
            }
        }
        if let failure {
            throw SystemdNotifyError(.sendFailed, socketAddress: address, errnoCode: failure)
        }
    }

    /// Fills `storage` from a NOTIFY_SOCKET value and returns the address length, or nil when
    /// the value is not something libsystemd 252 would accept.
    static func fill(_ storage: inout sockaddr_un, with address: String) -> socklen_t? {
        let bytes = Array(address.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else {
            return nil
        }
        let abstract = first == UInt8(ascii: "@")
        let capacity = MemoryLayout.size(ofValue: storage.sun_path)
        // A path needs its terminating NUL inside sun_path; an abstract name has none.
        guard bytes.count < capacity || (abstract && bytes.count <= capacity) else { return nil }
        guard !bytes.contains(0), !abstract || bytes.count > 1 else { return nil }

        storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { path in
            path.copyBytes(from: bytes)
            if abstract { path[0] = 0 }
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        // Abstract names are length-delimited: a trailing NUL would become part of the name.
        return socklen_t(pathOffset + bytes.count + (abstract ? 0 : 1))
    }
}
