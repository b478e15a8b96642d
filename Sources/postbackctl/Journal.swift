import Foundation
import Subprocess

/// The daemon's journal entries for one transaction, read through `journalctl -o json`.
///
/// journalctl rather than sd-journal: it knows every journal location and namespace, honours the
/// caller's permissions the same way an operator's own `journalctl` does, and keeps postbackctl
/// free of a libsystemd reader for one optional look-up. swift-subprocess runs it: PATH lookup,
/// both pipes drained concurrently, and a bound on what is read.
enum Journal {
    /// One transaction's entries are a few KiB; more than this is refused, not held.
    static let outputLimit = 64 << 20

    static func entries(transaction: String) async -> Result<[FiresCommand.Sighting], Failure> {
        let result: ExecutionResult<Void, BytesOutput, StringOutput<UTF8>>
        do {
            result = try await Subprocess.run(
                .name("journalctl"),
                arguments: ["-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=postbackd", "TRANSACTION_ID=\(transaction)"],
                input: .none, output: .bytes(limit: outputLimit), error: .string(limit: 1 << 20))
        } catch let error as SubprocessError where error.code == .executableNotFound {
            return .failure(Failure("journalctl not found"))
        } catch {
            return .failure(Failure("cannot run journalctl: \(error)"))
        }
        guard result.terminationStatus.isSuccess else {
            let first = result.standardError.split(separator: "\n").first.map(String.init) ?? ""
            let how = switch result.terminationStatus {
            case .exited(let code): "exited \(code)"
            case .signaled(let signal): "killed by signal \(signal)"
            }
            return .failure(Failure("journalctl \(how)" + (first.isEmpty ? "" : ": \(first)")))
        }
        var entries: [FiresCommand.Sighting] = []
        for line in result.standardOutput.split(separator: UInt8(ascii: "\n")) {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else { continue }
            if let s = sighting(object) { entries.append(s) }
        }
        return .success(entries)
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
