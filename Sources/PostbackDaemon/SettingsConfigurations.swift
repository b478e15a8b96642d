import Foundation
import PostbackCore
import PostbackFiring
import PostbackSpool

/// How the pure `Settings` become the configurations of the firing engine, the spool and
/// the retry policy.
extension Settings {
    /// One driver thread per core the process may run on (`FiringConfiguration.drivers`).
    public var firingConfiguration: FiringConfiguration {
        var configuration = FiringConfiguration(
            maxConcurrent: maxConcurrent, perHost: min(perHost, maxConcurrent),
            connectTimeout: connectTimeout, totalTimeout: totalTimeout,
            addressRules: AddressRules(allowList: allowAddresses.compactMap { CIDR($0) }),
            caFile: caFile.isEmpty ? nil : caFile)
        configuration.drivers = ProcessInfo.processInfo.activeProcessorCount
        return configuration
    }

    public var spoolConfiguration: SpoolConfiguration {
        var c = SpoolConfiguration()
        c.maxFileBytes = maxFileBytes
        c.maxLineBytes = maxLineBytes
        c.doneRetention = doneRetention == .zero ? nil : doneRetention
        return c
    }

    var breakerConfiguration: HostBreakers.Breaker.Configuration {
        .init(consecutiveFailures: breakerFailures, coolDown: breakerCooldown)
    }

    public var retryPolicy: RetryPolicy {
        RetryPolicy(base: retryBase, cap: retryCap, maxAttempts: maxAttempts, maxAge: maxAge)
    }
}
