/// Every metric postbackd exports, with its type, labels and help text: the one place where a
/// metric is named, so a dashboard or alert written against these names has one file to read.
///
/// The daemon never spells a name itself; it goes through ``PostbackdMetrics``, which makes each
/// metric object from this table. Label values are closed sets (the enums below) or, for the
/// per-host breaker gauge, capped by ``PostbackdMetrics/breakerHostSeriesLimit``, so a scrape
/// stays the same size however many records or partners go through.
public struct MetricFamily: Sendable, Equatable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    public let name: String
    public let kind: Kind
    public let labels: [String]
    public let help: String

    public init(name: String, kind: Kind, labels: [String], help: String) {
        self.name = name
        self.kind = kind
        self.labels = labels
        self.help = help
    }
}

extension MetricFamily {
    // Fires and records. Counters count since the process started, like STATUS=.

    public static let fires = MetricFamily(
        name: "postbackd_fires_total", kind: .counter, labels: ["outcome"],
        help: "Fires that reached an outcome: succeeded (2xx), deferred (a retry is scheduled, hold-backs included), failed (dead-lettered), skipped (partner-authored while partner_postbacks = off).")
    public static let heldBack = MetricFamily(
        name: "postbackd_fires_held_back_total", kind: .counter, labels: [],
        help: "Fires deferred unsent because their host's circuit breaker was open or the host was slow, all its connections busy (also counted as deferred).")
    public static let attempts = MetricFamily(
        name: "postbackd_fire_attempts_total", kind: .counter, labels: [],
        help: "HTTP attempts that came back with a result (an answer, an error or a refusal by the address rules).")
    public static let fireDuration = MetricFamily(
        name: "postbackd_fire_duration_seconds", kind: .histogram, labels: [],
        help: "Latency of one attempt, from handing it to libcurl to its result.")
    public static let records = MetricFamily(
        name: "postbackd_records_total", kind: .counter, labels: ["outcome"],
        help: "Spool records that fired nothing: no_match (no active postback applies) or rejected (the line is not a valid record; it is in bad/).")
    public static let autoPauses = MetricFamily(
        name: "postbackd_auto_pauses_total", kind: .counter, labels: [],
        help: "Times the daemon paused a postback after repeated permanent failures.")

    // Sampled gauges: live state, read at every scrape (cheap) or every few seconds (the spool).

    public static let inFlight = MetricFamily(
        name: "postbackd_fires_in_flight", kind: .gauge, labels: [],
        help: "Fires handed to libcurl and not yet answered.")
    public static let spoolDepth = MetricFamily(
        name: "postbackd_spool_queue_depth", kind: .gauge, labels: ["queue"],
        help: "Files in each spool queue: incoming and active spool files, deferred fires waiting, failed (dead letters), bad (quarantined files). Sampled every few seconds.")
    public static let spoolOldestAge = MetricFamily(
        name: "postbackd_spool_oldest_age_seconds", kind: .gauge, labels: ["queue"],
        help: "Age of the oldest file in each spool queue (0 when empty). Sampled every few seconds.")
    public static let deferredDue = MetricFamily(
        name: "postbackd_deferred_fires_due", kind: .gauge, labels: [],
        help: "Deferred fires whose retry time has passed but that are not taken yet: a retry backlog. Sampled every few seconds.")
    public static let breakerOpenHosts = MetricFamily(
        name: "postbackd_breaker_open_hosts", kind: .gauge, labels: [],
        help: "Destination hosts whose circuit breaker is open or letting a probe through.")
    public static let breakerOpen = MetricFamily(
        name: "postbackd_breaker_open", kind: .gauge, labels: ["host"],
        help: "1 for each host whose circuit breaker is open or probing, at most 20 hosts (sorted); a host's series goes away when its breaker closes.")
    public static let catalogPostbacks = MetricFamily(
        name: "postbackd_catalog_postbacks", kind: .gauge, labels: [],
        help: "Postbacks in the catalog now serving.")
    public static let catalogReloadTime = MetricFamily(
        name: "postbackd_catalog_last_reload_timestamp_seconds", kind: .gauge, labels: [],
        help: "Unix time of the last catalog load or reload attempt (the load at start counts).")
    public static let catalogReloadSuccess = MetricFamily(
        name: "postbackd_catalog_last_reload_success", kind: .gauge, labels: [],
        help: "1 if the last catalog load or reload was taken, 0 if it was refused (the previous catalog keeps serving).")
    public static let autoPaused = MetricFamily(
        name: "postbackd_postbacks_auto_paused", kind: .gauge, labels: [],
        help: "Postbacks paused by the daemon now (postbackctl resume lifts a pause).")

    /// Every family, in the order a scrape lists them.
    public static let all: [MetricFamily] = [
        fires, heldBack, attempts, fireDuration, records, autoPauses,
        inFlight, spoolDepth, spoolOldestAge, deferredDue, breakerOpenHosts, breakerOpen,
        catalogPostbacks, catalogReloadTime, catalogReloadSuccess, autoPaused,
    ]

    /// Buckets of ``fireDuration``: 1 ms (a partner on the same network) to 10 s (the default
    /// total timeout), roughly ×2.5 apart so the p50 and p99 of a healthy partner both land
    /// between two buckets.
    public static let fireDurationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]
}

/// The `outcome` of ``MetricFamily/fires``.
public enum FireOutcomeLabel: String, Sendable, CaseIterable {
    case succeeded, deferred, failed, skipped
}

/// The `outcome` of ``MetricFamily/records``.
public enum RecordOutcomeLabel: String, Sendable, CaseIterable {
    case noMatch = "no_match"
    case rejected
}

/// The `queue` of ``MetricFamily/spoolDepth`` and ``MetricFamily/spoolOldestAge``.
public enum SpoolQueueLabel: String, Sendable, CaseIterable {
    case incoming, active, deferred, failed, bad
}
