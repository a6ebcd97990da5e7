import SourcedCore
import SourcedStorage
import Synchronization

/// Where the global log holds each aggregate's newest chain: what every load of an aggregate
/// compares its log with, so that a log the global log is ahead of (cut back by a power loss,
/// deleted, restored from an older backup) is completed before it is served (``GlobalLogCopy``).
///
/// Kept in memory, keyed by ``NewestPositionTable/slot(of:)``: 16 bytes an aggregate, 33 with the
/// table's spare room (measured with 1,000,000 aggregates). Start-up fills it from the table
/// saved with the last sealed segment and the segments after it; every commit advances it. Two
/// keys with one slot share the later of their positions, as ``GlobalLogCopy/newestPosition(of:)``
/// allows.
final class NewestPositions: Sendable {
    private let positions: Mutex<[Int: UInt64]>

    /// Positions by slot, as start-up found them.
    init(_ positions: [Int: UInt64]) {
        self.positions = Mutex(positions)
    }

    /// A position at or after that of `key`'s newest chain, `nil` if it has none.
    func position(of key: AggregateKey) -> UInt64? {
        let slot = NewestPositionTable.slot(of: key)
        return positions.withLock { $0[slot] }
    }

    /// Records committed `chains`, in position order. Called by the commit thread.
    func record(_ chains: [CommittedChain]) {
        let slots = chains.map { (NewestPositionTable.slot(of: $0.key), $0.position) }
        positions.withLock { positions in
            for (slot, position) in slots {
                positions[slot] = position
            }
        }
    }
}
