extension Request.Operation {
    /// Which operation this is; `invalid` for a request whose fields are wrong.
    var kind: RequestKind {
        switch self {
        case .aggregate(let request): request.kind
        case .models, .reloadModels: .models
        case .stats: .stats
        case .ping: .ping
        case .monitor: .monitor
        case .list: .list
        case .subscribe: .subscribe
        case .query: .query
        case .invalid: .invalid
        }
    }
}
