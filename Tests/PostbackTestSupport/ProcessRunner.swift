import Foundation
import Glibc

/// Runs the built executables (postbackd, postbackctl) as an operator would: as processes,
/// with real arguments, environment, signals and exit codes.
public enum ProcessRunner {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The folder holding the test binary, where SwiftPM also puts the executables.
    public static let productsDirectory: URL = {
        var dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("postbackctl").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()

    /// The repository's top folder, for the example files in config/.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs to completion. Output goes through files, so a chatty child cannot block on a pipe.
    public static func run(_ tool: String, _ arguments: [String], stdin: String? = nil,
                           environment: [String: String]? = nil) throws -> Result {
        let child = try start(tool, arguments, stdin: stdin, environment: environment)
        let status = child.wait(timeoutSeconds: 600)
        return Result(status: status, stdout: child.stdout, stderr: child.stderr)
    }

    /// Starts a long-running child (the daemon) to signal, kill and wait for.
    public static func start(_ tool: String, _ arguments: [String], stdin: String? = nil,
                             environment: [String: String]? = nil) throws -> Child {
        try Child(executable: productsDirectory.appendingPathComponent(tool), arguments: arguments,
                  stdin: stdin, environment: environment)
    }

    /// Starts a system command (`ip netns exec ...`) as a long-running child.
    public static func startSystem(_ arguments: [String]) throws -> Child {
        try Child(executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: arguments, stdin: nil, environment: nil)
    }

    /// A running child process and the files its output goes to.
    public final class Child: @unchecked Sendable {
        // @unchecked: `process` is only started here and then only signalled and waited on.
        let process = Process()
        let outFile: URL
        let errFile: URL

        init(executable: URL, arguments: [String], stdin: String?, environment: [String: String]?) throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("postbackd-child-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            outFile = dir.appendingPathComponent("stdout")
            errFile = dir.appendingPathComponent("stderr")
            _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
            _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
            process.executableURL = executable
            process.arguments = arguments
            if let environment {
                // The child sees only what the test gives it (plus PATH), never the test's own
                // NOTIFY_SOCKET or POSTBACKD_* settings.
                var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
                env.merge(environment) { $1 }
                process.environment = env.filter { !$0.value.isEmpty }
            } else {
                process.environment = ProcessInfo.processInfo.environment.filter {
                    !$0.key.hasPrefix("POSTBACKD_") && $0.key != "NOTIFY_SOCKET" && !$0.key.hasPrefix("WATCHDOG_")
                }
            }
            process.standardOutput = try FileHandle(forWritingTo: outFile)
            process.standardError = try FileHandle(forWritingTo: errFile)
            let input = Pipe()
            process.standardInput = input
            try process.run()
            if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
            try input.fileHandleForWriting.close()
        }

        public var pid: Int32 { process.processIdentifier }
        public var stdout: String { (try? String(contentsOf: outFile, encoding: .utf8)) ?? "" }
        public var stderr: String { (try? String(contentsOf: errFile, encoding: .utf8)) ?? "" }

        public func signal(_ signal: Int32) {
            if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
        }

        /// kill -9: no drain, no flush, as a crash or the OOM killer would.
        public func kill() {
            signal(SIGKILL)
        }

        /// The signal that ended the child, nil while it runs or when it exited. `wait` returns
        /// the signal's number too, which an `exit(9)` could imitate; this cannot be.
        public var terminatingSignal: Int32? {
            guard !process.isRunning, process.terminationReason == .uncaughtSignal else { return nil }
            return process.terminationStatus
        }

        /// The exit status, or -1 after `timeoutSeconds` (the child is then killed).
        @discardableResult
        public func wait(timeoutSeconds: Double) -> Int32 {
            let deadline = Date().addingTimeInterval(timeoutSeconds)
            while process.isRunning && Date() < deadline { usleep(5_000) }
            if process.isRunning {
                kill()
                process.waitUntilExit()
                return -1
            }
            process.waitUntilExit()
            return process.terminationStatus
        }

        deinit {
            if process.isRunning { kill() }
        }
    }

    /// Writes `text` to a new temporary file and returns its path.
    public static func temporaryFile(_ text: String, name: String = "file") throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("postbackd-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }
}

extension ProcessRunner {
    /// Runs a system command found on PATH (journalctl, ip) and returns its standard output.
    public static func runSystem(_ arguments: [String]) throws -> String {
        let child = try Child(executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: arguments, stdin: nil,
                              environment: nil)
        child.wait(timeoutSeconds: 60)
        return child.stdout
    }
}
