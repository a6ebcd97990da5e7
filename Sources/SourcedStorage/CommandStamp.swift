import SourcedCore

/// What a chain's record keeps of the command that made it, when the client named it with a
/// `command_id`: the id, and a fingerprint of the command's body, so that a repeat of the id can
/// be answered with the original outcome and a reuse of the id for another body refused.
public struct CommandStamp: Hashable, Sendable {
    /// The client's id: 1 to ``maximumIDBytes`` bytes of UTF-8.
    public var id: [UInt8]
    /// A 64-bit FNV-1a hash of the command chain's canonical encoding.
    public var fingerprint: UInt64

    /// The longest id, in bytes.
    public static let maximumIDBytes = 128

    public init(id: [UInt8], fingerprint: UInt64) {
        precondition((1...Self.maximumIDBytes).contains(id.count))
        self.id = id
        self.fingerprint = fingerprint
    }

    /// The bytes it takes in a record: `u8 id length | id | u64 fingerprint`.
    public var encodedSize: Int { 9 + id.count }

    /// The hash a ``RecordedCommand`` carries of the id.
    public var idHash: UInt64 { FNV1a.hash(id) }

    /// The stamp `recorded` locates in `bytes`, the bytes its record was read from.
    public init(_ recorded: RecordedCommand, in bytes: UnsafeRawBufferPointer) {
        self.init(id: Array(bytes[recorded.id]), fingerprint: recorded.fingerprint)
    }

    func append(to buffer: inout [UInt8]) {
        buffer.append(UInt8(id.count))
        buffer.append(contentsOf: id)
        buffer.appendLE(fingerprint)
    }

}
