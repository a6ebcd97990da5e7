/// Names one aggregate: a model and an id within it. Two keys are the same aggregate iff they are equal.
///
/// The hash is computed once, when the key is made: every request looks its key up several times
/// (registry, LRU order, file-descriptor cache), and hashing two strings each time showed in profiles.
public struct AggregateKey: Hashable, Sendable, CustomStringConvertible {
    public let model: String
    public let id: AggregateID
    private let hash: Int

    public init(model: String, id: AggregateID) {
        self.model = model
        self.id = id
        var hasher = Hasher()
        hasher.combine(model)
        hasher.combine(id)
        hash = hasher.finalize()
    }

    public var description: String { "\(model)/\(id)" }

    public static func == (lhs: AggregateKey, rhs: AggregateKey) -> Bool {
        lhs.hash == rhs.hash && lhs.id == rhs.id && lhs.model == rhs.model
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(hash)
    }
}
