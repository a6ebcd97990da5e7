import DequeModule
import Glibc
import NIOCore
import SourcedCore
import SourcedStorage

/// The live aggregates of one event loop and the commands running on them: the engine's hot path.
///
/// A shard is a dictionary of aggregates with an LRU order of the idle ones, owned by `loop`:
/// every method must be called on `loop`, and none takes a lock or suspends. Which shard holds an
/// aggregate is a pure function of its key (``Engine/shard(for:)``), so there is never more than
/// one live instance of an aggregate.
///
/// **A command** is decided, its events encoded, the aggregate's newest state advanced and its
/// chain appended to the shard's batch in one synchronous step, so commands on one aggregate run
/// one at a time in arrival order, each on the state the previous one left. Once per loop tick the
/// batch goes to the commit thread (``GlobalCommitter``), which answers with the positions of the
/// whole batch in one hop back to the loop; only then is each command answered, in order.
///
/// **Reads** (`snapshot`, `events`) answer with durable state only, and only once every chain
/// decided on the aggregate before them is durable (read-your-writes).
///
/// **Capacity**: at most `capacity` aggregates are live. A new one evicts the least recently used
/// idle one; when every one is busy, the request waits, in arrival order, for one to become idle.
/// Aggregates idle for longer than the idle timeout are evicted by a timer on the loop, whose
/// timeout can change while the shard runs (``evictIdle(after:)``). While the
/// estimated memory of the live aggregates (``LiveAggregate/memoryEstimate``) exceeds
/// `memoryBudget`, idle ones are evicted, least recently used first.
///
/// **Snapshots** of an aggregate's durable state are written by ``SnapshotWriter`` on the I/O
/// pool: every `interval` events (a comparison per commit), when an aggregate whose log grew since
/// its last snapshot is evicted, and after a load that ignored one or replayed `interval` events.
public final class Shard: @unchecked Sendable {
    /// The loop that owns this shard: call every method on it.
    public let loop: any EventLoop
    let index: Int
    private let capacity: Int
    private let store: any ChainStore
    private let counters: EngineCounters
    private let snapshots: SnapshotWriter?
    private let memoryBudget: Int
    /// The estimated memory of this shard's live aggregates.
    private var memory = 0

    private var aggregates: [AggregateKey: LiveAggregate] = [:]
    private var idle = IdleAggregates()
    /// Aggregates with at least one user.
    private var busy = 0
    /// Requests waiting for room, in arrival order.
    private var waitingForRoom = Deque<() -> Void>()
    /// Chains decided in this loop tick, and how each is answered.
    private var batch: [CommittedChain] = []
    private var offsets: [Int] = []
    private var completions: [(ChainOutcome) -> Void] = []
    private var submitScheduled = false
    /// The completions of the batches at the commit thread, oldest first.
    private var inFlight = Deque<[(ChainOutcome) -> Void]>()
    /// Counts the batches sent: the chains decided since the last one go in batch `sent + 1`.
    private var sent: UInt64 = 0
    /// Raised when a batch fails: the commit thread refuses batches decided before the shard
    /// learnt of the failure, since they may build on the failed chains.
    private var generation: UInt64 = 0
    private var drained: [EventLoopPromise<Void>] = []
    /// How many command ids each aggregate remembers (``CommandWindow``).
    private let commandWindow: Int
    /// The models served: where a new ``DynamicModel`` aggregate finds its program.
    private let models: ServedModels
    /// The timer evicting aggregates idle for longer than the idle timeout (``evictIdle(after:)``).
    private var idleEviction: RepeatedTask?

    init(
        index: Int,
        loop: any EventLoop,
        capacity: Int,
        store: any ChainStore,
        counters: EngineCounters,
        snapshots: SnapshotWriter?,
        memoryBudget: Int,
        commandWindow: Int,
        models: ServedModels
    ) {
        precondition(capacity > 0)
        self.commandWindow = commandWindow
        self.models = models
        self.index = index
        self.loop = loop
        self.capacity = capacity
        self.store = store
        self.counters = counters
        self.snapshots = snapshots
        self.memoryBudget = memoryBudget
    }

    // MARK: - Requests

