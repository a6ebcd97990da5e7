import SourcedTestSupport

/// Runs `body` with a primary and two synchronous standbys of its own (``PostgresReplicatedCluster``),
/// stopped and removed afterwards whether `body` succeeds or throws.
func withReplicatedCluster<Result>(_ body: (PostgresReplicatedCluster) async throws -> Result) async throws -> Result {
    let cluster = try await PostgresReplicatedCluster.start()
    do {
        let result = try await body(cluster)
        await cluster.stop()
        return result
    } catch {
        await cluster.stop()
        throw error
    }
}
