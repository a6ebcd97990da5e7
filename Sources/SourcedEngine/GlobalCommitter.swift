import SourcedCore
import SourcedStorage

/// The single writer of the global log: gives committed chains their positions, in commit order,
/// and makes them durable, group-committing the chains of all aggregates that arrive while a write
/// is in flight into one `pwrite` and one sync.
///
/// It also keeps the checkpoint: the position up to which every aggregate log is known to hold the
/// global log durably, so recovery after a crash only reconciles the chains after it. With sync
/// `always` the aggregate logs are written but not synced before acknowledgement; the committer
/// remembers which logs are unsynced and syncs them all before it advances the checkpoint.
actor GlobalCommitter {
    /// Records between two entries of the sparse position → offset index used by readers.
    static let indexStride: UInt64 = 256

    private struct Group {
        var chains: [CommittedChain]
        var continuation: CheckedContinuation<UInt64, any Error>
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
    /// With sync `always`: logs appended to since their last sync, and the positions they got.
    private var unsyncedLogs: Set<AggregateKey> = []
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

    /// Commits `chains` (of one aggregate, in version order) to the global log.
    ///
    /// - Returns: the position of the first chain, once all are durable; the others follow it
    ///   consecutively.
    func commit(_ chains: [CommittedChain]) async throws -> UInt64 {
        try await withCheckedThrowingContinuation { continuation in
            queue.append(Group(chains: chains, continuation: continuation))
            if !writing {
                writing = true
                Task { await self.writeQueue() }
            }
        }
    }

    /// Notes that `key`'s log holds the chains at `positions`: durably, unless sync is `always`,
    /// in which case the next ``saveCheckpoint()`` syncs the log first.
    func appended(_ key: AggregateKey, positions: ClosedRange<UInt64>) {
        if store.configuration.sync == .always {
            unsyncedLogs.insert(key)
            unsyncedPositions.append(positions)
        } else {
            markApplied(positions)
        }
    }

    private func markApplied(_ positions: ClosedRange<UInt64>) {
        appliedAhead.append(positions)
        appliedAhead.sort { $0.lowerBound < $1.lowerBound }
        while let first = appliedAhead.first, first.lowerBound == applied + 1 {
            applied = first.upperBound
            appliedAhead.removeFirst()
        }
    }

    /// Syncs the aggregate logs appended to since the last call, then records the checkpoint
    /// durably if it advanced since it was last saved.
    func saveCheckpoint() async throws {
        if !unsyncedLogs.isEmpty {
            let logs = Array(unsyncedLogs)
            let positions = unsyncedPositions
            unsyncedLogs = []
            unsyncedPositions = []
            try await store.syncLogs(logs)
            positions.forEach(markApplied)
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
            var firsts: [UInt64] = []
            var position = last
            var newIndex: [Int] = []
            for group in groups {
                firsts.append(position + 1)
                for var chain in group.chains {
                    position += 1
                    chain.position = position
                    if (position - 1) % Self.indexStride == 0 {
                        newIndex.append(length + bytes.count)
                    }
                    chain.appendGlobalRecord(to: &bytes)
                }
            }
            do {
                try await store.appendGlobal(bytes, at: length)
            } catch {
                for group in groups + queue {
                    group.continuation.resume(throwing: error)
                }
                queue = []
                break
            }
            let committed = zip(groups, firsts).flatMap { group, first in
                group.chains.enumerated().map { offset, chain in
                    var chain = chain
                    chain.position = first + UInt64(offset)
                    return chain
                }
            }
            last = position
            length += bytes.count
            index.append(contentsOf: newIndex)
            feed.publish(committed)
            for (group, first) in zip(groups, firsts) {
                group.continuation.resume(returning: first)
            }
        }
        writing = false
    }
}
