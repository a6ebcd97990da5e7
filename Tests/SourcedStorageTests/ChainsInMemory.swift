import SourcedCore
import SourcedStorage

/// A global log held in memory: the copy a test repairs aggregate logs from.
struct ChainsInMemory: GlobalLogCopy {
    var chains: [CommittedChain]
    /// What ``newestPosition(of:)`` answers instead of the last chain's position, if set.
    var newest: UInt64?

    init(_ chains: [CommittedChain], newest: UInt64? = nil) {
        self.chains = chains
        self.newest = newest
    }

    func newestPosition(of key: AggregateKey) -> UInt64? {
        newest ?? chains.last { $0.key == key }?.position
    }

    func chains(of key: AggregateKey, in positions: ClosedRange<UInt64>) -> [CommittedChain] {
        chains.filter { $0.key == key && positions.contains($0.position) }
    }
}

/// `count` committed chains of counter `c1`, one event each, at global positions 10, 20, 30, ...
/// (other aggregates' chains lie between).
func makeChains(_ count: Int, key: AggregateKey = AggregateKey(model: "counter", id: try! AggregateID("c1"))) -> [CommittedChain] {
    (1...UInt64(count)).map { version in
        CommittedChain(
            position: version * 10, key: key, firstVersion: version, eventCount: 1,
            timestamp: Int64(version), events: Array(#"[{"type":"incremented","count":\#(version)}]"#.utf8)
        )
    }
}

/// The aggregate log of `chains`, and where each record starts.
func aggregateLog(of chains: [CommittedChain]) -> (bytes: [UInt8], starts: [Int]) {
    var bytes: [UInt8] = []
    var starts: [Int] = []
    for chain in chains {
        starts.append(bytes.count)
        chain.appendAggregateRecord(to: &bytes)
    }
    return (bytes, starts)
}
