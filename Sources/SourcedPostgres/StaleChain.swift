import SourcedCore

/// A chain a commit was refused for: its aggregate already holds a chain starting at its first
/// version, so whoever decided it saw stale state.
public struct StaleChain: Hashable, Sendable, CustomStringConvertible {
    public var key: AggregateKey
    /// The version the refused chain started at, which the store already holds.
    public var firstVersion: UInt64

    public init(key: AggregateKey, firstVersion: UInt64) {
        self.key = key
        self.firstVersion = firstVersion
    }

    public var description: String { "\(key) already has version \(firstVersion)" }
}
