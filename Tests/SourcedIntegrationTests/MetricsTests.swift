import Foundation
import SourcedJSON
import SourcedTestSupport
import Testing

/// `stats` request figures, the Prometheus endpoint, the monitor and the slow-request log.
@Suite struct MetricsTests {
    /// Counts, outcomes and latencies per operation, since start and over the last minute.
    @Test func statsCountEachOperationWithItsOutcomesAndLatencies() async throws {
        let daemon = try await DaemonProcess()
        let client = try await LineClient.connect(daemon.socketPath)
        for index in 0..<5 {
            #expect(try await client.request(line: #"{"op":"execute","model":"counter","id":"s\#(index)","command":{"type":"create"}}"#)["ok"] == true)
        }
        #expect(try await client.request(line: #"{"op":"execute","model":"counter","id":"s0","command":{"type":"create"}}"#).errorCode == "rejected")
        #expect(try await client.request(line: #"{"op":"execute","model":"counter","id":"s0","command":{"type":"explode"}}"#).errorCode == "unknown_command")
        #expect(try await client.request(line: #"{"op":"get","model":"counter","id":"s1"}"#)["ok"] == true)
        #expect(try await client.request(line: #"{"op":"teleport"}"#).errorCode == "unknown_op")
        let stats = try await client.request(line: #"{"op":"stats"}"#)
        let requests = try #require(stats["stats"]?["requests"])
        let execute = try #require(requests["execute"])
        #expect(execute["count"] == 7)
        #expect(execute["failed"] == ["rejected": 1, "unknown_command": 1])
        #expect(execute["last_minute"]?["count"] == 7)
        let p50 = try #require(execute["latency_us"]?["p50"]?.integerValue)
        let maximum = try #require(execute["latency_us"]?["max"]?.integerValue)
        #expect(p50 > 0 && p50 <= maximum)
        #expect(requests["get"]?["count"] == 1 && requests["get"]?["failed"] == [:])
        #expect(requests["invalid"]?["failed"] == ["unknown_op": 1])
        // The stats request itself is counted once its reply is made, after this one.
        #expect(requests["stats"] == nil)
        #expect(stats["stats"]?["group_commits"]?.integerValue.map { $0 >= 1 && $0 <= 5 } == true)
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    /// A scrape read by the reference parser (`prometheus_client`) has the documented names.
    @Test func aScrapeParsesWithTheDocumentedNames() async throws {
        let daemon = try await DaemonProcess(arguments: ["--metrics-listen", "127.0.0.1:0"])
        let client = try await LineClient.connect(daemon.socketPath)
        #expect(try await client.request(line: #"{"op":"execute","model":"counter","id":"m","command":{"type":"create"}}"#)["ok"] == true)
        #expect(try await client.request(line: #"{"op":"execute","model":"counter","id":"m","command":{"type":"create"}}"#).errorCode == "rejected")
        await client.close()
        let url = try #require(daemon.log.firstMatch(of: /metrics=(http:\/\/127\.0\.0\.1:\d+\/metrics)/)?.1)
        let parsed = try await ToolRun.run(executable: "/usr/bin/python3", ["-c", Self.parser, String(url)], input: nil)
        try #require(parsed.status == 0, "the Prometheus parser failed (Debian package python3-prometheus-client, installed by scripts/install-deps): \(parsed.errors)")
        let samples = try JSONParser.parse(Array(parsed.output.utf8))
        #expect(samples["sourced_requests_total{op=execute,outcome=ok}"] == 1)
        #expect(samples["sourced_requests_total{op=execute,outcome=rejected}"] == 1)
        #expect(samples["sourced_request_duration_seconds_count{op=execute}"] == 2)
        #expect(samples["sourced_commands_total"] == 1)
        #expect(samples["sourced_rejections_total"] == 1)
        #expect(samples["sourced_events_total"] == 1)
        #expect(samples["sourced_position"] == 1)
        #expect(samples["sourced_live_aggregates"] == 1)
        #expect(samples["sourced_build_info{commit=\(Self.anyCommit(samples)),version=0.5.0}"] == 1)
        for name in Self.documentedNames {
            #expect(Self.keys(samples).contains { $0 == name || $0.hasPrefix(name + "{") }, "missing \(name)")
        }
        let other = String(url).replacingOccurrences(of: "/metrics", with: "/other")
        let missing = try await ToolRun.run(executable: "/usr/bin/python3", ["-c", Self.status, other], input: nil)
        #expect(missing.output == "404\n")
        #expect(await daemon.stop() == 0)
    }

    /// A monitor sees one line per request answered on other connections, and ends with the
    /// daemon without holding up its shutdown.
    @Test func aMonitorSeesEveryRequestAndEndsWithTheDaemon() async throws {
        let daemon = try await DaemonProcess(arguments: ["--shutdown-timeout", "300"])
        let monitor = try await LineClient.connect(daemon.socketPath)
        #expect(try await monitor.request(line: #"{"op":"monitor","req":7}"#) == ["ok": true, "monitoring": true, "req": 7])
        let client = try await LineClient.connect(daemon.socketPath)
        #expect(try await client.request(line: #"{"op":"execute","model":"counter","id":"w","command":{"type":"create"}}"#)["ok"] == true)
        #expect(try await client.request(line: #"{"op":"execute","model":"counter","id":"w","command":{"type":"create"}}"#).errorCode == "rejected")
        #expect(try await client.request(line: #"{"op":"ping"}"#)["ok"] == true)
        var seen: [JSONValue] = []
        while seen.count < 3 {
            seen.append(try await monitor.readReply())
        }
        #expect(seen.map { $0["op"] } == ["execute", "execute", "ping"])
        #expect(seen.map { $0["outcome"] } == ["ok", "rejected", "ok"])
        #expect(seen[0]["model"] == "counter" && seen[0]["id"] == "w")
        #expect(seen.allSatisfy { ($0["us"]?.integerValue ?? -1) >= 0 && ($0["time_us"]?.integerValue ?? 0) > 1_700_000_000_000_000 })
        await client.close()
        // SIGTERM ends the monitor at once, not after --shutdown-timeout.
        #expect(await daemon.stop() == 0)
        #expect(try await monitor.readLine() == nil)
        await monitor.close()
    }

    @Test func slowRequestsAreLogged() async throws {
        let daemon = try await DaemonProcess(arguments: ["--slow-request", "0.000001"])
        let client = try await LineClient.connect(daemon.socketPath)
        #expect(try await client.request(line: #"{"op":"execute","model":"counter","id":"slow","command":{"type":"create"}}"#)["ok"] == true)
        await client.close()
        try await waitUntil(timeout: .seconds(60)) { daemon.log.contains("slow request") }
        let line = try #require(daemon.log.split(separator: "\n").first { $0.contains("slow request") })
        #expect(line.contains("op=") && line.contains("outcome=ok") && line.contains("ms="))
        #expect(await daemon.stop() == 0)
    }

    @Test func aBadMetricsAddressIsAConfigurationError() async throws {
        let run = try await ToolRun.run("sourced", ["--metrics-listen", "localhost", "--data-dir", "/nonexistent/never"])
        #expect(run.status == 64)
        #expect(run.errors.contains("--metrics-listen"))
    }

    static let documentedNames = [
        "sourced_requests_total", "sourced_request_duration_seconds_bucket", "sourced_commands_total", "sourced_rejections_total",
        "sourced_events_total", "sourced_fsyncs_total", "sourced_group_commits_total", "sourced_cache_hits_total",
        "sourced_cache_misses_total", "sourced_loads_total", "sourced_evictions_total", "sourced_snapshots_written_total",
        "sourced_connections_accepted_total", "sourced_connections_refused_total", "sourced_live_aggregates",
        "sourced_aggregate_capacity", "sourced_aggregate_memory_bytes", "sourced_open_files", "sourced_position",
        "sourced_subscribers", "sourced_connections", "sourced_uptime_seconds", "sourced_resident_memory_bytes", "sourced_build_info",
    ]

    private static func keys(_ object: JSONValue) -> [String] {
        guard case .object(let members) = object else { return [] }
        return members.map(\.key)
    }

    private static func anyCommit(_ samples: JSONValue) -> String {
        let key = Self.keys(samples).first { $0.hasPrefix("sourced_build_info{") } ?? ""
        return key.firstMatch(of: /commit=([^,}]*)/).map { String($0.1) } ?? ""
    }

    /// Prints the HTTP status of a GET of the URL.
    static let status = """
        import sys, urllib.request, urllib.error
        try:
            print(urllib.request.urlopen(sys.argv[1]).status)
        except urllib.error.HTTPError as error:
            print(error.code)
        """

    /// Fetches the URL and prints every sample as `{"name{label=value,...}": value}`, labels
    /// sorted, through prometheus_client's parser.
    static let parser = """
        import json, sys, urllib.request
        from prometheus_client.parser import text_string_to_metric_families
        text = urllib.request.urlopen(sys.argv[1]).read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                samples[s.name + ("{" + labels + "}" if labels else "")] = s.value
        print(json.dumps(samples))
        """
}
