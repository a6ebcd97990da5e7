import Glibc
import Logging
import SourcedCore

/// Loading an aggregate log, repaired from the global log first where it needs it.
extension AggregateStore {
    /// ``replay(_:into:repairingFrom:)`` on the calling I/O thread.
    ///
    /// A log that verifies to its end and reaches the global log's newest chain is read piece by
    /// piece (``foldInPieces(_:_:from:to:after:into:)``); only one that needs a repair is read
    /// whole, as the repair works on its bytes.
    func replayNow<Fold: LogFold>(_ key: AggregateKey, into fold: Fold, repairingFrom copy: any GlobalLogCopy) throws -> Replay<Fold> {
        try checkRunning()
        let path = directory.logPath(of: key)
        return try descriptors.withDescriptor(for: key, open: { try self.openLog(key, create: false) }) { descriptor in
            let newest = copy.newestPosition(of: key)
            if let descriptor {
                let pieces = try self.foldInPieces(descriptor, path, from: 0, to: try self.fileSize(descriptor, path), after: 0, into: fold)
                if pieces.clean, newest.map({ $0 <= pieces.position }) ?? true {
                    return Replay(
                        fold: pieces.fold, version: pieces.version, length: pieces.end, restoredChains: 0,
                        lastRecordOffset: pieces.lastRecordOffset ?? 0, position: pieces.position
                    )
                }
            }
            let bytes = try descriptor.map { try self.readAll($0, path) } ?? []
            let (folded, scan) = try bytes.withUnsafeBytes { try self.fold($0, .versions, into: fold, path) }
            if scan.tail == .clean, newest.map({ $0 <= scan.position }) ?? true {
                return Replay(fold: folded, version: scan.version, length: scan.validLength, restoredChains: 0, lastRecordOffset: scan.lastRecordOffset, position: scan.position)
            }
            switch try LogRepair.plan(bytes, newest: newest, chains: { try copy.chains(of: key, in: $0) }) {
            case .intact:
                return Replay(fold: folded, version: scan.version, length: scan.validLength, restoredChains: 0, lastRecordOffset: scan.lastRecordOffset, position: scan.position)
            case .corrupt(let offset, let reason):
                throw StorageError.corrupt(path: path, offset: offset, reason: reason)
            case .repair(let repair):
                try self.write(repair, over: bytes, of: key, descriptor: descriptor)
                let (repaired, rescan) = try repair.bytes.withUnsafeBytes { try self.fold($0, .versions, into: fold, path) }
                return Replay(
                    fold: repaired, version: rescan.version, length: rescan.validLength, restoredChains: repair.restoredChains,
                    lastRecordOffset: rescan.lastRecordOffset, position: rescan.position
                )
            }
        }
    }

    /// Puts `repair` of `key`'s log (`original`, open as `descriptor`) on disk and logs it.
    private func write(_ repair: LogRepair, over original: [UInt8], of key: AggregateKey, descriptor: Int32?) throws {
        guard let modelDirectory = directory.descriptor(of: key.model) else {
            preconditionFailure("model \(key.model) has no directory")
        }
        let writer = LogRepairWriter(systemCalls: configuration.systemCalls) { descriptor, path, full in
            if self.configuration.sync != .none {
                try self.sync(descriptor, path, fullSync: full)
            }
        }
        let written = try writer.write(
            repair, over: original, log: LogFileName.make(for: key.id),
            in: modelDirectory, at: "\(directory.path)/aggregates/\(key.model)", descriptor: descriptor
        )
        if written.replacedFile {
            descriptors.retire(key)
        }
        var metadata: Logger.Metadata = [
            "path": "\(directory.logPath(of: key))",
            "chains": "\(repair.restoredChains)",
            "fixes": "\(repair.fixes.map(\.description).joined(separator: "; "))",
        ]
        if let kept = written.keptAside {
            metadata["kept"] = "\(kept)"
        }
        logger.notice("repaired aggregate log from the global log", metadata: metadata)
    }
}
