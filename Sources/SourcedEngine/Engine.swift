import Logging
import NIOCore
import NIOPosix
import SourcedCore
import SourcedPostgres
import SourcedStorage
import Synchronization

/// Sourced's engine: one live instance per aggregate, owned by its shard's event loop, over a
/// ``ChainStore``: the group-committed global log and per-aggregate logs of a data directory, or
/// a PostgreSQL database (``Configuration/postgres``).
///
/// Commands for one aggregate run one at a time on its shard, so they never race and need no
/// optimistic locking; a command on a loaded aggregate costs O(1). Shards run in parallel, one
/// per event loop. A command is answered only once its events are durable in the store.
///
/// No blocking I/O runs on an event loop or on the caller's executor: on the local logs commits
/// run on the store's two commit threads, loads and reads on its thread pool; on PostgreSQL all
/// of it is requests on postgres-nio connections.
public final class Engine: Sendable {
    public struct Configuration: Sendable {
        /// Where the logs live; created if missing, locked while the engine runs. Not used when
        /// ``postgres`` is set.
        public var dataDirectory: String
        /// When set, chains live in this PostgreSQL database instead of the data directory
        /// (``PostgresChainStore``), which other daemons may share: then snapshots, `sync`,
        /// retention and the file settings do not apply.
        public var postgres: PostgresConnectionSettings?
        /// The models served at start; ``Engine/adopt(_:)`` replaces them while the engine runs
        /// (``Engine/models``).
        public var models: ModelCatalog
        /// The most aggregates kept in memory.
        public var maximumAggregates: Int
        /// The most memory live aggregates may take, by their estimate, in bytes; `nil`: no bound
        /// but ``maximumAggregates``. Beyond it idle aggregates are evicted, least recently used
        /// first. An aggregate's estimate is the encoded size of its state when last measured (a
        /// load from a snapshot, a snapshot written), plus the bytes of the events folded into it
        /// since, plus a fixed ``LiveAggregate/overhead`` of 700 bytes.
        public var maximumMemory: Int?
        /// Events between two snapshots of an aggregate; 0 writes no snapshots.
        public var snapshotInterval: Int
        /// Aggregates unused this long are dropped from memory (at start; ``Engine/setIdleTimeout(_:)``
        /// changes it while the engine runs).
        public var idleTimeout: Duration
        /// When appends are made durable.
        public var sync: SyncMode
        /// How often the checkpoint advances: with sync `always`, the aggregate logs are made
        /// durable this often. Recovery after a crash redoes at most about this much work.
        public var checkpointInterval: Duration
        /// The most log files open at once.
        public var maximumOpenFiles: Int
        /// Threads doing file I/O (loads, reads, the checkpoint's sync).
        public var ioThreads: Int
        /// Event loops, each owning one shard of the aggregates (and serving connections).
        public var threads: Int
        /// Chains that may wait for a slow subscriber before it is told it fell behind.
        public var subscriptionBuffer: Int
        /// In-process event handlers, fed every committed chain after commit.
        public var handlers: [any EventHandler]
        /// The system calls storage writes, syncs and opens with; tests inject faults here.
        public var systemCalls: SystemCalls
        /// The length past which the global log goes on in a new segment file (see
        /// ``AggregateStore/Configuration/globalSegmentSize``).
        public var globalSegmentSize: Int
        /// Retention: the bytes of global log to keep; `nil` keeps everything. Beyond it, after
        /// each checkpoint, the oldest segments that every aggregate log and handler checkpoint
        /// has durably passed are deleted (``AggregateStore/dropGlobalSegments(endingBy:keepingBytes:)``).
        /// What is deleted is the second copy of those chains: damage to an aggregate log there
        /// can no longer be repaired, and subscribers cannot read them.
        public var globalRetentionBytes: Int?
        /// How many command ids each aggregate remembers: a repeat of one of its last this many
        /// `command_id`s gets the original outcome (``CommandWindow``); 0 turns ids off.
        public var commandWindow: Int

