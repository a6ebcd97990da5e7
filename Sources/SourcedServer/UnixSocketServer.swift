import Glibc
import Logging
import NIOCore
import NIOPosix
import SourcedEngine
import SourcedProjections
import SourcedProtocol

/// Serves the NDJSON protocol on a Unix stream socket: one JSON request per line in, one reply
/// per line out, replies in request order per connection, pipelining allowed.
///
/// Each connection has a reader and a writer. The reader parses lines and submits them in order;
/// the writer sends replies in the same order as they complete. A bounded ``ReplyQueue`` between
/// them bounds the memory a connection can hold, whatever the client does.
public final class UnixSocketServer: Sendable {
    public struct Configuration: Sendable {
        /// The longest request line accepted; a longer one gets `too_large` and the connection closes.
        public var maximumLineBytes: Int
        /// Connections beyond this are told `unavailable` and closed.
        public var maximumConnections: Int
        /// Requests one connection may have in flight before the daemon stops reading from it.
        public var pipelineDepth: Int
        /// Bytes of computed, unwritten replies one connection may hold before the daemon stops
        /// reading from it (a client that does not read its replies).
        public var replyBufferBytes: Int
        /// Which users may connect, checked with the kernel's peer credentials.
        public var access: AccessPolicy
        /// How long the bytes of an unfinished request line may wait for the rest.
        public var incompleteLineTimeout: Duration

        public init(
            maximumLineBytes: Int = 1 << 20,
            maximumConnections: Int = 1024,
            pipelineDepth: Int = 256,
            replyBufferBytes: Int = 4 << 20,
            access: AccessPolicy = AccessPolicy(),
            incompleteLineTimeout: Duration = .seconds(30)
        ) {
            self.maximumLineBytes = maximumLineBytes
            self.maximumConnections = maximumConnections
            self.pipelineDepth = pipelineDepth
            self.replyBufferBytes = replyBufferBytes
            self.access = access
            self.incompleteLineTimeout = incompleteLineTimeout
        }
    }

    /// Where to listen.
    public enum Listener: Sendable {
        /// Create the socket at this path (mode 0660), replacing a stale one.
        case path(String)
        /// Adopt a listening socket passed by systemd.
        case inherited(Int32)
    }

    private typealias Connection = NIOAsyncChannel<RequestLineDecoder.Frame, ByteBuffer>

    public let configuration: Configuration
    private let serverChannel: NIOAsyncChannel<Connection, Never>
    private let router: RequestRouter
    private let connections: ConnectionTable
    private let logger: Logger

