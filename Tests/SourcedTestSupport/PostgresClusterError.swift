/// A step of starting a test cluster failed.
public struct PostgresClusterError: Error, CustomStringConvertible {
    public var step: String
    public var reason: String
    public var description: String { "cannot start a PostgreSQL test cluster: \(step) failed: \(reason)" }
}
