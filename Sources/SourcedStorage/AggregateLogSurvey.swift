/// An aggregate log read past its damage: every record that verifies and continues the versions
/// before it, and the byte spans between them that do not.
///
/// ``LogScan`` stops at the first bad spot; a repair needs what survives after it. Records are
/// read from the start as ``LogScan`` reads them. At a bad spot the survey searches onward, byte
/// by byte, for the next record that verifies and whose first version lies beyond the last one
/// read (the same search by which ``LogScan`` tells corruption from a torn tail): the bytes up to
/// there are one span of damage, and the versions the next record skips are what the damage held.
/// Without such a record the rest of the file is damage at its tail.
///
/// A verified record that breaks the version sequence where no damage precedes it, or one of a
/// record format this build does not know, is a ``conflict``: two records that both verify
/// disagree, or a newer build wrote the log, and nothing may repair that. The survey stops there.
/// (A record whose format field names a newer format but which verifies as a current record is
/// damage: a flipped bit in that field.)
public struct AggregateLogSurvey: Sendable {
    /// A record that verifies, in sequence.
    public struct Record: Sendable {
        public var offset: Int
        public var header: LogRecordHeader
        public var payload: Range<Int>

        /// Where the record ends.
        public var end: Int { payload.upperBound }
    }

    /// Bytes that are no record in sequence.
    public struct Damage: Sendable {
        public var bytes: Range<Int>
        /// Why the first of them is no record, as ``LogScan`` words it.
        public var reason: String
        /// How many records precede it: it lies between `records[recordsBefore - 1]` (or the start)
        /// and `records[recordsBefore]` (or the end of the file).
        public var recordsBefore: Int
    }

    /// Where a survey stopped on something no repair may touch, and why.
    public struct Conflict: Sendable {
        public var offset: Int
        public var reason: String
    }

    /// The records that verify, in order.
    public private(set) var records: [Record] = []
    /// The damaged spans, in order.
    public private(set) var damage: [Damage] = []
    /// What stopped the survey, if anything did; nothing after it was read.
    public private(set) var conflict: Conflict?

    /// Surveys `bytes`, a whole aggregate log.
    public init(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        var version: UInt64 = 0
        var afterDamage = false
        while offset < bytes.count {
            let problem: String
            switch LogRecord.read(bytes, at: offset) {
            case .record(let header, let payload)
                where header.firstVersion == version + 1 || (afterDamage && header.firstVersion > version):
                records.append(Record(offset: offset, header: header, payload: payload))
                version = header.lastVersion
                offset = payload.upperBound
                afterDamage = false
                continue
            case .record(let header, _):
                conflict = Conflict(offset: offset, reason: "version \(header.firstVersion) follows version \(version)")
                return
            case .unsupportedFormat(let format):
                guard let current = Self.currentFormat(bytes, at: offset) else {
                    conflict = Conflict(offset: offset, reason: "record format \(format) is newer than this build reads; run a newer sourced")
                    return
                }
                problem = "record format field reads \(format) in a record of format \(current)"
            case .truncated:
                problem = "record runs past the end of the file"
            case .invalid(let reason):
                problem = reason
            }
            let next = LogScan.firstRecord(in: bytes, after: offset, field: 8, atLeast: version + 1) ?? bytes.count
            damage.append(Damage(bytes: offset..<next, reason: problem, recordsBefore: records.count))
            offset = next
            afterDamage = true
        }
    }

    /// The format this build reads that the record at `offset`, whose format field names a newer
    /// format, verifies as: a current record whose format field was damaged, not a newer build's
    /// record (which is never repaired); `nil` if none.
    private static func currentFormat(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt16? {
        let length = Int(bytes.loadLE(UInt32.self, at: offset))
        guard length <= LogRecord.maximumPayloadSize, bytes.count - offset - LogRecord.headerSize >= length else { return nil }
        var record = Array(bytes[offset..<(offset + LogRecord.headerSize + length)])
        return LogRecord.formatVersions.first { format in
            withUnsafeBytes(of: format.littleEndian) { record.replaceSubrange(4..<6, with: $0) }
            return record.withUnsafeBytes { if case .record = LogRecord.read($0, at: 0) { true } else { false } }
        }
    }
}
