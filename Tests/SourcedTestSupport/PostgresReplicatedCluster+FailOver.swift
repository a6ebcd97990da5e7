extension PostgresReplicatedCluster {
    /// Plays the failover of `docs/operations.md`: SIGKILLs the primary, promotes the most
    /// advanced standby, points the other standby at it and waits until that one streams
    /// synchronously (before then the new primary's commits wait for a copy). `promoted` is
    /// called as soon as the standby accepts writes.
    /// - Returns: the promoted standby and the other one.
    public func failOver(promoted: () -> Void = {}) async throws -> (promoted: PostgresNode, other: PostgresNode) {
        try await killPrimary(primary)
        let chosen = try await mostAdvancedStandby(of: standbys)
        try await promote(chosen)
        promoted()
        guard let other = standbys.first(where: { $0 != chosen }) else {
            throw PostgresClusterError(step: "fail over", reason: "the cluster has one standby")
        }
        try await follow(other, newPrimary: chosen)
        try await waitForSynchronousStandbys([other], of: chosen)
        return (chosen, other)
    }
}
