/// Why a snapshot file is not used: the load replays the whole log instead, and the snapshot is
/// replaced.
public enum SnapshotRejection: Error, Hashable, Sendable, CustomStringConvertible {
    /// The bytes are no snapshot of this format: truncated, torn, or of a newer format.
    case malformed(String)
    /// The CRC-32C does not match: a bit flipped or a write was torn.
    case checksumMismatch
    /// It holds another model's state.
    case wrongModel(found: String, expected: String)
    /// It holds a state of another shape than the model's current one.
    case stateVersion(found: Int, expected: Int)
    /// The log does not reach the snapshot's version at its offset, or disagrees with it there.
    case logDisagrees(String)
    /// The state does not decode as the model's `State`.
    case undecodable(String)
    /// The snapshot or the log could not be read (the whole log is then replayed, which reports
    /// the error if it is the log's).
    case unreadable(String)

    public var description: String {
        switch self {
        case .malformed(let reason):
            "malformed snapshot: \(reason)"
        case .checksumMismatch:
            "snapshot checksum mismatch (damaged or torn)"
        case .wrongModel(let found, let expected):
            "snapshot of model \(found) where model \(expected) was expected"
        case .stateVersion(let found, let expected):
            "snapshot of state version \(found); the model's state version is now \(expected)"
        case .logDisagrees(let reason):
            "snapshot does not match the log: \(reason)"
        case .undecodable(let reason):
            "snapshot state does not decode: \(reason)"
        case .unreadable(let reason):
            "snapshot cannot be used: \(reason)"
        }
    }
}
