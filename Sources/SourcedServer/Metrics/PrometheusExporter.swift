import Prometheus
import SourcedBuildInfo
import SourcedEngine
import Synchronization

/// The daemon's figures in the Prometheus text format (`docs/operations.md` lists the names).
///
/// Request series are recorded as requests are answered (``RequestSeries``); the engine's and
/// the server's figures are read at each scrape and copied into the registry then. Scrapes are
/// serialized, so a scrape never sees a counter half copied.
public final class PrometheusExporter: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let engine: Engine
    private let server: UnixSocketServer
    private let started = ContinuousClock.now
    private let scraping = Mutex<Void>(())

    public init(registry: PrometheusCollectorRegistry, engine: Engine, server: UnixSocketServer) {
        self.registry = registry
        self.engine = engine
        self.server = server
        registry.makeGauge(
            descriptor: Self.name("build_info", "", "Always 1; the labels say which build runs."),
            labels: [("version", BuildInfo.version), ("commit", BuildInfo.commit)]
        ).set(Int64(1))
    }

    /// The text exposition of every series, figures read now.
    public func scrape() -> [UInt8] {
        scraping.withLock { _ in
            let figures = engine.statistics
            let connections = server.connectionCounts
            let counters: [(String, String, Int)] = [
                ("cache_hits", "Requests that found their aggregate in memory.", figures.hits),
                ("cache_misses", "Requests that had to load their aggregate.", figures.misses),
                ("loads", "Aggregate logs read to rebuild an aggregate.", figures.loads),
                ("evictions", "Aggregates dropped from memory (capacity, memory or idleness).", figures.evictions),
                ("snapshots_written", "Snapshots written.", figures.snapshots),
                ("commands", "Command chains committed.", figures.commands),
                ("rejections", "Command chains the model rejected.", figures.rejections),
                ("stale_retries", "Command chains decided again: another daemon sharing the PostgreSQL store had appended first.", figures.staleRetries),
                ("events", "Events committed.", figures.events),
                ("fsyncs", "fdatasync and fsync calls made.", figures.syncs),
                ("group_commits", "Group commits: writes and syncs of the global log.", figures.groupCommits),
                ("connections_accepted", "Connections accepted.", connections.accepted),
                ("connections_refused", "Connections refused (limits, access list, shutdown).", connections.refused),
            ]
            for (name, help, value) in counters {
                let counter = registry.makeCounter(descriptor: Self.name(name, "total", help))
                counter.reset()
                counter.increment(by: Int64(value))
            }
            var gauges: [(String, String, String, Int)] = [
                ("live_aggregates", "", "Aggregates in memory.", figures.liveAggregates),
                ("aggregate_capacity", "", "The most aggregates kept in memory (--max-aggregates).", figures.capacity),
                ("aggregate_memory", "bytes", "Estimated memory of the live aggregates.", figures.aggregateMemory),
                ("open_files", "", "Log files open.", figures.openFiles),
                ("position", "", "Global position of the newest committed chain.", Int(clamping: figures.position)),
                ("subscribers", "", "Clients' live subscriptions.", figures.subscribers),
                ("connections", "", "Connections open.", connections.open),
                ("uptime", "seconds", "Seconds since the server started.", Int((ContinuousClock.now - started).components.seconds)),
            ]
            if let budget = figures.memoryBudget {
                gauges.append(("max_memory", "bytes", "The bound on aggregate memory (--max-memory).", budget))
            }
            if let resident = ProcessMemory.residentBytes {
                gauges.append(("resident_memory", "bytes", "The daemon's resident memory.", resident))
            }
            for (name, unit, help, value) in gauges {
                registry.makeGauge(descriptor: Self.name(name, unit, help)).set(Int64(value))
            }
            for handler in figures.handlers {
                registry.makeGauge(
                    descriptor: Self.name("handler_position", "", "Global position an in-process event handler has reached."),
                    labels: [("handler", handler.name)]
                ).set(Int64(handler.position))
            }
            return registry.emitToBuffer()
        }
    }

    static func name(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "sourced", metricName: name, unitName: unit, helpText: help)
    }
}
