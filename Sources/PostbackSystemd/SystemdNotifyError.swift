#if canImport(Glibc)
import Glibc
#endif

/// A notification that did not reach the service manager.
///
/// The daemon decides what a lost notification means (a lost READY=1 gets the unit killed
/// after TimeoutStartSec, a lost STATUS= costs nothing), so failures are reported, not hidden.
public struct SystemdNotifyError: Error, Sendable, CustomStringConvertible {
    /// Which step failed; a struct over a private enum so new cases do not break callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: Hashable, Sendable {
            case invalidSocketAddress
            case socketFailed
            case sendFailed
        }

        private let backing: Backing

        /// NOTIFY_SOCKET (or the path given) is neither an absolute path nor an `@abstract` name,
        /// or does not fit in `sockaddr_un`.
        public static let invalidSocketAddress = Code(backing: .invalidSocketAddress)
        /// `socket(2)` failed, typically descriptor exhaustion.
        public static let socketFailed = Code(backing: .socketFailed)
        /// `sendto(2)` failed: nobody listens on the socket, or it refused the datagram.
        public static let sendFailed = Code(backing: .sendFailed)

        public var description: String {
            switch backing {
            case .invalidSocketAddress: "invalid notify socket address"
            case .socketFailed: "cannot create a datagram socket"
            case .sendFailed: "cannot send to the notify socket"
            }
        }
    }

    public let code: Code
    /// The socket address the notification was meant for.
    public let socketAddress: String
    /// `errno` of the failed call, when a system call failed.
    public let errnoCode: Int32?
    public let file: String
    public let line: Int

    init(_ code: Code, socketAddress: String, errnoCode: Int32? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.socketAddress = socketAddress
        self.errnoCode = errnoCode
        self.file = file
        self.line = line
    }

    public var description: String {
        var text = "\(code) \(socketAddress)"
        if let errnoCode {
            text += ": \(String(cString: strerror(errnoCode))) (errno \(errnoCode))"
        }
        return text + " [\(file):\(line)]"
    }
}
