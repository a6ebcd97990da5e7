import ArgumentParser

/// Which server `bench` drives, in that server's own protocol, with the same load loop.
enum BenchProtocol: String, ExpressibleByArgument, CaseIterable, Codable {
    /// Sourced's newline-delimited JSON: counter increments or account chains, then a read-back
    /// of every aggregate.
    case sourced
    /// Redis's RESP: `RPUSH stream:<n> <100 bytes>` to a Redis server's Unix socket, then an
    /// `LLEN` of every list.
    case redis
}
