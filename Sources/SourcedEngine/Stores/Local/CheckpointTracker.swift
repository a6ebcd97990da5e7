import SourcedCore
import SourcedStorage
import Synchronization

/// The checkpoint: the position up to which every aggregate log is known to hold the global log
/// durably, so recovery after a crash only reconciles the chains after it.
///
/// The commit thread reports the positions it wrote to aggregate logs; with sync `always` those
/// logs are not synced before acknowledgement, so ``save(_:)`` makes them durable (one `syncfs`
/// per file system, or an `fdatasync` of each log where `syncfs` cannot be trusted: see
/// ``AggregateStore/syncWrittenLogs(_:createdIn:)``) before it lets the checkpoint pass them.
final class CheckpointTracker: Sendable {
    private struct State {
        /// Every position up to this one is in its aggregate's log, durably.
        var applied: UInt64
        /// Applied ranges beyond `applied`, not yet contiguous with it.
        var appliedAhead: [ClosedRange<UInt64>] = []
        /// Positions written to aggregate logs since the last round made them durable.
        var unsynced: [ClosedRange<UInt64>] = []
        /// Of those, the logs that must be synced one by one, and the models in whose
        /// directories such logs were created.
        var unsyncedLogs: Set<AggregateKey> = []
        var createdIn: Set<String> = []
        var saved: UInt64

        mutating func markApplied(_ ranges: [ClosedRange<UInt64>]) {
            appliedAhead.append(contentsOf: ranges)
            appliedAhead.sort { $0.lowerBound < $1.lowerBound }
            while let first = appliedAhead.first, first.lowerBound == applied + 1 {
                applied = first.upperBound
                appliedAhead.removeFirst()
            }
        }
    }

    private let state: Mutex<State>

    init(recovered position: UInt64) {
        state = Mutex(State(applied: position, saved: position))
    }

    /// Records that `positions` were written to their aggregates' logs, synced or not. Unsynced,
    /// `logs` are the appends among them whose logs are synced one by one
    /// (``AggregateStore/modelsSyncedPerLog``).
    func written(_ positions: [ClosedRange<UInt64>], synced: Bool, logs: ArraySlice<AggregateStore.AggregateAppend> = []) {
        state.withLock { state in
            if synced {
                state.markApplied(positions)
            } else {
                state.unsynced.append(contentsOf: positions)
                for append in logs {
                    state.unsyncedLogs.insert(append.key)
                    if append.offset == 0 {
                        state.createdIn.insert(append.key.model)
                    }
                }
            }
        }
    }

    /// The position the durable checkpoint records.
    var saved: UInt64 {
        state.withLock { $0.saved }
    }

    /// Makes the aggregate logs written since the last call durable, then records the checkpoint
    /// durably if it advanced since it was last saved. Rounds must not overlap.
    func save(_ store: AggregateStore) async throws {
        let (positions, logs, createdIn) = state.withLock { state in
            defer {
                state.unsynced = []
                state.unsyncedLogs = []
                state.createdIn = []
            }
            return (state.unsynced, state.unsyncedLogs, state.createdIn)
        }
        if !positions.isEmpty {
            do {
                try await store.syncWrittenLogs(Array(logs), createdIn: createdIn)
            } catch {
                // Not known durable. If the round was only cancelled (the engine is stopping),
                // the final round at shutdown syncs them; after a failed sync the store has
                // stopped and refuses every later sync, so nothing is retried.
                state.withLock { state in
                    state.unsynced.append(contentsOf: positions)
                    state.unsyncedLogs.formUnion(logs)
                    state.createdIn.formUnion(createdIn)
                }
                throw error
            }
        }
        let checkpoint = state.withLock { state in
            state.markApplied(positions)
            return state.applied > state.saved ? state.applied : nil
        }
        guard let checkpoint else { return }
        try await store.writeCheckpoint(checkpoint)
        state.withLock { $0.saved = max($0.saved, checkpoint) }
    }
}
