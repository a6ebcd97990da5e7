import Logging
import NIOCore
import SourcedCore
import SourcedPostgres
import SourcedStorage
import Synchronization

/// Chains in PostgreSQL (``PostgresEventStore``), which several daemons may share: positions
/// are the database's, so every daemon's subscribers see one gapless global order.
///
/// **Commits**: the batches shards send while a commit is at the database form the next group
/// commit, one statement and one transaction. A chain whose aggregate another writer appended to
/// first makes the database refuse the statement and name the stale chains; the rest is sent
/// again at once without them, and the shards decide the stale ones again on the reloaded
/// aggregates (``BatchOutcome/committed(firstPosition:failure:stale:)``). A commit whose
/// connection is lost answers `outcome_unknown`; its aggregates are reloaded from the database,
/// and a command id makes the client's retry safe.
///
/// **The live feed** carries every daemon's chains in position order. A commit of this daemon
/// that follows the last chain published is published at once, before its commands are
/// answered; the rest comes from following the database: woken by `LISTEN`
/// (``PostgresCommitListener``), the feed reads the chains after the last it published. A lost
/// listener is started again (on whichever host of the connection string now qualifies) and the
/// feed goes on where it stopped.
///
/// Aggregates are loaded by folding their chains (no snapshots); handler checkpoints are rows.
final class PostgresChainStore: ChainStore {
    private struct Queue {
        var batches: [ShardBatch] = []
        var waiter: CheckedContinuation<[ShardBatch]?, Never>?
        var closed = false
    }

    let events: PostgresEventStore
    let feed: CommitFeed
    private let settings: PostgresConnectionSettings
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let queue = Mutex(Queue())
    private let commits = Atomic<Int>(0)
    /// The newest position this daemon committed.
    private let committed = Atomic<UInt64>(0)
    /// Serializes publishing to the feed: the committer and the follower both publish, each
    /// only what follows the last position published, which this holds.
    private let publishing: Mutex<UInt64>
    /// Whom ``publishInOrder(_:)`` tells of the chains it published.
    private let observer = Mutex(CommitObserver?.none)
    private let tasks = Mutex<(committer: Task<Void, Never>?, tail: Task<Void, Never>?)>((nil, nil))

    private init(events: PostgresEventStore, last: UInt64, settings: PostgresConnectionSettings, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.events = events
        self.settings = settings
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        feed = CommitFeed(last: last)
        publishing = Mutex(last)
    }

    /// Connects, migrates the schema, and starts the committer and the feed.
    /// - Throws: ``PostgresStoreError``.
    static func open(_ settings: PostgresConnectionSettings, eventLoopGroup: any EventLoopGroup, logger: Logger) async throws -> PostgresChainStore {
        let events = try await PostgresEventStore.open(settings, eventLoopGroup: eventLoopGroup, logger: logger)
        let listener: PostgresCommitListener
        do {
            listener = try await PostgresCommitListener.start(settings, eventLoopGroup: eventLoopGroup, logger: logger)
        } catch {
            await events.close()
            throw error
        }
        let store = PostgresChainStore(events: events, last: listener.newestPosition, settings: settings, eventLoopGroup: eventLoopGroup, logger: logger)
        logger.info("serving chains from PostgreSQL", metadata: ["server": "\(settings)", "last_position": "\(listener.newestPosition)"])
        store.tasks.withLock { tasks in
            tasks.committer = Task { await store.runCommits() }
            tasks.tail = Task { await store.follow(listener) }
        }
        return store
    }

    var isShared: Bool { true }
    var lastPosition: UInt64 { feed.lastPosition }
    var committedPosition: UInt64 { max(feed.lastPosition, committed.load(ordering: .relaxed)) }
    var groupCommits: Int { commits.load(ordering: .relaxed) }
    var syncs: Int { 0 }
    var openFiles: Int { 0 }
    var fatalError: StorageError? { nil }

    func observeCommits(_ observer: @escaping @Sendable ([CommittedChain]) -> Void) {
        self.observer.withLock { $0 = CommitObserver(call: observer) }
    }

    /// Publishes the chains of `chains` after the last position published, if they follow it
    /// without a gap, and tells the observer; returns the last position published.
    @discardableResult
    private func publishInOrder(_ chains: [CommittedChain]) -> UInt64 {
        publishing.withLock { last in
            let fresh = chains.drop { $0.position <= last }
            guard let first = fresh.first, first.position == last + 1 else { return last }
            let published = Array(fresh)
            feed.publish(published)
            observer.withLock { $0 }?.call(published)
            last = published[published.count - 1].position
            return last
        }
    }

