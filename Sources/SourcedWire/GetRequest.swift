import SourcedCore

/// A `get`: one aggregate's state and version.
public struct GetRequest<Model: AggregateModel>: AggregateRequest {
    public let key: AggregateKey
    public var kind: RequestKind { .get }

    public func accept<Visitor: AggregateRequestVisitor>(_ visitor: Visitor) -> Visitor.Result {
        visitor.get(self)
    }
}