    /// Runs `commands` on aggregate `key` (of `Model`) as one atomic chain and calls `done` on
    /// the loop once its events are durable, or with why nothing was recorded.
    ///
    /// `Model` must be the engine's model of `key.model`, and `key` one this shard holds
    /// (``Engine/shard(for:)``). With `expected`, the chain fails with
    /// ``EngineError/wrongVersion(expected:actual:)`` unless the aggregate is at that version.
    ///
    /// With `commandID` (1–128 bytes), a chain the aggregate's ``CommandWindow`` remembers under
    /// that id is not decided again: if its commands were the same, `done` gets its outcome
    /// (``Commit/duplicate``) once it is durable; if not, ``EngineError/commandIDReused(_:)``.
    /// A chain that records events keeps the id in its records.
    public func execute<Model: AggregateModel>(
        _ model: Model.Type,
        key: AggregateKey,
        commands: [Model.Command],
        expecting expected: UInt64?,
        commandID: [UInt8]? = nil,
        _ done: @escaping (Result<Commit<Model>, EngineError>) -> Void
    ) {
        loop.assertInEventLoop()
        guard !commands.isEmpty else { return done(.failure(.emptyChain)) }
        guard counters.accepting else { return done(.failure(.unavailable("sourced is shutting down"))) }
        admit(ChainRequest<Model>(commands: commands, expected: expected, commandID: commandID), key: key, done)
    }

    private func admit<Model: AggregateModel>(
        _ request: ChainRequest<Model>,
        key: AggregateKey,
        _ done: @escaping (Result<Commit<Model>, EngineError>) -> Void
    ) {
        withAggregate(key) { (aggregate: Aggregate<Model>, error) in
            if let error {
                self.release(aggregate)
                return done(.failure(error))
            }
            self.decideWhenFree(request, on: aggregate, done)
        }
    }

    /// Decides `request` now, or, at a shared store (``ChainStore/isShared``) while chains of the
    /// aggregate are at the store, once they are answered: a chain found stale there must have
    /// no successor on its way, decided on the state it led to.
    private func decideWhenFree<Model: AggregateModel>(
        _ request: ChainRequest<Model>,
        on aggregate: Aggregate<Model>,
        _ done: @escaping (Result<Commit<Model>, EngineError>) -> Void
    ) {
        guard store.isShared, aggregate.inFlight > 0, aggregate.batch <= sent else {
            return decide(request, on: aggregate, done)
        }
        aggregate.heldForCommit.append {
            self.proceed(aggregate) { aggregate, error in
                if let error {
                    self.release(aggregate)
                    return done(.failure(error))
                }
                self.decideWhenFree(request, on: aggregate, done)
            }
        }
    }

    /// Calls `done` on the loop with the durable state of aggregate `key` as of every chain
    /// decided on it before this call.
    public func snapshot<Model: AggregateModel>(
        _ model: Model.Type,
        key: AggregateKey,
        _ done: @escaping (Result<Snapshot<Model>, EngineError>) -> Void
    ) {
        loop.assertInEventLoop()
        guard counters.accepting else { return done(.failure(.unavailable("sourced is shutting down"))) }
        read(Model.self, key: key) { aggregate, snapshot in
            self.release(aggregate)
            done(snapshot)
        }
    }

    /// Calls `done` on the loop with the durable events of aggregate `key` whose versions lie in
    /// `versions`, and the snapshot they were read at (read as ``snapshot(_:id:_:)`` reads). The
    /// log is read on the I/O pool.
    public func events<Model: AggregateModel>(
        _ model: Model.Type,
        key: AggregateKey,
        versions: Range<UInt64>,
        _ done: @escaping (Result<(events: [VersionedEvent<Model>], snapshot: Snapshot<Model>), EngineError>) -> Void
    ) {
        loop.assertInEventLoop()
        guard counters.accepting else { return done(.failure(.unavailable("sourced is shutting down"))) }
        read(Model.self, key: key) { aggregate, result in
            guard case .success(let snapshot) = result else {
                self.release(aggregate)
                return done(result.map { ([], $0) })
            }
            let durableVersions = versions.clamped(to: 1..<(snapshot.version + 1))
            // The log up to `durableLength` holds exactly the chains up to the snapshot's
            // version; appends beyond it may run meanwhile without disturbing the read.
            self.store.read(
                aggregate.key, length: aggregate.durableLength, version: snapshot.version,
                into: EventRangeFold<Model>(versions: durableVersions), on: self.loop
            )
                .assumeIsolated().whenComplete { read in
                    self.release(aggregate)
                    done(read.map { ($0.events, snapshot) }.mapError { EngineError($0) })
                }
        }
    }

