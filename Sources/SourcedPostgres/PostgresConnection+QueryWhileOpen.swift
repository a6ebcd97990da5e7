import Logging
import PostgresNIO
import SourcedCore

extension PostgresConnection {
    /// `query(_:logger:)`, failing with ``ConnectionClosed`` once the connection is closed.
    ///
    /// postgres-nio (1.33) drops a query handed to a connection that is closed, or closes before
    /// the query reaches its handler, without failing it: `query(_:logger:)` then waits forever
    /// (seen after a lost primary, and when a timeout closes the connection). This returns the
    /// rows or fails when the connection closes, whichever comes first (``QueriesInFlight``); a
    /// dropped query's wait is left behind, suspended, once per connection lost at that moment.
    @discardableResult
    func queryWhileOpen(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        guard !isClosed else { throw ConnectionClosed() }
        let answer = QueriesInFlight.Answer()
        let token = QueriesInFlight.shared.add(answer, on: self)
        defer { QueriesInFlight.shared.remove(token, from: self) }
        Task {
            do {
                answer.fire(.success(try await self.query(query, logger: logger)))
            } catch {
                answer.fire(.failure(error))
            }
        }
        return try await answer.wait().get()
    }
}
