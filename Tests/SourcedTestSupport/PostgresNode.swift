/// One server of a ``PostgresReplicatedCluster``: its data directory and the Unix socket it
/// listens on (no TCP), both under a directory of its own.
public struct PostgresNode: Sendable, Equatable, CustomStringConvertible {
    /// `p` for the first primary, `s1`, `s2` for the standbys: also the `application_name` a
    /// standby streams under, as `synchronous_standby_names` names it.
    public let name: String
    /// The socket directory, which also holds the node's data and logs.
    public let directory: String
    public let port: Int

    public var dataDirectory: String { directory + "/data" }
    public var serverLog: String { directory + "/server.log" }
    /// The server's socket file, shorter than the 107 bytes a socket path may have.
    public var socketPath: String { "\(directory)/.s.PGSQL.\(port)" }

    public var description: String { "\(name) (\(socketPath))" }
}
