import NIOCore
import SourcedCore
import SourcedEngine
import SourcedWire

/// Runs an aggregate request on its shard, on the shard's loop, and calls `reply` there with the
/// reply line.
struct AggregateRequestRunner: AggregateRequestVisitor {
    let shard: Shard
    /// The request's `req`, for the reply.
    let req: [UInt8]?
    let reply: (ByteBuffer) -> Void

    func execute<Model: AggregateModel>(_ request: ExecuteRequest<Model>) {
        let (key, req, reply) = (request.key, req, reply)
        shard.execute(Model.self, key: key, commands: request.commands, expecting: request.expected, commandID: request.commandID) { result in
            switch result {
            case .success(let commit):
                reply(Reply.commit(
                    key: key, version: commit.version, position: commit.position, events: commit.encodedEvents, state: commit.state,
                    duplicate: commit.duplicate, req: req
                ))
            case .failure(let error):
                reply(Reply.failure(ProtocolError(error), req: req))
            }
        }
    }

    func get<Model: AggregateModel>(_ request: GetRequest<Model>) {
        let (key, req, reply) = (request.key, req, reply)
        shard.snapshot(Model.self, key: key) { result in
            reply(Self.reply(result, req: req) { SnapshotBody<Model>(model: key.model, id: key.id, version: $0.version, state: $0.state) })
        }
    }

    func events<Model: AggregateModel>(_ request: EventsRequest<Model>) {
        let (key, req, reply) = (request.key, req, reply)
        shard.events(Model.self, key: key, versions: request.versions) { result in
            reply(Self.reply(result, req: req) { page in
                let events = page.events.map { EventsBody<Model>.Item(version: $0.version, timestamp: $0.timestamp, event: $0.event) }
                return EventsBody<Model>(model: key.model, id: key.id, version: page.snapshot.version, events: events)
            })
        }
    }

    /// The reply line for an outcome: the encoded `body` of a success, or the error.
    private static func reply<Success>(_ result: Result<Success, EngineError>, req: [UInt8]?, _ body: (Success) -> some Encodable) -> ByteBuffer {
        switch result {
        case .success(let value): Reply.success(body(value), req: req)
        case .failure(let error): Reply.failure(ProtocolError(error), req: req)
        }
    }
}
