import SourcedCore

/// What start-up found in the global log (``AggregateStore/recoverGlobalLog(checkpoint:)``).
public struct GlobalLogRecovery: Sendable {
    /// The position of the last record, 0 for an empty log.
    public var last: UInt64
    /// The position of each aggregate's newest chain, by ``NewestPositionTable/slot(of:)``.
    public var newest: [Int: UInt64]
    /// The aggregates with chains after the checkpoint, in the order of their first such chain.
    public var pending: [AggregateKey]
    /// How many segments the log has.
    public var segments: Int
    /// How many bytes of segment files start-up read.
    public var bytesRead: Int
}
