import NIOCore
import PostgresNIO

extension PostgresConnection {
    /// Runs `body`, a request on this connection, and closes the connection if the request has
    /// not finished within `timeout`, which ends it: a server that stops answering without
    /// closing the connection (frozen, or cut off by the network) fails the request instead of
    /// holding it. Every query of the request must go through ``queryWhileOpen(_:logger:)``.
    /// - Throws: ``RequestTimedOut`` once `timeout` has passed, else what `body` throws.
    @discardableResult
    func closing<Result>(within timeout: Duration, _ body: () async throws -> Result) async throws -> Result {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let timer = eventLoop.scheduleTask(deadline: deadline) { self.close().whenComplete { _ in } }
        defer { timer.cancel() }
        do {
            return try await body()
        } catch {
            guard NIODeadline.now() >= deadline else { throw error }
            throw RequestTimedOut(after: timeout)
        }
    }
}
