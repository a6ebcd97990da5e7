import SourcedCore
import SourcedStorage

/// The single writer of the global log: gives committed chains their positions, in commit order,
/// makes them durable, and appends them to their aggregates' logs. The chains of all aggregates
/// that arrive while a write is in flight are group-committed: one global `pwrite` and one sync,
/// then each aggregate's records in one `pwrite`, all in one trip to an I/O thread.
///
/// It also keeps the checkpoint: the position up to which every aggregate log is known to hold the
/// global log durably, so recovery after a crash only reconciles the chains after it. With sync
/// `always` the aggregate logs are not synced before acknowledgement; the committer remembers
/// the positions written since the last checkpoint and syncs the file system (one `syncfs`) before
/// it advances the checkpoint past them. With `every-log` it syncs the batch's aggregate logs
/// before answering.
actor GlobalCommitter {
    /// Records between two entries of the sparse position → offset index used by readers.
    static let indexStride: UInt64 = 256

    /// One aggregate's chains, in version order, to be appended to its log at `offset`.
    private struct Group {
        var key: AggregateKey
        var chains: [CommittedChain]
        var offset: Int
        var continuation: CheckedContinuation<Committed, any Error>
    }

    /// Where an aggregate's chains landed.
    struct Committed: Sendable {
        /// The position of the first chain; the others follow it consecutively.
        var firstPosition: UInt64
        /// The bytes appended to the aggregate's log.
        var appendedBytes: Int
    }

    private let store: AggregateStore
    let feed: CommitFeed
    private var last: UInt64
    private var length: Int
    /// Offsets of the records at positions 1, 1 + stride, 1 + 2 stride, ...
    private var index: [Int]
    private var queue: [Group] = []
    private var writing = false
    /// Every position up to this one is in its aggregate's log, durably.
    private var applied: UInt64
    /// Applied ranges beyond `applied`, not yet contiguous with it.
    private var appliedAhead: [ClosedRange<UInt64>] = []
    /// With sync `always`: positions written to aggregate logs since the last file-system sync.
    private var unsyncedPositions: [ClosedRange<UInt64>] = []
    private var savedCheckpoint: UInt64

    init(store: AggregateStore, recovered: GlobalRecovery.Result) {
        self.store = store
        last = recovered.last
        length = recovered.length
        index = recovered.index
        applied = recovered.last
        savedCheckpoint = recovered.last
        feed = CommitFeed(last: recovered.last)
    }

    /// The position of the last durable chain.
    var lastPosition: UInt64 { last }

    /// Commits `chains` of the aggregate `key`, in version order, and appends them to its log at
    /// `offset`, the log's length.
    ///
    /// - Returns: once all are durable in the global log and written to the aggregate's log.
    /// - Throws: the storage error if nothing was committed; ``EngineError/outcomeUnknown(_:)``
    ///   if the chains were committed but their aggregate log could not be written or synced.
    func commit(_ chains: [CommittedChain], of key: AggregateKey, appendingAt offset: Int) async throws -> Committed {
        try await withCheckedThrowingContinuation { continuation in
            queue.append(Group(key: key, chains: chains, offset: offset, continuation: continuation))
            if !writing {
                writing = true
                Task { await self.writeQueue() }
            }
        }
    }

    private func markApplied(_ ranges: [ClosedRange<UInt64>]) {
        appliedAhead.append(contentsOf: ranges)
        appliedAhead.sort { $0.lowerBound < $1.lowerBound }
        while let first = appliedAhead.first, first.lowerBound == applied + 1 {
            applied = first.upperBound
            appliedAhead.removeFirst()
        }
    }

    /// Makes the aggregate logs appended to since the last call durable, then records the
    /// checkpoint durably if it advanced since it was last saved.
    func saveCheckpoint() async throws {
        if !unsyncedPositions.isEmpty {
            let positions = unsyncedPositions
            unsyncedPositions = []
            do {
                try await store.syncFileSystem()
            } catch {
                // Not known durable. If the round was only cancelled (the engine is stopping),
                // the final round at shutdown syncs them; after a failed sync the store has
                // stopped and refuses every later sync, so nothing is retried.
                unsyncedPositions.append(contentsOf: positions)
                throw error
            }
            markApplied(positions)
        }
        let checkpoint = applied
        guard checkpoint > savedCheckpoint else { return }
        try await store.writeCheckpoint(checkpoint)
        savedCheckpoint = max(savedCheckpoint, checkpoint)
    }

    /// Where a reader of the chains after `position` starts (a record boundary at or before the
    /// chain at `position + 1`, and that record's position), and where the durable log ends.
    func readPlan(after position: UInt64) -> (offset: Int, firstPosition: UInt64, end: Int, last: UInt64) {
        guard position < last else { return (length, last + 1, length, last) }
        let slot = min(Int(position / Self.indexStride), index.count - 1)
        return (index[slot], UInt64(slot) * Self.indexStride + 1, length, last)
    }

    private func writeQueue() async {
        while !queue.isEmpty {
            let groups = queue
            queue = []
            var bytes: [UInt8] = []
            var appends: [AggregateStore.AggregateAppend] = []
            var committed: [CommittedChain] = []
            var newIndex: [Int] = []
            var position = last
            for group in groups {
                var records: [UInt8] = []
                for var chain in group.chains {
                    position += 1
                    chain.position = position
                    if (position - 1) % Self.indexStride == 0 {
                        newIndex.append(length + bytes.count)
                    }
                    chain.appendGlobalRecord(to: &bytes)
                    chain.appendAggregateRecord(to: &records)
                    committed.append(chain)
                }
                appends.append(AggregateStore.AggregateAppend(key: group.key, records: records, offset: group.offset))
            }
            let outcome: (written: Int, failure: StorageError?)
            do {
                outcome = try await store.commit(bytes, at: length, then: appends)
            } catch {
                for group in groups + queue {
                    group.continuation.resume(throwing: error)
                }
                queue = []
                break
            }
            let firsts = groups.indices.reduce(into: [last + 1]) { firsts, index in
                firsts.append(firsts[index] + UInt64(groups[index].chains.count))
            }
            last = position
            length += bytes.count
            index.append(contentsOf: newIndex)
            feed.publish(committed)
            var answers: [(Group, Result<Committed, any Error>)] = []
            var written: [(group: Group, positions: ClosedRange<UInt64>)] = []
            for (index, group) in groups.enumerated() {
                if let failure = outcome.failure, index >= outcome.written {
                    answers.append((group, .failure(EngineError.outcomeUnknown(
                        "committed to the global log, but writing \(group.key)'s log failed (\(failure)); sourced stops and recovers it on restart"
                    ))))
                } else {
                    written.append((group, firsts[index]...(firsts[index + 1] - 1)))
                    answers.append((group, .success(Committed(firstPosition: firsts[index], appendedBytes: appends[index].records.count))))
                }
            }
            track(written, answering: answers)
        }
        writing = false
    }

    /// Accounts for aggregate logs just written and answers their callers: with sync `always`
    /// leaves the logs to the checkpoint round; with `every-log` syncs them first, on a task of its
    /// own so the next global commit need not wait.
    private func track(_ written: [(group: Group, positions: ClosedRange<UInt64>)], answering answers: [(Group, Result<Committed, any Error>)]) {
        switch store.configuration.sync {
        case .always:
            unsyncedPositions.append(contentsOf: written.map(\.positions))
        case .everyLog:
            let created = Set(written.filter { $0.group.offset == 0 }.map(\.group.key.model))
            Task {
                do {
                    try await store.syncLogs(written.map(\.group.key), directories: created)
                } catch {
                    // A failed fdatasync stopped the store already; any other failure (a log
                    // that cannot be reopened) leaves these chains not known durable just the
                    // same, so the store stops too and recovery completes them at restart.
                    store.stop(error as? StorageError ?? .stopped(cause: "\(error)"))
                    for (group, _) in answers {
                        group.continuation.resume(throwing: EngineError.outcomeUnknown(
                            "committed to the global log, but syncing \(group.key)'s log failed (\(error)); sourced stops and recovers it on restart"
                        ))
                    }
                    return
                }
                markApplied(written.map(\.positions))
                for (group, answer) in answers {
                    group.continuation.resume(with: answer)
                }
            }
            return
        case .none:
            markApplied(written.map(\.positions))
        }
        for (group, answer) in answers {
            group.continuation.resume(with: answer)
        }
    }
}
