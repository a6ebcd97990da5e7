// libFuzzer target: the request parser must never crash on a line, and what it accepts must hold
// the protocol's limits. Built by scripts/fuzz against the package's modules; uses SourcedWire's
// public API only, the way the router decodes a line: Request(line:catalog:) with the built-in
// catalog.
import SourcedCore
import SourcedJSON
import SourcedWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequests(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let line = UnsafeRawBufferPointer(start: start, count: count)
    guard let request = try? Request(line: line, catalog: ModelCatalog.builtIn) else { return 0 }
    if let req = request.req {
        precondition((try? JSONParser.parse(req)) != nil, "req is echoed as it came: it must be one JSON value")
    }
    switch request.operation {
    case .aggregate(let aggregate):
        aggregate.accept(LimitCheck())
    case .subscribe(_, let model, let id):
        precondition(id == nil || model != nil)
    case .invalid(let error):
        precondition(!error.message.isEmpty)
    case .models, .stats, .ping, .query:
        break
    }
    return 0
}

/// Stops the process if a parsed aggregate request is outside the protocol's limits.
struct LimitCheck: AggregateRequestVisitor {
    func execute<Model: AggregateModel>(_ request: ExecuteRequest<Model>) {
        precondition(!request.commands.isEmpty && request.key.model == Model.name)
    }

    func get<Model: AggregateModel>(_ request: GetRequest<Model>) {
        precondition(request.key.model == Model.name)
    }

    func events<Model: AggregateModel>(_ request: EventsRequest<Model>) {
        precondition((1...Request.maximumEventLimit).contains(request.limit) && request.key.model == Model.name)
        precondition(request.versions.count <= request.limit)
        precondition(request.versions.isEmpty || request.versions.lowerBound > request.after)
    }
}
