import NIOCore
import PostgresNIO

extension PostgresConnection {
    /// Runs `body`, a request on this connection, and closes the connection if the request has
    /// not finished within `timeout`, which ends it: a server that stops answering without
    /// closing the connection (frozen, or cut off by the network) fails the request instead of
    /// holding it. Every query of the request must go through ``queryWhileOpen(_:logger:)``.
    /// The time counts from the call, including a wait behind the connection's other requests.
    /// - Throws: ``RequestTimedOut`` if the timeout closed the connection and `body` failed for
    ///   it, else what `body` throws.
    @discardableResult
    func closing<Result>(within timeout: Duration, _ body: () async throws -> Result) async throws -> Result {
        let timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) { self.close().whenComplete { _ in } }
        do {
            let result = try await body()
            timer.cancel()
            return result
        } catch {
            timer.cancel()
            // An answer from the server, or the store's own verdict, stands as it is.
            if (error as? PSQLError)?.code == .server || error is PostgresStoreError { throw error }
            // The timer's future succeeded if it ran, and fails if it was cancelled first.
            guard (try? await timer.futureResult.get()) != nil else { throw error }
            throw RequestTimedOut(after: timeout)
        }
    }
}
