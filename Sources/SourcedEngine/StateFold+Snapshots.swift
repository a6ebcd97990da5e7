import SourcedCore
import SourcedJSON
import SourcedStorage

/// A model's state in snapshot files: the JSON its `Codable` conformance writes.
extension StateFold {
    /// Restores the fold of model `name` from a snapshot of its current `stateVersion`,
    /// remembering up to `commandWindow` command ids; `program` as the fold's.
    static func snapshots(of name: String, stateVersion: Int, program: (any ModelProgram)?, commandWindow: Int) -> SnapshotCodec<Self> {
        SnapshotCodec(model: name, stateVersion: stateVersion) { snapshot in
            StateFold(
                state: try JSONNodeDecoder().decode(Model.State.self, from: snapshot.state),
                commands: try CommandWindow(capacity: commandWindow, decoding: snapshot.commands),
                program: program
            )
        }
    }

    /// `state` as a snapshot holds it.
    static func encode(_ state: Model.State) throws -> [UInt8] {
        try JSONStreamEncoder().encode(state)
    }
}
