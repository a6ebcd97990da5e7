import SourcedCore

/// The global log as `sourced check` reads it: its verified records, indexed by position and by
/// aggregate, held in memory with the segments' bytes, for cross-checking and repairing aggregate
/// logs (``LogChecker``).
struct CheckedGlobalLog: GlobalLogCopy {
    private var segments: [[UInt8]] = []
    /// The first position held: later than 1 once retention dropped segments.
    private(set) var first: UInt64 = 1
    /// Where the record of position `p` starts, at index `p - first`: its segment and offset.
    private var offsets: [(segment: Int, offset: Int)] = []
    /// The positions of each aggregate's chains, in order.
    private(set) var positions: [AggregateKey: [UInt64]] = [:]

    /// Indexes the records of `bytes`, the next segment, up to `validLength`, which a
    /// ``LogScan`` verified.
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` for a record whose payload names no
    ///   aggregate.
    mutating func append(_ bytes: [UInt8], validLength: Int, path: String, first: UInt64) throws {
        if segments.isEmpty {
            self.first = first
        }
        let segment = segments.count
        segments.append(bytes)
        try bytes.withUnsafeBytes { buffer in
            _ = try LogScan(UnsafeRawBufferPointer(rebasing: buffer[..<validLength]), sequencing: .positions, after: last) { entry in
                do {
                    let key = try GlobalPayload.decode(UnsafeRawBufferPointer(rebasing: buffer[entry.payload])).key
                    positions[key, default: []].append(entry.header.position)
                } catch {
                    throw StorageError.corrupt(path: path, offset: entry.offset, reason: "\(error)")
                }
                offsets.append((segment, entry.offset))
            }
        }
    }

    /// The position of the last verified record.
    var last: UInt64 { first + UInt64(offsets.count) - 1 }

    /// The chain at `position`, if the log holds it.
    func chain(at position: UInt64) -> CommittedChain? {
        guard position >= first, position <= last else { return nil }
        let (segment, offset) = offsets[Int(position - first)]
        return segments[segment].withUnsafeBytes { buffer in
            guard case .record(let header, let payload) = LogRecord.read(buffer, at: offset) else { return nil }
            return try? CommittedChain(header, globalPayload: UnsafeRawBufferPointer(rebasing: buffer[payload]))
        }
    }

    func newestPosition(of key: AggregateKey) -> UInt64? {
        positions[key]?.last
    }

    func chains(of key: AggregateKey, in range: ClosedRange<UInt64>) -> [CommittedChain] {
        (positions[key] ?? []).filter(range.contains).compactMap(chain(at:))
    }
}
