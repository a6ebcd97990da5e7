// libFuzzer target: the server's request parser must never crash on a line, and what it accepts
// must hold the protocol's limits. Built by scripts/fuzz against the SourcedServer module compiled
// with -enable-testing, the way the router decodes a line: Request(line:catalog:) with the built-in catalog.
import Foundation
@testable import SourcedServer
import SourcedCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequests(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let line = UnsafeRawBufferPointer(start: start, count: count)
    guard let request = try? Request(line: line, catalog: ModelCatalog.builtIn) else { return 0 }
    switch request.operation {
    case .aggregate(let call as EventsCall<Counter>):
        precondition((1...Request.maximumEventLimit).contains(call.limit))
    case .aggregate(let call as EventsCall<Account>):
        precondition((1...Request.maximumEventLimit).contains(call.limit))
    case .aggregate(let call as ExecuteCall<Counter>):
        precondition(!call.commands.isEmpty)
    case .aggregate(let call as ExecuteCall<Account>):
        precondition(!call.commands.isEmpty)
    case .subscribe(_, let model, let id):
        precondition(id == nil || model != nil)
    case .invalid(let error):
        precondition(!error.message.isEmpty)
    case .aggregate, .models, .stats, .ping, .query:
        break
    }
    return 0
}
