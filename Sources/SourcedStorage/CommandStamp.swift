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

    func append(to buffer: inout [UInt8]) {
        buffer.append(UInt8(id.count))
        buffer.append(contentsOf: id)
        buffer.appendLE(fingerprint)
    }

    /// The stamp at the start of `bytes`, `nil` if they hold none.
    static func read(_ bytes: UnsafeRawBufferPointer) -> CommandStamp? {
        guard let count = bytes.first.map(Int.init), (1...maximumIDBytes).contains(count), bytes.count >= 9 + count else { return nil }
        let id = Array(bytes[1..<(1 + count)])
        guard String(validating: id, as: UTF8.self) != nil else { return nil }
        return CommandStamp(id: id, fingerprint: bytes.loadLE(UInt64.self, at: 1 + count))
    }
}
