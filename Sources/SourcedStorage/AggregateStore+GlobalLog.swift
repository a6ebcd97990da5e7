import Glibc
import NIOCore
import SourcedCore

/// The global log: every committed chain, in commit order, numbered by a gapless position, in
/// segment files (``GlobalSegment``).
///
/// Same record format as the aggregate logs (`LogRecord`), with ``GlobalPayload`` payloads and
/// positions instead of versions as the sequence (`docs/storage-format.md`). It has one writer,
/// the engine's global committer; readers read only up to the length that writer published.
/// Start-up reads only the active segment and those the checkpoint has not passed; sealed
/// segments are found through their index files, which sealing writes in the background.
extension AggregateStore {
    /// Reads what start-up needs of the global log, cutting off a torn tail of the active
    /// segment, and makes it durable. Called once, at start, before anything is appended.
    ///
    /// Reads the index file of every sealed segment, the newest position table saved with the
    /// last sealed segment, and in full only the segments after that table, those holding chains
    /// after `checkpoint`, and any whose index file is missing or damaged (whose index files are
    /// then rewritten): normally the active segment alone.
    ///
    /// The zero-filled space after the last record is the log's clean end, not a torn tail
    /// (``LogScan/Layout/preallocated``). If less than a quarter of an extension is left (always,
    /// for a new store), the space is extended before this returns (see ``GlobalLogSpace``).
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` if a segment is damaged before its
    ///   end, a sealed segment is torn, or segments do not follow one another.
    public func recoverGlobalLog(checkpoint: UInt64) async throws -> GlobalLogRecovery {
        try await run {
            try self.checkRunning()
            return try self.recoverGlobalLogNow(checkpoint: checkpoint)
        }
    }

    private func recoverGlobalLogNow(checkpoint: UInt64) throws -> GlobalLogRecovery {
        let global = directory.globalSegments
        var segments = global.segments
        let activeIndex = segments.count - 1
        var indexed = [Bool](repeating: false, count: segments.count)
        for index in 0..<activeIndex {
            let first = segments[index].first
            if let bytes = try readGlobalSidecar(GlobalSegment.indexFileName(first: first)),
               let segment = GlobalSegment(indexFile: bytes, first: first), segment.last + 1 == segments[index + 1].first
            {
                segments[index] = segment
                indexed[index] = true
            }
        }
        var table = NewestPositionTable()
        var tableIndex = -1
        for index in stride(from: activeIndex - 1, through: 0, by: -1) where indexed[index] {
            if let bytes = try readGlobalSidecar(NewestPositionTable.fileName(first: segments[index].first)),
               let saved = NewestPositionTable(decoding: bytes), saved.through == segments[index].last
            {
                table = saved
                tableIndex = index
                break
            }
        }
        let checkpointIndex = segments.lastIndex { $0.first <= checkpoint + 1 } ?? 0
        let start = min(tableIndex + 1, indexed[..<activeIndex].firstIndex(of: false) ?? activeIndex, checkpointIndex)
        if start < tableIndex + 1 || tableIndex < activeIndex - 1 {
            logger.notice("reading sealed global segments at start", metadata: [
                "segments": "\(activeIndex - start)", "from": "\(global.path(of: segments[start].first))",
            ])
        }

        var scan = GlobalSegmentScan(checkpoint: checkpoint, table: table)
        var bytesRead = 0
        for index in start...activeIndex {
            let first = segments[index].first
            let path = global.path(of: first)
            let isActive = index == activeIndex
            let bytes = try isActive ? readAll(global.active.descriptor, path) : readSegment(first)
            bytesRead += bytes.count
            scan.begin(segment: first, recordingNewest: index > tableIndex)
            let (folded, logScan) = try bytes.withUnsafeBytes { try fold($0, .positions, .preallocated, after: first - 1, into: scan, path) }
            scan = folded
            switch logScan.tail {
            case .clean:
                break
            case .corrupt(let offset, let reason):
                throw StorageError.corrupt(path: path, offset: offset, reason: reason)
            case .torn(let offset) where !isActive:
                throw StorageError.corrupt(path: path, offset: offset, reason: "a sealed segment ends in a torn record, and the next segment follows it")
            case .torn(let offset):
                logger.warning("cutting off torn tail of log", metadata: ["path": "\(path)", "offset": "\(offset)", "bytes": "\(bytes.count - offset)"])
                guard ftruncate(global.active.descriptor, off_t(offset)) == 0 else {
                    throw StorageError.io(operation: "truncate", path: path, errno: errno)
                }
            }
            segments[index] = scan.segment
            guard !isActive else { break }
            guard scan.segment.last + 1 == segments[index + 1].first else {
                throw StorageError.corrupt(
                    path: path, offset: logScan.validLength,
                    reason: "it ends at position \(scan.segment.last) but the next segment starts at position \(segments[index + 1].first)"
                )
            }
            let lastSealed = index == activeIndex - 1
            if !indexed[index] || (lastSealed && tableIndex < index) {
                try sealGlobalSegment(scan.segment, table: lastSealed ? scan.table : nil)
            }
        }
        global.recovered(segments)
        let active = segments[activeIndex]
        if configuration.sync != .none {
            // Records that reached only the page cache before a crash of sourced are about to
            // be treated as committed: make them durable first.
            try sync(global.active.descriptor, global.path(of: active.first))
        }
        try recoveredGlobalLogSpace(logicalEnd: active.length)
        return GlobalLogRecovery(
            last: active.last, newest: scan.table.positions, pending: scan.pending,
            segments: segments.count, bytesRead: bytesRead
        )
    }

    /// Makes `records` (whole encoded global records, the first at position `first`) durable at
    /// the end of the active segment: one `pwrite` and, unless sync is `none`, one `fdatasync`.
    /// This is the commit point. If the active segment has reached the segment size, the records
    /// start a new segment: its file is created and the directory synced first, and the previous
    /// segment is sealed in the background.
    ///
    /// The records go into the segment's zero-filled space (``GlobalLogSpace``). If the space
    /// does not reach their end, the commit first waits for the fill in progress or fills itself;
    /// once they are durable and less than a quarter of an extension is left, a fill starts in
    /// the background.
    ///
    /// Blocks: call it from the engine's commit thread, never from an event loop or a task.
    /// - Throws: if the write failed (the bytes written are zeros again, durably: the log is back
    ///   where it was, nothing is committed), or a sync failed, of the records (the outcome is
    ///   unknown), of the zeros before them or of a new segment's directory entry (nothing is
    ///   committed): the store has stopped.
    public func commitGlobal(_ records: [UInt8], first: UInt64) throws {
        try checkRunning()
        let global = directory.globalSegments
        var (segment, descriptor) = global.active
        if segment.length >= configuration.globalSegmentSize {
            descriptor = try startGlobalSegment(first: first)
            segment = GlobalSegment(first: first)
        }
        let offset = segment.length
        let end = offset + records.count
        try reserveGlobalLogSpace(through: end)
        try write(records, to: descriptor, at: offset, rollback: .zeroFill, global.path(of: segment.first))
        if configuration.sync != .none {
            try sync(descriptor, global.path(of: segment.first))
        }
        global.appendToActive { active in
            records.withUnsafeBytes { buffer in
                var at = 0
                var position = first
                while at < buffer.count {
                    let length = LogRecord.headerSize + Int(buffer.loadLE(UInt32.self, at: at))
                    active.append(position: position, offset: offset + at, end: offset + at + length)
                    at += length
                    position += 1
                }
            }
        }
        extendGlobalLogSpaceIfLow(after: end)
    }

    /// Creates the segment starting at `first`, durably, makes it the active one and seals the
    /// previous one in the background. Runs on the space's queue, so no fill is in progress.
    private func startGlobalSegment(first: UInt64) throws -> Int32 {
        let global = directory.globalSegments
        return try directory.globalLogSpace.serially {
            let descriptor = configuration.systemCalls.openat(
                global.directoryDescriptor, GlobalSegment.fileName(first: first), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640
            )
            guard descriptor >= 0 else { throw StorageError.io(operation: "create", path: global.path(of: first), errno: errno) }
            if configuration.sync != .none {
                do {
                    try sync(global.directoryDescriptor, global.path, fullSync: true)
                } catch {
                    close(descriptor)
                    throw error
                }
            }
            let previous = global.roll(to: descriptor, first: first)
            directory.globalLogSpace.startSegment()
            global.sealing.async {
                defer { close(previous.descriptor) }
                self.sealInBackground(previous.sealed, descriptor: previous.descriptor)
            }
            return descriptor
        }
    }

    /// Seals `segment`, open as `descriptor`, after a roll: cuts its zero-filled space, and writes its index file and
    /// the newest position table through its end (the previous table plus this segment's
    /// chains). A failure is logged: the files are derived, and start-up rebuilds what is missing.
    private func sealInBackground(_ segment: GlobalSegment, descriptor: Int32) {
        do {
            try checkRunning()
            var table: NewestPositionTable?
            let previous = directory.globalSegments.segments.last { $0.first < segment.first }
            if let previous {
                if let bytes = try readGlobalSidecar(NewestPositionTable.fileName(first: previous.first)),
                   let saved = NewestPositionTable(decoding: bytes), saved.through == previous.last
                {
                    table = saved
                }
            } else {
                table = NewestPositionTable()
            }
            if var extended = table {
                let bytes = try read(descriptor, directory.globalSegmentPath(first: segment.first), 0..<segment.length)
                try bytes.withUnsafeBytes { buffer in
                    _ = try LogScan(buffer, sequencing: .positions, after: segment.first - 1) { entry in
                        try extended.record(payload: UnsafeRawBufferPointer(rebasing: buffer[entry.payload]), position: entry.header.position)
                    }
                }
                table = extended.through == segment.last ? extended : nil
            }
            try sealGlobalSegment(segment, table: table)
            if table != nil, let previous {
                unlinkat(directory.globalSegments.directoryDescriptor, NewestPositionTable.fileName(first: previous.first), 0)
            }
        } catch {
            logger.warning("cannot write the index of a sealed global segment; start-up rebuilds it", metadata: [
                "segment": "\(directory.globalSegmentPath(first: segment.first))", "error": "\(error)",
            ])
        }
    }

    /// Writes the index file of sealed `segment`, and, if given, `table` as the newest position
    /// table through its end, each atomically, after cutting the segment's zero-filled space.
    private func sealGlobalSegment(_ segment: GlobalSegment, table: NewestPositionTable?) throws {
        let global = directory.globalSegments
        let descriptor = configuration.systemCalls.openat(global.directoryDescriptor, GlobalSegment.fileName(first: segment.first), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0)
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: global.path(of: segment.first), errno: errno) }
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(segment.length)) == 0 else {
            throw StorageError.io(operation: "truncate", path: global.path(of: segment.first), errno: errno)
        }
        if configuration.sync != .none, configuration.systemCalls.sync(descriptor, false) != 0 {
            throw StorageError.io(operation: "fdatasync", path: global.path(of: segment.first), errno: errno)
        }
        try replaceFile(GlobalSegment.indexFileName(first: segment.first), in: global.directoryDescriptor, at: global.path, with: segment.indexFile())
        if let table {
            try replaceFile(NewestPositionTable.fileName(first: segment.first), in: global.directoryDescriptor, at: global.path, with: table.encoded())
        }
    }

    /// The bytes of the file `name` in `global/`, `nil` if it does not exist.
    private func readGlobalSidecar(_ name: String) throws -> [UInt8]? {
        let descriptor = openat(directory.globalSegments.directoryDescriptor, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else {
            guard errno == ENOENT else { throw StorageError.io(operation: "open", path: directory.globalSegments.path + "/" + name, errno: errno) }
            return nil
        }
        defer { close(descriptor) }
        return try readAll(descriptor, directory.globalSegments.path + "/" + name)
    }

    /// The bytes of the segment file starting at `first`, up to its end.
    private func readSegment(_ first: UInt64) throws -> [UInt8] {
        try withSegment(first) { try readAll($0, directory.globalSegmentPath(first: first)) }
    }

    /// Runs `body` with the segment file starting at `first` open for reading. With `dropped`,
    /// a file that no longer exists because retention dropped it meanwhile throws
    /// ``StorageError/positionDropped(earliest:)``.
    private func withSegment<Result>(_ first: UInt64, dropped: GlobalSegments? = nil, _ body: (Int32) throws -> Result) throws -> Result {
        let descriptor = openat(directory.globalSegments.directoryDescriptor, GlobalSegment.fileName(first: first), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else {
            if errno == ENOENT, let dropped, dropped.earliest > first {
                throw StorageError.positionDropped(earliest: dropped.earliest)
            }
            throw StorageError.io(operation: "open", path: directory.globalSegmentPath(first: first), errno: errno)
        }
        defer { close(descriptor) }
        return try body(descriptor)
    }

    /// The durable chains after `position`, in order: those of the next piece of the segment
    /// that holds `position + 1`, about `budget` bytes (more if one record is larger); none if
    /// no chain is durable after `position`. Only that piece is held in memory.
    ///
    /// Blocking: call it on an I/O thread (``readGlobalChains(after:)`` from a task).
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` if a record there does not verify
    ///   (start-up verified only the active segment), or an I/O error.
    public func globalChains(after position: UInt64, budget: Int = 1 << 20) throws -> [CommittedChain] {
        try checkRunning()
        let global = directory.globalSegments
        guard position + 1 >= global.earliest else { throw StorageError.positionDropped(earliest: global.earliest) }
        guard let plan = global.plan(after: position) else { return [] }
        let path = directory.globalSegmentPath(first: plan.segment)
        return try withSegment(plan.segment, dropped: global) { descriptor in
            var offset = plan.offset
            var chunk = budget
            while offset < plan.end {
                let read = try CommittedChain.chains(in: try self.read(descriptor, path, offset..<min(plan.end, offset + chunk)), path: path, at: offset)
                let fresh = read.chains.filter { $0.position > position }
                if !fresh.isEmpty { return fresh }
                if read.used == 0 {
                    chunk *= 2
                } else {
                    offset += read.used
                }
            }
            throw StorageError.corrupt(path: path, offset: plan.offset, reason: "the segment's index says it holds position \(position + 1), but it does not")
        }
    }

