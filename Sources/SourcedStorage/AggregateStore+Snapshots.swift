import Glibc
import NIOCore
import SourcedCore

/// Snapshots: loads that start from one, and writing them.
extension AggregateStore {
    /// ``replay(_:into:repairingFrom:)``, starting from `key`'s snapshot if `codec` accepts it.
    ///
    /// The snapshot is used only if it verifies (``SnapshotFile``), names `codec`'s model and
    /// state version, its state decodes, the log's record ending at its offset ends at its
    /// version and position, and the records after it verify to the end and reach the global
    /// log's newest chain of `key`. Then only those records are read and folded. Otherwise the
    /// whole log is replayed (and repaired) as without a snapshot, and the result says why
    /// (``Replay/snapshot``); the snapshot is left for the caller to replace.
    public func replay<Fold: LogFold>(
        _ key: AggregateKey,
        into fold: Fold,
        repairingFrom copy: any GlobalLogCopy,
        snapshots codec: SnapshotCodec<Fold>,
        on loop: any EventLoop
    ) -> EventLoopFuture<Replay<Fold>> {
        run(on: loop) { try self.replayNow(key, into: fold, repairingFrom: copy, snapshots: codec) }
    }

    func replayNow<Fold: LogFold>(
        _ key: AggregateKey,
        into fold: Fold,
        repairingFrom copy: any GlobalLogCopy,
        snapshots codec: SnapshotCodec<Fold>
    ) throws -> Replay<Fold> {
        try checkRunning()
        let use: SnapshotUse
        do {
            if let snapshot = try readSnapshot(key) {
                return try replayNow(key, after: snapshot, codec, repairingFrom: copy)
            }
            use = .missing
        } catch let rejection as SnapshotRejection {
            use = .ignored(rejection)
        } catch {
            use = .ignored(.unreadable("\(error)"))
        }
        var replay = try replayNow(key, into: fold, repairingFrom: copy)
        replay.snapshot = use
        return replay
    }

    /// The snapshot file of `key`, decoded, or `nil` if there is none.
    /// - Throws: ``SnapshotRejection`` if it does not verify; ``StorageError`` if it cannot be read.
    private func readSnapshot(_ key: AggregateKey) throws -> SnapshotFile? {
        guard let folder = directory.snapshotDescriptor(of: key.model) else { return nil }
        let path = directory.snapshotPath(of: key)
        let descriptor = openat(folder, SnapshotFile.fileName(for: key.id), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else {
            guard errno == ENOENT else { throw StorageError.io(operation: "open", path: path, errno: errno) }
            return nil
        }
        defer { close(descriptor) }
        return try SnapshotFile(decoding: try readAll(descriptor, path))
    }

    /// Folds the records after `snapshot` into its state.
    /// - Throws: ``SnapshotRejection`` if the snapshot cannot be used.
    private func replayNow<Fold: LogFold>(
        _ key: AggregateKey,
        after snapshot: SnapshotFile,
        _ codec: SnapshotCodec<Fold>,
        repairingFrom copy: any GlobalLogCopy
    ) throws -> Replay<Fold> {
        guard snapshot.model == codec.model else { throw SnapshotRejection.wrongModel(found: snapshot.model, expected: codec.model) }
        guard snapshot.stateVersion == codec.stateVersion else {
            throw SnapshotRejection.stateVersion(found: snapshot.stateVersion, expected: codec.stateVersion)
        }
        let path = directory.logPath(of: key)
        let pieces = try descriptors.withDescriptor(for: key, open: { try self.openLog(key, create: false) }) { descriptor in
            guard let descriptor else { throw SnapshotRejection.logDisagrees("the log is missing") }
            let size = try self.fileSize(descriptor, path)
            guard size >= snapshot.logLength else {
                throw SnapshotRejection.logDisagrees("the log ends at offset \(size), before the snapshot's offset \(snapshot.logLength)")
            }
            try snapshot.verifyCoveredRecord(try self.read(descriptor, path, snapshot.recordOffset..<snapshot.logLength))
            let restored: Fold
            do {
                restored = try codec.restore(snapshot)
            } catch {
                throw SnapshotRejection.undecodable("\(error)")
            }
            return try self.foldInPieces(descriptor, path, from: snapshot.logLength, to: size, after: snapshot.version, into: restored)
        }
        let position = pieces.lastRecordOffset == nil ? snapshot.position : pieces.position
        guard pieces.clean, copy.newestPosition(of: key).map({ $0 <= position }) ?? true else {
            throw SnapshotRejection.logDisagrees("the log after the snapshot is damaged or incomplete; it is replayed and repaired in full")
        }
        return Replay(
            fold: pieces.fold, version: pieces.version, length: pieces.end, restoredChains: 0,
            lastRecordOffset: pieces.lastRecordOffset ?? snapshot.recordOffset,
            position: position, snapshot: .used(version: snapshot.version, logLength: snapshot.logLength, stateBytes: snapshot.state.count)
        )
    }

    /// Writes the snapshot `make` returns as `key`'s, on the I/O pool, answered on `loop` with
    /// the size of its state.
    ///
    /// Atomic: the file is written under a temporary name, synced, renamed over the old snapshot
    /// and the directory synced (no syncs with sync `none`); a reader sees the old snapshot or
    /// the new one. On failure the temporary file is removed and the old snapshot stays. A failed
    /// sync of a snapshot does not stop the store: loads verify every snapshot against the log,
    /// which stays the truth. The caller must not write two snapshots of one aggregate at once.
    public func writeSnapshot(
        of key: AggregateKey,
        on loop: any EventLoop,
        _ make: @escaping @Sendable () throws -> SnapshotFile
    ) -> EventLoopFuture<Int> {
        run(on: loop) {
            try self.checkRunning()
            let snapshot = try make()
            try self.writeSnapshotNow(snapshot, of: key)
            return snapshot.state.count
        }
    }

    func writeSnapshotNow(_ snapshot: SnapshotFile, of key: AggregateKey) throws {
        guard let folder = directory.snapshotDescriptor(of: key.model) else {
            preconditionFailure("model \(key.model) has no snapshot directory")
        }
        try replaceFile(SnapshotFile.fileName(for: key.id), in: folder, at: "\(directory.path)/snapshots/\(key.model)", with: snapshot.encoded())
    }
}
