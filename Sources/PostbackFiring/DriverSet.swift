#if canImport(Glibc)
import Glibc
#endif

/// The engine's driver threads (`MultiDriver`, `FiringConfiguration.drivers` of them, each
/// with its share of the caps), and the one way an admitted fire reaches the driver its
/// slots are on: from a producer, or from a driver whose freed slots went to a fire parked
/// for another.
final class DriverSet: @unchecked Sendable {
    // @unchecked: `drivers` is written only in init, before any driver thread starts.
    private let admission: Admission
    private var drivers: [MultiDriver] = []

    init(configuration: FiringConfiguration, admission: Admission) {
        self.admission = admission
        let shares = admission.shares
        let descriptors = FileDescriptorLimit.current() / 4 / shares.count
        for i in 0..<shares.count {
            var share = configuration
            share.maxConcurrent = shares.running[i]
            share.perHost = shares.hostRunning[i]
            // Idle connections are not split: a host's live on its preferred driver, and the
            // hash that picks it need not split the partners evenly, so a driver given half
            // would close some and reconnect. The descriptors they take are split.
            drivers.append(MultiDriver(configuration: share, index: i, descriptors: descriptors, admission: admission, drivers: self))
        }
        for driver in drivers { driver.start() }
    }

    deinit {
        stop()
    }

    /// `startsAtOnce`: wake the driver for it (`Admission.startsAtOnce`).
    func hand(_ job: Job, startsAtOnce: Bool) {
        guard !drivers[job.driver].enqueue(job, wake: startsAtOnce) else { return }
        Self.refuse(job, admission: admission)
    }

    /// A fire for a driver that is shut down: it, and any parked fires its slots go to, fail
    /// untried.
    static func refuse(_ job: Job, admission: Admission) {
        var refused = [job]
        while let next = refused.popLast() {
            refused += admission.release(CollectionOfOne(FinishedSlot(host: next.host, driver: next.driver, wasSent: false)))
                .map(\.job)
            next.completion(.notSent(next.request.url, reason: "engine is shut down"))
        }
    }

    /// Stops every driver before waiting for any (a driver finishing its fires hands freed
    /// slots to fires on the others); each lets its fires in flight finish, each within the
    /// total timeout.
    func stop() {
        for driver in drivers { driver.requestStop() }
        for driver in drivers { driver.waitUntilStopped() }
    }
}
