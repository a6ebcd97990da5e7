import SourcedCore

/// Reading one aggregate's chains back from the global log, to repair its log (``GlobalLogCopy``).
extension AggregateStore {
    /// The chains of `key` that the global log holds at positions in `positions`, in order.
    ///
    /// Reads the log from `offset`, a record boundary at or before the chain at
    /// `positions.lowerBound` (the engine finds one in its sparse index), up to `end`, the
    /// durable length, in chunks of 1 MiB (larger if a record is), and stops at the first chunk
    /// that reaches past `positions`. Only the chunk in hand is held in memory, with the chains
    /// found. Blocking: call it on an I/O thread.
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` if a record there does not verify
    ///   (recovery verified the log at start), or an I/O error.
    public func globalChains(of key: AggregateKey, in positions: ClosedRange<UInt64>, from offset: Int, to end: Int) throws -> [CommittedChain] {
        try checkRunning()
        var found: [CommittedChain] = []
        var offset = offset
        var chunk = 1 << 20
        while offset < end {
            let read: (chains: [CommittedChain], used: Int)
            do {
                read = try CommittedChain.chains(in: try self.read(directory.globalLogDescriptor, directory.globalLogPath, offset..<min(end, offset + chunk)))
            } catch let malformed as GlobalPayload.Malformed {
                throw StorageError.corrupt(path: directory.globalLogPath, offset: offset, reason: malformed.description)
            }
            found += read.chains.filter { positions.contains($0.position) && $0.key == key }
            if let last = read.chains.last, last.position >= positions.upperBound {
                break
            }
            if read.used == 0 {
                chunk *= 2
            } else {
                offset += read.used
            }
        }
        return found
    }
}
