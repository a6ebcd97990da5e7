import SourcedCore

/// Where the global log holds each aggregate's newest chain, keyed by a hash of the aggregate's
/// key (its slot): what every load of an aggregate compares its log with, so that a log the
/// global log is ahead of (cut back by a power loss, deleted, restored from an older backup) is
/// completed before it is served.
///
/// Two keys with one slot share the later of their positions, which is never earlier than
/// either's newest chain: a load of the other then reads the global log once and finds nothing
/// to restore. The slot is a 64-bit FNV-1a hash, the same in every process, so that the table can
/// be saved: when a segment is sealed, the table as of its last position goes to
/// `global/<first position>.newest`, and start-up reads the newest such file and scans only the
/// segments after it.
///
/// File layout, little-endian: `SRCDNEWP | u64 through | u64 count | count × (u64 slot,
/// u64 position) | u32 CRC-32C of everything before it`.
public struct NewestPositionTable: Sendable {
    /// Positions by slot.
    public var positions: [Int: UInt64]
    /// The last position the table covers.
    public var through: UInt64

    public init(positions: [Int: UInt64] = [:], through: UInt64 = 0) {
        self.positions = positions
        self.through = through
    }

    static let magic: [UInt8] = Array("SRCDNEWP".utf8)
    static let suffix = ".newest"

    /// The file name of the table saved when the segment starting at `first` was sealed.
    static func fileName(first: UInt64) -> String {
        String(GlobalSegment.fileName(first: first).dropLast(GlobalSegment.suffix.count)) + suffix
    }

    /// Records the chain at `position` of the aggregate a global payload names; throws if the
    /// payload is too short for its names.
    mutating func record(payload: UnsafeRawBufferPointer, position: UInt64) throws(GlobalPayload.Malformed) {
        guard let slot = Self.slot(ofPayload: payload) else { throw GlobalPayload.Malformed(description: "global payload too short") }
        positions[slot] = position
        through = position
    }

    /// The file's bytes.
    func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.reserveCapacity(28 + 16 * positions.count)
        bytes.appendLE(through)
        bytes.appendLE(UInt64(positions.count))
        for (slot, position) in positions {
            bytes.appendLE(UInt64(bitPattern: Int64(slot)))
            bytes.appendLE(position)
        }
        bytes.appendLE(CRC32C.checksum(bytes))
        return bytes
    }

    /// The table a file holds; `nil` unless it verifies.
    init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 28, bytes.starts(with: Self.magic), (bytes.count - 28) % 16 == 0 else { return nil }
        let (through, count, checksum) = bytes.withUnsafeBytes {
            ($0.loadLE(UInt64.self, at: 8), $0.loadLE(UInt64.self, at: 16), $0.loadLE(UInt32.self, at: bytes.count - 4))
        }
        guard count == UInt64(bytes.count - 28) / 16, CRC32C.checksum(bytes[..<(bytes.count - 4)]) == checksum else { return nil }
        var positions: [Int: UInt64] = [:]
        positions.reserveCapacity(Int(count))
        bytes.withUnsafeBytes { buffer in
            for index in 0..<Int(count) {
                let slot = Int(Int64(bitPattern: buffer.loadLE(UInt64.self, at: 24 + 16 * index)))
                positions[slot] = buffer.loadLE(UInt64.self, at: 32 + 16 * index)
            }
        }
        self.init(positions: positions, through: through)
    }

    /// The slot of `key`: the hash of its model's and id's UTF-8 bytes, as a global payload holds them.
    public static func slot(of key: AggregateKey) -> Int {
        var model = key.model
        var id = key.id.rawValue
        return model.withUTF8 { model in
            id.withUTF8 { id in slot(model: UnsafeRawBufferPointer(model), id: UnsafeRawBufferPointer(id)) }
        }
    }

    /// The slot of the aggregate a global payload names (``GlobalPayload``), read from its bytes
    /// without decoding them; `nil` if the payload is too short for its names.
    public static func slot(ofPayload payload: UnsafeRawBufferPointer) -> Int? {
        GlobalPayload.fields(of: payload).map { fields in
            slot(model: UnsafeRawBufferPointer(rebasing: payload[fields.model]), id: UnsafeRawBufferPointer(rebasing: payload[fields.id]))
        }
    }

    /// FNV-1a, 64 bits, over the model's length (one byte: names are short), the model, the id.
    private static func slot(model: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer) -> Int {
        var hash = FNV1a()
        hash.combine(UInt8(truncatingIfNeeded: model.count))
        hash.combine(model)
        hash.combine(id)
        return Int(bitPattern: UInt(hash.value))
    }
}
