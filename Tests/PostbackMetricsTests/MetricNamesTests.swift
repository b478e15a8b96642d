import PostbackMetrics
import Testing

/// The one table of metric names, and the tidying of the exposition text built on it.
@Suite("metric names, listen address and exposition text")
struct MetricNamesTests {
    @Test func namesAreValidUniqueAndPrefixed() {
        let names = MetricFamily.all.map(\.name)
        #expect(Set(names).count == names.count)
        for family in MetricFamily.all {
            #expect(family.name.hasPrefix("postbackd_"))
            #expect(family.name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }, "\(family.name)")
            // Prometheus conventions: counters end in _total, the histogram is in seconds.
            #expect((family.kind == .counter) == family.name.hasSuffix("_total"), "\(family.name)")
            #expect(!family.help.isEmpty)
        }
        #expect(MetricFamily.fireDuration.name.hasSuffix("_seconds"))
    }

    @Test func labelValuesAreClosedSets() {
        #expect(FireOutcomeLabel.allCases.map(\.rawValue) == ["succeeded", "deferred", "failed", "skipped"])
        #expect(RecordOutcomeLabel.allCases.map(\.rawValue) == ["no_match", "rejected"])
        #expect(SpoolQueueLabel.allCases.map(\.rawValue) == ["incoming", "active", "deferred", "failed", "bad"])
    }

    @Test func latencyBucketsSpan1msTo10sAscending() {
        let buckets = MetricFamily.fireDurationBuckets
        #expect(buckets.first == .milliseconds(1))
        #expect(buckets.last == .seconds(10))
        #expect(buckets == buckets.sorted())
    }

    @Test(arguments: [
        ("127.0.0.1:9464", "127.0.0.1", 9464),
        ("localhost:0", "localhost", 0),
        ("0.0.0.0:65535", "0.0.0.0", 65535),
        ("[::1]:9464", "::1", 9464),
    ])
    func listenAddressParses(text: String, host: String, port: Int) throws {
        let address = try ListenAddress.parse(text)
        #expect(address == ListenAddress(host: host, port: port))
        #expect(address.description == text)
    }

    @Test(arguments: [
        ("9464", "no port"),
        (":9464", "no host"),
        ("127.0.0.1:", "not a number"),
        ("127.0.0.1:70000", "not a number"),
        ("::1:9464", "IPv6 address goes in brackets"),
        ("[::1]9464", "no :port"),
        ("[::1:9464", "no closing ]"),
    ])
    func listenAddressRefuses(text: String, reason: String) {
        #expect {
            try ListenAddress.parse(text)
        } throws: { error in
            let message = "\(error)"
            return message.contains("metrics_listen \"\(text)\"") && message.contains(reason)
        }
    }

    /// The registry writes `# HELP` itself (HelpTextFactory); Exposition only orders.
    @Test func expositionSortsFamiliesKeepsHelpAndBucketOrder() {
        let registry = """
            # HELP b_total B things,\\nwith a \\\\ backslash.
            # TYPE b_total counter
            b_total{outcome="y"} 2
            b_total{outcome="x"} 1
            # HELP a_seconds A latency.
            # TYPE a_seconds histogram
            a_seconds_bucket{le="0.01"} 1
            a_seconds_bucket{le="0.0025"} 0
            a_seconds_bucket{le="+Inf"} 3
            a_seconds_bucket{le="0.5"} 2
            a_seconds_sum 1.2
            a_seconds_count 3
            # TYPE c gauge
            c 7

            """
        #expect(Exposition.render(registry) == """
            # HELP a_seconds A latency.
            # TYPE a_seconds histogram
            a_seconds_bucket{le="0.0025"} 0
            a_seconds_bucket{le="0.01"} 1
            a_seconds_bucket{le="0.5"} 2
            a_seconds_bucket{le="+Inf"} 3
            a_seconds_count 3
            a_seconds_sum 1.2
            # HELP b_total B things,\\nwith a \\\\ backslash.
            # TYPE b_total counter
            b_total{outcome="x"} 1
            b_total{outcome="y"} 2
            # TYPE c gauge
            c 7

            """)
    }

    /// Every family made through the exporter's factory carries its help from MetricFamily,
    /// written by the registry.
    @Test func theRegistryWritesEachFamilysHelp() {
        let exporter = MetricsExporter.standalone()
        _ = PostbackdMetrics(factory: exporter.factory)
        let page = exporter.scrape()
        for family in MetricFamily.all where family.name != MetricFamily.breakerOpen.name {
            #expect(page.contains("# HELP \(family.name) \(family.help)\n# TYPE \(family.name) "), "\(family.name)")
        }
    }
}
