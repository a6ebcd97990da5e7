import Glibc
import Logging
import NIOCore
import NIOPosix
import SourcedBuildInfo
import SourcedEngine
import SourcedJSON
import SourcedProjections
import SourcedWire

/// Serves the NDJSON protocol on a Unix stream socket: one JSON request per line in, one reply
/// per line out, replies in request order per connection, pipelining allowed.
///
/// Connections are served on the engine's event loops, each by a ``ConnectionHandler`` on its
/// loop: no task or thread hand-off per request.
public final class UnixSocketServer: Sendable {
    public struct Configuration: Sendable {
        /// The longest request line accepted; a longer one gets `too_large` and the connection closes.
        public var maximumLineBytes: Int
        /// Connections beyond this are told `unavailable` and closed.
        public var maximumConnections: Int
        /// Requests one connection may have unanswered or unwritten before the daemon stops
        /// reading from it.
        public var pipelineDepth: Int
        /// Bytes of replies one connection may hold, written but not yet read by the client,
        /// before the daemon stops reading from it (a client that does not read its replies).
        public var replyBufferBytes: Int
        /// Which users may connect, checked with the kernel's peer credentials.
        public var access: AccessPolicy
        /// How long the bytes of an unfinished request line may wait for the rest.
        public var incompleteLineTimeout: Duration
        /// What is measured of requests besides the `stats` figures: the slow-request log and
        /// Prometheus series.
        public var metrics: RequestMetrics.Configuration

        public init(
            maximumLineBytes: Int = 1 << 20,
            maximumConnections: Int = 1024,
            pipelineDepth: Int = 256,
            replyBufferBytes: Int = 4 << 20,
            access: AccessPolicy = AccessPolicy(),
            incompleteLineTimeout: Duration = .seconds(30),
            metrics: RequestMetrics.Configuration = RequestMetrics.Configuration()
        ) {
            self.maximumLineBytes = maximumLineBytes
            self.maximumConnections = maximumConnections
            self.pipelineDepth = pipelineDepth
            self.replyBufferBytes = replyBufferBytes
            self.access = access
            self.incompleteLineTimeout = incompleteLineTimeout
            self.metrics = metrics
        }
    }

    /// Where to listen.
    public enum Listener: Sendable {
        /// Create the socket at this path (mode 0660), replacing a stale one.
        case path(String)
        /// Adopt a listening socket passed by systemd.
        case inherited(Int32)
    }

    private let serverChannel: any Channel
    private let connections: ConnectionTable
    private let metrics: RequestMetrics

