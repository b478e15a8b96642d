import Foundation
import PostbackCore
import PostbackTestSupport
import Synchronization

@testable import PostbackFiring

/// The test server's address is allow-listed; 127.0.0.2 (the "refused" listener) is not.
func testConfiguration(
    maxConcurrent: Int = 16, perHost: Int = 8,
    totalTimeout: Duration = .seconds(5), connectTimeout: Duration = .seconds(3), caFile: String? = nil, drivers: Int = 1
) -> FiringConfiguration {
    var configuration = FiringConfiguration(
        maxConcurrent: maxConcurrent, perHost: perHost,
        connectTimeout: connectTimeout, totalTimeout: totalTimeout,
        addressRules: AddressRules(allowList: [CIDR("127.0.0.1/32")!]), caFile: caFile)
    configuration.drivers = drivers
    return configuration
}

/// Polls until `condition` holds or `timeout` passes; generous timeouts keep a loaded
/// 2-core machine from failing tests that are only slow. The polling runs on a thread of its
/// own: the Swift concurrency pool has one thread per core, and tests running beside this one
/// block them (process waits), so a pool-polled condition that holds only for a while (a
/// count that passes through a value) could be looked at too late and missed.
func waitUntil(timeout: Duration = .seconds(30), _ condition: @escaping @Sendable () -> Bool) async -> Bool {
    await onThread { eventually(timeout / .seconds(1), every: 0.002, condition) }
}

/// Collects results handed back on the driver thread.
final class ResultBox: Sendable {
    private let results = Mutex<[FireResult]>([])
    func append(_ r: FireResult) { results.withLock { $0.append(r) } }
    var count: Int { results.withLock { $0.count } }
    var all: [FireResult] { results.withLock { $0 } }
}
