import SourcedCore
import SourcedStorage

/// The second commit thread (`sourced-logs`): appends committed chains to their aggregates' logs
/// and answers the shards, while the commit thread already writes and syncs the next group.
///
/// Every answer to a shard goes through this writer — on its thread, or on the commit thread when
/// the writer is idle (``enqueue(_:inline:)``) — in the order the commit thread handed the work
/// over, so each shard learns the outcomes of its batches in the order it sent them.
final class AggregateLogWriter: Sendable {
    /// What the commit thread hands over.
    enum Work: Sendable {
        /// A group commit, durable in the global log: its chains still go to their aggregates'
        /// logs before their shards are answered.
        case committed(Committed)
        /// An outcome known without writing anything (a failed or refused batch).
        case answer(ShardBatch, BatchOutcome)
    }

    /// One durable group commit.
    struct Committed: Sendable {
        /// The batches, in commit order; their chains have consecutive positions from `firstPosition`.
        var batches: [ShardBatch]
        var firstPosition: UInt64
        /// Every chain of the batches, in order, with its position.
        var chains: [CommittedChain]
        /// One append per aggregate of the group, records not yet encoded, and the append of each chain.
        var appends: [AggregateStore.AggregateAppend]
        var appendOfChain: [Int]
        /// The appends' logs, opened before the global commit.
        var logs: AggregateStore.HeldLogs
    }

    private let store: AggregateStore
    private let checkpoint: CheckpointTracker
    private let thread: WorkerThread<Work>

    init(store: AggregateStore, checkpoint: CheckpointTracker) {
        self.store = store
        self.checkpoint = checkpoint
        thread = WorkerThread(name: "sourced-logs") { work in
            Self.handle(work, store: store, checkpoint: checkpoint)
        }
    }

    /// Hands `work` over, or, when `inline` allows it and the writer has nothing queued or in
    /// hand, does it on the calling thread: with one request at a time, a hand-over and a wake-up
    /// less per commit. Only one thread may call this.
    func enqueue(_ work: Work, inline: Bool = false) {
        if inline, thread.isIdle {
            Self.handle([work], store: store, checkpoint: checkpoint)
        } else {
            thread.enqueue(work)
        }
    }

    private static func handle(_ work: [Work], store: AggregateStore, checkpoint: CheckpointTracker) {
        for item in work {
            switch item {
            case .committed(let committed):
                write(committed, store: store, checkpoint: checkpoint)
            case .answer(let batch, let outcome):
                answer(batch, outcome)
            }
        }
    }

    /// Writes and answers everything handed over, then ends the thread. Blocks.
    func stop() {
        thread.stop()
    }

    private static func write(_ committed: Committed, store: AggregateStore, checkpoint: CheckpointTracker) {
        var appends = committed.appends
        for (index, chain) in committed.chains.enumerated() {
            chain.appendAggregateRecord(to: &appends[committed.appendOfChain[index]].records)
        }
        let outcome = store.appendAggregates(appends, into: committed.logs)
        var failed = Set(outcome.written..<appends.count)
        var failure = outcome.failure.map { failure in
            EngineError.outcomeUnknown("committed to the global log, but writing an aggregate log failed (\(failure)); sourced stops and recovers it on restart")
        }
        var synced = store.configuration.sync != .always
        if store.configuration.sync == .everyLog {
            let written = appends[..<outcome.written]
            do {
                try store.syncLogsNow(written.map(\.key), directories: Set(written.filter { $0.offset == 0 }.map(\.key.model)))
            } catch {
                // A failed fdatasync stopped the store already; any other failure (a log that
                // cannot be reopened) leaves these chains not known durable just the same, so
                // the store stops too and recovery completes them at restart.
                store.stop(error as? StorageError ?? .stopped(cause: "\(error)"))
                failed = Set(appends.indices)
                failure = .outcomeUnknown("committed to the global log, but syncing an aggregate log failed (\(error)); sourced stops and recovers it on restart")
                synced = false
            }
        }
        let lastPosition = committed.firstPosition + UInt64(committed.chains.count) - 1
        // Where syncfs cannot be trusted, the checkpoint round syncs each log written.
        let perLog = store.modelsSyncedPerLog
        let logs = synced || perLog.isEmpty ? [] : appends[..<outcome.written].filter { perLog[$0.key.model] != nil }[...]
        if failed.isEmpty {
            checkpoint.written([committed.firstPosition...lastPosition], synced: synced, logs: logs)
        } else if synced || store.configuration.sync == .always {
            // Only the chains whose log was written count; the others wait for recovery.
            let ranges = committed.chains.indices.filter { !failed.contains(committed.appendOfChain[$0]) }.map { index in
                (committed.firstPosition + UInt64(index))...(committed.firstPosition + UInt64(index))
            }
            checkpoint.written(ranges, synced: synced, logs: logs)
        }
        var chainIndex = 0
        for batch in committed.batches {
            let chains = chainIndex..<(chainIndex + batch.chains.count)
            let failedChains = Set(chains.filter { failed.contains(committed.appendOfChain[$0]) }.map { $0 - chainIndex })
            answer(batch, .committed(
                firstPosition: committed.firstPosition + UInt64(chainIndex),
                failure: failedChains.isEmpty ? nil : (failure!, failedChains)
            ))
            chainIndex = chains.upperBound
        }
    }

    private static func answer(_ batch: ShardBatch, _ outcome: BatchOutcome) {
        let shard = batch.shard
        shard.loop.execute { shard.completed(outcome) }
    }
}
