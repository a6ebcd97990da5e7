import SourcedCore
import SourcedWire

/// What the metrics, the slow-request log and the monitor say about a request: its kind and,
/// for aggregate requests and filtered subscriptions, its model and id. Never its commands.
struct RequestSummary: Sendable {
    var kind: RequestKind
    var model: String?
    var id: AggregateID?

    init(kind: RequestKind, model: String? = nil, id: AggregateID? = nil) {
        self.kind = kind
        self.model = model
        self.id = id
    }

    init(_ request: Request) {
        switch request.operation {
        case .aggregate(let aggregate):
            self.init(kind: aggregate.kind, model: aggregate.key.model, id: aggregate.key.id)
        case .subscribe(_, let model, let id):
            self.init(kind: .subscribe, model: model, id: id)
        default:
            self.init(kind: request.kind)
        }
    }
}
