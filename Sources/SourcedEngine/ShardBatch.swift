import SourcedCore
import SourcedStorage

/// The chains one shard decided in one loop tick, on their way to the commit thread.
struct ShardBatch: Sendable {
    var shard: Shard
    /// The shard's generation when it sent them: see ``Shard/completed(_:)``, which sends what
    /// was decided before it raises the generation.
    var generation: UInt64
    /// In decision order, with position 0 until the commit thread gives them theirs.
    var chains: [CommittedChain]
    /// Where each chain's record goes in its aggregate's log.
    var offsets: [Int]
}

/// What became of a ``ShardBatch``.
enum BatchOutcome: Sendable {
    /// The chains are durable in the global log with consecutive positions from `firstPosition`
    /// and written to their aggregates' logs, except those listed in `failure` and in `stale`.
    /// Those in `failure` are committed and take their positions, but their aggregate log could
    /// not be written, so the store stopped. Those in `stale` (a shared store's only) were not
    /// written and take no position: another writer had appended to their aggregates.
    case committed(firstPosition: UInt64, failure: (error: EngineError, chains: Set<Int>)?, stale: Set<Int> = [])
    /// Nothing of the batch was committed.
    case failed(EngineError, generation: UInt64)
}
