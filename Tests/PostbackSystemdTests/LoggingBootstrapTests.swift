import PostbackTestSupport
import Foundation
import Logging
import PostbackSystemd
import Testing

@Suite struct LoggingBootstrapTests {
    @Test func aListeningSocketMeansJournal() throws {
        let receiver = try DatagramReceiver()
        #expect(JournalLogHandler.detectDestination(socketPath: receiver.path) == .journal)
    }

    @Test func noSocketOrAPlainFileMeansStderr() throws {
        #expect(JournalLogHandler.detectDestination(socketPath: "/nonexistent/socket") == .stderr)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-socket-\(UUID())")
        _ = FileManager.default.createFile(atPath: file.path, contents: Data())
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(JournalLogHandler.detectDestination(socketPath: file.path) == .stderr)
    }

    @Test(arguments: [JournalLogHandler.Destination.journal, .stderr])
    func factoryMakesTheHandlerForTheDestination(destination: JournalLogHandler.Destination) {
        let handler = JournalLogHandler.factory(logLevel: .notice, destination: destination)("label", nil)
        #expect(handler.logLevel == .notice)
        switch destination {
        case .journal: #expect(handler is JournalLogHandler)
        case .stderr: #expect(handler is StderrLogHandler)
        }
    }

    @Test func handlersAreValues() {
        var first = JournalLogHandler(identifier: "postbackd")
        var second = first
        first[metadataKey: "partner_id"] = "7"
        second.logLevel = .debug
        #expect(second[metadataKey: "partner_id"] == nil)
        #expect(first.logLevel == .info)
    }

    /// A reload changes the shared level: every handler made by the factory follows it at
    /// once, except one whose own level was set.
    @Test(arguments: [JournalLogHandler.Destination.journal, .stderr])
    func handlersFollowTheSharedLevel(destination: JournalLogHandler.Destination) {
        let level = SharedLogLevel(.info)
        let make = JournalLogHandler.factory(level: level, destination: destination)
        let follows = make("a", nil)
        var own = make("b", nil)
        own.logLevel = .error
        level.set(.debug)
        #expect(follows.logLevel == .debug && own.logLevel == .error)
        level.set(.warning)
        #expect(make("c", nil).logLevel == .warning && follows.logLevel == .warning)
    }
}
