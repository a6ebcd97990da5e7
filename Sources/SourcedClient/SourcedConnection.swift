import DequeModule
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOPosix
import SourcedJSON
import SourcedWire

/// A connection to `sourced`: newline-delimited JSON over its Unix socket, without blocking a
/// thread.
///
/// Requests may be pipelined: ``send(_:)`` several, then ``receive()`` their replies, which
/// arrive in the same order. Not for concurrent use by several tasks. The socket is read only as
/// replies are asked for, so a slow reader slows the daemon's writes to it, never memory here.
public final class SourcedConnection {
    /// Why talking to the daemon failed.
    public enum Failure: Error, CustomStringConvertible {
        /// Nothing listens at the path.
        case cannotConnect(path: String, reason: String)
        /// The socket's permissions do not let this user connect.
        case permissionDenied(path: String)
        /// The daemon closed the connection before replying.
        case closed
        /// No reply came in time.
        case timedOut(TimeAmount)
        /// The daemon sent a line that is not JSON.
        case malformedReply(String)

        public var description: String {
            switch self {
            case .cannotConnect(let path, let reason):
                "cannot connect to sourced at \(path): \(reason); is sourced running? (start it with scripts/start, or pass --socket)"
            case .permissionDenied(let path):
                "permission denied on socket \(path): its owner and its group may connect (ls -l \(path) shows them); run as a member of that group"
            case .closed:
                "sourced closed the connection"
            case .timedOut(let timeout):
                "no reply from sourced within \(timeout.nanoseconds / 1_000_000_000) s"
            case .malformedReply(let line):
                "sourced sent a reply that is not JSON: \(line.prefix(200))"
            }
        }
    }

    private let channel: any Channel
    private let lines: NIOLoopBound<LineCollector>

    private init(_ channel: any Channel, lines: NIOLoopBound<LineCollector>) {
        self.channel = channel
        self.lines = lines
    }

    /// Connects to the daemon's socket at `path`.
    public static func connect(
        to path: String,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SourcedConnection {
        let collector = NIOLockedValueBox<NIOLoopBound<LineCollector>?>(nil)
        do {
            let channel = try await ClientBootstrap(group: group)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelOption(.autoRead, value: false)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let lines = LineCollector(eventLoop: channel.eventLoop)
                        try channel.pipeline.syncOperations.addHandlers(
                            ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: 256 << 20),
                            lines
                        )
                        collector.withLockedValue { $0 = NIOLoopBound(lines, eventLoop: channel.eventLoop) }
                    }
                }
                .connect(unixDomainSocketPath: path)
                .get()
            return SourcedConnection(channel, lines: collector.withLockedValue { $0! })
        } catch let error as IOError where error.errnoCode == EACCES {
            throw Failure.permissionDenied(path: path)
        } catch let error as IOError {
            throw Failure.cannotConnect(path: path, reason: String(cString: strerror(error.errnoCode)))
        } catch {
            throw Failure.cannotConnect(path: path, reason: "\(error)")
        }
    }

    /// Sends one request (a JSON object) as one line.
    public func send(_ request: JSONValue) async throws {
        try await send(line: Self.encode(request))
    }

    /// Sends `line`, which must be one JSON object without a newline, and a newline.
    public func send(line: String) async throws {
        var buffer = channel.allocator.buffer(capacity: line.utf8.count + 1)
        buffer.writeString(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        try await channel.writeAndFlush(buffer)
    }

    /// Sends `bytes` exactly as given, newline or not.
    public func send(bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// Closes the sending side; the daemon still answers everything it received.
    public func finishSending() async throws {
        try await channel.close(mode: .output)
    }

    /// The next reply line, or `nil` once the daemon has closed the connection.
    ///
    /// After `timeout` without a line the connection is closed and ``Failure/timedOut(_:)`` thrown.
    public func receiveLine(timeout: TimeAmount = .seconds(60)) async throws -> String? {
        let channel = channel
        let timedOut = NIOLockedValueBox(false)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        let line: ByteBuffer?
        do {
            let lines = lines
            line = try await channel.eventLoop.flatSubmit { lines.value.next() }.get()
        } catch is NIOExtrasErrors.LeftOverBytesError {
            line = nil
        } catch {
            if timedOut.withLockedValue({ $0 }) { throw Failure.timedOut(timeout) }
            throw error
        }
        if line == nil, timedOut.withLockedValue({ $0 }) { throw Failure.timedOut(timeout) }
        return line.map { String(buffer: $0) }
    }

    /// The next reply, parsed.
    public func receive(timeout: TimeAmount = .seconds(60)) async throws -> JSONValue {
        guard let line = try await receiveLine(timeout: timeout) else { throw Failure.closed }
        return try Self.decode(line)
    }

    /// Sends `request` and returns its reply.
    public func request(_ request: JSONValue, timeout: TimeAmount = .seconds(60)) async throws -> JSONValue {
        try await send(request)
        return try await receive(timeout: timeout)
    }

    public func close() async {
        try? await channel.close()
    }

    /// The compact JSON text of `value`: members in their order, numbers as their text.
    public static func encode(_ value: JSONValue) -> String {
        var writer = JSONWriter()
        writer.write(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Parses one reply line.
    public static func decode(_ line: String) throws -> JSONValue {
        do {
            return try JSONParser.parse(line.utf8)
        } catch {
            throw Failure.malformedReply(line)
        }
    }
}

/// Holds the lines a connection received until they are asked for, and reads from the socket
/// only when asked: a client that does not read its replies makes the daemon stop writing to it,
/// instead of buffering them without bound here. Used only on the channel's event loop.
private final class LineCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var lines = Deque<ByteBuffer>()
    /// How the input ended, once it has: `nil` for a clean end.
    private var end: Result<Void, any Error>?
    private var waiter: EventLoopPromise<ByteBuffer?>?
    private let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// The next line, `nil` at the end of the input.
    func next() -> EventLoopFuture<ByteBuffer?> {
        if let line = lines.popFirst() {
            return eventLoop.makeSucceededFuture(line)
        }
        if let end {
            return eventLoop.makeCompletedFuture(end.map { nil })
        }
        guard let context else { return eventLoop.makeSucceededFuture(nil) }
        let promise = eventLoop.makePromise(of: ByteBuffer?.self)
        waiter = promise
        context.read()
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        if let waiter {
            self.waiter = nil
            waiter.succeed(line)
        } else {
            lines.append(line)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if waiter != nil {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            finish(.success(()))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.success(()))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    private func finish(_ result: Result<Void, any Error>) {
        guard end == nil else { return }
        end = result
        if let waiter {
            self.waiter = nil
            waiter.completeWith(result.map { nil })
        }
    }
}
