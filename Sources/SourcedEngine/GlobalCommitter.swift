import Foundation
import NIOConcurrencyHelpers
import SourcedCore
import SourcedStorage
import Synchronization

/// The single writer of the global log, on a thread of its own (`sourced-commit`).
///
/// Shards hand it their batches (``enqueue(_:)``, once per loop tick each). It takes every batch
/// waiting, gives the chains consecutive positions in arrival order, writes their global records
/// with one `pwrite` and one `fdatasync` (the commit point), appends each aggregate's records
/// with one `pwrite` per aggregate, publishes the chains to live subscribers, and answers each
/// batch's shard with one hop to its loop. Batches that arrive while it writes form the next group
/// commit, so the cost of a sync is shared by everything decided meanwhile.
///
/// After a batch of a shard fails uncommitted, later batches of that shard decided before the
/// shard learnt of it are refused unwritten: they may build on the failed chains.
final class GlobalCommitter: @unchecked Sendable {
    /// Records between two entries of the sparse position → offset index used by readers.
    static let indexStride: UInt64 = 256

    /// What readers of the global log may read.
    private struct Published {
        var last: UInt64
        var length: Int
        /// Offsets of the records at positions 1, 1 + stride, 1 + 2 stride, ...
        var index: [Int]
    }

    let feed: CommitFeed
    let checkpoint: CheckpointTracker
    private let store: AggregateStore
    private let published: Mutex<Published>
    /// Guards `queued` and `stopRequested`; its value is 1 while either asks for the thread.
    private let inbox = ConditionLock(value: 0)
    private var queued: [ShardBatch] = []
    private var stopRequested = false
    /// 1 once the thread has ended.
    private let ended = ConditionLock(value: 0)

    // Owned by the commit thread.
    private var last: UInt64
    private var length: Int
    /// Per shard index: batches of an older generation are refused, with this error.
    private var refusals: [Int: (below: UInt64, error: EngineError)] = [:]

    init(store: AggregateStore, recovered: GlobalRecovery.Result) {
        self.store = store
        last = recovered.last
        length = recovered.length
        published = Mutex(Published(last: recovered.last, length: recovered.length, index: recovered.index))
        feed = CommitFeed(last: recovered.last)
        checkpoint = CheckpointTracker(recovered: recovered.last)
        let thread = Thread { [self] in run() }
        thread.name = "sourced-commit"
        thread.start()
    }

    /// The position of the last durable chain.
    var lastPosition: UInt64 {
        published.withLock { $0.last }
    }

    /// Where a reader of the chains after `position` starts (a record boundary at or before the
    /// chain at `position + 1`, and that record's position), and where the durable log ends.
    func readPlan(after position: UInt64) -> (offset: Int, firstPosition: UInt64, end: Int, last: UInt64) {
        published.withLock { published in
            guard position < published.last else { return (published.length, published.last + 1, published.length, published.last) }
            let slot = min(Int(position / Self.indexStride), published.index.count - 1)
            return (published.index[slot], UInt64(slot) * Self.indexStride + 1, published.length, published.last)
        }
    }

    /// Hands a batch to the commit thread; its shard is answered on its loop.
    func enqueue(_ batch: ShardBatch) {
        inbox.lock()
        queued.append(batch)
        inbox.unlock(withValue: 1)
    }

    /// Commits what is queued, then ends the thread. Blocks until it has ended.
    func stop() {
        inbox.lock()
        stopRequested = true
        inbox.unlock(withValue: 1)
        ended.lock(whenValue: 1)
        ended.unlock()
    }

    private func run() {
        while true {
            inbox.lock(whenValue: 1)
            let batches = queued
            queued = []
            let stopping = stopRequested
            inbox.unlock(withValue: stopping ? 1 : 0)
            if !batches.isEmpty {
                commit(batches)
            } else if stopping {
                break
            }
        }
        ended.lock()
        ended.unlock(withValue: 1)
    }

