import Glibc

/// A bound AF_UNIX datagram socket standing in for systemd's notify socket.
public final class DatagramReceiver {
    public let path: String
    private let directory: String
    private let fd: Int32

    /// Binds a socket in a fresh temporary directory (or, with `abstractName`, in the
    /// abstract namespace); receives time out after `timeoutSeconds`.
    public init(abstractName: String? = nil, timeoutSeconds: Int = 5) throws {
        var template = Array("/tmp/postbackd-notify-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXFailure("mkdtemp", errno) }
        directory = String(cString: made)
        path = abstractName.map { "@" + $0 } ?? directory + "/notify.sock"

        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXFailure("socket", errno) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { sunPath in
            sunPath.copyBytes(from: bytes)
            if abstractName != nil { sunPath[0] = 0 }
        }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstractName == nil ? 1 : 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        guard bound == 0 else { throw POSIXFailure("bind \(path)", errno) }
    }

    /// The next datagram as text, or nil after the timeout.
    public func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    deinit {
        close(fd)
        if !path.hasPrefix("@") { unlink(path) }
        rmdir(directory)
    }
}

public struct POSIXFailure: Error, CustomStringConvertible {
    let call: String
    let code: Int32
    public init(_ call: String, _ code: Int32) {
        self.call = call
        self.code = code
    }
    public var description: String { "\(call): \(String(cString: strerror(code)))" }
}
