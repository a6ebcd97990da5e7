import SourcedCore

/// An `events`: one page of an aggregate's events.
public struct EventsRequest<Model: AggregateModel>: AggregateRequest {
    public let key: AggregateKey
    public var kind: RequestKind { .events }
    /// Events with versions greater than this are asked for (`from`).
    public let after: UInt64
    /// The most events to return: 1 to ``Request/maximumEventLimit``.
    public let limit: Int

    /// The versions of the page: at most `limit` of them, starting after `after`.
    public var versions: Range<UInt64> {
        let first = after == .max ? .max : after + 1
        let end = first > .max - UInt64(limit) ? .max : first + UInt64(limit)
        return first..<end
    }

    public func accept<Visitor: AggregateRequestVisitor>(_ visitor: Visitor) -> Visitor.Result {
        visitor.events(self)
    }
}
