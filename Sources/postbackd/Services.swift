import Foundation
import Logging
import PostbackCore
import PostbackDaemon
import ServiceLifecycle
import UnixSignals

/// The firing loop as a service: runs until graceful shutdown, then drains.
struct FiringService: Service {
    let daemon: Daemon
    let stopTimeout: Duration

    func run() async throws {
        daemon.start()
        try? await gracefulShutdown()
        // The drain blocks (it waits for curl's thread), so it gets a thread of its own.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread { [daemon, stopTimeout] in
                daemon.drain(timeout: stopTimeout)
                done.resume()
            }.start()
        }
    }
}

/// STATUS= every two seconds, so `systemctl status` shows live counters.
struct StatusService: Service {
    let daemon: Daemon

    func run() async throws {
        var previous = (0, ContinuousClock.now)
        while !Task.isShuttingDownGracefully {
            daemon.sendStatus(previous: &previous)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(2)) }
        }
    }
}

/// SIGHUP: re-read settings and the catalog. Settings with any problem are refused whole:
/// each problem is logged on its own line and nothing changes, the catalog included.
struct ReloadService: Service {
    let daemon: Daemon
    let reread: @Sendable () -> Result<Settings, Settings.Problems>
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.notice("SIGHUP: reloading settings and catalog")
            switch reread() {
            case .success(let settings):
                daemon.reload(settings)
            case .failure(let problems):
                daemon.refuseReload(problems)
            }
        }
    }
}
