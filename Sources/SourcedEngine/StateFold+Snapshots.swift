import SourcedJSON
import SourcedStorage

/// A model's state in snapshot files: the JSON its `Codable` conformance writes.
extension StateFold {
    /// Restores the fold from a snapshot of `Model`'s current state version.
    static var snapshots: SnapshotCodec<Self> {
        SnapshotCodec(model: Model.name, stateVersion: Model.stateVersion) { bytes in
            StateFold(state: try JSONNodeDecoder().decode(Model.State.self, from: bytes))
        }
    }

    /// `state` as a snapshot holds it.
    static func encode(_ state: Model.State) throws -> [UInt8] {
        try JSONStreamEncoder().encode(state)
    }
}
