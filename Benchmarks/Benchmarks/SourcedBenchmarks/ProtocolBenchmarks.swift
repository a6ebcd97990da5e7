import Benchmark
import Foundation
import NIOCore
import SourcedCore
import SourcedJSON
import SourcedWire

// 5. Request parsing and reply encoding.
//
// The server's `Request`, `Reply`, `CommitBody` and `SnapshotBody` are internal to SourcedServer,
// and `Commit`/`Snapshot` have no public initializers, so these benchmarks mirror them with the
// same public building blocks and the same coders: `JSONParser` into a `JSONValue`, each field
// decoded with `JSONNodeDecoder`, `JSONValue` for `req`, `AggregateID` validation,
// `TaggedCoding<Counter.Command>` for the command; and `JSONStreamEncoder` over an envelope
// `{"ok":true, ...body, "req":...}` plus a newline, into a `ByteBuffer`, as `Request(line:catalog:)`
// and `Reply` do.
//
// The `JSONEnvelope` rows read the same fields from a `JSONEnvelope` scan instead of a tree, and
// write the same reply with `JSONWriter` (events and state still through `JSONStreamEncoder`,
// `req` echoed as its raw text): what `Request` and `Reply` cost once they use those.

/// Mirrors `Request` for the `execute` and `get` ops of the counter model. `Req` is how `req` is
/// kept: a `JSONValue` (as `Request` keeps it), or the range of its raw text in the line.
private struct RequestMirror<Req> {
    var req: Req?
    var op: String
    var model: String
    var id: AggregateID
    var commands: [Counter.Command]
    var expected: UInt64?

    private enum Field: String, CodingKey {
        case op, model, id, command, commands, expect
    }

    init(line: ByteBuffer, catalog: ModelCatalog) throws where Req == JSONValue {
        let request = try JSONParser.parse(line.readableBytesView)
        func field<T: Decodable>(_ type: T.Type, _ field: Field) throws -> T? {
            guard let node = request[field.rawValue], node != .null else { return nil }
            return try JSONNodeDecoder().decode(type, from: node, codingPath: [field])
        }
        req = request["req"]
        guard let op = try field(String.self, .op) else { throw BenchmarkFailure("missing field \"op\"") }
        self.op = op
        guard let model = try field(String.self, .model) else { throw BenchmarkFailure("missing field \"model\"") }
        self.model = model
        guard catalog.model(named: model) == Counter.self else { throw BenchmarkFailure("unknown model") }
        guard let id = try field(String.self, .id) else { throw BenchmarkFailure("missing field \"id\"") }
        self.id = try AggregateID(id)
        switch op {
        case "execute":
            expected = try field(UInt64.self, .expect)
            switch (try field(TaggedCoding<Counter.Command>.self, .command), try field([TaggedCoding<Counter.Command>].self, .commands)) {
            case (let command?, nil):
                commands = [command.value]
            case (nil, let chain?):
                commands = chain.map(\.value)
            default:
                throw BenchmarkFailure("execute needs command or commands")
            }
        case "get":
            commands = []
        default:
            throw BenchmarkFailure("unexpected op \(op)")
        }
    }

    /// The same fields and checks read from a `JSONEnvelope`, without a tree.
    init(_ request: JSONEnvelope, catalog: ModelCatalog) throws where Req == Range<Int> {
        req = request.valueRange(forKey: "req")
        op = try request.decode(String.self, forKey: Field.op)
        model = try request.decode(String.self, forKey: Field.model)
        guard catalog.model(named: model) == Counter.self else { throw BenchmarkFailure("unknown model") }
        id = try AggregateID(try request.decode(String.self, forKey: Field.id))
        switch op {
        case "execute":
            expected = try request.decodeIfPresent(UInt64.self, forKey: Field.expect)
            let command = try request.decodeIfPresent(TaggedCoding<Counter.Command>.self, forKey: Field.command)
            let chain = try request.decodeIfPresent([TaggedCoding<Counter.Command>].self, forKey: Field.commands)
            switch (command, chain) {
            case (let command?, nil): commands = [command.value]
            case (nil, let chain?): commands = chain.map(\.value)
            default: throw BenchmarkFailure("execute needs command or commands")
            }
        case "get":
            commands = []
        default:
            throw BenchmarkFailure("unexpected op \(op)")
        }
    }
}

/// Scans `line` and runs `body` with the request and the line's bytes (for `req`'s raw text).
private func scan<Result>(_ line: ByteBuffer, _ body: (RequestMirror<Range<Int>>, UnsafeRawBufferPointer) throws -> Result) throws -> Result {
    try line.withUnsafeReadableBytes { bytes in
        try body(RequestMirror(JSONEnvelope(bytes), catalog: ModelCatalog.builtIn), bytes)
    }
}

/// `Reply.success(CommitBody)` written with `JSONWriter`: the envelope and scalars token by
/// token, events and state through `JSONStreamEncoder`, `req` echoed as it came.
private func writtenLine(_ body: CommitBodyMirror, req: UnsafeRawBufferPointer?) throws -> ByteBuffer {
    var writer = JSONWriter(minimumCapacity: 256)
    writer.beginObject()
    writer.writeKey("ok")
    writer.write(true)
    writer.writeKey("model")
    writer.write(Counter.name)
    writer.writeKey("id")
    writer.write(body.id.rawValue)
    writer.writeKey("version")
    writer.write(body.version)
    if body.position > 0 {
        writer.writeKey("position")
        writer.write(body.position)
    }
    writer.writeKey("events")
    writer.beginArray()
    for event in body.events {
        try writer.write(encoding: TaggedCoding(event))
    }
    writer.endArray()
    writer.writeKey("state")
    try writer.write(encoding: body.state)
    if let req {
        writer.writeKey("req")
        writer.writeRaw(req)
    }
    writer.endObject()
    writer.bytes.append(0x0A)
    return ByteBuffer(bytes: writer.bytes)
}

