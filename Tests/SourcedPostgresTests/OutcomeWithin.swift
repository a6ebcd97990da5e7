import SourcedCore

/// What `body` returns, the error it throws as text, or `did not end` if it is still running
/// after `bound` (it is then left running): for requests that must end, and could hang.
func outcome(within bound: Duration, _ body: @escaping @Sendable () async throws -> String) async -> String {
    let outcome = Latch<String>()
    Task {
        do {
            outcome.fire(try await body())
        } catch {
            outcome.fire("\(error)")
        }
    }
    let timer = Task {
        try await Task.sleep(for: bound)
        outcome.fire("did not end")
    }
    defer { timer.cancel() }
    return await outcome.wait()
}
