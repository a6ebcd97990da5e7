/// Names one aggregate: a model and an id within it. Two keys are the same aggregate iff they are equal.
public struct AggregateKey: Hashable, Sendable, CustomStringConvertible {
    public var model: String
    public var id: AggregateID

    public init(model: String, id: AggregateID) {
        self.model = model
        self.id = id
    }

    public var description: String { "\(model)/\(id)" }
}