    // MARK: - Commits

    func enqueue(_ batch: ShardBatch) {
        let waiter = queue.withLock { queue -> CheckedContinuation<[ShardBatch]?, Never>? in
            queue.batches.append(batch)
            guard let waiter = queue.waiter else { return nil }
            queue.waiter = nil
            defer { queue.batches = [] }
            return waiter
        }
        waiter?.resume(returning: [batch])
    }

    /// Every batch waiting, once there is one; `nil` once closed and empty.
    private func nextBatches() async -> [ShardBatch]? {
        await withCheckedContinuation { continuation in
            let ready = queue.withLock { queue -> [ShardBatch]?? in
                if !queue.batches.isEmpty {
                    defer { queue.batches = [] }
                    return .some(queue.batches)
                }
                if queue.closed { return .some(nil) }
                queue.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func runCommits() async {
        while let batches = await nextBatches() {
            await commit(batches)
        }
    }

    /// Commits the chains of `batches` in one transaction, leaving out those of aggregates found
    /// stale, and answers every batch.
    private func commit(_ batches: [ShardBatch]) async {
        var stale: Set<AggregateKey> = []
        while true {
            let chains = batches.flatMap { $0.chains.filter { !stale.contains($0.key) } }
            var first: UInt64 = 0
            if !chains.isEmpty {
                do {
                    let written = try await events.commit(chains)
                    first = written[0].position
                    commits.add(1, ordering: .relaxed)
                    committed.max(written[written.count - 1].position, ordering: .relaxed)
                    // Subscribers and a `stats` sent after these commands see them at once,
                    // unless another daemon's chains come first: the follower publishes those.
                    publishInOrder(written)
                } catch .stale(let refused) where !Set(refused.map(\.key)).isSubset(of: stale) {
                    // Each round leaves out at least one more aggregate, so this ends.
                    let keys = Set(refused.map(\.key))
                    logger.debug("chains were stale: another writer appended first", metadata: ["aggregates": "\(keys.count)"])
                    stale.formUnion(keys)
                    continue
                } catch {
                    let failure = Self.engineError(error)
                    for batch in batches {
                        answer(batch, .failed(failure, generation: batch.generation))
                    }
                    return
                }
            }
            for batch in batches {
                var refused: Set<Int> = []
                for (index, chain) in batch.chains.enumerated() where stale.contains(chain.key) {
                    refused.insert(index)
                }
                answer(batch, .committed(firstPosition: first, failure: nil, stale: refused))
                first += UInt64(batch.chains.count - refused.count)
            }
            return
        }
    }

    private func answer(_ batch: ShardBatch, _ outcome: BatchOutcome) {
        let shard = batch.shard
        shard.loop.execute { shard.completed(outcome) }
    }

    /// What a failed commit means to a client.
    private static func engineError(_ error: PostgresStoreError) -> EngineError {
        switch error {
        case .outcomeUnknown(let reason):
            .outcomeUnknown("the connection to PostgreSQL was lost while committing (\(reason)): the command may or may not have been recorded; send it again with the same command_id to find out")
        case .corrupt(let reason):
            .corrupt(reason)
        default:
            .unavailable("PostgreSQL did not commit: \(error)")
        }
    }

    // MARK: - The live feed

    /// Publishes the chains the database commits, in position order, for as long as the store is
    /// open; starts the listener again whenever it is lost.
    private func follow(_ first: PostgresCommitListener) async {
        var listener: PostgresCommitListener? = first
        var delay = Duration.milliseconds(50)
        while !Task.isCancelled {
            do {
                if listener == nil {
                    listener = try await PostgresCommitListener.start(settings, eventLoopGroup: eventLoopGroup, logger: logger)
                    logger.notice("listening for commits again", metadata: ["last_position": "\(feed.lastPosition)"])
                }
                var published = feed.lastPosition
                let newest = try await listener!.wait(after: published)
                delay = .milliseconds(50)
                while published < newest {
                    let chains = try await events.chains(after: published)
                    guard !chains.isEmpty else { break }
                    published = publishInOrder(chains)
                }
            } catch is CancellationError {
                break
            } catch {
                guard !Task.isCancelled else { break }
                logger.warning("lost the commit feed from PostgreSQL; subscribers wait until it is back", metadata: ["error": "\(error)"])
                await listener?.close()
                listener = nil
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
        await listener?.close()
    }

    // MARK: - Reads

    func replay<Model: AggregateModel>(
        _ key: AggregateKey,
        into fold: StateFold<Model>,
        after version: UInt64,
        snapshots codec: SnapshotCodec<StateFold<Model>>,
        on loop: any EventLoop
    ) -> EventLoopFuture<AggregateStore.Replay<StateFold<Model>>> {
        let events = events
        let promise = loop.makePromise(of: AggregateStore.Replay<StateFold<Model>>.self)
        promise.completeWithTask {
            var fold = fold
            var position: UInt64 = 0
            let version = try await Self.mapped {
                try await events.replay(key, after: version) { chain in
                    try chain.apply(to: &fold)
                    position = chain.position
                }
            }
            return AggregateStore.Replay(fold: fold, version: version, length: 0, position: position)
        }
        return promise.futureResult
    }

    func read<Fold: LogFold>(_ key: AggregateKey, length: Int, version: UInt64, into fold: Fold, on loop: any EventLoop) -> EventLoopFuture<Fold> {
        let events = events
        let promise = loop.makePromise(of: Fold.self)
        promise.completeWithTask {
            var fold = fold
            _ = try await Self.mapped {
                try await events.replay(key) { chain in
                    guard chain.lastVersion <= version else { return }
                    try chain.apply(to: &fold)
                }
            }
            return fold
        }
        return promise.futureResult
    }

    func chain(at position: UInt64, on loop: any EventLoop) -> EventLoopFuture<CommittedChain?> {
        let events = events
        let promise = loop.makePromise(of: CommittedChain?.self)
        promise.completeWithTask { try await Self.mapped { try await events.chain(at: position) } }
        return promise.futureResult
    }

    func readGlobalChains(after position: UInt64) async throws -> [CommittedChain] {
        // Only what the feed published: a subscription switches to live at the feed's position.
        // One that starts at a position this daemon committed first waits for the feed.
        await feed.waitUntilPublished(position)
        let through = feed.lastPosition
        guard position < through else { return [] }
        return try await Self.mapped {
            try await events.chains(after: position, limit: Int(min(through - position, UInt64(PostgresEventStore.defaultPageSize))))
        }
    }

    func readHandlerState(_ name: String) async throws -> (position: UInt64, state: [UInt8])? {
        try await Self.mapped { try await events.readHandlerState(name) }
    }

    func writeHandlerState(_ name: String, position: UInt64, state: [UInt8]) async throws {
        try await Self.mapped { try await events.writeHandlerState(name, position: position, state: state) }
    }

    func aggregateIDs(of model: String, after: AggregateID?, limit: Int, on loop: any EventLoop) -> EventLoopFuture<DataDirectory.IDPage> {
        let events = events
        let promise = loop.makePromise(of: DataDirectory.IDPage.self)
        promise.completeWithTask { try await Self.mapped { try await events.aggregateIDs(of: model, after: after, limit: limit) } }
        return promise.futureResult
    }

    /// Runs `body`, turning the store's errors into the engine's.
    private static func mapped<Result>(_ body: () async throws -> Result) async throws(EngineError) -> Result {
        do {
            return try await body()
        } catch let error as PostgresStoreError {
            if case .corrupt(let reason) = error { throw .corrupt(reason) }
            throw .unavailable("PostgreSQL: \(error)")
        } catch {
            throw EngineError(error)
        }
    }

    // MARK: - Lifecycle

    func openModels(_ models: [String]) async throws {}

    func makeSnapshotWriter(interval: UInt64, logger: Logger) -> SnapshotWriter? { nil }

    func maintain(handlersSaved: UInt64) async {}

    func checkHealth() async throws(EngineError) {}

    func close() async {
        let waiter = queue.withLock { queue in
            queue.closed = true
            defer { queue.waiter = nil }
            return queue.waiter
        }
        waiter?.resume(returning: nil)
        let (committer, tail) = tasks.withLock { ($0.committer, $0.tail) }
        await committer?.value
        tail?.cancel()
        await tail?.value
        feed.close()
        await events.close()
    }
}
