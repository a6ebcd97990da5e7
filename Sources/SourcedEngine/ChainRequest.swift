import SourcedCore

/// A command chain as a client asked for it: what a shard decides, and decides again after a
/// shared store found its aggregate stale (``ChainStore/isShared``).
struct ChainRequest<Model: AggregateModel> {
    var commands: [Model.Command]
    /// The version the client expects the aggregate at, if it named one.
    var expected: UInt64?
    var commandID: [UInt8]?
    /// How many times it was decided, this time included.
    var attempt = 1
}
