/// What became of one chain a shard sent to its store.
enum ChainOutcome {
    /// Durable at this global position.
    case committed(UInt64)
    /// Not written, or not known to be (``EngineError/outcomeUnknown(_:)``).
    case failed(EngineError)
    /// Not written: another writer of a shared store appended to the aggregate first.
    case stale
}