private func parse(_ line: ByteBuffer) throws -> RequestMirror<JSONValue> {
    try RequestMirror(line: line, catalog: ModelCatalog.builtIn)
}

/// Mirrors `Reply`'s envelope.
private struct Envelope<Body: Encodable>: Encodable {
    var body: Body
    var req: JSONValue?

    private enum Key: String, CodingKey {
        case ok, error, req
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(true, forKey: .ok)
        try body.encode(to: encoder)
        try container.encodeIfPresent(req, forKey: .req)
    }
}

/// Mirrors `CommitBody<Counter>`.
private struct CommitBodyMirror: Encodable {
    var id: AggregateID
    var version: UInt64
    var position: UInt64
    var events: [Counter.Event]
    var state: Counter.State?

    private enum Key: String, CodingKey {
        case model, id, version, position, events, state
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(Counter.name, forKey: .model)
        try container.encode(id.rawValue, forKey: .id)
        try container.encode(version, forKey: .version)
        if position > 0 {
            try container.encode(position, forKey: .position)
        }
        try container.encode(events.map { TaggedCoding($0) }, forKey: .events)
        try container.encode(state, forKey: .state)
    }
}

/// Mirrors `SnapshotBody<Counter>`.
private struct SnapshotBodyMirror: Encodable {
    var id: AggregateID
    var version: UInt64
    var state: Counter.State?

    private enum Key: String, CodingKey {
        case model, id, version, state
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(Counter.name, forKey: .model)
        try container.encode(id.rawValue, forKey: .id)
        try container.encode(version, forKey: .version)
        try container.encode(state, forKey: .state)
    }
}

/// `Reply.line`: JSON, a newline, into a `ByteBuffer`.
private func line(_ value: some Encodable) throws -> ByteBuffer {
    var bytes = try JSONStreamEncoder().encode(value)
    bytes.append(0x0A)
    return ByteBuffer(bytes: bytes)
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

    // Check the mirrors once: they must accept the requests and produce the documented replies.
    let request = try! parse(executeLine)
    precondition(request.op == "execute" && request.commands == [.increment] && request.req == .integer(17))
    let reply = try! line(Envelope(
        body: CommitBodyMirror(id: request.id, version: 42, position: 4_242, events: [.incremented(count: 41)], state: .init(count: 41)),
        req: request.req
    ))
    precondition(
        String(buffer: reply)
            == #"{"ok":true,"model":"counter","id":"order-42","version":42,"position":4242,"events":[{"type":"incremented","count":41}],"state":{"count":41},"req":17}"# + "\n",
        String(buffer: reply)
    )

    // The envelope and the writer must read and write the same.
    let written = try! scan(executeLine) { scanned, bytes in
        precondition(scanned.op == request.op && scanned.id == request.id && scanned.commands == request.commands)
        return try writtenLine(
            CommitBodyMirror(id: scanned.id, version: 42, position: 4_242, events: [.incremented(count: 41)], state: .init(count: 41)),
            req: scanned.req.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
        )
    }
    precondition(written == reply, String(buffer: written))

    /// The reply body of the `index`-th increment of counter `id`.
    func executeReply(_ id: AggregateID, _ index: Int) -> CommitBodyMirror {
        CommitBodyMirror(
            id: id, version: UInt64(index + 2), position: UInt64(index + 1_000),
            events: [.incremented(count: index + 1)], state: .init(count: index + 1)
        )
    }

    Benchmark("Protocol: parse an execute request line", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try parse(executeLine))
        }
    }

    Benchmark("Protocol: encode an execute reply line", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations {
            blackHole(try line(Envelope(body: executeReply(request.id, index), req: request.req)))
        }
    }

    Benchmark("Protocol: parse an execute request + encode its reply", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations {
            let request = try parse(executeLine)
            blackHole(try line(Envelope(body: executeReply(request.id, index), req: request.req)))
        }
    }

    Benchmark("Protocol: parse a get request + encode its reply", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations {
            let request = try parse(getLine)
            let body = SnapshotBodyMirror(id: request.id, version: UInt64(index + 1), state: .init(count: index))
            blackHole(try line(Envelope(body: body, req: request.req)))
        }
    }

    Benchmark("Protocol: scan an execute request line (JSONEnvelope)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try scan(executeLine) { request, _ in request })
        }
    }

    Benchmark("Protocol: write an execute reply line (JSONWriter)", configuration: configuration) { benchmark in
        try executeLine.withUnsafeReadableBytes { bytes in
            let req = try JSONEnvelope(bytes).rawValue(forKey: "req")
            for index in benchmark.scaledIterations {
                blackHole(try writtenLine(executeReply(request.id, index), req: req))
            }
        }
    }

    Benchmark("Protocol: scan an execute request + write its reply (JSONEnvelope, JSONWriter)", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations {
            blackHole(try scan(executeLine) { request, bytes in
                try writtenLine(executeReply(request.id, index), req: request.req.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) })
            })
        }
    }
}
