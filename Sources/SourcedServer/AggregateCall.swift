import NIOCore
import SourcedCore
import SourcedEngine
import SourcedJSON
import SourcedWire

/// A request that works inside one aggregate, with its model type known.
protocol AggregateCall: Sendable {
    /// The aggregate the request works on, keyed once when parsed: it decides the shard.
    var key: AggregateKey { get }

    /// Runs the request on `shard`, on its loop, and calls `reply` there with the reply line.
    func run(on shard: Shard, req: JSONValue?, _ reply: @escaping (ByteBuffer) -> Void)
}

extension Result where Failure == EngineError {
    /// The reply line for this outcome: the encoded `body` of a success, or the error.
    func reply<Body: Encodable & Sendable>(req: JSONValue?, _ body: (Success) -> Body) -> ByteBuffer {
        switch self {
        case .success(let value): Reply.success(body(value), req: req)
        case .failure(let error): Reply.failure(ProtocolError(error), req: req)
        }
    }
}

struct ExecuteCall<Model: AggregateModel>: AggregateCall {
    let key: AggregateKey
    var commands: [Model.Command]
    var expected: UInt64?


    func run(on shard: Shard, req: JSONValue?, _ reply: @escaping (ByteBuffer) -> Void) {
        shard.execute(Model.self, key: key, commands: commands, expecting: expected) { result in
            switch result {
            case .success(let commit): reply(Reply.commit(commit, id: key.id, req: req))
            case .failure(let error): reply(Reply.failure(ProtocolError(error), req: req))
            }
        }
    }
}

struct GetCall<Model: AggregateModel>: AggregateCall {
    let key: AggregateKey


    func run(on shard: Shard, req: JSONValue?, _ reply: @escaping (ByteBuffer) -> Void) {
        shard.snapshot(Model.self, key: key) { result in
            reply(result.reply(req: req) { SnapshotBody(id: key.id, snapshot: $0) })
        }
    }
}

struct EventsCall<Model: AggregateModel>: AggregateCall {
    let key: AggregateKey
    /// Events with versions greater than this are returned.
    var after: UInt64
    var limit: Int


    func run(on shard: Shard, req: JSONValue?, _ reply: @escaping (ByteBuffer) -> Void) {
        let first = after == .max ? .max : after + 1
        let end = first > .max - UInt64(limit) ? .max : first + UInt64(limit)
        shard.events(Model.self, key: key, versions: first..<end) { result in
            reply(result.reply(req: req) { EventsBody(id: key.id, version: $0.snapshot.version, events: $0.events) })
        }
    }
}