    /// Admits a read and calls `body` with the aggregate (still in use: release it) once every
    /// chain decided on it before is durable.
    private func read<Model: AggregateModel>(
        _ model: Model.Type,
        key: AggregateKey,
        _ body: @escaping (Aggregate<Model>, Result<Snapshot<Model>, EngineError>) -> Void
    ) {
        withAggregate(key) { (aggregate: Aggregate<Model>, error) in
            if let error { return body(aggregate, .failure(error)) }
            self.whenDurable(aggregate, version: aggregate.head.version) { body(aggregate, $0) }
        }
    }

    /// Calls `answer` with the durable snapshot once `version` is durable: at once if it is.
    private func whenDurable<Model: AggregateModel>(
        _ aggregate: Aggregate<Model>,
        version: UInt64,
        _ answer: @escaping (Result<Snapshot<Model>, EngineError>) -> Void
    ) {
        if aggregate.durable.version >= version {
            answer(.success(aggregate.durable))
        } else {
            aggregate.reads.append(Aggregate<Model>.PendingRead(version: version, answer: answer))
        }
    }

    // MARK: - Deciding

    private func decide<Model: AggregateModel>(
        _ request: ChainRequest<Model>,
        on aggregate: Aggregate<Model>,
        _ done: @escaping (Result<Commit<Model>, EngineError>) -> Void
    ) {
        let commands = request.commands
        let expected = request.expected
        let commandID = request.commandID
        var stamp: CommandStamp?
        if let commandID, commandWindow > 0 {
            let fingerprint: UInt64
            do {
                fingerprint = FNV1a.hash(try EventPayload.encode(commands))
            } catch {
                release(aggregate)
                return done(.failure(.unavailable("cannot encode the commands: \(error)")))
            }
            stamp = CommandStamp(id: commandID, fingerprint: fingerprint)
            if let original = aggregate.commands.entry(for: stamp!.idHash) {
                guard original.fingerprint == fingerprint else {
                    release(aggregate)
                    return done(.failure(.commandIDReused(
                        "command id \"\(String(decoding: commandID, as: UTF8.self))\" was accepted before for other commands (versions \(original.firstVersion)–\(original.lastVersion)); give a new command a new id"
                    )))
                }
                return answerDuplicate(original, on: aggregate, done)
            }
        }
        let head = aggregate.head
        if let expected, expected != head.version {
            release(aggregate)
            return done(.failure(.wrongVersion(expected: expected, actual: head.version)))
        }
        let decided: (events: [Model.Event], state: Model.State?)
        do {
            decided = try Model.decide(chain: commands, state: head.state, program: aggregate.program)
        } catch {
            release(aggregate)
            switch error {
            case .rejected(let rejection):
                counters.rejections.increment()
                return done(.failure(.rejected(rejection)))
            case .fault(let fault):
                return done(.failure(.modelFailed(fault.reason)))
            }
        }
        var commit = Commit<Model>(version: head.version + UInt64(decided.events.count), position: 0, events: decided.events, state: decided.state)
        guard !decided.events.isEmpty else {
            // Nothing to record: answered like a read, once what it was decided on is durable.
            return whenDurable(aggregate, version: head.version) { result in
                self.release(aggregate)
                if case .success = result { self.counters.commands.increment() }
                done(result.map { _ in commit })
            }
        }
        let payload: [UInt8]
        do {
            payload = try encode(decided.events, of: aggregate.key, stamp: stamp)
        } catch {
            release(aggregate)
            return done(.failure(error))
        }
        commit.encodedEvents = payload
        aggregate.head = Snapshot(version: commit.version, state: commit.state)
        let chain = CommittedChain(
            position: 0, key: aggregate.key, firstVersion: head.version + 1,
            eventCount: decided.events.count, timestamp: Self.now(), events: payload, command: stamp
        )
        if let stamp {
            aggregate.commands.record(
                idHash: stamp.idHash, fingerprint: stamp.fingerprint, firstVersion: chain.firstVersion, eventCount: chain.eventCount, position: 0
            )
        }
        let offset = aggregate.logEnd
        let recordLength = chain.aggregateRecordLength
        aggregate.logEnd += recordLength
        aggregate.inFlight += 1
        aggregate.batch = sent + 1
        batch.append(chain)
        offsets.append(offset)
        completions.append { outcome in
            aggregate.inFlight -= 1
            switch outcome {
            case .committed(let position):
                if stamp != nil {
                    aggregate.commands.committed(firstVersion: chain.firstVersion, at: position)
                }
                aggregate.durable = Snapshot(version: commit.version, state: commit.state)
                aggregate.durableLength = offset + recordLength
                aggregate.durableRecordOffset = offset
                aggregate.durablePosition = position
                self.account(aggregate, state: aggregate.stateBytes, events: aggregate.eventBytes + payload.count)
                if commit.version >= aggregate.nextSnapshot {
                    self.takeSnapshot(of: aggregate)
                }
                self.counters.commands.increment()
                self.counters.events.increment(by: commit.events.count)
                commit.position = position
                done(.success(commit))
                self.release(aggregate)
                aggregate.answerDurableReads()
            case .failed(let error):
                aggregate.forgetUndurable()
                aggregate.failWaitingReads(error)
                done(.failure(error))
                self.release(aggregate)
            case .stale:
                // Nothing of it was written: it is decided again, after the chains before it,
                // on the aggregate as the store holds it now, and the reads waiting for it
                // follow. Each step keeps the aggregate in use, so it stays live meanwhile.
                aggregate.forgetUndurable()
                if request.attempt < Self.staleAttempts {
                    var retry = request
                    retry.attempt += 1
                    self.counters.staleRetries.increment()
                    self.admit(retry, key: aggregate.key, done)
                } else {
                    done(.failure(.unavailable(
                        "\(aggregate.key) was changed by another writer each of \(Self.staleAttempts) times this command was decided; send it again"
                    )))
                }
                for read in aggregate.takeWaitingReads() {
                    self.proceed(aggregate) { aggregate, error in
                        if let error { return read.answer(.failure(error)) }
                        self.whenDurable(aggregate, version: aggregate.head.version, read.answer)
                    }
                }
                self.release(aggregate)
            }
            if aggregate.inFlight == 0, aggregate.behind, case .ready = aggregate.phase {
                aggregate.phase = .unloaded
            }
            if aggregate.inFlight == 0, !aggregate.heldForCommit.isEmpty {
                let held = aggregate.heldForCommit
                aggregate.heldForCommit = []
                held.forEach { $0() }
            }
            self.loadIfWaiting(aggregate)
        }
        scheduleSubmit()
    }

