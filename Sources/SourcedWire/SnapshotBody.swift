import SourcedCore

/// The reply body of a `get`: `"model":M,"id":I,"version":V,"state":{...}` (`state` `null` for an
/// aggregate never created).
public struct SnapshotBody<Model: AggregateModel>: Encodable, Sendable {
    /// The model's name: `Model`'s, or a ``DynamicModel``'s program's.
    public var model: String
    public var id: AggregateID
    /// The number of events the state folds.
    public var version: UInt64
    public var state: Model.State?

    public init(model: String = Model.name, id: AggregateID, version: UInt64, state: Model.State?) {
        self.model = model
        self.id = id
        self.version = version
        self.state = state
    }

    private enum Key: String, CodingKey {
        case model, id, version, state
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(model, forKey: .model)
        try container.encode(id.rawValue, forKey: .id)
        try container.encode(version, forKey: .version)
        try container.encode(state, forKey: .state)
    }
}
