/// Whether a load started from a snapshot.
public enum SnapshotUse: Hashable, Sendable {
    /// The load did not look for one.
    case notAsked
    /// There is none: the whole log was replayed.
    case missing
    /// The load started from the snapshot of `version`, covering the log up to `logLength`, and
    /// replayed only the records after it; its state takes `stateBytes` encoded.
    case used(version: UInt64, logLength: Int, stateBytes: Int)
    /// The snapshot was not used, for `reason`: the whole log was replayed.
    case ignored(SnapshotRejection)
}
