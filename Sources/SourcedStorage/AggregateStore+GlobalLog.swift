import Glibc

/// The global log: every committed chain, in commit order, numbered by a gapless position.
///
/// Same record format as the aggregate logs (`LogRecord`), with ``GlobalPayload`` payloads and
/// positions instead of versions as the sequence (`docs/storage-format.md`). It has one writer,
/// the engine's global committer; readers read only up to the length that writer published.
extension AggregateStore {
    /// Reads the whole global log into `fold`, cutting off a torn tail, and makes it durable.
    /// Called once, at start, before anything is appended.
    ///
    /// The zero-filled space after the last record is the log's clean end, not a torn tail
    /// (``LogScan/Layout/preallocated``): it is kept, and the returned length is the log's
    /// logical length, where the next record goes, not the file's size. If less than a quarter
    /// of an extension is left (always, for a new store), the space is extended before this
    /// returns (see ``GlobalLogSpace``).
    public func replayGlobalLog<Fold: LogFold>(into fold: Fold) async throws -> Replay<Fold> {
        try await run {
            try self.checkRunning()
            let replay = try self.recoverGlobalLog(into: fold)
            if self.configuration.sync != .none {
                // Records that reached only the page cache before a crash of sourced are about to
                // be treated as committed: make them durable first.
                try self.sync(self.directory.globalLogDescriptor, self.directory.globalLogPath)
            }
            try self.recoveredGlobalLogSpace(logicalEnd: replay.length)
            return replay
        }
    }

    /// Makes `records` (whole encoded global records) durable at `offset`, the global log's
    /// logical length: one `pwrite` and, unless sync is `none`, one `fdatasync`. This is the
    /// commit point.
    ///
    /// The records go into the global log's zero-filled space (``GlobalLogSpace``). If the space
    /// does not reach their end, the commit first waits for the fill in progress or fills itself;
    /// once they are durable and less than a quarter of an extension is left, a fill starts in
    /// the background.
    ///
    /// Blocks: call it from the engine's commit thread, never from an event loop or a task.
    /// - Throws: if the write failed (the bytes written are zeros again, durably: the log is back
    ///   at `offset`, nothing is committed), or a sync failed, of the records (the outcome is
    ///   unknown) or of the zeros before them (nothing is committed): the store has stopped.
    public func commitGlobal(_ records: [UInt8], at offset: Int) throws {
        try checkRunning()
        let descriptor = directory.globalLogDescriptor
        let end = offset + records.count
        try reserveGlobalLogSpace(through: end)
        try write(records, to: descriptor, at: offset, rollback: .zeroFill, directory.globalLogPath)
        if configuration.sync != .none {
            try sync(descriptor, directory.globalLogPath)
        }
        extendGlobalLogSpaceIfLow(after: end)
    }

    /// Opens the logs of `appends` (creating those whose offset is 0) and holds them open until
    /// ``appendAggregates(_:into:)`` or ``release(_:)``. Done before the global commit, so that
    /// failing to open one (`EMFILE`) fails the batch cleanly instead of leaving committed chains
    /// a log cannot take.
    public func holdLogs(for appends: [AggregateAppend]) throws -> HeldLogs {
        var held = HeldLogs()
        do {
            for append in appends {
                let key = append.key
                guard let descriptor = try descriptors.checkOut(key, open: { try self.openLog(key, create: append.offset == 0) }) else {
                    throw StorageError.io(operation: "open", path: directory.logPath(of: key), errno: ENOENT)
                }
                held.keys.append(key)
                held.descriptors.append(descriptor)
            }
        } catch {
            release(held)
            throw error
        }
        return held
    }

    /// Lets the descriptor cache close the logs of `held` again.
    public func release(_ held: HeldLogs) {
        for (key, descriptor) in zip(held.keys, held.descriptors) {
            descriptors.checkIn(key, descriptor)
        }
    }

    /// Appends each of `appends`, committed chains' aggregate records, to its log (held in
    /// `logs`, in the same order), unsynced (see ``syncLogs(_:directories:)``), then releases
    /// the logs.
    ///
    /// Blocks: call it from the engine's commit threads.
    /// - Returns: how many of `appends` were written. If not all, the store has stopped with the
    ///   returned error: the rest are committed but missing from their logs until recovery.
    public func appendAggregates(_ appends: [AggregateAppend], into logs: HeldLogs) -> (written: Int, failure: StorageError?) {
        defer { release(logs) }
        for (index, append) in appends.enumerated() {
            do {
                try checkRunning()
                try write(append.records, to: logs.descriptors[index], at: append.offset, directory.logPath(of: append.key))
            } catch {
                let failure = error as? StorageError ?? .stopped(cause: "\(error)")
                stop(failure)
                return (index, failure)
            }
        }
        return (appends.count, nil)
    }

    /// The bytes of `range` of the global log, which must lie within what was appended (the
    /// logical length; the file goes on with zeros).
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
