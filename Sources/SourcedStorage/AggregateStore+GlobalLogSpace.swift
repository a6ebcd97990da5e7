import Glibc

/// Keeping `global.log` zero-filled ahead of its records (see ``GlobalLogSpace``).
///
/// The commit path calls two functions: ``reserveGlobalLogSpace(through:)`` before it writes a
/// batch, ``extendGlobalLogSpaceIfLow(after:)`` once the batch is durable. Both are synchronous
/// and may be called from any thread that may block; recovery calls
/// ``recoveredGlobalLogSpace(logicalEnd:)``.
extension AggregateStore {
    /// Whether the global log is preallocated: with a chunk size above 0 and a sync mode that
    /// syncs (the zeros only pay off in cheaper syncs).
    var preallocatesGlobalLog: Bool {
        configuration.sync != .none && configuration.globalLogChunkSize > 0
    }

    /// Takes the space recovery left, from the log's logical end `logicalEnd` to the end of the
    /// file, and fills it at once if it is short (a new store gets its first extension here).
    ///
    /// - Throws: ``StorageError/syncFailed(path:errno:)`` if the `fdatasync` of zeros failed (the
    ///   store has stopped). A fill that fails otherwise is logged; commits then grow the file.
    func recoveredGlobalLogSpace(logicalEnd: Int) throws {
        var info = stat()
        guard fstat(directory.globalLogDescriptor, &info) == 0 else {
            throw StorageError.io(operation: "stat", path: directory.globalLogPath, errno: errno)
        }
        directory.globalLogSpace.reset(to: max(logicalEnd, Int(info.st_size)))
        try reserveGlobalLogSpace(through: logicalEnd, ifLow: true)
    }

    /// Makes sure `global.log` is zero-filled up to `end` before a commit writes records up to
    /// there. Usually it is, and this returns at once. Otherwise it waits for the fill in progress
    /// or, if that does not reach `end` either, fills now, in the caller's time. If the fill fails
    /// for another reason than a sync (no space left for a whole extension, an I/O error), it logs
    /// a warning, once per failing streak, and returns: the commit then writes past the space,
    /// growing the file as without preallocation, so preallocation never refuses a commit that
    /// the disk could take.
    ///
    /// - Parameter ifLow: fill when less than a quarter of an extension is left after `end`, not
    ///   only when `end` lies beyond the space.
    /// - Throws: ``StorageError/syncFailed(path:errno:)`` if an `fdatasync` of zeros failed: the
    ///   store has stopped (a failed sync is never retried).
    func reserveGlobalLogSpace(through end: Int, ifLow: Bool = false) throws {
        let space = directory.globalLogSpace
        let chunkSize = configuration.globalLogChunkSize
        func isShort(_ zeroedEnd: Int) -> Bool {
            end > zeroedEnd || ifLow && GlobalLogSpace.isLow(logicalEnd: end, zeroedEnd: zeroedEnd, chunkSize: chunkSize)
        }
        guard preallocatesGlobalLog, isShort(space.zeroedEnd) else { return }
        try space.serially {
            let zeroedEnd = space.zeroedEnd
            guard isShort(zeroedEnd), !space.isClosed else { return }
            try fillGlobalLog(to: GlobalLogSpace.fillTarget(zeroedEnd: zeroedEnd, needed: end, chunkSize: chunkSize))
        }
    }

    /// Called once a commit made the log reach `end`, durably: if the space after it has fallen
    /// below a quarter of the next extension, starts a fill in the background, so the commits
    /// that follow keep finding space without waiting. Never blocks.
    func extendGlobalLogSpaceIfLow(after end: Int) {
        let space = directory.globalLogSpace
        space.advance(to: end)
        guard preallocatesGlobalLog,
              let target = space.claimBackgroundFill(after: end, chunkSize: configuration.globalLogChunkSize)
        else { return }
        space.fillInBackground {
            // Only a failed sync throws here: it has stopped the store, which logs it.
            try? self.fillGlobalLog(to: target)
        }
    }

    /// Writes zeros from the space's end up to `target`, one piece at a time: `pwrite`, then
    /// `fdatasync` (unless sync is `none`), then the piece counts as space. Runs on the space's
    /// queue only. Stops early if the space is closed, or if a write fails: that is logged (once
    /// per failing streak) and the unsynced piece is cut off again, so that what it took of a
    /// nearly full disk is free for the commit that needs it.
    ///
    /// - Throws: ``StorageError/syncFailed(path:errno:)`` (the store has stopped), or
    ///   ``StorageError/stopped(cause:)`` if it had stopped before.
    private func fillGlobalLog(to target: Int) throws {
        let space = directory.globalLogSpace
        let descriptor = directory.globalLogDescriptor
        var end = space.zeroedEnd
        while end < target, !space.isClosed {
            try checkRunning()
            let count = min(GlobalLogSpace.pieceSize, target - end)
            let failure = writeZeros(to: descriptor, at: end, count: count)
            guard failure == 0 else {
                _ = ftruncate(descriptor, off_t(end))
                let error = StorageError.io(operation: "preallocate", path: directory.globalLogPath, errno: failure)
                if space.recordFill(succeeded: false) {
                    logger.warning(
                        "cannot keep global.log zero-filled ahead; commits grow the file instead, with slower syncs",
                        metadata: ["error": "\(error)", "offset": "\(end)", "bytes": "\(target - end)"]
                    )
                }
                return
            }
            if configuration.sync != .none {
                try sync(descriptor, directory.globalLogPath)
            }
            end += count
            space.advance(to: end)
        }
        if space.recordFill(succeeded: true) {
            logger.notice("global.log is zero-filled ahead again", metadata: ["end": "\(end)"])
        }
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
