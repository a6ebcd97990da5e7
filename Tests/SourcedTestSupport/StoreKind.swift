import Testing

/// Where a test's daemon or engine keeps its chains: the local logs, or a fresh database of the
/// suite's PostgreSQL cluster (the suite must be marked `.postgresCluster`).
public enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case local
    case postgres

    public var testDescription: String { rawValue }

    /// The connection string of a fresh database for `.postgres`; `nil` for `.local`.
    public func freshDatabase() async throws -> String? {
        guard self == .postgres else { return nil }
        guard let cluster = PostgresClusterTrait.current else {
            throw PostgresClusterError(step: "find the suite's cluster", reason: "the suite is not marked .postgresCluster")
        }
        return try await cluster.freshDatabase()
    }

    /// `sourced`'s flags for this store: none, or `--postgres` and a fresh database.
    public func daemonArguments() async throws -> [String] {
        try await freshDatabase().map { ["--postgres", $0] } ?? []
    }
}
