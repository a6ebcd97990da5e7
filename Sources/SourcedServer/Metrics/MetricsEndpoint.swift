import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP endpoint a Prometheus server scrapes (`--metrics-listen`): `GET /metrics` on a TCP
/// address, served on the engine's event loops.
public final class MetricsEndpoint: Sendable {
    private let channel: any Channel

    /// The address it listens on (with the port chosen, if 0 was asked for).
    public var address: SocketAddress? {
        channel.localAddress
    }

    /// Binds `host`:`port` and serves scrapes of `exporter` until ``close()``.
    public static func bind(host: String, port: Int, exporter: PrometheusExporter, group: any EventLoopGroup) async throws -> MetricsEndpoint {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsRequestHandler(exporter: exporter))
                }
            }
            .bind(host: host, port: port)
            .get()
        return MetricsEndpoint(channel: channel)
    }

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Stops listening; scrapes in progress finish.
    public func close() async {
        try? await channel.close()
    }
}