    /// The chain at `position`, read on the I/O pool (one piece of its segment, found through
    /// the index) and answered on `loop`; `nil` if the global log no longer holds it (retention).
    public func globalChain(at position: UInt64, on loop: any EventLoop) -> EventLoopFuture<CommittedChain?> {
        run(on: loop) {
            do {
                return try self.globalChains(after: position - 1, budget: 64 << 10).first { $0.position == position }
            } catch StorageError.positionDropped {
                return nil
            }
        }
    }

    /// ``globalChains(after:budget:)`` on the I/O pool.
    public func readGlobalChains(after position: UInt64) async throws -> [CommittedChain] {
        try await run { try self.globalChains(after: position) }
    }

    /// The chains of `key` that the global log holds at positions in `positions`, in order,
    /// read piece by piece: only one piece is held in memory, with the chains found (none of
    /// those retention dropped). Blocking: call it on an I/O thread.
    public func globalChains(of key: AggregateKey, in positions: ClosedRange<UInt64>) throws -> [CommittedChain] {
        var found: [CommittedChain] = []
        var position = max(positions.lowerBound, directory.globalSegments.earliest) - 1
        while position < positions.upperBound {
            let chains = try globalChains(after: position)
            guard let last = chains.last else { break }
            found += chains.filter { positions.contains($0.position) && $0.key == key }
            position = last.position
        }
        return found
    }

