import Foundation

/// CI sets CI=true; there a missing journald or systemd-analyze is a broken machine, not a
/// reason to skip.
let runningInCI = ProcessInfo.processInfo.environment["CI"] == "true"

/// The package root, found from this file so tests work from any working directory.
let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

struct ProcessResult {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

/// Runs a command found on PATH and collects its output. Standard error goes through a file,
/// so a chatty child cannot block on a full pipe while we read the other one.
func run(_ arguments: [String]) throws -> ProcessResult {
    let errorFile = FileManager.default.temporaryDirectory
        .appendingPathComponent("postbackd-test-stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errorFile) }
    let errorHandle = try FileHandle(forWritingTo: errorFile)
    defer { try? errorHandle.close() }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = errorHandle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let outputBytes = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus,
        standardOutput: String(decoding: outputBytes, as: UTF8.self),
        standardError: (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "")
}