    /// How many times a chain is decided while a shared store keeps finding its aggregate stale.
    static let staleAttempts = 8

    /// Answers a repeat of the command id of `original` with its outcome, once it is durable: its
    /// version and position, its events, and the durable state now. The events are read from the
    /// global log at the chain's position (one piece of one segment), or, if retention dropped
    /// it, from the aggregate's log.
    private func answerDuplicate<Model: AggregateModel>(
        _ original: CommandWindow.Entry,
        on aggregate: Aggregate<Model>,
        _ done: @escaping (Result<Commit<Model>, EngineError>) -> Void
    ) {
        whenDurable(aggregate, version: original.lastVersion) { result in
            guard case .success(let snapshot) = result else {
                self.release(aggregate)
                return done(result.map { _ in Commit(version: 0, position: 0, events: [], state: nil) })
            }
            self.store.chain(at: original.position, on: self.loop).assumeIsolated().whenComplete { found in
                guard case .success(let chain?) = found, chain.key == aggregate.key, chain.firstVersion == original.firstVersion,
                      let events = try? chain.events.withUnsafeBytes({ payload in
                          try EventPayload.decode(Model.Event.self, from: payload, header: LogRecordHeader(
                              payloadLength: chain.events.count, eventCount: chain.eventCount, firstVersion: chain.firstVersion, timestamp: chain.timestamp
                          ))
                      }), events.count == original.eventCount
                else {
                    return self.answerDuplicateFromLog(original, snapshot, on: aggregate, done)
                }
                self.release(aggregate)
                done(.success(Self.duplicate(original, events: events, encoded: chain.events, now: snapshot)))
            }
        }
    }

