import SourcedCore

/// An `execute`: run a chain of commands on one aggregate, atomically.
public struct ExecuteRequest<Model: AggregateModel>: AggregateRequest {
    public let key: AggregateKey
    public var kind: RequestKind { .execute }
    /// The chain, in order; never empty.
    public let commands: [Model.Command]
    /// Run only if the aggregate is at this version (`expect`); `nil` for any version.
    public let expected: UInt64?
    /// The client's id for the command (`command_id`, 1–128 bytes of UTF-8): a repeat gets the
    /// original outcome instead of running again.
    public let commandID: [UInt8]?

    public func accept<Visitor: AggregateRequestVisitor>(_ visitor: Visitor) -> Visitor.Result {
        visitor.execute(self)
    }
}