    /// Binds the socket and starts serving connections on `engine`'s event loops.
    public static func bind(
        _ listener: Listener,
        configuration: Configuration,
        engine: Engine,
        projections: [any QueryableProjection] = [],
        models: (any ModelReloader)? = nil,
        logger: Logger
    ) async throws -> UnixSocketServer {
        let connections = ConnectionTable(configuration: configuration)
        let metrics = RequestMetrics(loops: engine.eventLoopGroup.makeIterator(), configuration: configuration.metrics, logger: logger)
        let started = ContinuousClock.now
        let router = RequestRouter(
            engine: engine, projections: Dictionary(uniqueKeysWithValues: projections.map { ($0.name, $0) }), models: models
        ) {
            Self.statistics(engine, connections.counts, metrics, uptime: .now - started)
        }
        let bootstrap = ServerBootstrap(group: engine.eventLoopGroup)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                // Read once per connection: a reconfiguration applies to connections accepted after it.
                let configuration = connections.configuration
                return channel.eventLoop.makeCompletedFuture {
                    let replyBytes = configuration.replyBufferBytes
                    try channel.syncOptions?.setOption(
                        .writeBufferWaterMark, value: ChannelOptions.Types.WriteBufferWaterMark(low: replyBytes / 2, high: replyBytes)
                    )
                    try channel.pipeline.syncOperations.addHandlers(
                        IncompleteLineTimeout(timeout: TimeAmount(configuration.incompleteLineTimeout)),
                        ByteToMessageHandler(RequestLineDecoder(maximumLength: configuration.maximumLineBytes)),
                        ConnectionHandler(
                            router: router, configuration: configuration, connections: connections, metrics: metrics, logger: logger
                        )
                    )
                }
            }
        let serverChannel: any Channel
        switch listener {
        case .path(let path):
            try await NIOThreadPool.singleton.runIfActive { try SocketPath.prepare(path) }
            serverChannel = try await bootstrap.bind(unixDomainSocketPath: path).get()
            guard chmod(path, 0o660) == 0 else { throw ServerError.io(operation: "chmod", path: path, errno: errno) }
        case .inherited(let descriptor):
            serverChannel = try await bootstrap.withBoundSocket(descriptor).get()
        }
        return UnixSocketServer(serverChannel, connections, metrics)
    }

    private init(_ serverChannel: any Channel, _ connections: ConnectionTable, _ metrics: RequestMetrics) {
        self.serverChannel = serverChannel
        self.connections = connections
        self.metrics = metrics
    }

    /// The configuration connections accepted from now on are served with.
    public var configuration: Configuration {
        connections.configuration
    }

    /// Serves connections accepted from now on with `configuration` (a reload): their access
    /// check, line limit, line timeout and buffers. Connections already open keep the
    /// configuration they were accepted with; the connection limit counts them at once, and
    /// the slow-request threshold applies to every request answered from now on. The
    /// Prometheus registry stays the one the server was bound with.
    public func reconfigure(_ configuration: Configuration) {
        connections.configuration = configuration
        metrics.setSlowRequestThreshold(configuration.metrics.slowRequestThreshold)
    }

    /// Connections open now.
    public var openConnections: Int {
        connections.counts.open
    }

    /// Connections open now, accepted and refused since start.
    var connectionCounts: ConnectionTable.Counts {
        connections.counts
    }

    /// Serves until ``shutdown()``, then returns once every connection has finished its requests
    /// and closed.
    public func run() async throws {
        try await serverChannel.closeFuture.get()
        await connections.waitUntilEmpty()
    }

    /// Stops accepting connections and stops reading new requests; requests already read still
    /// complete and get their replies, then each connection closes and ``run()`` returns.
    public func shutdown() {
        let open = connections.close()
        serverChannel.close(promise: nil)
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(ServerStopping())
            channel.close(mode: .input, promise: nil)
        }
    }

    /// Closes every connection at once, replies or not; for when ``shutdown()`` takes too long.
    public func closeAllConnections() {
        for channel in connections.channels {
            channel.close(promise: nil)
        }
    }

    private static func statistics(_ engine: Engine, _ connections: ConnectionTable.Counts, _ metrics: RequestMetrics, uptime: Duration) -> JSONValue {
        let figures = engine.statistics
        return [
            "live_aggregates": .integer(Int64(figures.liveAggregates)),
            "capacity": .integer(Int64(figures.capacity)),
            "hits": .integer(Int64(figures.hits)),
            "misses": .integer(Int64(figures.misses)),
            "loads": .integer(Int64(figures.loads)),
            "evictions": .integer(Int64(figures.evictions)),
            "aggregate_memory_bytes": .integer(Int64(figures.aggregateMemory)),
            "max_memory_bytes": figures.memoryBudget.map { .integer(Int64($0)) } ?? .null,
            "snapshots_written": .integer(Int64(figures.snapshots)),
            "commands": .integer(Int64(figures.commands)),
            "rejections": .integer(Int64(figures.rejections)),
            "stale_retries": .integer(Int64(figures.staleRetries)),
            "events": .integer(Int64(figures.events)),
            "fsyncs": .integer(Int64(figures.syncs)),
            "group_commits": .integer(Int64(figures.groupCommits)),
            "open_files": .integer(Int64(figures.openFiles)),
            "position": .integer(Int64(clamping: figures.position)),
            "subscribers": .integer(Int64(figures.subscribers)),
            "handlers": .array(figures.handlers.map { handler in
                var status: JSONValue = ["name": .string(handler.name), "position": .integer(handler.position)]
                status["failure"] = handler.failure.map { .string($0) }
                return status
            }),
            "connections": .integer(Int64(connections.open)),
            "connections_accepted": .integer(Int64(connections.accepted)),
            "connections_refused": .integer(Int64(connections.refused)),
            "sync": .string(engine.configuration.postgres == nil ? engine.configuration.sync.rawValue : "postgresql"),
            "uptime_seconds": .integer(uptime.components.seconds),
            "version": .string(BuildInfo.description),
            "rss_bytes": ProcessMemory.residentBytes.map { .integer(Int64($0)) } ?? .null,
            "monitors": .integer(Int64(metrics.monitor.count)),
            "requests": metrics.totals.json,
        ]
    }
}