        public init(
            dataDirectory: String,
            models: ModelCatalog = .builtIn,
            maximumAggregates: Int = 100_000,
            maximumMemory: Int? = nil,
            snapshotInterval: Int = 1000,
            idleTimeout: Duration = .seconds(300),
            checkpointInterval: Duration = .seconds(1),
            sync: SyncMode = .always,
            maximumOpenFiles: Int = 1024,
            ioThreads: Int = 32,
            threads: Int = 1,
            subscriptionBuffer: Int = 10_000,
            handlers: [any EventHandler] = [],
            systemCalls: SystemCalls = .posix,
            globalSegmentSize: Int = AggregateStore.Configuration.defaultGlobalSegmentSize,
            globalRetentionBytes: Int? = nil,
            commandWindow: Int = 32,
            postgres: PostgresConnectionSettings? = nil
        ) {
            self.dataDirectory = dataDirectory
            self.postgres = postgres
            self.models = models
            self.maximumAggregates = maximumAggregates
            self.maximumMemory = maximumMemory
            self.snapshotInterval = snapshotInterval
            self.idleTimeout = idleTimeout
            self.sync = sync
            self.checkpointInterval = checkpointInterval
            self.maximumOpenFiles = maximumOpenFiles
            self.ioThreads = ioThreads
            self.threads = threads
            self.subscriptionBuffer = subscriptionBuffer
            self.handlers = handlers
            self.systemCalls = systemCalls
            self.globalSegmentSize = globalSegmentSize
            self.globalRetentionBytes = globalRetentionBytes
            self.commandWindow = commandWindow
        }
    }

    public let configuration: Configuration
    /// The event loops the shards run on; a server should serve its connections on them.
    public let eventLoopGroup: MultiThreadedEventLoopGroup
    private let shards: [Shard]
    let store: any ChainStore
    private let handlers: [HandlerRunner]
    private let counters: EngineCounters
    /// The models served now.
    private let served: ServedModels
    private let snapshots: SnapshotWriter?
    /// Saves the global checkpoint, until shutdown.
    private let maintenance: Task<Void, Never>
    /// Calls of the async API on their way to a shard: shutdown waits for them before it stops
    /// the loops, so none is left unanswered.
    private let edgeCalls = Mutex(EdgeCalls())

    private struct EdgeCalls {
        var accepting = true
        var active = 0
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    /// Opens the store (the data directory, or the PostgreSQL database) and starts the engine.
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
        precondition(configuration.maximumAggregates > 0 && configuration.ioThreads > 0 && configuration.threads > 0)
        precondition(configuration.snapshotInterval >= 0 && (configuration.maximumMemory ?? 0) >= 0)
        var configuration = configuration
        if configuration.sync == .always, !AggregateStore.fileSystemSyncReportsErrors {
            // Sync `always` trusts one syncfs to report any failed write-back; before Linux 5.8
            // it did not, so every log is synced on its own instead.
            logger.warning("this kernel's syncfs does not report write-back errors (Linux before 5.8); using sync every-log")
            configuration.sync = .everyLog
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        let store: any ChainStore
        do {
            if let postgres = configuration.postgres {
                store = try await PostgresChainStore.open(postgres, eventLoopGroup: group, logger: logger)
            } else {
                store = try await LocalChainStore.open(configuration, logger: logger, onFatal: onFatal)
            }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let handlers = configuration.handlers.map { HandlerRunner($0, store: store) }
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
            await store.close()
            try? await group.shutdownGracefully()
            throw error
        }
        return Engine(configuration, group, store, handlers, logger)
    }