    /// Binds the socket and returns a server ready to ``run()``.
    public static func bind(
        _ listener: Listener,
        configuration: Configuration,
        engine: Engine,
        projections: [any QueryableProjection] = [],
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> UnixSocketServer {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let maximumLineBytes = configuration.maximumLineBytes
        let lineTimeout = TimeAmount.nanoseconds(
            configuration.incompleteLineTimeout.components.seconds * 1_000_000_000
                + configuration.incompleteLineTimeout.components.attoseconds / 1_000_000_000
        )
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers(
                    IncompleteLineTimeout(timeout: lineTimeout),
                    ByteToMessageHandler(RequestLineDecoder(maximumLength: maximumLineBytes))
                )
                return try Connection(wrappingChannelSynchronously: channel)
            }
        }
        let serverChannel: NIOAsyncChannel<Connection, Never>
        switch listener {
        case .path(let path):
            try await NIOThreadPool.singleton.runIfActive { try SocketPath.prepare(path) }
            serverChannel = try await bootstrap.bind(unixDomainSocketPath: path, childChannelInitializer: initializer)
            guard chmod(path, 0o660) == 0 else { throw ServerError.io(operation: "chmod", path: path, errno: errno) }
        case .inherited(let descriptor):
            serverChannel = try await bootstrap.bind(descriptor, childChannelInitializer: initializer)
        }
        return UnixSocketServer(configuration, serverChannel, engine, projections, logger)
    }

    private init(
        _ configuration: Configuration,
        _ serverChannel: NIOAsyncChannel<Connection, Never>,
        _ engine: Engine,
        _ projections: [any QueryableProjection],
        _ logger: Logger
    ) {
        self.configuration = configuration
        self.serverChannel = serverChannel
        self.logger = logger
        let connections = ConnectionTable(limit: configuration.maximumConnections)
        self.connections = connections
        let started = ContinuousClock.now
        router = RequestRouter(engine: engine, projections: Dictionary(uniqueKeysWithValues: projections.map { ($0.name, $0) })) {
            Self.statistics(engine, connections.counts, uptime: .now - started)
        }
    }

    /// Connections open now.
    public var openConnections: Int {
        connections.counts.open
    }

    /// Accepts and serves connections until ``shutdown()``, then returns once every connection
    /// has finished its requests and closed.
    public func run() async throws {
        try await serverChannel.executeThenClose { inbound in
            try await withThrowingDiscardingTaskGroup { group in
                for try await connection in inbound {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    /// Stops accepting connections and stops reading new requests; requests already read still
    /// complete and get their replies, then each connection closes and ``run()`` returns.
    public func shutdown() {
        let open = connections.close()
        serverChannel.channel.close(promise: nil)
        for channel in open {
            channel.close(mode: .input, promise: nil)
        }
    }

    /// Closes every connection at once, replies or not; for when ``shutdown()`` takes too long.
    public func closeAllConnections() {
        for channel in connections.channels {
            channel.close(promise: nil)
        }
    }

    private func serve(_ connection: Connection) async {
        let refusal = connections.admit(connection.channel)
        if let refusal {
            if refusal.shouldLog {
                logger.warning("connection refused", metadata: ["reason": "\(refusal.reason)", "refused_so_far": "\(refusal.total)"])
            }
            await refuse(connection, ProtocolError(.unavailable, refusal.reason))
            return
        }
        defer { connections.remove(connection.channel) }
        if !configuration.access.isOpen {
            let peer = await PeerCredentials.of(connection.channel)
            guard let peer, configuration.access.allows(peer) else {
                let who = peer.map { "uid \($0.uid) (gid \($0.gid), pid \($0.pid))" } ?? "a peer whose credentials cannot be read"
                logger.warning("connection refused", metadata: ["reason": "not allowed", "peer": "\(who)"])
                let message = "\(who) may not use this daemon; it allows the uids and gids given by --allow-uid and --allow-gid"
                await refuse(connection, ProtocolError(.forbidden, message))
                return
            }
        }
        try? await connection.executeThenClose { inbound, outbound in
            let replies = ReplyQueue(capacity: configuration.pipelineDepth, byteBudget: configuration.replyBufferBytes)
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    var writable = true
                    func write(_ bytes: ByteBuffer) async {
                        guard writable else { return }
                        do { try await outbound.write(bytes) } catch { writable = false }
                    }
                    while let pending = await replies.pop() {
                        switch pending {
                        case .ready(let bytes):
                            await write(bytes)
                            replies.written(bytes.readableBytes)
                        case .running(let task):
                            let bytes = await task.value
                            await write(bytes)
                            replies.written(bytes.readableBytes)
                        case .stream(let confirmation, let stream):
                            await write(confirmation)
                            replies.written(confirmation.readableBytes)
                            while writable, let lines = await stream.nextLines() {
                                for line in lines {
                                    await write(line)
                                }
                            }
                            // The stream ended (fell behind, client gone, shutdown): so does the connection.
                            stream.subscription.cancel()
                            connection.channel.close(mode: .input, promise: nil)
                        }
                    }
                }
                await read(inbound, into: replies)
                replies.finish()
            }
        }
    }

    /// Submits every line of `inbound` in order until it ends or a line is unacceptable. After a
    /// `subscribe` the connection only streams: further lines are ignored, and the end of the
    /// input ends the subscription.
    private func read(_ inbound: NIOAsyncChannelInboundStream<RequestLineDecoder.Frame>, into replies: ReplyQueue) async {
        var stream: EventStream?
        defer { stream?.subscription.cancel() }
        do {
            for try await frame in inbound where stream == nil {
                switch frame {
                case .line(let line):
                    let pending = await router.submit(line) { replies.computed($0) }
                    if case .stream(_, let started) = pending { stream = started }
                    await replies.push(pending)
                case .tooLong:
                    let message = "request line exceeds \(configuration.maximumLineBytes) bytes; closing the connection"
                    await push(ProtocolError(.tooLarge, message), to: replies)
                    return
                case .unterminated:
                    let message = "the input ended inside a request; end every request with a newline"
                    await push(ProtocolError(.badRequest, message), to: replies)
                    return
                }
            }
        } catch is IncompleteLineTimeout.Expired {
            let message = "a request line stayed incomplete for \(configuration.incompleteLineTimeout); closing the connection"
            await push(ProtocolError(.badRequest, message), to: replies)
        } catch {
            logger.debug("connection read ended", metadata: ["error": "\(error)"])
        }
    }

    /// Answers a refused connection with one error line and closes it. What the client already
    /// sent is read and dropped first (for at most a second): closing a Unix socket with unread
    /// input resets it, and the client would lose the reply.
    private func refuse(_ connection: Connection, _ error: ProtocolError) async {
        try? await connection.executeThenClose { inbound, outbound in
            try await outbound.write(Reply.failure(error, req: nil))
            connection.channel.close(mode: .output, promise: nil)
            let drain = Task {
                for try await _ in inbound {}
            }
            let deadline = Task {
                try await Task.sleep(for: .seconds(1))
                drain.cancel()
            }
            _ = await drain.result
            deadline.cancel()
        }
    }

    /// Queues a final error reply of the connection.
    private func push(_ error: ProtocolError, to replies: ReplyQueue) async {
        let bytes = Reply.failure(error, req: nil)
        replies.computed(bytes.readableBytes)
        await replies.push(.ready(bytes))
    }

    private static func statistics(_ engine: Engine, _ connections: ConnectionTable.Counts, uptime: Duration) -> JSONValue {
        let figures = engine.statistics
        return [
            "live_aggregates": .integer(Int64(figures.liveAggregates)),
            "capacity": .integer(Int64(figures.capacity)),
            "hits": .integer(Int64(figures.hits)),
            "misses": .integer(Int64(figures.misses)),
            "loads": .integer(Int64(figures.loads)),
            "evictions": .integer(Int64(figures.evictions)),
            "commands": .integer(Int64(figures.commands)),
            "rejections": .integer(Int64(figures.rejections)),
            "events": .integer(Int64(figures.events)),
            "fsyncs": .integer(Int64(figures.syncs)),
            "open_files": .integer(Int64(figures.openFiles)),
            "position": .integer(Int64(clamping: figures.position)),
            "subscribers": .integer(Int64(figures.subscribers)),
            "handlers": .array(figures.handlers.map { handler in
                var status: [String: JSONValue] = ["name": .string(handler.name), "position": .integer(Int64(clamping: handler.position))]
                status["failure"] = handler.failure.map { .string($0) }
                return .object(status)
            }),
            "connections": .integer(Int64(connections.open)),
            "connections_accepted": .integer(Int64(connections.accepted)),
            "connections_refused": .integer(Int64(connections.refused)),
            "sync": .string(engine.configuration.sync.rawValue),
            "uptime_seconds": .integer(uptime.components.seconds),
        ]
    }
}