    /// ``answerDuplicate(_:on:_:)`` with the events read from the aggregate's log, in pieces from
    /// its start.
    private func answerDuplicateFromLog<Model: AggregateModel>(
        _ original: CommandWindow.Entry,
        _ snapshot: Snapshot<Model>,
        on aggregate: Aggregate<Model>,
        _ done: @escaping (Result<Commit<Model>, EngineError>) -> Void
    ) {
        let versions = original.firstVersion..<(original.lastVersion + 1)
        store.read(aggregate.key, length: aggregate.durableLength, version: snapshot.version, into: EventRangeFold<Model>(versions: versions), on: loop)
            .assumeIsolated().whenComplete { read in
                self.release(aggregate)
                done(read.mapError { EngineError($0) }.flatMap { fold in
                    let events = fold.events.map(\.event)
                    guard events.count == original.eventCount, let encoded = try? EventPayload.encode(events) else {
                        return .failure(.corrupt("the log of \(aggregate.key) no longer holds versions \(original.firstVersion)–\(original.lastVersion) of a command it accepted"))
                    }
                    return .success(Self.duplicate(original, events: events, encoded: encoded, now: snapshot))
                })
            }
    }

    /// The outcome a repeat of `original`'s command id gets: its version, position and events,
    /// the state `now`.
    private static func duplicate<Model: AggregateModel>(
        _ original: CommandWindow.Entry, events: [Model.Event], encoded: [UInt8], now: Snapshot<Model>
    ) -> Commit<Model> {
        var commit = Commit<Model>(version: original.lastVersion, position: original.position, events: events, state: now.state)
        commit.encodedEvents = encoded
        commit.duplicate = true
        return commit
    }

    /// The chain's events as the JSON payload of its records (with `stamp` beside them).
    private func encode<Event: Codable>(_ events: [Event], of key: AggregateKey, stamp: CommandStamp?) throws(EngineError) -> [UInt8] {
        guard events.count <= LogRecord.maximumEventCount else {
            throw .tooLarge("a chain may record at most \(LogRecord.maximumEventCount) events; this one records \(events.count)")
        }
        let payload: [UInt8]
        do {
            payload = try EventPayload.encode(events)
        } catch {
            throw .unavailable("cannot encode events: \(error)")
        }
        // The global record adds the model and id to the payload; both must fit.
        let limit = LogRecord.maximumPayloadSize - 4 - key.model.utf8.count - key.id.rawValue.utf8.count - (stamp?.encodedSize ?? 0)
        guard payload.count <= limit else {
            throw EngineError(StorageError.recordTooLarge(bytes: payload.count, limit: limit))
        }
        return payload
    }

