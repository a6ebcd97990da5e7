/// One server a connection string names: a Unix socket directory (starts with `/`) or a host name
/// or address, with its port and the password to give it.
///
/// A connection string may name several (`host=a,b port=5432,5433`); the store tries them in order
/// (``PostgresConnectionSettings/connect(eventLoopGroup:logger:role:)``).
public struct PostgresHost: Sendable, Equatable, CustomStringConvertible {
    /// A Unix socket directory (starts with `/`) or a host name or address.
    public var host: String
    public var port: Int
    /// The password for this server: the connection string's `password`, else the password
    /// file's line for this host and port; never printed.
    public var password: String?

    public init(host: String, port: Int, password: String? = nil) {
        self.host = host
        self.port = port
        self.password = password
    }

    /// Whether ``host`` is a Unix socket directory rather than a host name.
    public var isUnixSocket: Bool { host.hasPrefix("/") }

    /// The server's socket file, for a Unix socket connection: `<host>/.s.PGSQL.<port>`.
    public var socketPath: String { "\(host)/.s.PGSQL.\(port)" }

    /// The socket file for a Unix socket, else `host:port` (`[address]:port` for an IPv6 address).
    public var description: String {
        if isUnixSocket { return socketPath }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
