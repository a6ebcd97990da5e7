import NIOCore
import SourcedCore
import SourcedEngine
import SourcedJSON
import SourcedProjections
import SourcedStorage
import SourcedWire

/// Turns a request line into its reply, or into the work that produces it.
///
/// Everything answered from memory (`models`, `stats`, `ping`, errors) is answered here, at once;
/// aggregate work goes to a shard, queries and subscriptions to the engine's edges.
struct RequestRouter: Sendable {
    /// What a request line asks for.
    enum Route {
        /// The reply, known at once.
        case reply(ByteBuffer)
        /// A reply made when its turn to be written comes, after the replies to the requests
        /// before it on the connection: figures (`stats`) then include what those did.
        case inTurn(() -> ByteBuffer)
        /// Work inside one aggregate, to run on its shard.
        case aggregate(any AggregateRequest, req: [UInt8]?)
        /// A question to a read model; `parameters` is the whole request object.
        case query(any QueryableProjection, name: String, parameters: JSONValue, req: [UInt8]?)
        /// A subscription: its first reply, then event lines until it ends.
        case stream(ByteBuffer, EventStream)
        /// A `monitor`: its first reply, then a line per request the daemon answers.
        case monitor(ByteBuffer)
        /// A page of a model's aggregate ids, read on the I/O threads.
        case list(model: String, after: AggregateID?, limit: Int, req: [UInt8]?)
        /// A reload of the models, off the event loop (it reads files).
        case reloadModels(any ModelReloader, req: [UInt8]?)
    }

    let engine: Engine
    /// The read models clients may `query`, by name.
    let projections: [String: any QueryableProjection]
    /// What reloads the models; `nil` when the daemon has no models directory.
    let models: (any ModelReloader)?
    let statistics: @Sendable () -> JSONValue

    /// The route of a request line, and what the metrics and the monitor say about it.
    func route(_ line: ByteBuffer) -> (RequestSummary, Route) {
        guard line.readableBytes > 0 else {
            return (RequestSummary(kind: .invalid), .reply(Reply.failure(ProtocolError(.badRequest, "empty line; send one JSON object per line"), req: nil)))
        }
        let request: Request
        do {
            request = try Request(line: line.readableBytesView, catalog: engine.models)
        } catch {
            return (RequestSummary(kind: .invalid), .reply(Reply.failure(error, req: nil)))
        }
        return (RequestSummary(request), route(request))
    }

    private func route(_ request: Request) -> Route {
        switch request.operation {
        case .aggregate(let aggregateRequest):
            return .aggregate(aggregateRequest, req: request.req)
        case .query(let name, let parameters):
            guard let projection = projections[name] else {
                let known = projections.keys.sorted().joined(separator: ", ")
                let message = known.isEmpty
                    ? "unknown projection \"\(name)\"; this daemon runs none (start it with --projection)"
                    : "unknown projection \"\(name)\"; projections: \(known)"
                return .reply(Reply.failure(ProtocolError(.unknownProjection, message), req: request.req))
            }
            return .query(projection, name: name, parameters: parameters, req: request.req)
        case .models:
            return .reply(Reply.success(ModelsBody(catalog: engine.models), req: request.req))
        case .reloadModels:
            guard let models else {
                return .reply(Reply.failure(ProtocolError(.reloadRefused, ModelReloadError.noModelsDirectory.description), req: request.req))
            }
            return .reloadModels(models, req: request.req)
        case .stats:
            return .inTurn { [statistics] in Reply.success(members: ["stats": statistics()], req: request.req) }
        case .ping:
            return .reply(Reply.success(members: ["pong": true], req: request.req))
        case .monitor:
            return .monitor(Reply.success(members: ["monitoring": true], req: request.req))
        case .list(let model, let after, let limit):
            return .list(model: model, after: after, limit: limit, req: request.req)
        case .subscribe(let from, let model, let id):
            let newest = engine.statistics.position
            let start = from ?? newest
            guard start <= newest else {
                return .reply(Reply.failure(ProtocolError(.badRequest, "from \(start) is beyond the newest position \(newest)"), req: request.req))
            }
            do {
                let subscription = try engine.subscribe(after: start, model: model, id: id)
                let confirmation = Reply.success(members: ["subscribed": true, "from": .integer(start)], req: request.req)
                return .stream(confirmation, EventStream(subscription))
            } catch {
                return .reply(Reply.failure(ProtocolError(error), req: request.req))
            }
        case .invalid(let error):
            return .reply(Reply.failure(error, req: request.req))
        }
    }

    /// The reply to a `list`: `{"ok":true,"model":M,"ids":[...],"more":B}`.
    static func listed(_ result: Result<DataDirectory.IDPage, any Error>, model: String, req: [UInt8]?) -> ByteBuffer {
        switch result {
        case .success(let page):
            return Reply.success(members: [
                "model": .string(model), "ids": .array(page.ids.map { .string($0.rawValue) }), "more": .bool(page.more),
            ], req: req)
        case .failure(let error as EngineError):
            return Reply.failure(ProtocolError(error), req: req)
        case .failure:
            // The I/O threads stopped: the daemon is shutting down.
            return Reply.failure(ProtocolError(.unavailable, "sourced is shutting down"), req: req)
        }
    }

    /// The reply to a `models` reload: `{"ok":true,"reloaded":true,"added":[...],"changed":[...],
    /// "removed":[...],"unchanged":[...]}` (model names, sorted), or `reload_refused`.
    static func reload(_ models: any ModelReloader, req: [UInt8]?) async -> ByteBuffer {
        do {
            let changes = try await models.reloadModels()
            func names(_ names: [String]) -> JSONValue { .array(names.map { .string($0) }) }
            return Reply.success(members: [
                "reloaded": true, "added": names(changes.added), "changed": names(changes.changed),
                "removed": names(changes.removed), "unchanged": names(changes.unchanged),
            ], req: req)
        } catch .shuttingDown {
            return Reply.failure(ProtocolError(.unavailable, ModelReloadError.shuttingDown.description), req: req)
        } catch {
            return Reply.failure(ProtocolError(.reloadRefused, error.description), req: req)
        }
    }

    /// The reply to a query, once the projection answered.
    static func answer(_ projection: any QueryableProjection, name: String, parameters: JSONValue, req: [UInt8]?) async -> ByteBuffer {
        do {
            var members = [JSONValue.Member(key: "projection", value: .string(name))]
            if case .object(let result) = try await projection.query(parameters) {
                members += result.filter { $0.key != "projection" }
            }
            return Reply.success(members: .object(members), req: req)
        } catch {
            return Reply.failure(ProtocolError(.badRequest, "query \(name): \(error)"), req: req)
        }
    }
}
