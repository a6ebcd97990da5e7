import Logging
import NIOCore
import SourcedCore
import SourcedStorage
import Synchronization

/// Writes the shards' snapshots on the I/O pool, off the command path, a few at a time.
///
/// At most ``limit`` snapshots are written at once, and one per aggregate: a snapshot asked for
/// beyond that is skipped, so the states of evicted aggregates never queue up in memory; the
/// aggregate asks again after ``interval`` more events or when it is evicted. A failed write is
/// skipped, never retried at once, and logged at most once a minute (the log stays the truth).
final class SnapshotWriter: Sendable {
    /// Events between two snapshots of an aggregate.
    let interval: UInt64
    /// The most snapshots written at once.
    let limit: Int
    private let store: AggregateStore
    private let logger: Logger
    private let state = Mutex(State())
    /// Snapshots written since the engine started.
    let written = Atomic<Int>(0)

    private struct State {
        var writing: Set<AggregateKey> = []
        var failures = LogRateLimit(interval: .seconds(60))
        var ignored = LogRateLimit(interval: .seconds(60))
    }

    init(interval: UInt64, limit: Int = 4, store: AggregateStore, logger: Logger) {
        precondition(interval > 0 && limit > 0)
        self.interval = interval
        self.limit = limit
        self.store = store
        self.logger = logger
    }

    /// Writes the snapshot `make` builds (on an I/O thread) as `key`'s, answering on `loop` with
    /// the size of its state; `nil` if skipped because too many are being written or one of
    /// `key` is.
    func write(_ key: AggregateKey, on loop: any EventLoop, _ make: @escaping @Sendable () throws -> SnapshotFile) -> EventLoopFuture<Int>? {
        let admitted = state.withLock { state in
            state.writing.count < limit && state.writing.insert(key).inserted
        }
        guard admitted else { return nil }
        let written = store.writeSnapshot(of: key, on: loop, make)
        written.whenComplete { result in
            self.state.withLock { _ = $0.writing.remove(key) }
            switch result {
            case .success:
                self.written.add(1, ordering: .relaxed)
            case .failure(StorageError.shutDown):
                break
            case .failure(let error):
                guard let heldBack = self.state.withLock({ $0.failures.admit() }) else { return }
                self.logger.warning("cannot write a snapshot; the aggregate loads from its log, which is unaffected", metadata: [
                    "aggregate": "\(key)", "error": "\(error)", "failures_not_logged": "\(heldBack)",
                ])
            }
        }
        return written
    }

    /// Logs, at most once a minute, that a load ignored `key`'s snapshot.
    func ignored(_ key: AggregateKey, _ rejection: SnapshotRejection) {
        guard let heldBack = state.withLock({ $0.ignored.admit() }) else { return }
        logger.notice("ignored a snapshot and replayed the whole log; the snapshot is replaced", metadata: [
            "aggregate": "\(key)", "reason": "\(rejection)", "ignored_not_logged": "\(heldBack)",
        ])
    }
}
