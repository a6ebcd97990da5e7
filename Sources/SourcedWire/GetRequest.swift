import SourcedCore

/// A `get`: one aggregate's state and version.
public struct GetRequest<Model: AggregateModel>: AggregateRequest {
    public let key: AggregateKey

    public func accept<Visitor: AggregateRequestVisitor>(_ visitor: Visitor) -> Visitor.Result {
        visitor.get(self)
    }
}
