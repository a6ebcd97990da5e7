extension CommittedChain {
    /// Applies the chain to `fold` exactly as a replay of its aggregate's log applies its record:
    /// the same header (versions, position, time, command stamp) and payload. For chains read
    /// from elsewhere than the logs (another store).
    public func apply<Fold: LogFold>(to fold: inout Fold) throws {
        var record: [UInt8] = []
        appendAggregateRecord(to: &record)
        try record.withUnsafeBytes { bytes in
            guard case .record(let header, let payload) = LogRecord.read(bytes, at: 0) else {
                preconditionFailure("a record just encoded does not read back")
            }
            try fold.apply(header, payload: UnsafeRawBufferPointer(rebasing: bytes[payload]))
        }
    }
}
