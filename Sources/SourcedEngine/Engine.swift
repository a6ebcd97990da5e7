import Logging
import NIOPosix
import SourcedCore
import SourcedStorage
import Synchronization

/// Sourced's engine: one actor per live aggregate over durable per-aggregate logs.
///
/// Commands for one aggregate run one at a time inside its instance, so they never race and need
/// no optimistic locking; a command on a loaded aggregate costs O(1). Commands for different
/// aggregates run in parallel. A command is answered only once its events are durable.
///
/// All file I/O runs on the engine's own thread pool, never on the caller's executor.
public final class Engine: Sendable {
    public struct Configuration: Sendable {
        /// Where the logs live; created if missing, locked while the engine runs.
        public var dataDirectory: String
        /// The models served.
        public var models: ModelCatalog
        /// The most aggregates kept in memory.
        public var maximumAggregates: Int
        /// Aggregates unused this long are dropped from memory.
        public var idleTimeout: Duration
        /// When appends are made durable.
        public var sync: SyncMode
        /// How often the checkpoint advances: with sync `always`, the aggregate logs are made
        /// durable this often. Recovery after a crash redoes at most about this much work.
        public var checkpointInterval: Duration
        /// The most log files open at once.
        public var maximumOpenFiles: Int
        /// Threads doing file I/O; syncs of different logs proceed in parallel up to this number.
        public var ioThreads: Int
        /// Chains that may wait for a slow subscriber before it is told it fell behind.
        public var subscriptionBuffer: Int
        /// In-process event handlers, fed every committed chain after commit.
        public var handlers: [any EventHandler]
        /// The system calls storage writes, syncs and opens with; tests inject faults here.
        public var systemCalls: SystemCalls

        public init(
            dataDirectory: String,
            models: ModelCatalog = .builtIn,
            maximumAggregates: Int = 100_000,
            idleTimeout: Duration = .seconds(300),
            checkpointInterval: Duration = .seconds(1),
            sync: SyncMode = .always,
            maximumOpenFiles: Int = 1024,
            ioThreads: Int = 32,
            subscriptionBuffer: Int = 10_000,
            handlers: [any EventHandler] = [],
            systemCalls: SystemCalls = .posix
        ) {
            self.dataDirectory = dataDirectory
            self.models = models
            self.maximumAggregates = maximumAggregates
            self.idleTimeout = idleTimeout
            self.sync = sync
            self.checkpointInterval = checkpointInterval
            self.maximumOpenFiles = maximumOpenFiles
            self.ioThreads = ioThreads
            self.subscriptionBuffer = subscriptionBuffer
            self.handlers = handlers
            self.systemCalls = systemCalls
        }
    }

    private struct Lifecycle {
        var accepting = true
        var active = 0
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    public let configuration: Configuration
    private let store: AggregateStore
    private let committer: GlobalCommitter
    private let handlers: [HandlerRunner]
    private let pool: NIOThreadPool
    private let registry: AggregateRegistry
    private let counters: EngineCounters
    private let lifecycle = Mutex(Lifecycle())
    /// Evicts idle aggregates and saves the global checkpoint, until shutdown.
    private let maintenance: Task<Void, Never>

