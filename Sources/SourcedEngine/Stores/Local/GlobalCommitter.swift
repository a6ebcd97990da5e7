import SourcedCore
import SourcedStorage
import Synchronization

/// The single writer of the global log, on a thread of its own (`sourced-commit`).
///
/// Shards hand it their batches (``enqueue(_:)``, once per loop tick each). It takes every batch
/// waiting, gives the chains consecutive positions in arrival order, opens the aggregate logs
/// they go to, writes their global records with one `pwrite` and one `fdatasync` (the commit
/// point) and publishes the chains to live subscribers. Then it hands the group to the
/// ``AggregateLogWriter``, which appends each aggregate's records and answers the shards, while
/// this thread already writes the next group: batches that arrive while it writes form the next
/// group commit, so the cost of a sync is shared by everything decided meanwhile.
///
/// After a batch of a shard fails uncommitted, later batches of that shard decided before the
/// shard learnt of it are refused unwritten: they may build on the failed chains.
final class GlobalCommitter: @unchecked Sendable {
    let feed: CommitFeed
    let checkpoint: CheckpointTracker
    /// Where each aggregate's newest chain is, for repairs (``GlobalLogCopy``).
    let newest: NewestPositions
    let store: AggregateStore
    /// Group commits made: writes of the global log, each with its sync.
    let groupCommits = Atomic<Int>(0)
    private let writer: AggregateLogWriter
    private var thread: WorkerThread<ShardBatch>!

    // Owned by the commit thread.
    private var last: UInt64
    /// Per shard index: batches of an older generation are refused, with this error.
    private var refusals: [Int: (below: UInt64, error: EngineError)] = [:]

    init(store: AggregateStore, recovered: GlobalRecovery.Result) {
        self.store = store
        last = recovered.last
        newest = NewestPositions(recovered.log.newest)
        feed = CommitFeed(last: recovered.last)
        checkpoint = CheckpointTracker(recovered: recovered.last)
        writer = AggregateLogWriter(store: store, checkpoint: checkpoint)
        thread = WorkerThread(name: "sourced-commit") { [self] batches in commit(batches) }
    }

    /// The position of the last durable chain.
    var lastPosition: UInt64 {
        store.globalLastPosition
    }

    /// Hands a batch to the commit thread; its shard is answered on its loop.
    func enqueue(_ batch: ShardBatch) {
        thread.enqueue(batch)
    }

    /// Commits and answers what is queued, then ends both threads. Blocks until they have ended.
    func stop() {
        thread.stop()
        writer.stop()
    }

    private func commit(_ batches: [ShardBatch]) {
        var accepted: [ShardBatch] = []
        for batch in batches {
            if let refusal = refusals[batch.shard.index], batch.generation < refusal.below {
                writer.enqueue(.answer(batch, .failed(refusal.error, generation: batch.generation)))
            } else {
                accepted.append(batch)
            }
        }
        guard !accepted.isEmpty else { return }

        var bytes: [UInt8] = []
        var chains: [CommittedChain] = []
        var appends: [AggregateStore.AggregateAppend] = []
        /// Per append, where its records end; per aggregate, its append in this commit.
        var appendEnds: [Int] = []
        var appendOf: [AggregateKey: Int] = [:]
        var appendOfChain: [Int] = []
        var position = last
        for batch in accepted {
            for (chainIndex, var chain) in batch.chains.enumerated() {
                position += 1
                chain.position = position
                chain.appendGlobalRecord(to: &bytes)
                let offset = batch.offsets[chainIndex]
                let end = offset + chain.aggregateRecordLength
                // Chains of one aggregate in one commit are contiguous in its log: one append.
                if let index = appendOf[chain.key], appendEnds[index] == offset {
                    appendEnds[index] = end
                    appendOfChain.append(index)
                } else {
                    appendOf[chain.key] = appends.count
                    appendOfChain.append(appends.count)
                    appends.append(AggregateStore.AggregateAppend(key: chain.key, records: [], offset: offset))
                    appendEnds.append(end)
                }
                chains.append(chain)
            }
        }

        let logs: AggregateStore.HeldLogs
        do {
            logs = try store.holdLogs(for: appends)
            do {
                try store.commitGlobal(bytes, first: last + 1)
            } catch {
                store.release(logs)
                throw error
            }
        } catch {
            let failure = EngineError(error)
            for batch in accepted {
                refusals[batch.shard.index] = (batch.generation + 1, .unavailable("not written: an earlier write failed (\(failure))"))
                writer.enqueue(.answer(batch, .failed(failure, generation: batch.generation)))
            }
            return
        }
        let first = last + 1
        last = position
        groupCommits.increment()
        newest.record(chains)
        feed.publish(chains)
        // Overlap the aggregate logs with the next group only when one is waiting.
        writer.enqueue(.committed(AggregateLogWriter.Committed(
            batches: accepted, firstPosition: first, chains: chains,
            appends: appends, appendOfChain: appendOfChain, logs: logs
        )), inline: !thread.hasQueuedWork)
    }
}
