import Glibc
import SourcedCore
import Synchronization

/// The global log as `sourced check` reads it: where each verified record lies, by position and
/// by aggregate, for cross-checking and repairing aggregate logs (``LogChecker``). Records are
/// read back from their segment files when asked for: it holds 16 bytes per record and the
/// positions of each aggregate, never the segments' bytes.
struct CheckedGlobalLog: GlobalLogCopy {
    /// Reads records from the segment files, keeping the last one used open.
    private final class Reader: Sendable {
        private let open = Mutex<(path: String, descriptor: Int32)>(("", -1))

        deinit {
            open.withLock { if $0.descriptor >= 0 { close($0.descriptor) } }
        }

        /// `length` bytes at `offset` of the file at `path`, `nil` if they cannot be read.
        func read(_ path: String, at offset: Int, length: Int) -> [UInt8]? {
            open.withLock { open in
                if open.path != path {
                    if open.descriptor >= 0 { close(open.descriptor) }
                    open = (path, Glibc.open(path, O_RDONLY | O_CLOEXEC))
                }
                var bytes = [UInt8](repeating: 0, count: length)
                guard open.descriptor >= 0, pread(open.descriptor, &bytes, length, off_t(offset)) == length else { return nil }
                return bytes
            }
        }
    }

    private struct Location {
        var segment: Int32
        var length: Int32
        var offset: Int
    }

    /// The segment files, in order.
    private var paths: [String] = []
    /// The first position held: later than 1 once retention dropped segments.
    private(set) var first: UInt64 = 1
    /// Where the record of position `p` lies, at index `p - first`.
    private var locations: [Location] = []
    /// The positions of each aggregate's chains, in order.
    private(set) var positions: [AggregateKey: [UInt64]] = [:]
    private let reader = Reader()

    /// Indexes the records of `bytes`, the next segment (at `path`, starting at position
    /// `first`), up to `validLength`, which a ``LogScan`` verified.
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` for a record whose payload names no
    ///   aggregate.
    mutating func append(_ bytes: [UInt8], validLength: Int, path: String, first: UInt64) throws {
        if paths.isEmpty {
            self.first = first
        }
        let segment = Int32(paths.count)
        paths.append(path)
        try bytes.withUnsafeBytes { buffer in
            _ = try LogScan(UnsafeRawBufferPointer(rebasing: buffer[..<validLength]), sequencing: .positions, after: last) { entry in
                do {
                    let key = try GlobalPayload.decode(UnsafeRawBufferPointer(rebasing: buffer[entry.payload])).key
                    positions[key, default: []].append(entry.header.position)
                } catch {
                    throw StorageError.corrupt(path: path, offset: entry.offset, reason: "\(error)")
                }
                locations.append(Location(segment: segment, length: Int32(entry.payload.upperBound - entry.offset), offset: entry.offset))
            }
        }
    }

    /// The position of the last verified record.
    var last: UInt64 { first + UInt64(locations.count) - 1 }

    /// The chain at `position`, if the log holds it (and its file still reads as it did).
    func chain(at position: UInt64) -> CommittedChain? {
        guard position >= first, position <= last else { return nil }
        let location = locations[Int(position - first)]
        guard let bytes = reader.read(paths[Int(location.segment)], at: location.offset, length: Int(location.length)) else { return nil }
        return bytes.withUnsafeBytes { buffer in
            guard case .record(let header, let payload) = LogRecord.read(buffer, at: 0) else { return nil }
            return try? CommittedChain(
                header, globalPayload: UnsafeRawBufferPointer(rebasing: buffer[payload]), command: header.command.map { CommandStamp($0, in: buffer) }
            )
        }
    }

    func newestPosition(of key: AggregateKey) -> UInt64? {
        positions[key]?.last
    }

    func chains(of key: AggregateKey, in range: ClosedRange<UInt64>) -> [CommittedChain] {
        (positions[key] ?? []).filter(range.contains).compactMap(chain(at:))
    }
}
