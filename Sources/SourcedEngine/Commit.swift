import SourcedCore

/// What an accepted command chain did: its events, durable, and the state they led to.
public struct Commit<Model: AggregateModel>: Sendable {
    /// The aggregate's version after the chain: the version of its last event.
    public var version: UInt64
    /// The chain's position in the global commit order; 0 if it recorded no events.
    public var position: UInt64
    /// The chain's events in order; event `i` has version `version - events.count + 1 + i`.
    public var events: [Model.Event]
    /// The state after the chain.
    public var state: Model.State?
    /// The events as the JSON array the logs hold: the bytes the engine wrote, for a reply to
    /// reuse instead of encoding the events again. Empty for a chain that recorded nothing.
    public var encodedEvents: [UInt8] = []
    /// Whether this is the outcome of an earlier request with the same command id, not decided
    /// again: its version, position and events are the original's, its state the aggregate's now.
    public var duplicate = false

    /// The version of the chain's first event.
    public var firstVersion: UInt64 { version - UInt64(events.count) + 1 }
}

/// An aggregate's durable state as of one version.
public struct Snapshot<Model: AggregateModel>: Sendable {
    /// The number of events the state folds; 0 for an aggregate never created.
    public var version: UInt64
    /// The state, `nil` for an aggregate never created.
    public var state: Model.State?
}
