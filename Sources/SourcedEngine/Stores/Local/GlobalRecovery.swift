import Logging
import SourcedCore
import SourcedStorage

/// Brings the global log and the aggregate logs into agreement at start, before anything runs.
///
/// The global log is the commit point: a chain is committed once its global record is durable,
/// and its aggregate record is written after. So after a crash the aggregate logs can only lack
/// the newest chains, never hold one the global log lacks, and a global record is never dropped,
/// since a subscriber may already have seen it. Recovery runs in two steps. ``scan(_:)`` reads
/// what it needs of the global log (``AggregateStore/recoverGlobalLog(checkpoint:)``): where each
/// aggregate's newest chain is, and which aggregates have chains after the checkpoint. ``reconcile(_:store:copy:models:logger:)`` loads
/// each of those aggregates' logs through the store's repair (``LogRepair``: chains a log lacks
/// are appended, damage is replaced with the global log's copy, a missing log is rebuilt), makes
/// the logs durable and advances the checkpoint. A log that cannot be repaired (damage no intact
/// copy covers) makes its aggregate answer `corrupt`; it never stops the start. Aggregates
/// without chains after the checkpoint are checked the same way when they are loaded.
enum GlobalRecovery {
    /// What the global log holds, for the engine's global committer and for reconciling.
    struct Result: Sendable {
        var log: GlobalLogRecovery
        var checkpoint: UInt64
        var last: UInt64 { log.last }
    }

    /// Folds nothing: reconciling only needs the log repaired.
    private struct Unfolded: LogFold {
        func apply(_ header: LogRecordHeader, payload: UnsafeRawBufferPointer) {}
    }

    /// Reads the global log, cutting off a torn tail.
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` if the global log is damaged before
    ///   its end, ends before its checkpoint, or is empty beside aggregate logs (it was lost).
    static func scan(_ store: AggregateStore) async throws -> Result {
        let checkpoint = try await store.readCheckpoint()
        let log = try await store.recoverGlobalLog(checkpoint: checkpoint)
        let path = store.directory.globalLogPath
        guard checkpoint <= log.last else {
            throw StorageError.corrupt(
                path: path, offset: 0,
                reason: "it ends at position \(log.last) but global.checkpoint records position \(checkpoint): the global log lost records (deleted, or restored from an older backup than the aggregate logs)"
            )
        }
        if log.last == 0, try await store.hasAggregateLogs() {
            throw StorageError.corrupt(
                path: path, offset: 0,
                reason: "it is empty but aggregate logs exist: they were written by a sourced without a global log, or the global log was lost; restore the data directory from one backup"
            )
        }
        return Result(log: log, checkpoint: checkpoint)
    }

    /// Repairs the log of every aggregate with chains after the checkpoint from `copy`, makes
    /// those logs durable, and records the checkpoint at the global log's end. Logs each log it
    /// cannot repair (at `error`; the aggregate answers `corrupt`) and, at `notice`, how many it
    /// repaired.
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` if the global log holds chains of
    ///   a model this build does not serve, or an I/O error.
    static func reconcile(
        _ recovered: Result,
        store: AggregateStore,
        copy: any GlobalLogCopy,
        models: ModelCatalog,
        logger: Logger
    ) async throws {
        var repaired = 0
        var restored = 0
        var complete: [AggregateKey] = []
        for key in recovered.log.pending {
            guard models.model(named: key.model) != nil else {
                throw StorageError.corrupt(
                    path: store.directory.globalLogPath, offset: 0,
                    reason: "it holds chains of model \(key.model), which this daemon does not serve (a Lua model missing from --models-dir?)"
                )
            }
            do {
                let log = try await store.replay(key, into: Unfolded(), repairingFrom: copy)
                complete.append(key)
                if log.restoredChains > 0 {
                    repaired += 1
                    restored += log.restoredChains
                }
            } catch let error as StorageError {
                guard case .corrupt = error else { throw error }
                logger.error("aggregate log cannot be repaired; the aggregate answers corrupt until it is", metadata: [
                    "aggregate": "\(key)", "error": "\(error)",
                ])
            }
        }
        // The logs' aggregate records, found or restored, may be only in the page cache.
        try await store.syncLogs(complete, directories: Set(complete.map(\.model)))
        if repaired > 0 {
            logger.notice("repaired aggregate logs from the global log", metadata: [
                "aggregates": "\(repaired)", "chains": "\(restored)",
            ])
        }
        if recovered.last > recovered.checkpoint {
            try await store.writeCheckpoint(recovered.last)
        }
    }
}
