import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd what the daemon is doing, for `Type=notify` units (sd_notify(3) protocol).
///
/// A value with no state: the socket address and watchdog interval are read once, when the
/// daemon starts, so the hot path (a watchdog ping from the firing loop) never touches the
/// process environment, and tests can aim a notifier at their own socket and run in parallel.
/// Outside systemd (NOTIFY_SOCKET unset) every call does nothing, so the daemon calls it
/// unconditionally.
public struct SystemdNotifier: Sendable {
    /// NOTIFY_SOCKET: an absolute path or `@abstract-name`; nil when not run by a service manager.
    public let socketAddress: String?

    /// WatchdogSec of the unit, or nil when the watchdog is off for this process.
    ///
    /// Comes from `sd_watchdog_enabled(3)`, which also checks WATCHDOG_PID so that a child
    /// process does not ping on its parent's behalf.
    public let watchdogInterval: Duration?

    /// True when notifications go somewhere; lets the daemon skip building STATUS= text.
    public var isEnabled: Bool { socketAddress != nil }

    /// How often to call ``watchdog()``: half the interval, as sd_watchdog_enabled(3)
    /// recommends, so one late iteration of the loop does not get the daemon killed.
    public var watchdogPingInterval: Duration? { watchdogInterval.map { $0 / 2 } }

    /// Reads NOTIFY_SOCKET and the watchdog settings from the environment systemd gave us.
    public init() {
        let address = getenv("NOTIFY_SOCKET").map { String(cString: $0) }
        var usec: UInt64 = 0
        let watchdog: Duration? =
            sd_watchdog_enabled(0, &usec) > 0 ? .microseconds(Int64(clamping: usec)) : nil
        self.init(socketAddress: address, watchdogInterval: watchdog)
    }

    /// Aims the notifier at an explicit socket, for tests and for embedding without environment.
    /// An empty or nil address disables notifications, as an unset NOTIFY_SOCKET does.
    public init(socketAddress: String?, watchdogInterval: Duration? = nil) {
        self.socketAddress = (socketAddress?.isEmpty ?? true) ? nil : socketAddress
        self.watchdogInterval = watchdogInterval
    }

    /// Start-up is complete (catalog loaded, spool scanned), or a reload has finished.
    ///
    /// systemd holds `systemctl start` (and units ordered after ours) until this arrives, and
    /// ends a reload begun with ``reloading()`` when it arrives again.
    public func ready() throws(SystemdNotifyError) {
        try send("READY=1")
    }

    /// One line for `systemctl status`, e.g. live counters. Newlines become spaces: a newline
    /// would start a new assignment, letting text such as "\nREADY=1" change the unit's state.
    public func status(_ text: String) throws(SystemdNotifyError) {
        let line = String(text.map { $0.isNewline || $0 == "\0" ? " " : $0 })
        try send("STATUS=" + line)
    }

    /// Proves the caller is alive. Call it from the firing loop itself, not from a timer task:
    /// a wedged loop must stop the pings so systemd restarts the daemon.
    public func watchdog() throws(SystemdNotifyError) {
        try send("WATCHDOG=1")
    }

    /// A reload (SIGHUP) has begun; send ``ready()`` when it is done.
    ///
    /// MONOTONIC_USEC lets systemd 253+ (Type=notify-reload) tell this reload from an earlier
    /// one; systemd 252 ignores the extra field.
    public func reloading() throws(SystemdNotifyError) {
        try send("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
    }

    /// Shutdown (SIGTERM) has begun: systemd shows the unit as deactivating while we drain.
    public func stopping() throws(SystemdNotifyError) {
        try send("STOPPING=1")
    }

    /// Sends raw newline-separated assignments, for states this type has no method for
    /// (e.g. `EXTEND_TIMEOUT_USEC=` during a long drain).
    public func send(_ assignments: String) throws(SystemdNotifyError) {
        guard let socketAddress else { return }
        try NotifyDatagram.send(assignments, to: socketAddress)
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }
}