    /// Opens the data directory and starts the engine.
    ///
    /// - Parameter onFatal: called once if storage fails in a way only a restart can recover from
    ///   (a failed sync); the engine refuses writes from then on, and the owner should exit.
    /// - Throws: ``SourcedStorage/StorageError/locked(directory:owner:)`` if another process uses
    ///   the directory, or an I/O error.
    public static func start(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "sourced.engine"),
        onFatal: @escaping @Sendable (StorageError) -> Void = { _ in }
    ) async throws -> Engine {
        precondition(configuration.maximumAggregates > 0 && configuration.ioThreads > 0)
        var configuration = configuration
        if configuration.sync == .always, !AggregateStore.fileSystemSyncReportsErrors {
            // Sync `always` trusts one syncfs to report any failed write-back; before Linux 5.8
            // it did not, so every log is synced on its own instead.
            logger.warning("this kernel's syncfs does not report write-back errors (Linux before 5.8); using sync every-log")
            configuration.sync = .everyLog
        }
        let pool = NIOThreadPool(numberOfThreads: configuration.ioThreads)
        pool.start()
        do {
            let store = try await AggregateStore.open(
                path: configuration.dataDirectory,
                models: configuration.models.models.map { $0.name },
                configuration: .init(
                    sync: configuration.sync,
                    maximumOpenFiles: configuration.maximumOpenFiles,
                    systemCalls: configuration.systemCalls
                ),
                pool: pool,
                logger: logger,
                onFatal: onFatal
            )
            let recovered = try await GlobalRecovery.run(store, models: configuration.models, logger: logger)
            let committer = GlobalCommitter(store: store, recovered: recovered)
            let handlers = configuration.handlers.map { HandlerRunner($0, store: store, committer: committer) }
            var started: [HandlerRunner] = []
            do {
                for handler in handlers {
                    try await handler.start()
                    started.append(handler)
                }
            } catch {
                for handler in started {
                    await handler.stop()
                }
                committer.feed.close()
                throw error
            }
            return Engine(configuration, store, committer, handlers, pool)
        } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
    }

