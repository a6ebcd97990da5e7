import Logging
import NIOCore
import NIOPosix
import SourcedCore
import SourcedStorage

/// The local logs: a group-committed global log and one log per aggregate in a data directory
/// (`docs/storage-format.md`), written by the ``GlobalCommitter``'s two threads, read on the
/// store's I/O threads. The only writer of its directory, which it locks.
final class LocalChainStore: ChainStore {
    let store: AggregateStore
    private let committer: GlobalCommitter
    private let pool: NIOThreadPool
    private let retention: Int?
    private let logger: Logger

    private init(store: AggregateStore, committer: GlobalCommitter, pool: NIOThreadPool, retention: Int?, logger: Logger) {
        self.store = store
        self.committer = committer
        self.pool = pool
        self.retention = retention
        self.logger = logger
    }

    /// Opens and locks the data directory, reads the global log and reconciles the aggregate logs
    /// with it (``GlobalRecovery``). Starts ``Engine/Configuration/ioThreads`` threads for loads,
    /// reads and the checkpoint.
    static func open(
        _ configuration: Engine.Configuration,
        logger: Logger,
        onFatal: @escaping @Sendable (StorageError) -> Void
    ) async throws -> LocalChainStore {
        let pool = NIOThreadPool(numberOfThreads: configuration.ioThreads)
        pool.start()
        do {
            return try await open(configuration, pool: pool, logger: logger, onFatal: onFatal)
        } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
    }

    private static func open(
        _ configuration: Engine.Configuration,
        pool: NIOThreadPool,
        logger: Logger,
        onFatal: @escaping @Sendable (StorageError) -> Void
    ) async throws -> LocalChainStore {
        let store = try await AggregateStore.open(
            path: configuration.dataDirectory,
            models: configuration.models.models.map { $0.name },
            configuration: .init(
                sync: configuration.sync,
                maximumOpenFiles: configuration.maximumOpenFiles,
                systemCalls: configuration.systemCalls,
                globalSegmentSize: configuration.globalSegmentSize
            ),
            pool: pool,
            logger: logger,
            onFatal: onFatal
        )
        if configuration.sync == .always {
            if store.modelsSyncedPerLog.isEmpty {
                logger.notice("aggregate logs are made durable by one syncfs per file system each checkpoint round")
            } else {
                logger.notice(
                    "syncfs cannot be trusted for some aggregate logs; they are made durable by an fdatasync of each log written, each checkpoint round",
                    metadata: ["models": "\(store.modelsSyncedPerLog.map { "aggregates/\($0.key): \($0.value)" }.sorted().joined(separator: "; "))"]
                )
            }
        }
        do {
            let recovered = try await GlobalRecovery.scan(store)
            logger.info("read the global log", metadata: [
                "last_position": "\(recovered.last)", "segments": "\(recovered.log.segments)", "bytes_read": "\(recovered.log.bytesRead)",
            ])
            let committer = GlobalCommitter(store: store, recovered: recovered)
            do {
                try await GlobalRecovery.reconcile(recovered, store: store, copy: committer, models: configuration.models, logger: logger)
            } catch {
                committer.feed.close()
                try? await pool.runIfActive { committer.stop() }
                throw error
            }
            return LocalChainStore(store: store, committer: committer, pool: pool, retention: configuration.globalRetentionBytes, logger: logger)
        } catch {
            store.directory.close()
            throw error
        }
    }

    var isShared: Bool { false }
    var feed: CommitFeed { committer.feed }
    var lastPosition: UInt64 { committer.lastPosition }
    var committedPosition: UInt64 { committer.lastPosition }
    var groupCommits: Int { committer.groupCommits.current }
    var syncs: Int { store.syncCount }
    var openFiles: Int { store.openFileCount }
    var fatalError: StorageError? { store.fatalError }

    func observeCommits(_ observer: @escaping @Sendable ([CommittedChain]) -> Void) {}

    func enqueue(_ batch: ShardBatch) {
        committer.enqueue(batch)
    }

    func replay<Model: AggregateModel>(
        _ key: AggregateKey,
        into fold: StateFold<Model>,
        after version: UInt64,
        snapshots codec: SnapshotCodec<StateFold<Model>>,
        on loop: any EventLoop
    ) -> EventLoopFuture<AggregateStore.Replay<StateFold<Model>>> {
        precondition(version == 0, "the local logs are never shared: an aggregate is always loaded whole")
        return store.replay(key, into: fold, repairingFrom: committer, snapshots: codec, on: loop)
    }

    func read<Fold: LogFold>(_ key: AggregateKey, length: Int, version: UInt64, into fold: Fold, on loop: any EventLoop) -> EventLoopFuture<Fold> {
        store.read(key, length: length, into: fold, on: loop)
    }

    func chain(at position: UInt64, on loop: any EventLoop) -> EventLoopFuture<CommittedChain?> {
        store.globalChain(at: position, on: loop)
    }

    func readGlobalChains(after position: UInt64) async throws -> [CommittedChain] {
        try await store.readGlobalChains(after: position)
    }

    func readHandlerState(_ name: String) async throws -> (position: UInt64, state: [UInt8])? {
        try await store.readHandlerState(name)
    }

    func writeHandlerState(_ name: String, position: UInt64, state: [UInt8]) async throws {
        try await store.writeHandlerState(name, position: position, state: state)
    }

    func aggregateIDs(of model: String, after: AggregateID?, limit: Int, on loop: any EventLoop) -> EventLoopFuture<DataDirectory.IDPage> {
        let directory = store.directory
        return pool.runIfActive(eventLoop: loop) {
            do {
                return try directory.aggregateIDs(of: model, after: after, limit: limit)
            } catch let error as StorageError {
                throw EngineError(error)
            }
        }
    }

    func openModels(_ models: [String]) async throws {
        try await store.openModels(models)
    }

    func makeSnapshotWriter(interval: UInt64, logger: Logger) -> SnapshotWriter? {
        SnapshotWriter(interval: interval, store: store, logger: logger)
    }

    func maintain(handlersSaved: UInt64) async {
        try? await committer.checkpoint.save(store)
        guard let retention else { return }
        do {
            try await store.dropGlobalSegments(endingBy: min(committer.checkpoint.saved, handlersSaved), keepingBytes: retention)
        } catch {
            logger.warning("cannot drop global segments by retention", metadata: ["error": "\(error)"])
        }
    }

    func checkHealth() async throws(EngineError) {
        if let failure = store.fatalError {
            throw .unavailable(failure.description)
        }
        do {
            try await pool.runIfActive {}
        } catch {
            throw .unavailable("the I/O threads are not running")
        }
    }

    func close() async {
        committer.feed.close()
        try? await committer.checkpoint.save(store)
        let committer = committer
        try? await pool.runIfActive { committer.stop() }
        // Snapshots may still be written: the directory is released once they are.
        try? await pool.shutdownGracefully()
        store.directory.close()
    }
}
