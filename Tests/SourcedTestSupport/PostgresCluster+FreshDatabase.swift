import Foundation

extension PostgresCluster {
    /// Creates an empty database with a unique name and returns its connection string.
    public func freshDatabase() async throws -> String {
        let name = "test_" + UUID().uuidString.prefix(8).lowercased()
        try await createDatabase(name)
        return connectionString(database: name)
    }
}
