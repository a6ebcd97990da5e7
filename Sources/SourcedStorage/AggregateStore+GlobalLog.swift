import Glibc

/// The global log: every committed chain, in commit order, numbered by a gapless position.
///
/// Same record format as the aggregate logs (`LogRecord`), with ``GlobalPayload`` payloads and
/// positions instead of versions as the sequence (`docs/storage-format.md`). It has one writer,
/// the engine's global committer; readers read only up to the length that writer published.
extension AggregateStore {
    /// Reads the whole global log into `fold`, cutting off a torn tail, and makes it durable.
    /// Called once, at start, before anything is appended.
    public func replayGlobalLog<Fold: LogFold>(into fold: Fold) async throws -> Replay<Fold> {
        try await run {
            try self.checkRunning()
            let descriptor = self.directory.globalLogDescriptor
            let replay = try self.recover(descriptor, self.directory.globalLogPath, .positions, into: fold)
            if self.configuration.sync != .none {
                // Records that reached only the page cache before a crash of sourced are about to
                // be treated as committed: make them durable first.
                try self.sync(descriptor, self.directory.globalLogPath)
            }
            return replay
        }
    }

    /// Commits a batch of chains: appends their global records (`records`, whole encoded records)
    /// at `offset`, the global log's length, and makes them durable unless sync is `none`: the
    /// commit point. Then appends each of `appends`, the same chains' aggregate records, to its
    /// aggregate's log, unsynced (see ``syncLogs(_:directories:)``).
    ///
    /// Blocks: call it from the engine's commit thread, never from an event loop or a task.
    /// - Returns: how many of `appends` were written. If not all, the store has stopped with the
    ///   returned error: the rest are committed but missing from their logs until recovery.
    /// - Throws: if the global write failed (the log is back at `offset`, nothing is committed)
    ///   or its sync failed (the store has stopped; the outcome is unknown).
    public func commit(
        _ records: [UInt8],
        at offset: Int,
        then appends: [AggregateAppend]
    ) throws -> (written: Int, failure: StorageError?) {
        try checkRunning()
        // Every log is open before anything is committed: failing to open one (EMFILE) then
        // fails the batch cleanly instead of leaving committed chains a log cannot take.
        return try withLogs(of: appends) { logs -> (written: Int, failure: StorageError?) in
            let descriptor = directory.globalLogDescriptor
            try write(records, to: descriptor, at: offset, directory.globalLogPath)
            if configuration.sync != .none {
                try sync(descriptor, directory.globalLogPath)
            }
            for (index, append) in appends.enumerated() {
                do {
                    try checkRunning()
                    try write(append.records, to: logs[index], at: append.offset, directory.logPath(of: append.key))
                } catch {
                    let failure = error as? StorageError ?? .stopped(cause: "\(error)")
                    stop(failure)
                    return (index, failure)
                }
            }
            return (appends.count, nil)
        }
    }

    /// The bytes of `range` of the global log, which must lie within what was appended.
    public func readGlobal(_ range: Range<Int>) async throws -> [UInt8] {
        try await run {
            try self.checkRunning()
            return try self.read(self.directory.globalLogDescriptor, self.directory.globalLogPath, range)
        }
    }

    /// Whether any aggregate log exists (see ``DataDirectory/hasAggregateLogs()``).
    public func hasAggregateLogs() async throws -> Bool {
        try await run { self.directory.hasAggregateLogs() }
    }

    /// The position up to which every aggregate log is known to hold the global log; 0 if none
    /// was recorded or the record does not verify (recovery then starts from the beginning).
    public func readCheckpoint() async throws -> UInt64 {
        try await run {
            var record = [UInt8](repeating: 0, count: 12)
            let count = pread(self.directory.checkpointDescriptor, &record, 12, 0)
            guard count == 12 else { return 0 }
            let position = record.withUnsafeBytes { $0.loadLE(UInt64.self, at: 0) }
            let checksum = record.withUnsafeBytes { $0.loadLE(UInt32.self, at: 8) }
            return CRC32C.checksum(record[0..<8]) == checksum ? position : 0
        }
    }

    /// Records durably that every aggregate log holds the global log up to `position`.
    public func writeCheckpoint(_ position: UInt64) async throws {
        try await run {
            try self.checkRunning()
            var record = withUnsafeBytes(of: position.littleEndian) { Array($0) }
            let checksum = CRC32C.checksum(record)
            withUnsafeBytes(of: checksum.littleEndian) { record.append(contentsOf: $0) }
            let descriptor = self.directory.checkpointDescriptor
            guard pwrite(descriptor, record, record.count, 0) == record.count else {
                throw StorageError.io(operation: "write", path: self.checkpointPath, errno: errno)
            }
            if self.configuration.sync != .none {
                try self.sync(descriptor, self.checkpointPath)
            }
        }
    }

    private var checkpointPath: String { directory.path + "/global.checkpoint" }
}
