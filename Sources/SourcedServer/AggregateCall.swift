import NIOCore
import SourcedCore
import SourcedEngine
import SourcedProtocol

/// A request that works inside one aggregate, with its model type known.
protocol AggregateCall: Sendable {
    /// Runs the request and encodes its reply. `onQueued` is called once the request has its place
    /// in the aggregate's order (see ``Engine/execute(_:id:commands:expecting:onQueued:)``).
    func run(on engine: Engine, req: JSONValue?, onQueued: @escaping @Sendable () -> Void) async -> ByteBuffer
}

extension AggregateCall {
    /// Encodes the outcome of an engine call as a reply line.
    func reply<Body: Encodable & Sendable>(
        req: JSONValue?,
        _ body: () async throws(EngineError) -> Body
    ) async -> ByteBuffer {
        do {
            return Reply.success(try await body(), req: req)
        } catch {
            return Reply.failure(ProtocolError(error), req: req)
        }
    }
}

struct ExecuteCall<Model: AggregateModel>: AggregateCall {
    var id: AggregateID
    var commands: [Model.Command]
    var expected: UInt64?

    func run(on engine: Engine, req: JSONValue?, onQueued: @escaping @Sendable () -> Void) async -> ByteBuffer {
        await reply(req: req) { () throws(EngineError) in
            let commit = try await engine.execute(Model.self, id: id, commands: commands, expecting: expected, onQueued: onQueued)
            return CommitBody(id: id, commit: commit)
        }
    }
}

struct GetCall<Model: AggregateModel>: AggregateCall {
    var id: AggregateID

    func run(on engine: Engine, req: JSONValue?, onQueued: @escaping @Sendable () -> Void) async -> ByteBuffer {
        await reply(req: req) { () throws(EngineError) in
            SnapshotBody(id: id, snapshot: try await engine.snapshot(Model.self, id: id, onQueued: onQueued))
        }
    }
}

struct EventsCall<Model: AggregateModel>: AggregateCall {
    var id: AggregateID
    /// Events with versions greater than this are returned.
    var after: UInt64
    var limit: Int

    func run(on engine: Engine, req: JSONValue?, onQueued: @escaping @Sendable () -> Void) async -> ByteBuffer {
        await reply(req: req) { () throws(EngineError) in
            let first = after == .max ? .max : after + 1
            let end = first > .max - UInt64(limit) ? .max : first + UInt64(limit)
            let page = try await engine.events(Model.self, id: id, versions: first..<end, onQueued: onQueued)
            return EventsBody(id: id, version: page.snapshot.version, events: page.events)
        }
    }
}
