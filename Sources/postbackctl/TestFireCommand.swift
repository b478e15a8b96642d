import ArgumentParser
import Foundation
import PostbackCore
import PostbackFiring

struct TestFireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-fire",
        abstract: "Fire one postback once for a sample record and show exactly what happened.",
        discussion: """
            Expands the postback's URL for the record, sends it once (no retries) under the
            daemon's address rules, and prints every request (its method; for POST postbacks
            its headers and body, with webhook-signature masked; the signing secret is never
            printed) with its answer, the latency, the first bytes of the answer's body, and the
            verdict (success, transient or permanent, and why).
            Exit 0 on success, 1 otherwise.

            Example: postbackctl test-fire --catalog catalog.json --postback 17 --record @sample.json
            """)

    @Option(help: "The catalog JSON file.")
    var catalog: String

    @Option(help: "The id of the postback to fire.")
    var postback: Int64

    @Option(help: "The record as one JSON line, or @FILE for the first line of a file.")
    var record: String

    @Option(help: "Let fires reach this CIDR although it is private or loopback (repeatable).")
    var allowAddress: [String] = []

    @Option(help: "The daemon's partner_postbacks setting: with off, a partner-authored postback is reported as skipped.")
    var partnerPostbacks: PartnerPostbacks = .on

    @Option(help: "Trust this PEM CA bundle instead of the system store (default: $POSTBACKD_CA_FILE, as the daemon's ca_file).")
    var caFile: String?

    @Option(help: "Connect timeout, e.g. 3s.")
    var connectTimeout: String = "3s"

    @Option(help: "Total timeout, e.g. 10s.")
    var totalTimeout: String = "10s"

    func run() async throws {
        let loaded = try InputFiles.loadCatalog(catalog)
        guard let target = loaded[id: postback] else {
            Output.error("postback \(postback): not in \(catalog)")
            throw ExitCode.failure
        }
        guard target.delivery == .postback else {
            Output.error("postback \(postback): delivery is \(target.delivery.rawValue); pixels are rendered in a page, never fired (see postbackctl render)")
            throw ExitCode.failure
        }
        let sample = try RecordArgument.parse(record)
        var cidrs: [CIDR] = []
        for text in allowAddress {
            guard let cidr = CIDR(text) else { throw ValidationError("--allow-address: \"\(text)\" is not an address or CIDR") }
            cidrs.append(cidr)
        }
        guard let connect = Settings.parseDuration(connectTimeout), let total = Settings.parseDuration(totalTimeout) else {
            throw ValidationError("timeouts are durations such as 500ms or 3s")
        }

        // As the daemon: the flag, else POSTBACKD_CA_FILE, else the system store.
        let caFile = self.caFile ?? ProcessInfo.processInfo.environment["POSTBACKD_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let caFile {
            do {
                try TrustedCAFile.check(caFile)
            } catch {
                Output.error("\(error)")
                throw ExitCode.failure
            }
        }

        Output.line("postback \(target.id): \(target.status.rawValue) \(target.level.rawValue) \(target.type.rawValue), partner \(target.partnerID.map(String.init) ?? "-"), offer \(target.offerID.map(String.init) ?? "-")")
        if target.status == .inactive { Output.line("note: this postback is inactive; the daemon would not fire it") }
        if target.author == .partner && partnerPostbacks == .off {
            Output.line("note: partner-authored, and partner postbacks are off: the daemon skips it (fired here for testing)")
        }
        let wouldFire = PostbackIndex(catalog: loaded).resolve(sample).fires.contains { $0.id == target.id }
        if !wouldFire { Output.line("note: the daemon would not fire this postback for this record (precedence, type or event filter)") }

        var generator = SystemRandomNumberGenerator()
        // A test fire's id is its own (source "test-fire"), never one a daemon's fire would have.
        let context = URLTemplate.Context(
            postbackID: target.id, arrivalTime: Int64(Date().timeIntervalSince1970), random: generator.next(),
            fireID: target.usesFireID
                ? FireIdentity.make(source: "test-fire", line: 1, postbackID: target.id, transactionID: sample.transactionID) : "")
        var url: [UInt8] = []
        let request: FireRequest
        switch FireRequest.build(target, record: sample, context: context, now: Int64(Date().timeIntervalSince1970), url: &url) {
        case .success(let built): request = built
        case .failure(let why):
            Output.line("request 1: \(target.method.rawValue) \(String(decoding: url, as: UTF8.self))")
            Output.line("verdict: permanent: \(why)")
            Output.flush()
            throw ExitCode.failure
        }
        if target.delayMillis > 0 { Output.line("note: the daemon sends the first attempt \(target.delayMillis) ms after arrival; sent now here") }
        let report = await FireProbe.run(request, configuration: FiringConfiguration(
            maxConcurrent: 1, perHost: 1, connectTimeout: connect, totalTimeout: total,
            addressRules: AddressRules(allowList: cidrs), caFile: caFile))
        Output.line(report.description)
        Output.flush()
        if report.verdict.kind != .success { throw ExitCode.failure }
    }
}
