import SourcedCore

/// Reads global log segments at start: each one's last position, length and sparse index, the
/// newest position of every aggregate, and the aggregates with chains after the checkpoint.
struct GlobalSegmentScan: LogFold {
    let checkpoint: UInt64
    /// The table of newest positions, which the scan extends.
    var table: NewestPositionTable
    /// The aggregates with chains after the checkpoint, in the order of their first such chain.
    var pending: [AggregateKey] = []
    private var seen: Set<AggregateKey> = []
    /// The segment being read.
    private(set) var segment = GlobalSegment(first: 1)
    /// Whether the segment's chains go into ``table`` (not if the table already covers them).
    private var recordsNewest = true

    init(checkpoint: UInt64, table: NewestPositionTable) {
        self.checkpoint = checkpoint
        self.table = table
    }

    /// Starts reading the segment that begins at `first`.
    mutating func begin(segment first: UInt64, recordingNewest: Bool) {
        segment = GlobalSegment(first: first)
        recordsNewest = recordingNewest
    }

    mutating func apply(_ header: LogRecordHeader, payload: UnsafeRawBufferPointer) throws {
        let offset = segment.length
        segment.append(position: header.position, offset: offset, end: offset + header.recordLength)
        if recordsNewest {
            try table.record(payload: payload, position: header.position)
        }
        if header.position > checkpoint {
            let key = try GlobalPayload.decode(payload).key
            if seen.insert(key).inserted {
                pending.append(key)
            }
        }
    }
}
