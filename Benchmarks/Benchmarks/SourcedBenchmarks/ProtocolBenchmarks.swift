import Benchmark
import NIOCore
import SourcedCore
import SourcedJSON
import SourcedWire

// 5. Request parsing and reply encoding: SourcedWire's own `Request(line:catalog:)` and `Reply`,
// called as the server calls them. The execute reply is given its events as encoded bytes, as the
// engine hands them over (`Commit.encodedEvents`, the bytes the logs hold): encoding events is
// the engine's work, measured by the `Record` rows.

/// The key and commands of a parsed counter `execute`, read the way the server's runner reads a
/// request: through the visitor.
private struct CounterExecute: AggregateRequestVisitor {
    func execute<Model: AggregateModel>(_ request: ExecuteRequest<Model>) -> (key: AggregateKey, commands: [Counter.Command])? {
        (request.commands as? [Counter.Command]).map { (request.key, $0) }
    }

    func get<Model: AggregateModel>(_ request: GetRequest<Model>) -> (key: AggregateKey, commands: [Counter.Command])? { nil }

    func events<Model: AggregateModel>(_ request: EventsRequest<Model>) -> (key: AggregateKey, commands: [Counter.Command])? { nil }
}

private func parse(_ line: ByteBuffer) throws -> Request {
    try Request(line: line.readableBytesView, catalog: ModelCatalog.builtIn)
}

func registerProtocolBenchmarks() {
    let executeLine = ByteBuffer(string: #"{"op":"execute","model":"counter","id":"order-42","command":{"type":"increment"},"req":17}"#)
    let getLine = ByteBuffer(string: #"{"op":"get","model":"counter","id":"order-42","req":"r-17"}"#)
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        scalingFactor: .kilo,
        maxDuration: .seconds(2)
    )
    let events = try! JSONStreamEncoder().encode([TaggedCoding(Counter.Event.incremented(count: 41))])

    // Check once that the requests parse and the replies read as documented.
    let request = try! parse(executeLine)
    guard case .aggregate(let aggregate) = request.operation, let execute = aggregate.accept(CounterExecute()) else {
        preconditionFailure("not a counter execute: \(request.operation)")
    }
    precondition(execute.commands == [.increment] && request.req == Array("17".utf8))
    let key = execute.key
    let reply = Reply.commit(key: key, version: 42, position: 4_242, events: events, state: Counter.State(count: 41), req: request.req)
    precondition(
        String(buffer: reply)
            == #"{"ok":true,"model":"counter","id":"order-42","version":42,"position":4242,"events":[{"type":"incremented","count":41}],"state":{"count":41},"req":17}"# + "\n",
        String(buffer: reply)
    )
    let get = try! parse(getLine)
    let snapshot = Reply.success(SnapshotBody<Counter>(id: key.id, version: 42, state: Counter.State(count: 41)), req: get.req)
    precondition(
        String(buffer: snapshot) == #"{"ok":true,"model":"counter","id":"order-42","version":42,"state":{"count":41},"req":"r-17"}"# + "\n",
        String(buffer: snapshot)
    )

    /// The reply to the `index`-th increment of counter `key`.
    func executeReply(_ key: AggregateKey, _ index: Int, req: [UInt8]?) -> ByteBuffer {
        Reply.commit(
            key: key, version: UInt64(index + 2), position: UInt64(index + 1_000), events: events,
            state: Counter.State(count: index + 1), req: req
        )
    }

    Benchmark("Protocol: parse an execute request line", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try parse(executeLine))
        }
    }

    Benchmark("Protocol: encode an execute reply line", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations {
            blackHole(executeReply(key, index, req: request.req))
        }
    }

    Benchmark("Protocol: parse an execute request + encode its reply", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations {
            let request = try parse(executeLine)
            guard case .aggregate(let aggregate) = request.operation else { throw BenchmarkFailure("not an aggregate request") }
            blackHole(executeReply(aggregate.key, index, req: request.req))
        }
    }

    Benchmark("Protocol: parse a get request + encode its reply", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations {
            let request = try parse(getLine)
            guard case .aggregate(let aggregate) = request.operation else { throw BenchmarkFailure("not an aggregate request") }
            let body = SnapshotBody<Counter>(id: aggregate.key.id, version: UInt64(index + 1), state: Counter.State(count: index))
            blackHole(Reply.success(body, req: request.req))
        }
    }
}
