import Testing

/// Runs the suite it marks inside one PostgreSQL cluster of its own (``PostgresCluster``),
/// started before the suite's first test and stopped and removed after its last. If the cluster
/// cannot start, the suite fails with the reason.
public struct PostgresClusterTrait: SuiteTrait, TestScoping {
    /// The cluster of the suite running in this task.
    @TaskLocal public static var current: PostgresCluster?

    public var isRecursive: Bool { false }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
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
    public static var postgresCluster: Self { Self() }
}
