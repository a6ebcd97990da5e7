import SourcedJSON
import SourcedStorage

/// A model's state in snapshot files: the JSON its `Codable` conformance writes.
extension StateFold {
    /// Restores the fold from a snapshot of `Model`'s current state version, remembering up to
    /// `commandWindow` command ids.
    static func snapshots(commandWindow: Int) -> SnapshotCodec<Self> {
        SnapshotCodec(model: Model.name, stateVersion: Model.stateVersion) { snapshot in
            StateFold(
                state: try JSONNodeDecoder().decode(Model.State.self, from: snapshot.state),
                commands: try CommandWindow(capacity: commandWindow, decoding: snapshot.commands)
            )
        }
    }

    /// `state` as a snapshot holds it.
    static func encode(_ state: Model.State) throws -> [UInt8] {
        try JSONStreamEncoder().encode(state)
    }
}