    private func commit(_ batches: [ShardBatch]) {
        var accepted: [ShardBatch] = []
        for batch in batches {
            if let refusal = refusals[batch.shard.index], batch.generation < refusal.below {
                answer(batch, .failed(refusal.error, generation: batch.generation))
            } else {
                accepted.append(batch)
            }
        }
        guard !accepted.isEmpty else { return }

        var bytes: [UInt8] = []
        var appends: [AggregateStore.AggregateAppend] = []
        /// The append each aggregate's records go to in this commit.
        var appendOf: [AggregateKey: Int] = [:]
        /// Per accepted batch, per chain: the append holding its record.
        var appendsOfChains: [[Int]] = []
        var committed: [CommittedChain] = []
        var newIndex: [Int] = []
        var position = last
        for batch in accepted {
            var chainAppends: [Int] = []
            chainAppends.reserveCapacity(batch.chains.count)
            for (chainIndex, var chain) in batch.chains.enumerated() {
                position += 1
                chain.position = position
                if (position - 1) % Self.indexStride == 0 {
                    newIndex.append(length + bytes.count)
                }
                chain.appendGlobalRecord(to: &bytes)
                let offset = batch.offsets[chainIndex]
                if let index = appendOf[chain.key], appends[index].offset + appends[index].records.count == offset {
                    chain.appendAggregateRecord(to: &appends[index].records)
                    chainAppends.append(index)
                } else {
                    var records: [UInt8] = []
                    chain.appendAggregateRecord(to: &records)
                    appendOf[chain.key] = appends.count
                    chainAppends.append(appends.count)
                    appends.append(AggregateStore.AggregateAppend(key: chain.key, records: records, offset: offset))
                }
                committed.append(chain)
            }
            appendsOfChains.append(chainAppends)
        }

        let outcome: (written: Int, failure: StorageError?)
        do {
            outcome = try store.commit(bytes, at: length, then: appends)
        } catch {
            let failure = EngineError(error)
            for batch in accepted {
                refusals[batch.shard.index] = (batch.generation + 1, .unavailable("not written: an earlier write failed (\(failure))"))
                answer(batch, .failed(failure, generation: batch.generation))
            }
            return
        }
        let first = last + 1
        last = position
        length += bytes.count
        published.withLock { published in
            published.last = position
            published.length = length
            published.index.append(contentsOf: newIndex)
        }
        feed.publish(committed)

        var failed = Set<Int>(outcome.written..<appends.count)
        var failure = outcome.failure.map { failure in
            EngineError.outcomeUnknown("committed to the global log, but writing an aggregate log failed (\(failure)); sourced stops and recovers it on restart")
        }
        switch store.configuration.sync {
        case .everyLog:
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
            }
            trackCheckpoint(from: first, to: position, appendsOfChains, failed: failed, synced: true)
        case .always:
            trackCheckpoint(from: first, to: position, appendsOfChains, failed: failed, synced: false)
        case .none:
            trackCheckpoint(from: first, to: position, appendsOfChains, failed: failed, synced: true)
        }

        var batchFirst = first
        for (batchIndex, batch) in accepted.enumerated() {
            let chains = appendsOfChains[batchIndex]
            let failedChains = Set(chains.indices.filter { failed.contains(chains[$0]) })
            answer(batch, .committed(
                firstPosition: batchFirst,
                failure: failedChains.isEmpty ? nil : (failure!, failedChains)
            ))
            batchFirst += UInt64(batch.chains.count)
        }
    }

    /// Reports the positions written to aggregate logs (all but the failed appends' chains) to
    /// the checkpoint.
    private func trackCheckpoint(from first: UInt64, to last: UInt64, _ appendsOfChains: [[Int]], failed: Set<Int>, synced: Bool) {
        guard !failed.isEmpty else {
            return checkpoint.written([first...last], synced: synced)
        }
        var ranges: [ClosedRange<UInt64>] = []
        var position = first
        for chains in appendsOfChains {
            for append in chains {
                if !failed.contains(append) { ranges.append(position...position) }
                position += 1
            }
        }
        checkpoint.written(ranges, synced: synced)
    }

    private func answer(_ batch: ShardBatch, _ outcome: BatchOutcome) {
        let shard = batch.shard
        shard.loop.execute { shard.completed(outcome) }
    }
}