    private init(
        _ configuration: Configuration,
        _ group: MultiThreadedEventLoopGroup,
        _ store: any ChainStore,
        _ handlers: [HandlerRunner],
        _ logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.handlers = handlers
        let counters = EngineCounters()
        self.counters = counters
        let served = ServedModels(configuration.models)
        self.served = served
        let snapshots = configuration.snapshotInterval > 0
            ? store.makeSnapshotWriter(interval: UInt64(configuration.snapshotInterval), logger: logger)
            : nil
        self.snapshots = snapshots
        eventLoopGroup = group
        let loops = Array(group.makeIterator())
        // The capacity is split between the shards; the first ones take the remainder.
        let shards = loops.enumerated().map { index, loop in
            let capacity = configuration.maximumAggregates / loops.count + (index < configuration.maximumAggregates % loops.count ? 1 : 0)
            return Shard(
                index: index, loop: loop, capacity: max(capacity, 1), store: store, counters: counters,
                snapshots: snapshots, memoryBudget: configuration.maximumMemory.map { $0 / loops.count } ?? .max,
                commandWindow: configuration.commandWindow, models: served
            )
        }
        self.shards = shards
        store.observeCommits { chains in
            var perShard: [Int: [(AggregateKey, UInt64)]] = [:]
            for chain in chains {
                perShard[Self.shardIndex(of: chain.key, among: shards.count), default: []].append((chain.key, chain.lastVersion))
            }
            for (index, changed) in perShard {
                let shard = shards[index]
                shard.loop.execute { shard.forget(changed) }
            }
        }
        let timeout = configuration.idleTimeout
        for shard in shards {
            shard.loop.execute { shard.evictIdle(after: timeout) }
        }
        let checkpointInterval = configuration.checkpointInterval
        maintenance = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: checkpointInterval)
                guard !Task.isCancelled else { break }
                await store.maintain(handlersSaved: handlers.map(\.saved).min() ?? .max)
            }
        }
    }

    deinit {
        maintenance.cancel()
    }

    /// The shard that holds `key`'s aggregate: the same for a key as long as the engine runs.
    public func shard(for key: AggregateKey) -> Shard {
        shards[Self.shardIndex(of: key, among: shards.count)]
    }

    private static func shardIndex(of key: AggregateKey, among count: Int) -> Int {
        count == 1 ? 0 : Int(UInt(bitPattern: key.hashValue) % UInt(count))
    }

    /// Runs `commands` on aggregate `id` of `model` as one atomic chain.
    ///
    /// Each command is decided on the state the previous one produced; all events are written in
    /// one record and acknowledged together, or, if any command is rejected, nothing is written.
    /// One hop to the aggregate's shard and back: for tools and tests; a server calls the shard
    /// on its loop instead (``Shard/execute(_:id:commands:expecting:_:)``).
    /// - Parameters:
    ///   - expected: if given, the chain fails with ``EngineError/wrongVersion(expected:actual:)``
    ///     unless the aggregate is at that version when the chain is decided.
    public func execute<Model: AggregateModel>(
        _ model: Model.Type,
        id: AggregateID,
        commands: [Model.Command],
        expecting expected: UInt64? = nil,
        commandID: String? = nil,
        named name: String = Model.name
    ) async throws(EngineError) -> Commit<Model> {
        try await onShard(Model.self, name, id) { shard, key, done in
            shard.execute(Model.self, key: key, commands: commands, expecting: expected, commandID: commandID.map { Array($0.utf8) }, done)
        }
    }

    /// The state of aggregate `id` of `model` after every chain decided before this call, once
    /// durable; version 0 and no state if it was never created.
    ///
    /// `name` names the model of a ``DynamicModel`` (one of its programs); a Swift model keeps the default.
    public func snapshot<Model: AggregateModel>(
        _ model: Model.Type,
        id: AggregateID,
        named name: String = Model.name
    ) async throws(EngineError) -> Snapshot<Model> {
        try await onShard(Model.self, name, id) { shard, key, done in
            shard.snapshot(Model.self, key: key, done)
        }
    }

    /// The durable events of aggregate `id` of `model` whose versions lie in `versions`, and the
    /// aggregate's snapshot, read as ``snapshot(_:id:)`` reads.
    public func events<Model: AggregateModel>(
        _ model: Model.Type,
        id: AggregateID,
        versions: Range<UInt64>,
        named name: String = Model.name
    ) async throws(EngineError) -> (events: [VersionedEvent<Model>], snapshot: Snapshot<Model>) {
        try await onShard(Model.self, name, id) { shard, key, done in
            shard.events(Model.self, key: key, versions: versions, done)
        }
    }

    /// Runs `body` on the loop of `id`'s shard and waits for the result it passes to `done`.
    private func onShard<Model: AggregateModel, Value: Sendable>(
        _ model: Model.Type,
        _ name: String,
        _ id: AggregateID,
        _ body: @escaping @Sendable (Shard, AggregateKey, @escaping (Result<Value, EngineError>) -> Void) -> Void
    ) async throws(EngineError) -> Value {
        let models = models
        guard models.model(named: name)?.type == Model.self else {
            throw .unknownModel(name, known: models.names)
        }
        guard edgeCalls.withLock({ calls in
            guard calls.accepting else { return false }
            calls.active += 1
            return true
        }) else {
            throw .unavailable("sourced is shutting down")
        }
        defer {
            let drained = edgeCalls.withLock { calls in
                calls.active -= 1
                guard calls.active == 0, !calls.accepting else { return [CheckedContinuation<Void, Never>]() }
                defer { calls.drained = [] }
                return calls.drained
            }
            drained.forEach { $0.resume() }
        }
        let key = AggregateKey(model: name, id: id)
        let shard = shard(for: key)
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, EngineError>, Never>) in
            shard.loop.execute {
                body(shard, key) { continuation.resume(returning: $0) }
            }
        }
        return try result.get()
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
    ) throws(EngineError) -> Subscription {
        let newest = store.committedPosition
        guard position <= newest else {
            throw .unavailable("position \(position) is beyond the newest position \(newest)")
        }
        return Subscription(after: position, store: store, limit: configuration.subscriptionBuffer, client: true) { chain in
            (model == nil || chain.key.model == model) && (id == nil || chain.key.id == id)
        }
    }

    /// The models served now: ``Configuration/models`` until a reload replaces them (``adopt(_:)``).
    /// One lock, held to copy the catalog: read it once per request.
    public var models: ModelCatalog {
        served.current
    }

    /// Serves `catalog` from now on and returns what changed (``ModelChanges``).
    ///
    /// First the data directories of models new to the store are made
    /// (``AggregateStore/openModels(_:)``); if that fails, nothing changes. Requests parsed after this call begins see the new catalog. Before it returns, every shard
    /// has retired the live aggregates of the changed and removed models (``Shard/retire(_:)``):
    /// a request sent after it returns runs, on an aggregate of a changed model, under the new
    /// program, folding the aggregate's log afresh. Logs, snapshots and the aggregates of removed
    /// models stay on disk. Once ``shutdown()`` has begun the catalog is still replaced, but no
    /// shard is told.
    ///
    /// - Throws: ``EngineError`` if a new model's directories cannot be made or lie where the
    ///   store cannot serve them without a restart.
    public func adopt(_ catalog: ModelCatalog) async throws(EngineError) -> ModelChanges {
        do {
            try await store.openModels(catalog.models.map(\.name))
        } catch {
            throw EngineError(error)
        }
        let changes = served.replace(with: catalog)
        let retired = changes.retired
        guard !retired.isEmpty, counters.accepting else { return changes }
        let retiring = shards.map { shard in shard.loop.submit { shard.retire(retired) } }
        // A loop that already stopped (shutdown) fails its future: it serves nothing anyway.
        _ = try? await EventLoopFuture.whenAllComplete(retiring, on: shards[0].loop).get()
        return changes
    }

    /// Evicts, from now on, aggregates unused for `timeout` instead of the timeout set before
    /// (a reload; ``Configuration/idleTimeout`` keeps the one the engine started with). Each
    /// shard takes the new timeout on its loop, in order with its other work; aggregates already
    /// idle for longer are evicted at its next check, within a quarter of `timeout` (at most a
    /// second). Does nothing once ``shutdown()`` has begun.
    public func setIdleTimeout(_ timeout: Duration) {
        guard counters.accepting else { return }
        for shard in shards {
            shard.loop.execute { shard.evictIdle(after: timeout) }
        }
    }

    /// Current figures.
    public var statistics: EngineStatistics {
        EngineStatistics(
            liveAggregates: counters.live.current,
            capacity: configuration.maximumAggregates,
            hits: counters.hits.current,
            misses: counters.misses.current,
            loads: counters.loads.current,
            evictions: counters.evictions.current,
            aggregateMemory: counters.memory.current,
            memoryBudget: configuration.maximumMemory,
            snapshots: snapshots?.written.load(ordering: .relaxed) ?? 0,
            commands: counters.commands.current,
            rejections: counters.rejections.current,
            staleRetries: counters.staleRetries.current,
            events: counters.events.current,
            groupCommits: store.groupCommits,
            syncs: store.syncs,
            openFiles: store.openFiles,
            subscribers: store.feed.subscriberCount,
            position: store.committedPosition,
            handlers: handlers.map(\.status)
        )
    }

    /// Checks that the engine can still serve: storage has not failed, and the I/O threads and
    /// every shard's loop run work. A daemon pings its watchdog only after this returns, so a
    /// hung disk, a stuck loop or a stopped store gets the process restarted.
    public func checkHealth() async throws(EngineError) {
        try await store.checkHealth()
        for shard in shards {
            do {
                try await shard.loop.submit {}.get()
            } catch {
                throw .unavailable("event loop \(shard.index) is not running")
            }
        }
    }

    /// The storage failure that stopped writes, if one did.
    public var fatalError: StorageError? { store.fatalError }

    /// Stops taking requests, waits for those in flight to finish, and releases the data directory.
    public func shutdown() async {
        guard counters.stopAccepting() else { return }
        edgeCalls.withLock { $0.accepting = false }
        for shard in shards {
            try? await shard.loop.flatSubmit { shard.drain() }.get()
        }
        await withCheckedContinuation { continuation in
            let done = edgeCalls.withLock { calls in
                guard calls.active > 0 else { return true }
                calls.drained.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        for shard in shards {
            try? await shard.loop.submit { shard.stopEvictingIdle() }.get()
        }
        maintenance.cancel()
        // Its checkpoint round, if one is running, ends before the final one starts: two rounds
        // at once could write the checkpoint out of order.
        await maintenance.value
        for handler in handlers {
            await handler.stop()
        }
        await store.close()
        try? await eventLoopGroup.shutdownGracefully()
    }
}
