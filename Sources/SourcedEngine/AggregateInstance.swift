import Foundation
import SourcedCore
import SourcedStorage

/// An aggregate held in memory by the ``AggregateRegistry``.
protocol LiveAggregate: Actor {}

/// The one live instance of one aggregate: it loads the aggregate, decides its commands one at a
/// time, and commits them to the aggregate's log.
///
/// **Group commit.** While a write is in flight, further commands are decided against the newest
/// (not yet durable) state and queued; the next write carries all of them in one `pwrite` and one
/// sync. Each caller is answered only when the write holding its own record is durable. If a write
/// fails, every command decided on top of it fails too, and the instance reloads from disk.
///
/// **Reads** (``snapshot(onQueued:)``) see only durable state.
actor AggregateInstance<Model: AggregateModel>: LiveAggregate {
    private enum Phase {
        case unloaded
        case loading(Task<Result<Void, EngineError>, Never>)
        case ready
        /// Loading found corruption; the instance answers this error until it is evicted.
        case broken(EngineError)
    }

    /// A decided chain waiting for its write, or a read waiting for the chains before it.
    private struct Pending {
        /// The chain's events as JSON, empty for a read or a chain that recorded nothing.
        var events: [UInt8]
        var timestamp: Int64
        var commit: Commit<Model>
        var isRead: Bool
        var continuation: CheckedContinuation<Commit<Model>, any Error>
    }

    let key: AggregateKey
    private let store: AggregateStore
    private let committer: GlobalCommitter
    private let counters: EngineCounters

    private var phase = Phase.unloaded
    /// The state and version on disk, and the log's length.
    private var durable = Snapshot<Model>(version: 0, state: nil)
    private var length = 0
    /// The state and version after every decided chain, durable or not.
    private var head = Snapshot<Model>(version: 0, state: nil)
    private var queue: [Pending] = []
    private var writing = false

    init(key: AggregateKey, store: AggregateStore, committer: GlobalCommitter, counters: EngineCounters) {
        self.key = key
        self.store = store
        self.committer = committer
        self.counters = counters
    }

    /// Decides `commands` as one chain and commits its events.
    ///
    /// - Returns: once the chain's record is durable.
    /// - Throws: ``EngineError``; a rejected or failed chain has no effect.
    func execute(
        _ commands: [Model.Command],
        expecting expected: UInt64?,
        onQueued: @Sendable () -> Void
    ) async throws(EngineError) -> Commit<Model> {
        try await load()
        if let expected, expected != head.version {
            throw .wrongVersion(expected: expected, actual: head.version)
        }
        let decided: (events: [Model.Event], state: Model.State?)
        do {
            decided = try Model.decide(chain: commands, state: head.state)
        } catch {
            counters.rejections.increment()
            throw .rejected(error)
        }
        guard decided.events.count <= LogRecord.maximumEventCount else {
            throw .tooLarge("a chain may record at most \(LogRecord.maximumEventCount) events; this one records \(decided.events.count)")
        }
        let commit = Commit<Model>(
            version: head.version + UInt64(decided.events.count),
            position: 0,
            events: decided.events,
            state: decided.state
        )
        let events = try encode(commit)
        head = Snapshot(version: commit.version, state: commit.state)
        return try await enqueue(events, commit, isRead: false, onQueued)
    }

    /// The state as of every chain decided so far, once that state is durable.
    ///
    /// Waiting for chains still in flight gives read-your-writes: a read that arrives after a
    /// command sees that command's effect, yet never an effect that is not durable.
    func snapshot(onQueued: @Sendable () -> Void) async throws(EngineError) -> Snapshot<Model> {
        try await load()
        guard writing else {
            onQueued()
            return durable
        }
        let commit = try await enqueue([], Commit(version: head.version, position: 0, events: [], state: head.state), isRead: true, onQueued)
        return Snapshot(version: commit.version, state: commit.state)
    }

    /// The events with versions in `versions`, from the durable log, with the current durable
    /// snapshot (read-your-writes as for ``snapshot(onQueued:)``).
    func events(
        _ versions: Range<UInt64>,
        onQueued: @Sendable () -> Void
    ) async throws(EngineError) -> (events: [VersionedEvent<Model>], snapshot: Snapshot<Model>) {
        let snapshot = try await snapshot(onQueued: onQueued)
        let durableVersions = versions.clamped(to: 1..<(snapshot.version + 1))
        do {
            let read = try await store.read(key, length: length, into: EventRangeFold<Model>(versions: durableVersions))
            return (read.events, snapshot)
        } catch {
            throw EngineError(error)
        }
    }

    // MARK: - Loading

    private func load() async throws(EngineError) {
        while true {
            switch phase {
            case .ready:
                return
            case .broken(let error):
                throw error
            case .loading(let task):
                try await task.value.get()
            case .unloaded:
                let task = Task { await self.replay() }
                phase = .loading(task)
                try await task.value.get()
            }
        }
    }

    private func replay() async -> Result<Void, EngineError> {
        counters.loads.increment()
        do {
            let replay = try await store.replay(key, into: StateFold<Model>())
            durable = Snapshot(version: replay.version, state: replay.fold.state)
            head = durable
            length = replay.length
            phase = .ready
            return .success(())
        } catch {
            let error = EngineError(error)
            if case .corrupt = error {
                phase = .broken(error)
            } else {
                phase = .unloaded
            }
            return .failure(error)
        }
    }

    // MARK: - Writing

    /// The chain's events as the JSON payload of its records.
    private func encode(_ commit: Commit<Model>) throws(EngineError) -> [UInt8] {
        guard !commit.events.isEmpty else { return [] }
        let payload: [UInt8]
        do {
            payload = try EventPayload.encode(commit.events)
        } catch {
            throw .unavailable("cannot encode events: \(error)")
        }
        // The global record adds the model and id to the payload; both must fit.
        let limit = LogRecord.maximumPayloadSize - 4 - key.model.utf8.count - key.id.rawValue.utf8.count
        guard payload.count <= limit else {
            throw EngineError(StorageError.recordTooLarge(bytes: payload.count, limit: limit))
        }
        return payload
    }

    /// Queues a chain's `events` for the next write and returns once they are durable.
    private func enqueue(
        _ events: [UInt8],
        _ commit: Commit<Model>,
        isRead: Bool,
        _ onQueued: @Sendable () -> Void
    ) async throws(EngineError) -> Commit<Model> {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let timestamp = Int64(Date().timeIntervalSince1970 * 1_000_000)
                queue.append(Pending(events: events, timestamp: timestamp, commit: commit, isRead: isRead, continuation: continuation))
                onQueued()
                if !writing {
                    writing = true
                    Task { await self.writeQueue() }
                }
            }
        } catch {
            throw EngineError(error)
        }
    }

    /// Writes queued chains, one batch per write, until the queue is empty.
    ///
    /// The global committer commits a batch in two steps: its chains get their positions in the
    /// global log, which is the commit point, and then their records are appended to this
    /// aggregate's log. If that second step fails, the chains are committed but this log lacks
    /// them: the store stops, and recovery at the next start completes the log.
    private func writeQueue() async {
        while !queue.isEmpty {
            var batch = queue
            queue = []
            let chains = batch.indices.filter { !batch[$0].events.isEmpty }
            if !chains.isEmpty {
                let drafts = chains.map { index in
                    CommittedChain(
                        position: 0, key: key, firstVersion: batch[index].commit.firstVersion,
                        eventCount: batch[index].commit.events.count, timestamp: batch[index].timestamp,
                        events: batch[index].events
                    )
                }
                let committed: GlobalCommitter.Committed
                do {
                    committed = try await committer.commit(drafts, of: key, appendingAt: length)
                } catch {
                    fail(batch + queue, EngineError(error))
                    break
                }
                for (offset, index) in chains.enumerated() {
                    batch[index].commit.position = committed.firstPosition + UInt64(offset)
                }
                length += committed.appendedBytes
            }
            durable = Snapshot(version: batch.last!.commit.version, state: batch.last!.commit.state)
            for pending in batch {
                if !pending.isRead {
                    counters.commands.increment()
                    counters.events.increment(by: pending.commit.events.count)
                }
                pending.continuation.resume(returning: pending.commit)
            }
        }
        writing = false
    }

    /// Fails `chains`, which were decided on state that is not on disk, and forgets that state.
    private func fail(_ chains: [Pending], _ error: EngineError) {
        queue = []
        head = durable
        phase = .unloaded
        for pending in chains {
            pending.continuation.resume(throwing: error)
        }
    }
}
