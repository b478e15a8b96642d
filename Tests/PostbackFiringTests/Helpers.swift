import PostbackCore
import Synchronization

@testable import PostbackFiring

/// The test server's address is allow-listed; 127.0.0.2 (the "refused" listener) is not.
func testConfiguration(
    maxConcurrent: Int = 16, perHost: Int = 8,
    totalTimeout: Duration = .seconds(5), connectTimeout: Duration = .seconds(3), caFile: String? = nil
) -> FiringConfiguration {
    FiringConfiguration(
        maxConcurrent: maxConcurrent, perHost: perHost,
        connectTimeout: connectTimeout, totalTimeout: totalTimeout,
        addressRules: AddressRules(allowList: [CIDR("127.0.0.1/32")!]), caFile: caFile)
}

/// Polls until `condition` holds or `timeout` passes; generous timeouts keep a loaded
/// 2-core machine from failing tests that are only slow.
func waitUntil(timeout: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// Collects results handed back on the driver thread.
final class ResultBox: Sendable {
    private let results = Mutex<[FireResult]>([])
    func append(_ r: FireResult) { results.withLock { $0.append(r) } }
    var count: Int { results.withLock { $0.count } }
    var all: [FireResult] { results.withLock { $0 } }
}
