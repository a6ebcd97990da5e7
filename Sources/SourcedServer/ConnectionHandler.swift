import DequeModule
import Logging
import NIOCore
import SourcedEngine
import SourcedWire

/// Serves one connection on its event loop: request lines in, reply lines out, in request order.
///
/// Each line is parsed and routed where it is read. Work for an aggregate of this loop's shard
/// starts at once, inside the read; work for another loop's shard is handed over once per read
/// burst. Every request takes a slot in the connection's reply order when it is read; a reply
/// fills its slot whenever it is computed, and replies leave in slot order, flushed once per read
/// burst or once per completed commit.
///
/// Bounded whatever the client does: the connection stops reading while `pipelineDepth` requests
/// are unanswered or unwritten, or while more than `replyBufferBytes` of written replies wait for
/// the client to read them (the channel's high water mark). Below those bounds it keeps reading,
/// so a client that writes many requests before it reads any reply never deadlocks.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = RequestLineDecoder.Frame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Slot {
        /// A request being answered elsewhere: read at `started` (``RequestRecorder/now``).
        case waiting(RequestSummary, started: UInt64)
        case ready(ByteBuffer)
        /// A reply made once every reply before it is written (``RequestRouter/Route/inTurn(_:)``).
        case inTurn(RequestSummary, started: UInt64, () -> ByteBuffer)
        /// A subscription's confirmation: once written, the connection only streams its events.
        case stream(ByteBuffer, EventStream)
        /// A `monitor`'s confirmation: once written, the connection only gets monitor lines.
        case monitor(ByteBuffer)
    }

    private enum State {
        /// Waiting for the peer's credentials; nothing is read.
        case verifying
        case serving
        /// No more requests are read; the connection closes once every reply is written.
        case finishing
        /// Streaming a subscription; further lines are ignored.
        case streaming(EventStream)
        /// Watching requests (`monitor`), from when its confirmation is written (`nil` before);
        /// further lines are ignored.
        case monitoring(RequestMonitor.Watcher?)
        /// Refused: what the client sends is read and dropped until the connection closes.
        case refused
        case closed
    }

    /// Work read in this burst for shards of other loops, sent at the end of the burst.
    private struct Handover: @unchecked Sendable {
        var shard: Shard
        var calls: [() -> Void]
    }

    private let router: RequestRouter
    private let engine: Engine
    private let configuration: UnixSocketServer.Configuration
    private let connections: ConnectionTable
    private let metrics: RequestMetrics
    /// This loop's recorder, set when the handler is added to its channel.
    private var recorder: RequestRecorder!
    private let logger: Logger

    private var state = State.verifying
    private var context: ChannelHandlerContext!
    private var slots = Deque<Slot>()
    /// The number of the request whose reply is `slots.first`.
    private var firstSlot: UInt64 = 0
    private var reading = false
    private var readPending = false
    private var unflushed = false
    private var flushScheduled = false
    private var handovers: [Handover] = []
    /// Bytes of replies computed but held in their slots, not yet written to the channel.
    private var heldBytes = 0
    /// Requests handed to other loops' shards and not answered yet.
    private var remoteInFlight = 0
    /// The most requests one connection has in flight on other loops' shards: their replies are
    /// computed there, out of this connection's sight, so only their number bounds their bytes.
    static let maximumRemoteInFlight = 32
    /// Frames read while the connection was over its bounds, handled in order once it is not.
    private var deferred = Deque<RequestLineDecoder.Frame>()
    private var handlingDeferred = false
    /// The client's input ended (or the server stopped reading it); what was read is still served.
    private var inputEnded = false
    /// Whether the server stopped reading this connection because it shuts down
    /// (``ServerStopping``), not because the client ended its input.
    private var serverStopping = false

    init(
        router: RequestRouter,
        configuration: UnixSocketServer.Configuration,
        connections: ConnectionTable,
        metrics: RequestMetrics,
        logger: Logger
    ) {
        self.router = router
        self.engine = router.engine
        self.configuration = configuration
        self.connections = connections
        self.metrics = metrics
        self.logger = logger
    }

    // MARK: - Admission

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        recorder = metrics.recorder(for: context.eventLoop)
    }

    func channelActive(context: ChannelHandlerContext) {
        if let refusal = connections.admit(context.channel) {
            if refusal.shouldLog {
                logger.warning("connection refused", metadata: ["reason": "\(refusal.reason)", "refused_so_far": "\(refusal.total)"])
            }
            refuse(ProtocolError(.unavailable, refusal.reason))
        } else if configuration.access.isOpen {
            state = .serving
        } else {
            PeerCredentials.of(context.channel).assumeIsolated().whenComplete { result in
                guard case .verifying = self.state else { return }
                let peer = (try? result.get()) ?? nil
                guard let peer, self.configuration.access.allows(peer) else {
                    let who = peer.map { "uid \($0.uid) (gid \($0.gid), pid \($0.pid))" } ?? "a peer whose credentials cannot be read"
                    let refusal = self.connections.refuse(because: "not allowed")
                    if refusal.shouldLog {
                        self.logger.warning("connection refused", metadata: ["reason": "not allowed", "peer": "\(who)", "refused_so_far": "\(refusal.total)"])
                    }
                    let message = "\(who) may not use this daemon; it allows the uids and gids given by --allow-uid and --allow-gid"
                    return self.refuse(ProtocolError(.forbidden, message))
                }
                self.state = .serving
                self.resumeReading()
            }
        }
        context.fireChannelActive()
    }

    /// Answers a refused connection with one error line and closes it. What the client already
    /// sent is read and dropped first (for at most a second): closing a Unix socket with unread
    /// input resets it, and the client would lose the reply.
    private func refuse(_ error: ProtocolError) {
        state = .refused
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(Reply.failure(error, req: nil))).assumeIsolated().whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
        context.read()
        context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) {
            channel.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .streaming(let stream) = state {
            stream.subscription.cancel()
        }
        if case .monitoring(let watcher?) = state {
            metrics.monitor.remove(watcher)
        }
        state = .closed
        connections.remove(context.channel)
        context.fireChannelInactive()
    }

    // MARK: - Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .serving = state else { return }
        let frame = unwrapInboundIn(data)
        guard deferred.isEmpty, withinBounds else {
            // One read can hold many lines: past the bounds they wait, unparsed and small.
            deferred.append(frame)
            return
        }
        reading = true
        handle(frame)
    }

    private func handle(_ frame: RequestLineDecoder.Frame) {
        switch frame {
        case .line(let line):
            route(line)
        case .tooLong:
            finish(with: ProtocolError(.tooLarge, "request line exceeds \(configuration.maximumLineBytes) bytes; closing the connection"))
        case .unterminated where serverStopping:
            // The daemon stopped reading (shutting down) while a line was still arriving.
            finish(with: ProtocolError(.unavailable, "sourced is shutting down; the unfinished request was not read, send it again"))
        case .unterminated:
            finish(with: ProtocolError(.badRequest, "the input ended inside a request; end every request with a newline"))
        }
    }

    private func route(_ line: ByteBuffer) {
        let number = firstSlot + UInt64(slots.count)
        let started = RequestRecorder.now
        let (summary, route) = router.route(line)
        switch route {
        case .reply(let bytes):
            recorder.record(summary, reply: bytes, started: started)
            slots.append(.ready(bytes))
            heldBytes += bytes.readableBytes
            writeReady()
        case .inTurn(let make):
            slots.append(.inTurn(summary, started: started, make))
            writeReady()
        case .aggregate(let request, let req):
            slots.append(.waiting(summary, started: started))
            let shard = engine.shard(for: request.key)
            if shard.loop === context.eventLoop {
                request.accept(AggregateRequestRunner(shard: shard, req: req) { self.fill(number, $0) })
            } else {
                let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
                remoteInFlight += 1
                handOver(to: shard) {
                    request.accept(AggregateRequestRunner(shard: shard, req: req) { bytes in
                        loop.eventLoop.execute {
                            loop.value.remoteInFlight -= 1
                            loop.value.fill(number, bytes)
                        }
                    })
                }
            }
        case .query(let projection, let name, let parameters, let req):
            slots.append(.waiting(summary, started: started))
            let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
            Task {
                let bytes = await RequestRouter.answer(projection, name: name, parameters: parameters, req: req)
                loop.eventLoop.execute { loop.value.fill(number, bytes) }
            }
        case .stream(let confirmation, let stream):
            recorder.record(summary, reply: confirmation, started: started)
            slots.append(.stream(confirmation, stream))
            state = .streaming(stream)
            writeReady()
        case .list(let model, let after, let limit, let req):
            slots.append(.waiting(summary, started: started))
            engine.aggregateIDs(of: model, after: after, limit: limit, on: context.eventLoop).assumeIsolated().whenComplete { result in
                self.fill(number, RequestRouter.listed(result, model: model, req: req))
            }
        case .reloadModels(let models, let req):
            slots.append(.waiting(summary, started: started))
            let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
            Task {
                let bytes = await RequestRouter.reload(models, req: req)
                loop.eventLoop.execute { loop.value.fill(number, bytes) }
            }
        case .monitor(let confirmation):
            recorder.record(summary, reply: confirmation, started: started)
            slots.append(.monitor(confirmation))
            state = .monitoring(nil)
            writeReady()
        }
    }

    private func handOver(to shard: Shard, _ call: @escaping () -> Void) {
        if let index = handovers.firstIndex(where: { $0.shard === shard }) {
            handovers[index].calls.append(call)
        } else {
            handovers.append(Handover(shard: shard, calls: [call]))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        sendHandovers()
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    /// Sends the work gathered for other loops' shards: one hop per shard.
    private func sendHandovers() {
        for handover in handovers {
            handover.shard.loop.execute {
                handover.calls.forEach { $0() }
            }
        }
        handovers = []
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ServerStopping {
            serverStopping = true
            if case .monitoring = state {
                // A monitor has no end of its own: it ends with the daemon.
                context.close(promise: nil)
            }
            return
        }
        if case .inputClosed = event as? ChannelEvent {
            switch state {
            case .serving, .verifying:
                inputEnded = true
                // Frames decoded at the end of the input arrive outside a read burst.
                reading = false
                flushIfNeeded()
                resumeReading()
            case .streaming, .monitoring:
                // A client that only shut down its writing side (`nc -N`, `socat` at the end of
                // its input) still reads: the stream goes on until it ends or the client closes.
                break
            case .refused:
                context.close(promise: nil)
            case .finishing, .closed:
                break
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is IncompleteLineTimeout.Expired {
            finish(with: ProtocolError(.badRequest, "a request line stayed incomplete for \(configuration.incompleteLineTimeout); closing the connection"))
        } else {
            logger.debug("connection failed", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    /// Queues a final error reply, reads nothing more and closes once every reply is written.
    private func finish(with error: ProtocolError) {
        guard case .serving = state else { return }
        let reply = Reply.failure(error, req: nil)
        slots.append(.ready(reply))
        heldBytes += reply.readableBytes
        state = .finishing
        writeReady()
    }

    // MARK: - Backpressure

    func read(context: ChannelHandlerContext) {
        if mayRead || isRefused {
            context.read()
        } else {
            readPending = true
        }
    }

    private var isRefused: Bool {
        if case .refused = state { return true }
        return false
    }

    /// Whether the connection may take on another request.
    private var withinBounds: Bool {
        slots.count < configuration.pipelineDepth && context.channel.isWritable && heldBytes <= configuration.replyBufferBytes
            && remoteInFlight < Self.maximumRemoteInFlight
    }

    private var mayRead: Bool {
        guard case .serving = state else { return false }
        return deferred.isEmpty && withinBounds
    }

    private func resumeReading() {
        if !handlingDeferred {
            // Handling a frame writes replies, which calls back here: one loop, not a recursion.
            handlingDeferred = true
            while !deferred.isEmpty, withinBounds {
                guard case .serving = state else {
                    deferred = []
                    break
                }
                handle(deferred.removeFirst())
            }
            handlingDeferred = false
            if !reading { sendHandovers() }
        }
        if inputEnded, deferred.isEmpty {
            if case .serving = state { state = .finishing }
            if case .verifying = state { state = .finishing }
            return closeIfDone()
        }
        guard readPending, mayRead else { return }
        readPending = false
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writeReady()
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Writing

    /// Fills request `number`'s slot with its reply and writes every reply now due.
    private func fill(_ number: UInt64, _ bytes: ByteBuffer) {
        guard number >= firstSlot, case .waiting(let summary, let started) = slots[Int(number - firstSlot)] else { return }
        recorder.record(summary, reply: bytes, started: started)
        slots[Int(number - firstSlot)] = .ready(bytes)
        heldBytes += bytes.readableBytes
        writeReady()
    }

    /// Writes the replies at the head of the order that are ready, while the channel takes them:
    /// past its high water mark they wait in their slots (counted in `heldBytes`) until the
    /// client reads.
    private func writeReady() {
        if case .closed = state { return }
        loop: while let first = slots.first, context.channel.isWritable {
            switch first {
            case .waiting:
                break loop
            case .ready(let bytes):
                heldBytes -= bytes.readableBytes
                context.write(wrapOutboundOut(bytes), promise: nil)
            case .inTurn(let summary, let started, let make):
                let reply = make()
                recorder.record(summary, reply: reply, started: started)
                context.write(wrapOutboundOut(reply), promise: nil)
            case .stream(let confirmation, let stream):
                context.write(wrapOutboundOut(confirmation), promise: nil)
                startStreaming(stream)
            case .monitor(let confirmation):
                context.write(wrapOutboundOut(confirmation), promise: nil)
                state = .monitoring(metrics.monitor.add(context.channel))
            }
            slots.removeFirst()
            firstSlot += 1
            unflushed = true
        }
        if !reading {
            scheduleFlush()
        }
        resumeReading()
        closeIfDone()
    }

    private func scheduleFlush() {
        guard unflushed, !flushScheduled else { return }
        flushScheduled = true
        // After every commit completion of this loop tick: one flush for all of them.
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            self.flushIfNeeded()
        }
    }

    private func flushIfNeeded() {
        guard unflushed else { return }
        unflushed = false
        context.flush()
    }

    /// Closes a finishing connection once its last reply is written.
    private func closeIfDone() {
        guard case .finishing = state, slots.isEmpty else { return }
        state = .closed
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// Streams a subscription's events until it ends (it fell behind, the client left, or the
    /// daemon stops), then closes the connection. Each batch of lines is written and flushed
    /// (one write) before the next is taken, so a client that does not read holds one batch in
    /// the daemon and falls behind.
    private func startStreaming(_ stream: EventStream) {
        let channel = context.channel
        Task {
            while let lines = await stream.nextLines() {
                do {
                    try await channel.writeAndFlush(lines).get()
                } catch {
                    stream.subscription.cancel()
                }
            }
            try? await channel.writeAndFlush(ByteBuffer()).get()
            channel.close(promise: nil)
        }
    }
}
