import SourcedTestSupport
import Testing

/// Runs the suite it marks inside one PostgreSQL cluster of its own (``PostgresCluster``),
/// started before the suite's first test and stopped and removed after its last. If the cluster
/// cannot start, the suite fails with the reason.
struct PostgresClusterTrait: SuiteTrait, TestScoping {
    /// The cluster of the suite running in this task.
    @TaskLocal static var current: PostgresCluster?

    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let cluster = try await PostgresCluster.start()
        do {
            try await Self.$current.withValue(cluster) { try await function() }
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}

extension Trait where Self == PostgresClusterTrait {
    /// Runs the suite inside a PostgreSQL cluster of its own.
    static var postgresCluster: Self { Self() }
}
