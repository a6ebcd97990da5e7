import Glibc

/// Folding an aggregate log piece by piece, so that a load's memory does not depend on the
/// log's length.
extension AggregateStore {
    /// What ``foldInPieces(_:_:from:to:after:into:)`` read.
    struct PieceFold<Fold: LogFold> {
        var fold: Fold
        /// The version of the last valid event (`after` if none).
        var version: UInt64
        /// The position of the last valid record, 0 if none.
        var position: UInt64 = 0
        /// Where the valid records end, in the file.
        var end: Int
        /// Where the last valid record starts, in the file; `nil` if none was read.
        var lastRecordOffset: Int?
        /// Whether every byte up to the end asked for verified. If not, ``end`` is the first
        /// bad spot and ``fold`` is to be discarded (records after the bad spot were not read).
        var clean = true
    }

    /// How much of a log is read at once.
    public static let pieceSize = 1 << 20

    /// Folds the records of the log open as `descriptor` from `start`, a record boundary after
    /// the record of version `after`, to `end`, reading ``pieceSize`` bytes at a time (a piece
    /// that holds no whole record is doubled). Stops at the first bad spot.
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` if `fold` refuses a record (its
    ///   events do not decode), or an I/O error.
    func foldInPieces<Fold: LogFold>(
        _ descriptor: Int32,
        _ path: String,
        from start: Int,
        to end: Int,
        after version: UInt64,
        into fold: Fold
    ) throws -> PieceFold<Fold> {
        var result = PieceFold(fold: fold, version: version, end: start)
        // One buffer for every piece: a fresh one per piece cost a third of the replay rate
        // (each is a new mapping, its pages faulted in again).
        var piece = [UInt8](repeating: 0, count: min(Self.pieceSize, end - start))
        while result.end < end {
            let count = min(end - result.end, piece.count)
            let failure = piece.withUnsafeMutableBytes { buffer in
                Self.transfer(count) { done in pread(descriptor, buffer.baseAddress! + done, count - done, off_t(result.end + done)) }.errno
            }
            guard failure == 0 else { throw StorageError.io(operation: "read", path: path, errno: failure) }
            let (folded, scan) = try piece.withUnsafeBytes { buffer in
                try self.fold(UnsafeRawBufferPointer(rebasing: buffer[..<count]), .versions, after: result.version, into: result.fold, path, base: result.end)
            }
            result.fold = folded
            if scan.recordCount > 0 {
                result.version = scan.version
                result.position = scan.position
                result.lastRecordOffset = result.end + scan.lastRecordOffset
            }
            switch scan.tail {
            case .clean:
                result.end += count
            case .torn(let offset), .corrupt(let offset, _):
                // A record cut by the piece's end is read whole with the next piece.
                let cut = result.end + count < end && piece.withUnsafeBytes { buffer in
                    if case .truncated = LogRecord.read(UnsafeRawBufferPointer(rebasing: buffer[..<count]), at: offset) { true } else { false }
                }
                guard cut else {
                    result.end += offset
                    result.clean = false
                    return result
                }
                if offset == 0 {
                    piece = [UInt8](repeating: 0, count: min(2 * piece.count, end - result.end))
                } else {
                    result.end += offset
                }
            }
        }
        return result
    }
}
