import Foundation
import Synchronization

/// The daemon's journal entries for one transaction, read through `journalctl -o json`.
///
/// journalctl rather than sd-journal: it knows every journal location and namespace, honours the
/// caller's permissions the same way an operator's own `journalctl` does, and keeps postbackctl
/// free of a libsystemd reader for one optional look-up.
enum Journal {
    static func entries(transaction: String) -> Result<[FiresCommand.Sighting], Failure> {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        guard let journalctl = (paths + ["/usr/bin", "/bin"]).map({ $0 + "/journalctl" })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(Failure("journalctl not found"))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: journalctl)
        process.arguments = ["-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=postbackd", "TRANSACTION_ID=\(transaction)"]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return .failure(Failure("cannot run \(journalctl): \(error)"))
        }
        // Read stderr on the side so a chatty journalctl cannot block on a full pipe.
        let errorText = Mutex(Data())
        let reading = DispatchGroup()
        DispatchQueue.global().async(group: reading) {
            let bytes = err.fileHandleForReading.readDataToEndOfFile()
            errorText.withLock { $0 = bytes }
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        reading.wait()
        guard process.terminationStatus == 0 else {
            let first = String(decoding: errorText.withLock { $0 }, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            return .failure(Failure("journalctl exited \(process.terminationStatus)" + (first.isEmpty ? "" : ": \(first)")))
        }
        var result: [FiresCommand.Sighting] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else { continue }
            if let s = sighting(object) { result.append(s) }
        }
        return .success(result)
    }

    /// One entry as an attempt; nil for entries that are not a fire's outcome.
    static func sighting(_ e: [String: Any]) -> FiresCommand.Sighting? {
        func field(_ name: String) -> String? {
            if let s = e[name] as? String { return s }
            // A field logged twice comes as an array; binary values as arrays of bytes.
            if let a = e[name] as? [Any], let s = a.first as? String { return s }
            return nil
        }
        guard let postback = field("POSTBACK_ID").flatMap({ Int64($0) }), let outcome = field("OUTCOME") else { return nil }
        let latency = field("LATENCY_US").flatMap { Int64($0) }
        let loggedAt = field("__REALTIME_TIMESTAMP").flatMap { Int64($0) }
        let status = field("HTTP_STATUS").flatMap { Int($0) } ?? 0
        return FiresCommand.Sighting(
            postbackID: postback, attempt: field("ATTEMPT").flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil },
            time: loggedAt.map { $0 - (latency ?? 0) }, outcome: outcome, url: field("URL") ?? "", status: status,
            error: field("REASON") ?? "", latency: latency, answer: field("ANSWER") ?? "", seenIn: ["journal"])
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ reason: String) { description = reason }
    }
}