    private init(
        _ configuration: Configuration,
        _ store: AggregateStore,
        _ committer: GlobalCommitter,
        _ handlers: [HandlerRunner],
        _ pool: NIOThreadPool
    ) {
        self.configuration = configuration
        self.store = store
        self.committer = committer
        self.handlers = handlers
        self.pool = pool
        let counters = EngineCounters()
        self.counters = counters
        let registry = AggregateRegistry(capacity: configuration.maximumAggregates, counters: counters)
        self.registry = registry
        let timeout = configuration.idleTimeout
        let checkpointInterval = configuration.checkpointInterval
        let interval = min(max(timeout / 4, .milliseconds(10)), .seconds(1), checkpointInterval)
        maintenance = Task {
            var lastCheckpoint = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                registry.evictIdle(olderThan: timeout)
                if ContinuousClock.now - lastCheckpoint >= checkpointInterval {
                    lastCheckpoint = .now
                    try? await committer.saveCheckpoint()
                }
            }
        }
    }

    deinit {
        maintenance.cancel()
    }

    /// Runs `commands` on aggregate `id` of `model` as one atomic chain.
    ///
    /// Each command is decided on the state the previous one produced; all events are written in
    /// one record and acknowledged together, or, if any command is rejected, nothing is written.
    /// - Parameters:
    ///   - expected: if given, the chain fails with ``EngineError/wrongVersion(expected:actual:)``
    ///     unless the aggregate is at that version when the chain is decided.
    ///   - onQueued: called once the chain is decided and queued in the aggregate, before it is
    ///     durable. A caller that starts its next request only then keeps its requests in order
    ///     while their writes are still group-committed together (pipelining).
    public func execute<Model: AggregateModel>(
        _ model: Model.Type,
        id: AggregateID,
        commands: [Model.Command],
        expecting expected: UInt64? = nil,
        onQueued: @escaping @Sendable () -> Void = {}
    ) async throws(EngineError) -> Commit<Model> {
        guard !commands.isEmpty else { throw .emptyChain }
        return try await withInstance(model, id) { instance throws(EngineError) in
            try await instance.execute(commands, expecting: expected, onQueued: onQueued)
        }
    }

    /// The state of aggregate `id` of `model` after every chain decided before this call, once
    /// durable; version 0 and no state if it was never created.
    public func snapshot<Model: AggregateModel>(
        _ model: Model.Type,
        id: AggregateID,
        onQueued: @escaping @Sendable () -> Void = {}
    ) async throws(EngineError) -> Snapshot<Model> {
        try await withInstance(model, id) { instance throws(EngineError) in
            try await instance.snapshot(onQueued: onQueued)
        }
    }

    /// The durable events of aggregate `id` of `model` whose versions lie in `versions`, and the
    /// aggregate's snapshot, read as ``snapshot(_:id:onQueued:)`` reads.
    public func events<Model: AggregateModel>(
        _ model: Model.Type,
        id: AggregateID,
        versions: Range<UInt64>,
        onQueued: @escaping @Sendable () -> Void = {}
    ) async throws(EngineError) -> (events: [VersionedEvent<Model>], snapshot: Snapshot<Model>) {
        try await withInstance(model, id) { instance throws(EngineError) in
            try await instance.events(versions, onQueued: onQueued)
        }
    }

    /// Streams every chain committed after global position `after`, then every chain committed
    /// from now on, in global order, optionally only those of one model or one aggregate.
    ///
    /// A subscriber that falls more than ``Configuration/subscriptionBuffer`` chains behind is
    /// ended with ``SubscriptionError/fellBehind(resumeFrom:limit:)``.
    /// - Throws: ``EngineError/unavailable(_:)`` when `after` lies beyond the newest position.
    public func subscribe(
        after position: UInt64,
        model: String? = nil,
        id: AggregateID? = nil
    ) async throws(EngineError) -> Subscription {
        let newest = await committer.lastPosition
        guard position <= newest else {
            throw .unavailable("position \(position) is beyond the newest position \(newest)")
        }
        return Subscription(after: position, committer: committer, store: store, limit: configuration.subscriptionBuffer) { chain in
            (model == nil || chain.key.model == model) && (id == nil || chain.key.id == id)
        }
    }

    /// Current figures.
    public var statistics: EngineStatistics {
        EngineStatistics(
            liveAggregates: registry.count,
            capacity: registry.capacity,
            hits: counters.hits.current,
            misses: counters.misses.current,
            loads: counters.loads.current,
            evictions: counters.evictions.current,
            commands: counters.commands.current,
            rejections: counters.rejections.current,
            events: counters.events.current,
            syncs: store.syncCount,
            openFiles: store.openFileCount,
            subscribers: committer.feed.subscriberCount,
            position: committer.feed.lastPosition,
            handlers: handlers.map(\.status)
        )
    }

    /// Checks that the engine can still serve: storage has not failed and the I/O threads run
    /// work. A daemon pings its watchdog only after this returns, so a hung disk or a stopped
    /// store gets the process restarted.
    public func checkHealth() async throws(EngineError) {
        if let failure = store.fatalError {
            throw .unavailable(failure.description)
        }
        do {
            try await pool.runIfActive {}
        } catch {
            throw .unavailable("the I/O threads are not running")
        }
    }

    /// The storage failure that stopped writes, if one did.
    public var fatalError: StorageError? { store.fatalError }

    /// Stops taking requests, waits for those in flight to finish, and releases the data directory.
    public func shutdown() async {
        let mustWait = lifecycle.withLock { state in
            state.accepting = false
            return state.active > 0
        }
        if mustWait {
            await withCheckedContinuation { continuation in
                let done = lifecycle.withLock { state in
                    guard state.active > 0 else { return true }
                    state.drained.append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        }
        maintenance.cancel()
        // Its checkpoint round, if one is running, ends before the final one starts: two rounds
        // at once could write the checkpoint out of order.
        await maintenance.value
        for handler in handlers {
            await handler.stop()
        }
        committer.feed.close()
        try? await committer.saveCheckpoint()
        try? await pool.shutdownGracefully()
        store.directory.close()
    }

    private func withInstance<Model: AggregateModel, Result>(
        _ model: Model.Type,
        _ id: AggregateID,
        _ body: (AggregateInstance<Model>) async throws(EngineError) -> Result
    ) async throws(EngineError) -> Result {
        guard configuration.models.model(named: Model.name) == Model.self else {
            throw .unknownModel(Model.name, known: configuration.models.names)
        }
        guard lifecycle.withLock({ state in
            guard state.accepting else { return false }
            state.active += 1
            return true
        }) else {
            throw .unavailable("sourced is shutting down")
        }
        defer { leave() }
        let key = AggregateKey(model: Model.name, id: id)
        let store = store
        let committer = committer
        let counters = counters
        let instance = await registry.acquire(key) {
            AggregateInstance<Model>(key: key, store: store, committer: committer, counters: counters)
        }
        defer { registry.release(key) }
        // The key's model name maps to exactly one type in the catalog, so the instance is of it.
        return try await body(instance as! AggregateInstance<Model>)
    }

    private func leave() {
        let drained = lifecycle.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.active -= 1
            guard state.active == 0, !state.accepting else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        drained.forEach { $0.resume() }
    }
}
