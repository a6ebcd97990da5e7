import Logging
import NIOCore
import SourcedCore
import SourcedStorage

/// Where the engine keeps committed chains: the local logs (``LocalChainStore``, the default) or
/// PostgreSQL (``PostgresChainStore``). The engine's shards, subscriptions and handlers reach
/// storage only through this seam.
///
/// Every method may be called from any thread; none blocks its caller: file and network I/O run
/// on the store's own threads or connections, and futures complete on the loop given.
protocol ChainStore: AnyObject, Sendable {
    /// Whether other processes may append to the same aggregates (a shared database). Then a
    /// chain may find its first version taken when it is committed: the outcome lists it as stale
    /// (``BatchOutcome/committed(firstPosition:failure:stale:)``), nothing of it is written, and
    /// the shard decides it again on the reloaded aggregate. So that nothing decided on a stale
    /// state reaches the store, a shard then decides a command only while none of its aggregate's
    /// chains is at the store (``Shard``).
    var isShared: Bool { get }

    /// Delivers every committed chain, in position order, to live subscribers.
    var feed: CommitFeed { get }

    /// At a shared store, has `observer` called with the chains every writer commits, in position
    /// order, as the feed gets them, so that the engine can drop what it caches of aggregates
    /// another writer changed. A store that is not shared never calls it.
    func observeCommits(_ observer: @escaping @Sendable ([CommittedChain]) -> Void)

    /// The newest position a reader of the global stream can read up to: the feed's.
    var lastPosition: UInt64 { get }

    /// The newest position known committed: ``lastPosition``, or beyond it a position this
    /// engine committed that the feed has not reached yet (a shared store's feed follows the
    /// database). What `stats` reports, and where a subscription may start; reading the stream
    /// after it waits for the feed.
    var committedPosition: UInt64 { get }

    /// Figures for `stats`.
    var groupCommits: Int { get }
    var syncs: Int { get }
    var openFiles: Int { get }

    /// The failure that stopped writes for good, if one did: the engine reports itself unhealthy.
    var fatalError: StorageError? { get }

    /// Commits `batch`, then answers its shard on the shard's loop (``Shard/completed(_:)``), in
    /// the order the shard sent its batches.
    func enqueue(_ batch: ShardBatch)

    /// Loads aggregate `key`: folds its chains after version `after` into `fold`, which holds
    /// the versions up to it, starting from its snapshot where the store keeps snapshots and
    /// `codec` accepts one. Only a shared store is asked to start after version 0 (an aggregate
    /// catching up with another writer).
    func replay<Model: AggregateModel>(
        _ key: AggregateKey,
        into fold: StateFold<Model>,
        after version: UInt64,
        snapshots codec: SnapshotCodec<StateFold<Model>>,
        on loop: any EventLoop
    ) -> EventLoopFuture<AggregateStore.Replay<StateFold<Model>>>

    /// Folds `key`'s chains up to its durable state into `fold`: its log up to `length` (the
    /// local logs), or its chains up to `version` (PostgreSQL).
    func read<Fold: LogFold>(_ key: AggregateKey, length: Int, version: UInt64, into fold: Fold, on loop: any EventLoop) -> EventLoopFuture<Fold>

    /// The chain at global `position`; `nil` if the store no longer holds it.
    func chain(at position: UInt64, on loop: any EventLoop) -> EventLoopFuture<CommittedChain?>

    /// The next chains of the global stream after `position`, in order, at least one if there is
    /// one up to ``lastPosition``, a bounded amount.
    /// - Throws: ``StorageError/positionDropped(earliest:)`` if retention dropped them.
    func readGlobalChains(after position: UInt64) async throws -> [CommittedChain]

    /// A handler's saved checkpoint, and its replacement.
    func readHandlerState(_ name: String) async throws -> (position: UInt64, state: [UInt8])?
    func writeHandlerState(_ name: String, position: UInt64, state: [UInt8]) async throws

    /// A page of the ids of `model`'s aggregates after `after`, in the byte order of their UTF-8.
    func aggregateIDs(of model: String, after: AggregateID?, limit: Int, on loop: any EventLoop) -> EventLoopFuture<DataDirectory.IDPage>

    /// Prepares to serve `models`, some new (a reload of the catalog).
    func openModels(_ models: [String]) async throws

    /// Writes snapshots of aggregates' states, if the store keeps them.
    func makeSnapshotWriter(interval: UInt64, logger: Logger) -> SnapshotWriter?

    /// The periodic work: the checkpoint and retention; `handlersSaved` is the lowest position
    /// every handler has saved a checkpoint at. Calls do not overlap.
    func maintain(handlersSaved: UInt64) async

    /// Throws if the store cannot serve: a failed sync stopped it, or its threads do not run work.
    func checkHealth() async throws(EngineError)

    /// Commits and answers what is queued, then ends the live feed and releases everything.
    /// Called once, after every shard drained and the last handler stopped.
    func close() async
}
