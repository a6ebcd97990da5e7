import SourcedCore

/// The global log as the second copy of every aggregate's chains: what a damaged, incomplete or
/// missing aggregate log is repaired from (``LogRepair``).
///
/// The store never reads the global log for a repair by itself; it asks this, for one aggregate at
/// a time, through two questions. The engine answers them from its sparse position index
/// (reading the log near the positions asked for), `sourced check` from its own full scan.
public protocol GlobalLogCopy: Sendable {
    /// A position at or after that of the newest chain of `key` in the global log, `nil` if the
    /// global log holds none. Never earlier than the newest chain: an aggregate log that reaches
    /// it holds every chain of its aggregate. (It may be later, when the answer is shared with
    /// another aggregate; a repair then finds nothing more to restore.)
    func newestPosition(of key: AggregateKey) -> UInt64?

    /// Every chain of `key` at a position in `positions`, in position order. Blocking: called on
    /// an I/O thread.
    /// - Throws: ``StorageError`` if the global log cannot be read there.
    func chains(of key: AggregateKey, in positions: ClosedRange<UInt64>) throws -> [CommittedChain]
}
