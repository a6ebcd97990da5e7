/// A sealed segment's index file, `global/<first position>.index`: its last position, length and
/// sparse index, so that start-up and readers never scan a sealed segment to find a position
/// (see `docs/storage-format.md`, "Global log segments").
///
/// Layout, little-endian: `SRCDGIDX | u64 first | u64 last | u64 length | u64 stride |
/// u64 count | count × u64 offset | u32 CRC-32C of everything before it`. Derived data: a missing
/// or damaged index file is rebuilt from its segment.
extension GlobalSegment {
    static let indexMagic: [UInt8] = Array("SRCDGIDX".utf8)
    static let indexSuffix = ".index"

    /// The index file name of the segment starting at `first`.
    static func indexFileName(first: UInt64) -> String {
        String(fileName(first: first).dropLast(suffix.count)) + indexSuffix
    }

    /// The bytes of this segment's index file.
    func indexFile() -> [UInt8] {
        var bytes = Self.indexMagic
        bytes.reserveCapacity(52 + 8 * sparse.count)
        bytes.appendLE(first)
        bytes.appendLE(last)
        bytes.appendLE(UInt64(length))
        bytes.appendLE(Self.indexStride)
        bytes.appendLE(UInt64(sparse.count))
        for offset in sparse {
            bytes.appendLE(UInt64(offset))
        }
        bytes.appendLE(CRC32C.checksum(bytes))
        return bytes
    }

    /// The segment an index file describes; `nil` unless it verifies, is this build's format and
    /// names the segment starting at `first`.
    init?(indexFile bytes: [UInt8], first: UInt64) {
        guard bytes.count >= 52, bytes.starts(with: Self.indexMagic) else { return nil }
        let fields = bytes.withUnsafeBytes { buffer in
            (
                first: buffer.loadLE(UInt64.self, at: 8), last: buffer.loadLE(UInt64.self, at: 16),
                length: buffer.loadLE(UInt64.self, at: 24), stride: buffer.loadLE(UInt64.self, at: 32),
                count: buffer.loadLE(UInt64.self, at: 40), checksum: buffer.loadLE(UInt32.self, at: bytes.count - 4)
            )
        }
        guard fields.first == first, fields.stride == Self.indexStride, fields.last >= first - 1,
              fields.length <= UInt64(Int.max), fields.count == UInt64(bytes.count - 52) / 8, (bytes.count - 52) % 8 == 0,
              CRC32C.checksum(bytes[..<(bytes.count - 4)]) == fields.checksum
        else { return nil }
        let sparse = bytes.withUnsafeBytes { buffer in
            (0..<Int(fields.count)).map { Int(buffer.loadLE(UInt64.self, at: 48 + 8 * $0)) }
        }
        self.init(first: first, last: fields.last, length: Int(fields.length), sparse: sparse)
    }
}
