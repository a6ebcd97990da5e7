import SourcedCore

/// A record's command stamp as read (``LogRecordHeader/command``): where the id lies in the bytes
/// read, its hash and the fingerprint. Plain values, so that reading a header stays as cheap with
/// stamps as without (an owned id in every header cost replays a fifth of their rate);
/// ``CommandStamp/init(_:in:)`` copies the id out when it is needed.
public struct RecordedCommand: Hashable, Sendable {
    /// The id's bytes in the bytes the record was read from.
    public var id: Range<Int>
    /// ``CommandStamp/idHash`` of the id.
    public var idHash: UInt64
    public var fingerprint: UInt64

    /// The stamp at `offset` of `bytes`, which must lie before `end`; `nil` if there is none
    /// (a length of 0 or over 128, an id that is not UTF-8).
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int, end: Int) {
        let count = Int(bytes[offset])
        guard (1...CommandStamp.maximumIDBytes).contains(count), end - offset >= 9 + count else { return nil }
        let id = (offset + 1)..<(offset + 1 + count)
        guard String(validating: bytes[id], as: UTF8.self) != nil else { return nil }
        self.id = id
        var hash = FNV1a()
        hash.combine(UnsafeRawBufferPointer(rebasing: bytes[id]))
        idHash = hash.value
        fingerprint = bytes.loadLE(UInt64.self, at: id.upperBound)
    }
}
