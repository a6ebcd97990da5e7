/// How a load restores a fold from a snapshot: the model and state version snapshots must carry,
/// and the state's decoder.
public struct SnapshotCodec<Fold: LogFold>: Sendable {
    /// The model name a usable snapshot names.
    public var model: String
    /// The state version a usable snapshot carries.
    public var stateVersion: Int
    /// The fold as of the snapshot, from its encoded state and command ids; throws if they do
    /// not decode.
    public var restore: @Sendable (SnapshotFile) throws -> Fold

    public init(model: String, stateVersion: Int, restore: @escaping @Sendable (SnapshotFile) throws -> Fold) {
        self.model = model
        self.stateVersion = stateVersion
        self.restore = restore
    }
}
