import PostbackTestSupport
import Glibc
import PostbackSystemd
import Testing

@Suite struct SystemdNotifierTests {
    @Test func sendsEachStateAsOneDatagramInOrder() throws {
        let receiver = try DatagramReceiver()
        let notifier = SystemdNotifier(socketAddress: receiver.path)
        #expect(notifier.isEnabled)

        try notifier.ready()
        try notifier.status("fires 12, deferred 3, dead 0")
        try notifier.watchdog()
        let before = monotonicMicroseconds()
        try notifier.reloading()
        let after = monotonicMicroseconds()
        try notifier.stopping()

        #expect(receiver.receive() == "READY=1")
        #expect(receiver.receive() == "STATUS=fires 12, deferred 3, dead 0")
        #expect(receiver.receive() == "WATCHDOG=1")
        let reloading = try #require(receiver.receive())
        let lines = reloading.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2)
        #expect(lines.first == "RELOADING=1")
        let stamp = try #require(lines.last.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) })
        #expect(lines.last?.hasPrefix("MONOTONIC_USEC=") == true)
        #expect((before...after).contains(stamp))
        #expect(receiver.receive() == "STOPPING=1")
    }

    @Test func statusCannotInjectAnotherAssignment() throws {
        let receiver = try DatagramReceiver()
        try SystemdNotifier(socketAddress: receiver.path).status("loaded\nREADY=1\r\n")
        #expect(receiver.receive() == "STATUS=loaded READY=1 ")
    }

    @Test func reachesAbstractSockets() throws {
        let name = "postbackd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let receiver = try DatagramReceiver(abstractName: name)
        try SystemdNotifier(socketAddress: "@" + name).watchdog()
        #expect(receiver.receive() == "WATCHDOG=1")
    }

    @Test(arguments: [nil, ""] as [String?])
    func withoutSocketEveryCallIsANoOp(address: String?) throws {
        let notifier = SystemdNotifier(socketAddress: address)
        #expect(!notifier.isEnabled)
        try notifier.ready()
        try notifier.status("x")
        try notifier.watchdog()
        try notifier.reloading()
        try notifier.stopping()
    }

    @Test(arguments: ["relative/notify.sock", "@", "/" + String(repeating: "a", count: 200)])
    func refusesAddressesSystemdWouldNot(address: String) {
        #expect {
            try SystemdNotifier(socketAddress: address).ready()
        } throws: { error in
            (error as? SystemdNotifyError)?.code == .invalidSocketAddress
        }
    }

    @Test func reportsAMissingListener() throws {
        let path: String
        do {
            let receiver = try DatagramReceiver()
            path = receiver.path
        }  // the socket file is gone now
        #expect {
            try SystemdNotifier(socketAddress: path).ready()
        } throws: { error in
            let failure = error as? SystemdNotifyError
            return failure?.code == .sendFailed && failure?.errnoCode == ENOENT
        }
    }

    @Test func pingsAtHalfTheWatchdogInterval() {
        let notifier = SystemdNotifier(socketAddress: "/run/notify", watchdogInterval: .seconds(30))
        #expect(notifier.watchdogPingInterval == .seconds(15))
        #expect(SystemdNotifier(socketAddress: nil).watchdogPingInterval == nil)
    }
}

func monotonicMicroseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
}
