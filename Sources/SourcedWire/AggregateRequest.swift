import SourcedCore

/// A parsed `execute`, `get` or `events` request: work inside one aggregate, its model type
/// known. ``ExecuteRequest``, ``GetRequest`` and ``EventsRequest`` are the only conformers.
public protocol AggregateRequest: Sendable {
    /// The aggregate the request works on, keyed once when parsed.
    var key: AggregateKey { get }
    /// `execute`, `get` or `events`.
    var kind: RequestKind { get }

    /// Calls the one method of `visitor` for this kind of request, with the model type bound: a
    /// witness call, no dynamic cast.
    func accept<Visitor: AggregateRequestVisitor>(_ visitor: Visitor) -> Visitor.Result
}
