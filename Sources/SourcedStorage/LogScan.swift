/// The verified contents of one aggregate log, and what, if anything, is wrong with its end.
///
/// Recovery rule: records are read from the start, each must verify and continue the version
/// sequence. At the first bad spot, if a valid record follows anywhere later, the log is
/// **corrupt**: data after damage is never dropped or skipped. Otherwise the bad spot is a **torn
/// tail**, the remains of a write that never completed (and so was never acknowledged), and the log
/// is valid up to it. In a ``Layout/preallocated`` log (the global log) zeros from the bad spot to
/// the end of the file are no bad spot but the log's clean end: the space kept ahead of it.
public struct LogScan: Sendable {
    /// A verified record: its header and where its payload lies in the scanned bytes.
    public struct Entry: Hashable, Sendable {
        public var offset: Int
        public var header: LogRecordHeader
        public var payload: Range<Int>
    }

    /// How the log ends.
    public enum Tail: Hashable, Sendable {
        /// Every byte belongs to a valid record, or, in a ``Layout/preallocated`` log, every byte
        /// after the last valid record (from ``validLength`` on) is zero.
        case clean
        /// Bytes from `offset` to the end are an incomplete write and can be cut away.
        case torn(offset: Int)
        /// The log cannot be read past `offset`: a damaged record with valid records after it, a
        /// record out of version sequence, or a record format this build does not know.
        case corrupt(offset: Int, reason: String)
    }

    /// Which number must increase by one from record to record.
    public enum Sequencing: Sendable {
        /// An aggregate log: each record's first version follows the previous record's last.
        case versions
        /// The global log: each record's position is the previous record's plus one.
        case positions
    }

    /// What may follow the last record of a log.
    public enum Layout: Sendable {
        /// Nothing: the file ends with its last record (aggregate logs). A zero-filled tail is a
        /// torn write like any other.
        case appendOnly
        /// Zeros up to the end of the file: the log is kept zero-filled ahead of its end (the
        /// global log, see `docs/storage-format.md`). Where a record is expected, a span of only
        /// zero bytes up to the end of the file (a record header of zeros and nothing but zeros
        /// after it) is the clean end of the log. A zero header with any non-zero byte after it
        /// is a bad spot, torn or corrupt by the usual rule.
        case preallocated
    }

    /// How the log ends.
    public private(set) var tail: Tail = .clean
    /// The number of valid records.
    public private(set) var recordCount = 0
    /// The byte length of the valid prefix: where the next record goes.
    public private(set) var validLength = 0
    /// The version of the last valid event, 0 for an empty log.
    public private(set) var version: UInt64 = 0
    /// The position of the last valid record, 0 for an empty log.
    public private(set) var position: UInt64 = 0
    /// Where the last valid record starts, 0 for an empty log.
    public private(set) var lastRecordOffset = 0

    /// Scans `bytes`, a whole log file, handing each valid record to `onRecord` in order.
    ///
    /// Records are handed over as they are verified, before the tail is known: a caller that folds
    /// them must discard its result when ``tail`` turns out ``Tail/corrupt(offset:reason:)``.
    /// With `after`, `bytes` are the part of an aggregate log after the record of that version
    /// (the first record must start at version `after + 1`), or a global log segment after the
    /// record at that position.
    public init(
        _ bytes: UnsafeRawBufferPointer,
        sequencing: Sequencing = .versions,
        layout: Layout = .appendOnly,
        after: UInt64 = 0,
        onRecord: (Entry) throws -> Void
    ) rethrows {
        switch sequencing {
        case .versions: version = after
        case .positions: position = after
        }
        var offset = 0
        while offset < bytes.count {
            let problem: String
            switch LogRecord.read(bytes, at: offset) {
            case .record(let header, let payload) where sequencing.follows(header, version: version, position: position):
                try onRecord(Entry(offset: offset, header: header, payload: payload))
                recordCount += 1
                lastRecordOffset = offset
                version = header.lastVersion
                position = header.position
                offset = payload.upperBound
                validLength = offset
                continue
            case .record(let header, _):
                // A verified record is never the remains of a torn write.
                let reason = switch sequencing {
                case .versions: "version \(header.firstVersion) follows version \(version)"
                case .positions: "position \(header.position) follows position \(position)"
                }
                tail = .corrupt(offset: offset, reason: reason)
                return
            case .unsupportedFormat(let format):
                // Never cut off what a newer build wrote: that would destroy its data.
                tail = .corrupt(offset: offset, reason: "record format \(format) is newer than this build reads; run a newer sourced")
                return
            case .truncated:
                problem = "record runs past the end of the file"
            case .invalid(let reason):
                problem = reason
            }
            if case .preallocated = layout, Self.isZero(bytes, from: offset) {
                return
            }
            let (field, next) = switch sequencing {
            case .versions: (8, version + 1)
            case .positions: (16, position + 1)
            }
            tail = Self.firstRecord(in: bytes, after: offset, field: field, atLeast: next) != nil
                ? .corrupt(offset: offset, reason: problem)
                : .torn(offset: offset)
            return
        }
    }

    /// Scans `bytes`, a whole log file, for its valid length and tail only.
    public init(_ bytes: UnsafeRawBufferPointer, sequencing: Sequencing = .versions, layout: Layout = .appendOnly) {
        self.init(bytes, sequencing: sequencing, layout: layout) { _ in }
    }

    /// Whether every byte of `bytes` from `offset` to the end is zero.
    private static func isZero(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> Bool {
        var index = offset
        // Eight bytes at a time: a preallocated tail is up to a chunk (64 MiB) of zeros.
        while bytes.count - index >= 8 {
            guard bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) == 0 else { return false }
            index += 8
        }
        return bytes[index...].allSatisfy { $0 == 0 }
    }

    /// Where the first verifiable record whose sequence number (the header field at `field`: 8
    /// for versions, 16 for positions) is at least `next` starts after `offset`, if one does.
    static func firstRecord(in bytes: UnsafeRawBufferPointer, after offset: Int, field: Int, atLeast next: UInt64) -> Int? {
        var candidate = offset + 1
        while bytes.count - candidate >= LogRecord.headerSize {
            if LogRecord.formatVersions.contains(bytes.loadLE(UInt16.self, at: candidate + 4)),
               bytes.loadLE(UInt64.self, at: candidate + field) >= next,
               case .record = LogRecord.read(bytes, at: candidate)
            {
                return candidate
            }
            candidate += 1
        }
        return nil
    }
}

extension LogScan.Sequencing {
    /// Whether `header` continues a log whose last record had `version` and `position`.
    func follows(_ header: LogRecordHeader, version: UInt64, position: UInt64) -> Bool {
        switch self {
        case .versions: header.firstVersion == version + 1
        case .positions: header.position == position + 1
        }
    }
}
