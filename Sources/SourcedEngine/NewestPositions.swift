import SourcedCore
import SourcedStorage
import Synchronization

/// Where the global log holds each aggregate's newest chain: what every load of an aggregate
/// compares its log with, so that a log the global log is ahead of (cut back by a power loss,
/// deleted, restored from an older backup) is completed before it is served (``GlobalLogCopy``).
///
/// Kept in memory, keyed by a hash of the aggregate's key: 16 bytes an aggregate, 33 with the
/// table's spare room (measured with 1,000,000 aggregates). The start's scan of the global log fills it, hashing each record's
/// names without decoding them (``slot(ofPayload:)``); every commit advances it. Two keys with
/// one hash share the later of their positions, which is never earlier than either's newest
/// chain, as ``GlobalLogCopy/newestPosition(of:)`` requires: a load of the other then reads the
/// global log once and finds nothing to restore.
final class NewestPositions: Sendable {
    private let positions: Mutex<[Int: UInt64]>

    /// Positions by ``slot(of:)``, as the start's scan found them.
    init(_ positions: [Int: UInt64]) {
        self.positions = Mutex(positions)
    }

    /// A position at or after that of `key`'s newest chain, `nil` if it has none.
    func position(of key: AggregateKey) -> UInt64? {
        let slot = Self.slot(of: key)
        return positions.withLock { $0[slot] }
    }

    /// Records committed `chains`, in position order. Called by the commit thread.
    func record(_ chains: [CommittedChain]) {
        let slots = chains.map { (Self.slot(of: $0.key), $0.position) }
        positions.withLock { positions in
            for (slot, position) in slots {
                positions[slot] = position
            }
        }
    }

    /// The slot of `key`: a hash of its model's and id's UTF-8 bytes, as a global payload holds them.
    static func slot(of key: AggregateKey) -> Int {
        var model = key.model
        var id = key.id.rawValue
        return model.withUTF8 { model in
            id.withUTF8 { id in slot(model: UnsafeRawBufferPointer(model), id: UnsafeRawBufferPointer(id)) }
        }
    }

    /// The slot of the aggregate a global payload names (``GlobalPayload``), read from its bytes
    /// without decoding them; `nil` if the payload is too short for its names.
    static func slot(ofPayload payload: UnsafeRawBufferPointer) -> Int? {
        GlobalPayload.fields(of: payload).map { fields in
            slot(model: UnsafeRawBufferPointer(rebasing: payload[fields.model]), id: UnsafeRawBufferPointer(rebasing: payload[fields.id]))
        }
    }

    private static func slot(model: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(model.count)
        hasher.combine(bytes: model)
        hasher.combine(bytes: id)
        return hasher.finalize()
    }
}
