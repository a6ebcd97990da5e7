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
        var record: [UInt8]
        var commit: Commit<Model>
        var isRead: Bool
        var continuation: CheckedContinuation<Commit<Model>, any Error>
    }

    let key: AggregateKey
    private let store: AggregateStore
    private let counters: EngineCounters

    private var phase = Phase.unloaded
    /// The state and version on disk, and the log's length.
    private var durable = Snapshot<Model>(version: 0, state: nil)
    private var length = 0
    /// The state and version after every decided chain, durable or not.
    private var head = Snapshot<Model>(version: 0, state: nil)
    private var queue: [Pending] = []
    private var writing = false

    init(key: AggregateKey, store: AggregateStore, counters: EngineCounters) {
        self.key = key
        self.store = store
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
            events: decided.events,
            state: decided.state
        )
        let record = try encode(commit)
        head = Snapshot(version: commit.version, state: commit.state)
        return try await enqueue(record, commit, isRead: false, onQueued)
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
        let commit = try await enqueue([], Commit(version: head.version, events: [], state: head.state), isRead: true, onQueued)
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

    private func encode(_ commit: Commit<Model>) throws(EngineError) -> [UInt8] {
        guard !commit.events.isEmpty else { return [] }
        let payload: [UInt8]
        do {
            payload = try EventPayload.encode(commit.events)
        } catch {
            throw .unavailable("cannot encode events: \(error)")
        }
        guard payload.count <= LogRecord.maximumPayloadSize else {
            throw EngineError(StorageError.recordTooLarge(bytes: payload.count, limit: LogRecord.maximumPayloadSize))
        }
        let header = LogRecordHeader(
            payloadLength: payload.count,
            eventCount: commit.events.count,
            firstVersion: commit.firstVersion,
            timestamp: Int64(Date().timeIntervalSince1970 * 1_000_000)
        )
        var record: [UInt8] = []
        LogRecord.append(header, payload: payload, to: &record)
        return record
    }

    /// Queues `record` for the next write and returns once it is durable.
    private func enqueue(
        _ record: [UInt8],
        _ commit: Commit<Model>,
        isRead: Bool,
        _ onQueued: @Sendable () -> Void
    ) async throws(EngineError) -> Commit<Model> {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                queue.append(Pending(record: record, commit: commit, isRead: isRead, continuation: continuation))
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
    private func writeQueue() async {
        while !queue.isEmpty {
            let batch = queue
            queue = []
            let bytes = batch.reduce(into: [UInt8]()) { $0.append(contentsOf: $1.record) }
            do {
                if !bytes.isEmpty {
                    try await store.append(bytes, to: key, at: length)
                }
            } catch {
                fail(batch + queue, EngineError(error))
                queue = []
                break
            }
            length += bytes.count
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
        head = durable
        phase = .unloaded
        for pending in chains {
            pending.continuation.resume(throwing: error)
        }
    }
}
