import Foundation

/// Polls `condition` every `interval` seconds until it holds or `seconds` pass; the bounded
/// wait every test that watches a daemon or a sink needs. A blocking sleep on purpose: on a
/// busy 2-core machine a Task.sleep wake-up can come late.
public func eventually(
    _ seconds: Double = 10, every interval: Double = 0.01, _ condition: () throws -> Bool
) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(UInt32(interval * 1_000_000))
    }
    return try condition()
}
