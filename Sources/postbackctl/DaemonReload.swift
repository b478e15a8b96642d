import Foundation
import Glibc
import PostbackSpool
import Subprocess
import Synchronization

/// Tells a running postbackd to re-read its catalog after `add`/`edit`/`pause`/`resume`.
///
/// The pid file comes first: it names the daemon for this state directory, which is the right
/// one when several run on a host, and works without systemd (containers, `postbackd run` by
/// hand). systemd's `reload` is the fallback; it sends the same SIGHUP through the unit.
enum DaemonReload {
    enum Outcome: Equatable {
        case signalled(pid: Int32)
        case systemd
        case notRunning
        case failed(String)

        var message: String {
            switch self {
            case .signalled(let pid): return "reloaded postbackd (pid \(pid)): SIGHUP sent"
            case .systemd: return "reloaded postbackd: systemctl reload postbackd"
            case .notRunning: return "no running daemon found; the new catalog takes effect at its next start"
            case .failed(let why): return "the daemon was not reloaded: \(why)"
            }
        }
    }

    static func reload(stateDirectory: String) -> Outcome {
        if let pid = runningDaemon(stateDirectory: stateDirectory) {
            if kill(pid, SIGHUP) == 0 { return .signalled(pid: pid) }
            return .failed("kill -HUP \(pid): \(String(cString: strerror(errno)))")
        }
        guard FileManager.default.fileExists(atPath: "/run/systemd/system"),
              run(["systemctl", "is-active", "--quiet", "postbackd"]) == 0 else { return .notRunning }
        let status = run(["systemctl", "reload", "postbackd"])
        return status == 0 ? .systemd : .failed("systemctl reload postbackd exited \(status)")
    }

    /// The pid in the file when that process exists and is postbackd: a stale file after a
    /// crash may name a pid the kernel has since given to something else, which must not get
    /// a SIGHUP (most programs die of it).
    static func runningDaemon(stateDirectory: String) -> Int32? {
        guard let pid = PidFile.read(stateDirectory: stateDirectory), pid > 1, kill(pid, 0) == 0 || errno == EPERM else { return nil }
        if let comm = FileManager.default.contents(atPath: "/proc/\(pid)/comm") {
            return String(decoding: comm, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "postbackd" ? pid : nil
        }
        return pid
    }

    /// Runs a system command quietly (swift-subprocess; the name found on PATH) and returns
    /// its exit status: 127 when it cannot start, 128 + N when signal N ended it, as a shell says.
    ///
    /// The editing commands around this are synchronous; the one wait for a child process is
    /// bridged here, on a thread of its own, rather than making every caller async.
    private static func run(_ arguments: [String]) -> Int32 {
        let status = Mutex<Int32>(127)
        let finished = DispatchSemaphore(value: 0)
        Task.detached {
            defer { finished.signal() }
            guard let result = try? await Subprocess.run(
                .name(arguments[0]), arguments: Arguments(Array(arguments.dropFirst())),
                input: .none, output: .discarded, error: .discarded) else { return }
            status.withLock {
                switch result.terminationStatus {
                case .exited(let code): $0 = code
                case .signaled(let signal): $0 = 128 + signal
                }
            }
        }
        finished.wait()
        return status.withLock { $0 }
    }
}
