/// One file of the global log: the records of a run of consecutive positions, in
/// `global/<first position>.log` (see `docs/storage-format.md`, "Global log segments").
///
/// Only the newest segment, the active one, is written; the others are sealed: cut back to their
/// records and never changed again.
public struct GlobalSegment: Hashable, Sendable {
    /// Records between two entries of ``sparse``: a reader of a position reads at most this many
    /// records before it.
    public static let indexStride: UInt64 = 256

    /// The position of the segment's first record (the position its file is named for).
    public var first: UInt64
    /// The position of its last record; `first - 1` while it holds none.
    public var last: UInt64
    /// Its logical length: where its next record goes (the file may go on with zeros).
    public var length: Int
    /// Offsets of the records at positions `first`, `first + stride`, `first + 2 stride`, ...
    public var sparse: [Int]

    public init(first: UInt64, last: UInt64? = nil, length: Int = 0, sparse: [Int] = []) {
        self.first = first
        self.last = last ?? first - 1
        self.length = length
        self.sparse = sparse
    }

    /// What follows the first position in a segment's file name.
    public static let suffix = ".log"

    /// The file name of the segment whose first record has `first`: 20 decimal digits, so that
    /// names sort like positions.
    public static func fileName(first: UInt64) -> String {
        let digits = String(first)
        return String(repeating: "0", count: 20 - digits.count) + digits + suffix
    }

    /// The first position a segment's file name names, `nil` if `name` is no segment's.
    public static func first(ofFileName name: String) -> UInt64? {
        guard name.hasSuffix(suffix) else { return nil }
        let digits = name.dropLast(suffix.count)
        guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let first = UInt64(digits), first > 0 else { return nil }
        return first
    }

    /// Records a record at `position` that starts at `offset`, ends at `end`.
    mutating func append(position: UInt64, offset: Int, end: Int) {
        if (position - first) % Self.indexStride == 0 {
            sparse.append(offset)
        }
        last = position
        length = end
    }

    /// A record boundary at or before the record of `position` (which the segment holds): at
    /// most ``indexStride`` - 1 records before it.
    func seek(_ position: UInt64) -> Int {
        let slot = min(Int((position - first) / Self.indexStride), sparse.count - 1)
        return slot >= 0 ? sparse[slot] : 0
    }
}
