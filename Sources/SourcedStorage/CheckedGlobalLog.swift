import SourcedCore

/// The global log as `sourced check` reads it: its verified records, indexed by position and by
/// aggregate, held in memory with the log's bytes, for cross-checking and repairing aggregate
/// logs (``LogChecker``).
struct CheckedGlobalLog: GlobalLogCopy {
    private let bytes: [UInt8]
    /// Where the record of position `p` starts, at index `p - 1`.
    private var offsets: [Int] = []
    /// The positions of each aggregate's chains, in order.
    private(set) var positions: [AggregateKey: [UInt64]] = [:]

    /// Indexes the records of `bytes` up to `validLength`, which a ``LogScan`` verified.
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` for a record whose payload names no
    ///   aggregate.
    init(_ bytes: [UInt8], validLength: Int, path: String) throws {
        self.bytes = bytes
        var offsets: [Int] = []
        var positions: [AggregateKey: [UInt64]] = [:]
        try bytes.withUnsafeBytes { buffer in
            _ = try LogScan(UnsafeRawBufferPointer(rebasing: buffer[..<validLength]), sequencing: .positions) { entry in
                do {
                    let key = try GlobalPayload.decode(UnsafeRawBufferPointer(rebasing: buffer[entry.payload])).key
                    positions[key, default: []].append(entry.header.position)
                } catch {
                    throw StorageError.corrupt(path: path, offset: entry.offset, reason: "\(error)")
                }
                offsets.append(entry.offset)
            }
        }
        self.offsets = offsets
        self.positions = positions
    }

    /// The position of the last verified record.
    var last: UInt64 { UInt64(offsets.count) }

    /// The chain at `position`, if the log holds it.
    func chain(at position: UInt64) -> CommittedChain? {
        guard position >= 1, position <= last else { return nil }
        return bytes.withUnsafeBytes { buffer in
            guard case .record(let header, let payload) = LogRecord.read(buffer, at: offsets[Int(position) - 1]) else { return nil }
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
