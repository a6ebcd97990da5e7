import NIOCore
import SourcedCore
import SourcedEngine
import SourcedProjections
import SourcedProtocol

/// Turns request lines into replies, running aggregate work on the engine.
///
/// ``submit(_:)`` returns once the request has its place in its aggregate's order, not when it is
/// done, so a connection can read its next line while earlier commands are still being made
/// durable, and pipelined commands on one connection take effect in the order they were sent.
struct RequestRouter: Sendable {
    /// A reply, or the work that will produce it.
    enum PendingReply: Sendable {
        case ready(ByteBuffer)
        case running(Task<ByteBuffer, Never>)
        /// A subscription: its first reply, then event lines until it ends.
        case stream(ByteBuffer, EventStream)
    }

    let engine: Engine
    /// The read models clients may `query`, by name.
    let projections: [String: any QueryableProjection]
    let statistics: @Sendable () -> JSONValue

    ///
    /// `onReply` is called with the size of the reply as soon as it is computed, before it is
    /// written, so the connection can bound the bytes it buffers.
    func submit(_ line: ByteBuffer, onReply: @escaping @Sendable (Int) -> Void) async -> PendingReply {
        func ready(_ bytes: ByteBuffer) -> PendingReply {
            onReply(bytes.readableBytes)
            return .ready(bytes)
        }
        guard line.readableBytes > 0 else {
            return ready(Reply.failure(ProtocolError(.badRequest, "empty line; send one JSON object per line"), req: nil))
        }
        let request: Request
        do {
            request = try Request(line: line.readableBytesView, catalog: engine.configuration.models)
        } catch {
            return ready(Reply.failure(error, req: nil))
        }
        switch request.operation {
        case .aggregate(let call):
            let queued = Latch<Void>()
            let engine = engine
            let task = Task {
                let reply = await call.run(on: engine, req: request.req, onQueued: { queued.fire() })
                queued.fire()
                onReply(reply.readableBytes)
                return reply
            }
            await queued.wait()
            return .running(task)
        case .query(let name, let parameters):
            guard let projection = projections[name] else {
                let known = projections.keys.sorted().joined(separator: ", ")
                return ready(Reply.failure(ProtocolError(.unknownProjection, "unknown projection \"\(name)\"; projections: \(known)"), req: request.req))
            }
            do {
                var members: [String: JSONValue] = ["projection": .string(name)]
                if case .object(let result) = try await projection.query(parameters) {
                    members.merge(result) { current, _ in current }
                }
                return ready(Reply.success(members, req: request.req))
            } catch {
                return ready(Reply.failure(ProtocolError(.badRequest, "query \(name): \(error)"), req: request.req))
            }
        case .models:
            return ready(Reply.success(ModelsBody(catalog: engine.configuration.models), req: request.req))
        case .stats:
            return ready(Reply.success(["stats": statistics()], req: request.req))
        case .ping:
            return ready(Reply.success(["pong": true], req: request.req))
        case .subscribe(let from, let model, let id):
            let newest = engine.statistics.position
            let start = from ?? newest
            guard start <= newest else {
                return ready(Reply.failure(ProtocolError(.badRequest, "from \(start) is beyond the newest position \(newest)"), req: request.req))
            }
            do {
                let subscription = try await engine.subscribe(after: start, model: model, id: id)
                let confirmation = Reply.success(["subscribed": true, "from": .integer(Int64(clamping: start))], req: request.req)
                onReply(confirmation.readableBytes)
                return .stream(confirmation, EventStream(subscription))
            } catch {
                return ready(Reply.failure(ProtocolError(error), req: request.req))
            }
        case .invalid(let error):
            return ready(Reply.failure(error, req: request.req))
        }
    }
}

/// The reply body of `models`.
struct ModelsBody: Encodable, Sendable {
    struct Model: Encodable, Sendable {
        var name: String
        var commands: [CommandDescription]
    }

    var models: [Model]

    init(catalog: ModelCatalog) {
        models = catalog.models.map { Model(name: $0.name, commands: $0.commands) }
    }
}
