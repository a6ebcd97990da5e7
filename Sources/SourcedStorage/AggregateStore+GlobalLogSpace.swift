import Glibc

/// Keeping the active global segment zero-filled ahead of its records (see ``GlobalLogSpace``),
/// up to the segment size: the space of a segment is never extended past it.
///
/// The commit path calls two functions: ``reserveGlobalLogSpace(through:)`` before it writes a
/// batch, ``extendGlobalLogSpaceIfLow(after:)`` once the batch is durable. Both are synchronous
/// and may be called from any thread that may block (the first waits only when the batch does
/// not fit); recovery calls ``recoveredGlobalLogSpace(logicalEnd:)``.
extension AggregateStore {
    /// Whether the global log is preallocated: with a chunk size above 0 and a sync mode that
    /// syncs (the zeros only pay off in cheaper syncs).
    var preallocatesGlobalLog: Bool {
        configuration.sync != .none && configuration.globalLogChunkSize > 0
    }

    /// Takes the space recovery left, from the log's logical end `logicalEnd` to the end of the
    /// file, and, if less than a quarter of the next extension is left (always, for a new store),
    /// makes that extension at once, before anything is committed.
    ///
    /// - Throws: ``StorageError/syncFailed(path:errno:)`` if the `fdatasync` of zeros failed (the
    ///   store has stopped). A fill that fails otherwise is logged; commits then grow the file.
    func recoveredGlobalLogSpace(logicalEnd: Int) throws {
        let active = directory.globalSegments.active
        var info = stat()
        guard fstat(active.descriptor, &info) == 0 else {
            throw StorageError.io(operation: "stat", path: directory.globalSegmentPath(first: active.segment.first), errno: errno)
        }
        let space = directory.globalLogSpace
        let chunkSize = configuration.globalLogChunkSize
        space.reset(to: max(logicalEnd, Int(info.st_size)))
        guard preallocatesGlobalLog,
              GlobalLogSpace.isLow(logicalEnd: logicalEnd, zeroedEnd: space.zeroedEnd, chunkSize: chunkSize)
        else { return }
        try space.serially {
            let target = GlobalLogSpace.fillTarget(zeroedEnd: space.zeroedEnd, needed: logicalEnd, chunkSize: chunkSize)
            _ = try fillGlobalLog(to: withinSegment(target, needed: logicalEnd))
        }
    }

    /// Makes sure `global.log` is zero-filled up to `end` before a commit writes records up to
    /// there. Usually it is, and this returns at once. Otherwise it waits for the piece of a
    /// background fill in progress, and, if the space still does not reach `end`, fills the
    /// pieces up to `end` itself, in the caller's time (the rest of the extension follows in the
    /// background, see ``extendGlobalLogSpaceIfLow(after:)``). If that fails for another reason
    /// than a sync (no space left, an I/O error), it logs a warning, once per failing streak, and
    /// returns: the commit then writes past the space, growing the file as without
    /// preallocation, so preallocation never refuses a commit that the disk could take.
    ///
    /// - Throws: ``StorageError/syncFailed(path:errno:)`` if an `fdatasync` of zeros failed: the
    ///   store has stopped (a failed sync is never retried).
    func reserveGlobalLogSpace(through end: Int) throws {
        let space = directory.globalLogSpace
        guard preallocatesGlobalLog, end > space.zeroedEnd else { return }
        try space.serially {
            let zeroedEnd = space.zeroedEnd
            guard end > zeroedEnd, !space.isClosed else { return }
            let target = GlobalLogSpace.urgentTarget(zeroedEnd: zeroedEnd, needed: end, chunkSize: configuration.globalLogChunkSize)
            _ = try fillGlobalLog(to: withinSegment(target, needed: end))
        }
    }

    /// Called once a commit made the log reach `end`, durably: if the space after it has fallen
    /// below a quarter of the next extension, starts a fill in the background, so the commits
    /// that follow keep finding space without waiting. Never blocks.
    func extendGlobalLogSpaceIfLow(after end: Int) {
        let space = directory.globalLogSpace
        space.advance(to: end)
        guard preallocatesGlobalLog, end < configuration.globalSegmentSize,
              let target = space.claimBackgroundFill(after: end, chunkSize: configuration.globalLogChunkSize)
        else { return }
        let limited = withinSegment(target, needed: end)
        space.fillInBackground {
            // Only a failed sync throws here: it has stopped the store, which logs it.
            (try? self.fillGlobalLog(to: limited, pieces: 1)) ?? false
        }
    }

    /// `target`, but not past the segment size unless `needed` is.
    private func withinSegment(_ target: Int, needed: Int) -> Int {
        min(target, max(configuration.globalSegmentSize, needed))
    }

    /// Writes zeros from the space's end towards `target`, one piece at a time: `pwrite`, then
    /// `fdatasync` (unless sync is `none`), then the piece counts as space. Runs on the space's
    /// queue only. Stops after `pieces` pieces, at `target`, if the space is closed, or if a
    /// write fails: that is logged (once per failing streak) and the unsynced piece is cut off
    /// again, so that what it took of a nearly full disk is free for the commit that needs it.
    ///
    /// - Returns: whether more is to be written: it stopped after `pieces` pieces short of
    ///   `target`.
    /// - Throws: ``StorageError/syncFailed(path:errno:)`` (the store has stopped), or
    ///   ``StorageError/stopped(cause:)`` if it had stopped before.
    private func fillGlobalLog(to target: Int, pieces: Int = .max) throws -> Bool {
        let space = directory.globalLogSpace
        let active = directory.globalSegments.active
        let descriptor = active.descriptor
        let path = directory.globalSegmentPath(first: active.segment.first)
        var end = space.zeroedEnd
        var written = 0
        while end < target, !space.isClosed {
            guard written < pieces else { return true }
            try checkRunning()
            let count = min(GlobalLogSpace.pieceSize, target - end)
            let failure = writeZeros(to: descriptor, at: end, count: count)
            guard failure == 0 else {
                _ = ftruncate(descriptor, off_t(end))
                let error = StorageError.io(operation: "preallocate", path: path, errno: failure)
                if space.recordFill(succeeded: false) {
                    logger.warning(
                        "cannot keep the global log zero-filled ahead; commits grow the file instead, with slower syncs",
                        metadata: ["error": "\(error)", "offset": "\(end)", "bytes": "\(target - end)"]
                    )
                }
                return false
            }
            if configuration.sync != .none {
                try sync(descriptor, path)
            }
            end += count
            written += 1
            space.advance(to: end)
            if space.recordFill(succeeded: true) {
                logger.notice("the global log is zero-filled ahead again", metadata: ["end": "\(end)"])
            }
        }
        return false
    }

    /// Writes `count` zero bytes at `offset`, with the store's system calls.
    /// - Returns: 0, or the `errno` of the failure.
    func writeZeros(to descriptor: Int32, at offset: Int, count: Int) -> Int32 {
        let zeros = [UInt8](repeating: 0, count: min(count, GlobalLogSpace.pieceSize))
        return zeros.withUnsafeBytes { buffer in
            var done = 0
            while done < count {
                let piece = min(buffer.count, count - done)
                let start = offset + done
                let failure = Self.transfer(piece) { moved in
                    configuration.systemCalls.pwrite(descriptor, buffer.baseAddress! + moved, piece - moved, off_t(start + moved))
                }.errno
                guard failure == 0 else { return failure }
                done += piece
            }
            return 0
        }
    }
}
