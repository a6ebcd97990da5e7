import NIOCore

extension Reply {
    private static let failurePrefix = Array(#"{"ok":false,"error":{"code":""#.utf8)

    /// The `error.code` of a reply line made by ``Reply``, `nil` for a success.
    ///
    /// Every failure this type writes starts `{"ok":false,"error":{"code":"`, so only that prefix
    /// and the code after it are read, not the whole line.
    public static func errorCode(of reply: ByteBuffer) -> ErrorCode? {
        reply.readableBytesView.withContiguousStorageIfAvailable { bytes -> ErrorCode? in
            guard bytes.count > failurePrefix.count, bytes.starts(with: failurePrefix) else { return nil }
            let rest = bytes[failurePrefix.count...].prefix(32)
            guard let end = rest.firstIndex(of: UInt8(ascii: "\"")) else { return .internal }
            return ErrorCode(rawValue: String(decoding: rest[..<end], as: UTF8.self)) ?? .internal
        } ?? nil
    }
}
