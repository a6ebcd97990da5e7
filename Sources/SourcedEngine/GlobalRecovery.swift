import Logging
import SourcedCore
import SourcedStorage

/// Brings the global log and the aggregate logs into agreement at start, before anything runs.
///
/// The global log is the commit point: a chain is committed once its global record is durable,
/// and its aggregate record is written after. So after a crash the aggregate logs can only lack
/// the newest chains, never hold one the global log lacks. Recovery re-appends, from the global
/// log, every chain after the checkpoint that its aggregate's log does not hold yet; a global
/// record is never dropped, since a subscriber may already have seen it. An aggregate log may end
/// in damage where a power cut interrupted writes not yet synced (sync `always` syncs aggregate
/// logs only before the checkpoint): damage past the versions the checkpoint covers is cut off and
/// rewritten from the global log; damage before them is corruption.
enum GlobalRecovery {
    /// What the engine's global committer starts from.
    struct Result: Sendable {
        var last: UInt64
        var length: Int
        var index: [Int]
    }

    /// Reads the global log, collecting the sparse index and the chains after `checkpoint`.
    private struct Scan: LogFold {
        var checkpoint: UInt64
        var index: [Int] = []
        var offset = 0
        var last: UInt64 = 0
        var tail: [CommittedChain] = []

        mutating func apply(_ header: LogRecordHeader, payload: UnsafeRawBufferPointer) throws {
            if (header.position - 1) % GlobalCommitter.indexStride == 0 {
                index.append(offset)
            }
            offset += LogRecord.headerSize + header.payloadLength
            last = header.position
            if header.position > checkpoint {
                tail.append(try CommittedChain(header, globalPayload: payload))
            }
        }
    }

    /// Notes the position of every record of an aggregate log, by first version, from `from` on.
    private struct Positions: LogFold {
        var from: UInt64
        var positions: [UInt64: UInt64] = [:]

        mutating func apply(_ header: LogRecordHeader, payload: UnsafeRawBufferPointer) {
            if header.firstVersion >= from { positions[header.firstVersion] = header.position }
        }
    }

    static func run(_ store: AggregateStore, models: ModelCatalog, logger: Logger) async throws -> Result {
        let checkpoint = try await store.readCheckpoint()
        let replay = try await store.replayGlobalLog(into: Scan(checkpoint: checkpoint))
        let scan = replay.fold
        let path = store.directory.globalLogPath
        guard checkpoint <= scan.last else {
            throw StorageError.corrupt(
                path: path, offset: replay.length,
                reason: "it ends at position \(scan.last) but global.checkpoint records position \(checkpoint): global.log lost records (deleted, or restored from an older backup than the aggregate logs)"
            )
        }
        if scan.last == 0, try await store.hasAggregateLogs() {
            throw StorageError.corrupt(
                path: path, offset: 0,
                reason: "it is empty but aggregate logs exist: they were written by a sourced without a global log, or global.log was lost; restore the data directory from one backup"
            )
        }
        var order: [AggregateKey] = []
        var chains: [AggregateKey: [CommittedChain]] = [:]
        for chain in scan.tail {
            if chains[chain.key] == nil { order.append(chain.key) }
            chains[chain.key, default: []].append(chain)
        }
        var repaired = 0
        for key in order {
            guard models.model(named: key.model) != nil else {
                throw StorageError.corrupt(
                    path: store.directory.globalLogPath, offset: 0,
                    reason: "it holds chains of model \(key.model), which this build does not serve"
                )
            }
            let first = chains[key]![0].firstVersion
            let log = try await store.replay(key, into: Positions(from: first), repairableAfter: first - 1)
            var version = log.version
            var records: [UInt8] = []
            for chain in chains[key]! {
                if chain.lastVersion <= version {
                    guard log.fold.positions[chain.firstVersion] == chain.position else {
                        throw StorageError.corrupt(
                            path: store.directory.logPath(of: key), offset: 0,
                            reason: "its record at version \(chain.firstVersion) does not have global position \(chain.position) as global.log says"
                        )
                    }
                    continue
                }
                guard chain.firstVersion == version + 1 else {
                    throw StorageError.corrupt(
                        path: store.directory.logPath(of: key), offset: log.length,
                        reason: "the log ends at version \(version) but global position \(chain.position) continues at version \(chain.firstVersion)"
                    )
                }
                chain.appendAggregateRecord(to: &records)
                version = chain.lastVersion
                repaired += 1
            }
            if !records.isEmpty {
                try await store.append(records, to: key, at: log.length)
            }
        }
        // The tail's aggregate records, re-appended or found, may be only in the page cache.
        try await store.syncLogs(order, directories: Set(order.map(\.model)))
        if repaired > 0 {
            logger.notice("recovered chains from the global log", metadata: ["chains": "\(repaired)", "aggregates": "\(order.count)"])
        }
        if scan.last > checkpoint {
            try await store.writeCheckpoint(scan.last)
        }
        return Result(last: scan.last, length: replay.length, index: scan.index)
    }
}