    /// Retention: deletes the oldest sealed segments while the global log takes more than `keep`
    /// bytes, among those whose chains every aggregate log and handler checkpoint has durably
    /// passed (ending at or before `bound`); never the active segment or the newest sealed one.
    /// Each is deleted with its index file, then `global/` is synced, oldest first, so that a
    /// crash leaves the log contiguous. Readers of a dropped position get
    /// ``StorageError/positionDropped(earliest:)``; repairs find no chains there.
    /// - Returns: how many segments were deleted.
    @discardableResult
    public func dropGlobalSegments(endingBy bound: UInt64, keepingBytes keep: Int) async throws -> Int {
        try await run {
            try self.checkRunning()
            let global = self.directory.globalSegments
            let dropped = global.dropOldest(endingBy: bound, keeping: keep)
            for first in dropped {
                for name in [GlobalSegment.indexFileName(first: first), GlobalSegment.fileName(first: first)]
                where unlinkat(global.directoryDescriptor, name, 0) != 0 && errno != ENOENT {
                    throw StorageError.io(operation: "delete", path: global.path + "/" + name, errno: errno)
                }
                if self.configuration.sync != .none {
                    try self.sync(global.directoryDescriptor, global.path, fullSync: true)
                }
            }
            if !dropped.isEmpty {
                self.logger.notice("dropped global segments by retention", metadata: [
                    "segments": "\(dropped.count)", "earliest_position": "\(global.earliest)",
                ])
            }
            return dropped.count
        }
    }

    /// The position of the last durable chain, 0 if there is none.
    public var globalLastPosition: UInt64 {
        directory.globalSegments.last
    }

    /// Opens (holding them until ``appendAggregates(_:into:)`` or ``release(_:)``) the logs of
    /// `appends`, creating those whose offset is 0. Done before the global commit, so that
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
