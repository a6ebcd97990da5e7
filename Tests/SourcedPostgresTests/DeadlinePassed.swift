/// ``withDeadline(_:_:)``'s body took longer than its limit.
struct DeadlinePassed: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "not done within \(limit)" }
}

/// `body`'s result, or a failure if it takes longer than `limit`.
func withDeadline<Result: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw DeadlinePassed(limit: limit) }
        return result
    }
}
