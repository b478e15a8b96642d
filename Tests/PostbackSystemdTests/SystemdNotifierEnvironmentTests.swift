import PostbackTestSupport
import Glibc
import PostbackSystemd
import Testing

extension SerializedAroundEnvironment {
/// The one place tests touch the process environment: `SystemdNotifier()` reads what systemd
/// sets (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID). Every other notifier test passes its
/// socket explicitly.
@Suite struct SystemdNotifierEnvironmentTests {
    @Test func readsTheSocketAndWatchdogFromTheEnvironment() throws {
        let receiver = try DatagramReceiver()
        setenv("NOTIFY_SOCKET", receiver.path, 1)
        setenv("WATCHDOG_USEC", "30000000", 1)
        setenv("WATCHDOG_PID", String(getpid()), 1)
        defer {
            unsetenv("NOTIFY_SOCKET")
            unsetenv("WATCHDOG_USEC")
            unsetenv("WATCHDOG_PID")
        }
        let notifier = SystemdNotifier()

        #expect(notifier.socketAddress == receiver.path)
        #expect(notifier.watchdogInterval == .seconds(30))
        #expect(notifier.watchdogPingInterval == .seconds(15))
        try notifier.ready()
        try notifier.status("up")
        try notifier.watchdog()
        try notifier.reloading()
        try notifier.stopping()
        #expect(receiver.receive() == "READY=1")
        #expect(receiver.receive() == "STATUS=up")
        #expect(receiver.receive() == "WATCHDOG=1")
        #expect(receiver.receive()?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true)
        #expect(receiver.receive() == "STOPPING=1")
    }

    @Test func watchdogMeantForAnotherProcessIsOff() {
        setenv("WATCHDOG_USEC", "30000000", 1)
        setenv("WATCHDOG_PID", String(getpid() + 1), 1)
        defer {
            unsetenv("WATCHDOG_USEC")
            unsetenv("WATCHDOG_PID")
        }
        #expect(SystemdNotifier().watchdogInterval == nil)
    }
}
}
