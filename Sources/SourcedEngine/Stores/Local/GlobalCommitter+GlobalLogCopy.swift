import SourcedCore
import SourcedStorage

/// The committed global log as the copy aggregate logs are repaired from when they are loaded.
extension GlobalCommitter: GlobalLogCopy {
    func newestPosition(of key: AggregateKey) -> UInt64? {
        newest.position(of: key)
    }

    /// Reads the durable log from the segment index's record boundary before the first position.
    func chains(of key: AggregateKey, in positions: ClosedRange<UInt64>) throws -> [CommittedChain] {
        try store.globalChains(of: key, in: positions)
    }
}