    /// Microseconds since the Unix epoch.
    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec / 1000)
    }

    // MARK: - Commit

    private func scheduleSubmit() {
        guard !submitScheduled else { return }
        submitScheduled = true
        // Runs after the I/O of this loop tick: every command read in the tick joins one batch.
        loop.execute { self.submit() }
    }

    private func submit() {
        submitScheduled = false
        guard !batch.isEmpty else { return }
        inFlight.append(completions)
        sent += 1
        store.enqueue(ShardBatch(shard: self, generation: generation, chains: batch, offsets: offsets))
        batch = []
        offsets = []
        completions = []
    }

    /// Answers the oldest batch at the commit thread; called on the loop, in submission order.
    func completed(_ outcome: BatchOutcome) {
        loop.assertInEventLoop()
        let answers = inFlight.removeFirst()
        switch outcome {
        case .committed(let first, let failure, let stale):
            var position = first
            for (offset, answer) in answers.enumerated() {
                if stale.contains(offset) {
                    answer(.stale)
                    continue
                }
                if let failure, failure.chains.contains(offset) {
                    answer(.failed(failure.error))
                } else {
                    answer(.committed(position))
                }
                position += 1
            }
        case .failed(let error, let failedGeneration):
            if failedGeneration >= generation {
                // Chains still on their way were decided on the failed ones, or may have been:
                // none of them may be written. Those decided but not yet sent go now, with the
                // old generation, which the commit thread refuses; every aggregate with a chain
                // in flight forgets it before anything is answered (answers can decide new
                // commands), and reloads from disk once all of its chains are answered.
                submit()
                generation = failedGeneration + 1
                let affected = aggregates.values.filter { $0.inFlight > 0 }
                affected.forEach { $0.forgetUndurable() }
                affected.forEach { $0.failWaitingReads(error) }
            }
            for answer in answers {
                answer(.failed(error))
            }
        }
        checkDrained()
    }

    // MARK: - Live aggregates

    /// The program a new aggregate `key` of `Model` runs: its model's, for a ``DynamicModel``;
    /// `nil`, without a lookup, for a Swift model.
    private func program<Model: AggregateModel>(for key: AggregateKey, _ model: Model.Type) -> (any ModelProgram)? {
        Model.self == DynamicModel.self ? models.current.program(named: key.model) : nil
    }

    /// Retires the live aggregates of `retired`, the models a reload changed or removed
    /// (``ModelChanges/retired``): they were folded by code no longer served.
    ///
    /// An idle one is dropped now, a busy one as soon as its last request is answered, without a
    /// snapshot either way. Requests that arrive for a busy one meanwhile wait, then load it
    /// afresh from its log under the program served then; for a removed model there is none, and
    /// they are answered `model_failed`. Nothing on disk changes.
    func retire(_ retired: Set<String>) {
        loop.assertInEventLoop()
        for aggregate in aggregates.values where retired.contains(aggregate.key.model) {
            if aggregate.users == 0 {
                idle.remove(aggregate)
                drop(aggregate)
            } else {
                aggregate.retired = true
            }
        }
        admitWaitingForRoom()
    }

    /// Marks the live aggregates of which a shared store holds a chain, `(key, last version)`,
    /// beyond every version they decided: another writer changed them
    /// (``ChainStore/observeCommits(_:)``). The next request catches such an aggregate up
    /// (``loadIfWaiting(_:)``): at once if none of its chains is at the store or loading,
    /// otherwise once they are answered. A chain within the versions an aggregate decided is its
    /// own, or, if another writer's, makes its own come back stale.
    func forget(_ changed: [(key: AggregateKey, version: UInt64)]) {
        loop.assertInEventLoop()
        for (key, version) in changed {
            guard let aggregate = aggregates[key], aggregate.headVersion < version else { continue }
            switch aggregate.phase {
            case .ready where aggregate.inFlight == 0:
                aggregate.phase = .unloaded
            case .ready, .loading:
                aggregate.behind = true
            case .unloaded, .broken:
                break
            }
        }
    }

    /// Calls `body` once `key`'s aggregate is loaded (or failed to load), with the aggregate in
    /// use: `body` must ``release(_:)`` it when its request is answered.
    private func withAggregate<Model: AggregateModel>(
        _ key: AggregateKey,
        _ body: @escaping (Aggregate<Model>, EngineError?) -> Void
    ) {
        let aggregate: Aggregate<Model>
        if let live = aggregates[key] {
            guard !live.retired else {
                live.afterRetirement.append { self.withAggregate(key, body) }
                return
            }
            // A key's model name maps to one type in the catalog, so the aggregate is of it.
            aggregate = unsafeDowncast(live, to: Aggregate<Model>.self)
            counters.hits.increment()
        } else {
            guard makeRoom() else {
                waitingForRoom.append { self.withAggregate(key, body) }
                return
            }
            aggregate = Aggregate<Model>(key: key, program: program(for: key, Model.self))
            aggregates[key] = aggregate
            account(aggregate, state: 0, events: 0, created: true)
            counters.live.increment()
            counters.misses.increment()
        }
        if aggregate.users == 0 {
            idle.remove(aggregate)
            busy += 1
        }
        aggregate.users += 1
        proceed(aggregate, body)
    }

    private func proceed<Model: AggregateModel>(_ aggregate: Aggregate<Model>, _ body: @escaping (Aggregate<Model>, EngineError?) -> Void) {
        switch aggregate.phase {
        case .ready:
            body(aggregate, nil)
        case .broken(let error):
            body(aggregate, error)
        case .loading:
            aggregate.waiting.append { error in
                if let error { body(aggregate, error) } else { self.proceed(aggregate, body) }
            }
        case .unloaded:
            aggregate.waiting.append { error in
                if let error { body(aggregate, error) } else { self.proceed(aggregate, body) }
            }
            loadIfWaiting(aggregate)
        }
    }

    /// Starts loading an unloaded aggregate that requests wait for, once none of its chains is
    /// in flight (after a failed commit they must all be answered first).
    ///
    /// At a shared store an aggregate loaded before only catches up: the chains after its
    /// durable version are folded into its durable state, which is always a prefix of the
    /// store's history, so another writer's commit costs a read of its chains, not a replay.
    private func loadIfWaiting<Model: AggregateModel>(_ aggregate: Aggregate<Model>) {
        guard case .unloaded = aggregate.phase, aggregate.inFlight == 0, !aggregate.waiting.isEmpty else { return }
        aggregate.phase = .loading
        aggregate.behind = false
        counters.loads.increment()
        let program = aggregate.program
        let catchingUp = store.isShared && aggregate.durable.version > 0
        let fold = catchingUp
            ? StateFold<Model>(state: aggregate.durable.state, commands: aggregate.commands, program: program)
            : StateFold<Model>(commands: CommandWindow(capacity: commandWindow), program: program)
        store.replay(
            aggregate.key, into: fold, after: catchingUp ? aggregate.durable.version : 0,
            snapshots: StateFold<Model>.snapshots(of: aggregate.key.model, stateVersion: aggregate.stateVersion, program: program, commandWindow: commandWindow),
            on: loop
        )
            .assumeIsolated().whenComplete { result in
            var failure: EngineError?
            switch result {
            case .success(let replay):
                aggregate.durable = Snapshot(version: replay.version, state: replay.fold.state)
                aggregate.head = aggregate.durable
                aggregate.durableLength = replay.length
                aggregate.logEnd = replay.length
                aggregate.durableRecordOffset = replay.lastRecordOffset
                aggregate.durablePosition = max(replay.position, aggregate.durablePosition)
                aggregate.commands = replay.fold.commands
                // Another writer's chain that came while it loaded may lie beyond what it read.
                aggregate.phase = aggregate.behind ? .unloaded : .ready
                if !catchingUp {
                    self.loaded(aggregate, replay.snapshot)
                }
            case .failure(let error):
                let error = EngineError(error)
                if case .corrupt = error {
                    aggregate.phase = .broken(error)
                } else {
                    aggregate.phase = .unloaded
                }
                failure = error
            }
            let waiting = aggregate.waiting
            aggregate.waiting = []
            for request in waiting {
                request(failure)
            }
        }
    }

    /// Ends one use of `aggregate`; when no one uses it, it becomes the most recently used idle
    /// aggregate, and requests waiting for room may take their turn.
    private func release(_ aggregate: LiveAggregate) {
        aggregate.users -= 1
        guard aggregate.users == 0 else { return }
        busy -= 1
        if aggregate.retired {
            drop(aggregate)
            let requests = aggregate.afterRetirement
            aggregate.afterRetirement = []
            requests.forEach { $0() }
        } else {
            aggregate.lastUsed = .now()
            idle.append(aggregate)
            evictOverBudget()
        }
        admitWaitingForRoom()
        checkDrained()
    }

    /// Runs the requests waiting for room, in arrival order, while there is room or an idle
    /// aggregate to evict for it.
    private func admitWaitingForRoom() {
        while !waitingForRoom.isEmpty, aggregates.count < capacity || !idle.isEmpty {
            waitingForRoom.removeFirst()()
        }
    }

    /// Makes room for one more aggregate, evicting the least recently used idle one if needed.
    private func makeRoom() -> Bool {
        guard aggregates.count >= capacity else { return true }
        guard let victim = idle.popOldest() else { return false }
        evict(victim)
        return true
    }

    /// Evicts idle aggregates, least recently used first, while the estimate exceeds the budget.
    private func evictOverBudget() {
        while memory > memoryBudget, let victim = idle.popOldest() {
            evict(victim)
        }
    }

    /// Drops an idle aggregate, first starting a snapshot if its log grew since its last one.
    private func evict(_ aggregate: LiveAggregate) {
        drop(aggregate)
        if let snapshots, case .ready = aggregate.phase, let durable = aggregate.durableSnapshot(), durable.version > aggregate.snapshotVersion {
            _ = snapshots.write(aggregate.key, on: loop, durable.make)
        }
    }

    /// Forgets an aggregate no one uses, without a snapshot.
    private func drop(_ aggregate: LiveAggregate) {
        aggregates.removeValue(forKey: aggregate.key)
        counters.live.increment(by: -1)
        counters.evictions.increment()
        memory -= aggregate.memoryEstimate
        counters.memory.increment(by: -aggregate.memoryEstimate)
    }

    // MARK: - Snapshots and memory

    /// Sets `aggregate`'s memory estimate (``LiveAggregate/stateBytes``, ``LiveAggregate/eventBytes``),
    /// or, if `created`, adds a new aggregate's to the shard's.
    private func account(_ aggregate: LiveAggregate, state: Int, events: Int, created: Bool = false) {
        let delta = (created ? LiveAggregate.overhead : 0) + state + events - aggregate.stateBytes - aggregate.eventBytes
        aggregate.stateBytes = state
        aggregate.eventBytes = events
        memory += delta
        counters.memory.increment(by: delta)
    }

    /// Takes in what a load found: the memory estimate, and whether the snapshot must be replaced.
    private func loaded(_ aggregate: LiveAggregate, _ use: SnapshotUse) {
        aggregate.snapshotVersion = 0
        switch use {
        case .used(let version, let logLength, let stateBytes):
            aggregate.snapshotVersion = version
            account(aggregate, state: stateBytes, events: aggregate.durableLength - logLength)
        case .ignored(let rejection):
            snapshots?.ignored(aggregate.key, rejection)
            account(aggregate, state: 0, events: aggregate.durableLength)
        case .missing, .notAsked:
            account(aggregate, state: 0, events: aggregate.durableLength)
        }
        evictOverBudget()
        guard let snapshots else { return }
        aggregate.nextSnapshot = aggregate.snapshotVersion + snapshots.interval
        if case .ignored = use {
            takeSnapshot(of: aggregate)
        } else if let version = aggregate.durableSnapshot()?.version, version >= aggregate.nextSnapshot {
            takeSnapshot(of: aggregate)
        }
    }

    /// Starts writing a snapshot of `aggregate`'s durable state, unless the writer is busy; once
    /// written, its state's size replaces the estimate's.
    private func takeSnapshot(of aggregate: LiveAggregate) {
        guard let snapshots, let durable = aggregate.durableSnapshot(), durable.version > aggregate.snapshotVersion else { return }
        aggregate.nextSnapshot = durable.version + snapshots.interval
        guard let written = snapshots.write(aggregate.key, on: loop, durable.make) else { return }
        let previous = aggregate.snapshotVersion
        aggregate.snapshotVersion = durable.version
        let eventsBefore = aggregate.eventBytes
        written.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let stateBytes):
                guard self.aggregates[aggregate.key] === aggregate else { return }
                self.account(aggregate, state: stateBytes, events: max(0, aggregate.eventBytes - eventsBefore))
                self.evictOverBudget()
            case .failure:
                if aggregate.snapshotVersion == durable.version {
                    aggregate.snapshotVersion = previous
                }
            }
        }
    }

    /// Evicts, from now on, every aggregate unused for `timeout`, checking every quarter of it
    /// (at least every second, at most every 10 ms); replaces the timeout set before.
    func evictIdle(after timeout: Duration) {
        loop.assertInEventLoop()
        idleEviction?.cancel()
        let interval = TimeAmount(min(max(timeout / 4, .milliseconds(10)), .seconds(1)))
        idleEviction = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            self.evictIdle(before: .now() - TimeAmount(timeout))
        }
    }

    /// Stops evicting idle aggregates; at shutdown.
    func stopEvictingIdle() {
        loop.assertInEventLoop()
        idleEviction?.cancel()
        idleEviction = nil
    }

    /// Evicts every aggregate idle since before `deadline`.
    private func evictIdle(before deadline: NIODeadline) {
        while let oldest = idle.oldest, oldest.lastUsed <= deadline {
            idle.remove(oldest)
            evict(oldest)
        }
    }

    // MARK: - Shutdown

    /// Sends the pending batch now and succeeds once no request of this shard is left unanswered.
    /// Call after the engine stopped admitting requests.
    func drain() -> EventLoopFuture<Void> {
        loop.assertInEventLoop()
        submit()
        let promise = loop.makePromise(of: Void.self)
        drained.append(promise)
        checkDrained()
        return promise.futureResult
    }

    private func checkDrained() {
        guard !drained.isEmpty, busy == 0, waitingForRoom.isEmpty, inFlight.isEmpty, batch.isEmpty else { return }
        let promises = drained
        drained = []
        promises.forEach { $0.succeed() }
    }
}
