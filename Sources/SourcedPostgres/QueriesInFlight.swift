import PostgresNIO
import SourcedCore
import Synchronization

/// The queries of each connection still waiting for their rows (``PostgresNIO/PostgresConnection/queryWhileOpen(_:logger:)``),
/// so that one callback per connection, when it closes, fails those that will never be answered.
/// A connection's entry, and the connection, are kept from its first query until it closes.
final class QueriesInFlight: Sendable {
    typealias Answer = Latch<Result<PostgresRowSequence, any Error>>

    private struct Waiting {
        let connection: PostgresConnection
        var answers: [Int: Answer] = [:]
    }

    private struct State {
        var next = 0
        var connections: [ObjectIdentifier: Waiting] = [:]
    }

    static let shared = QueriesInFlight()

    private let state = Mutex(State())

    /// Records that `answer` waits on `connection`; returns the token that ``remove(_:from:)``
    /// takes. If the connection closes, `answer` gets ``ConnectionClosed``.
    func add(_ answer: Answer, on connection: PostgresConnection) -> Int {
        let key = ObjectIdentifier(connection)
        let (token, first) = state.withLock { state in
            defer { state.next += 1 }
            let first = state.connections[key] == nil
            state.connections[key, default: Waiting(connection: connection)].answers[state.next] = answer
            return (state.next, first)
        }
        // Registered after the entry exists: a close that already happened runs it at once.
        if first {
            connection.closeFuture.whenComplete { _ in self.closed(key) }
        }
        return token
    }

    /// Forgets the answer of `token`: its query ended.
    func remove(_ token: Int, from connection: PostgresConnection) {
        state.withLock { _ = $0.connections[ObjectIdentifier(connection)]?.answers.removeValue(forKey: token) }
    }

    private func closed(_ key: ObjectIdentifier) {
        guard let waiting = state.withLock({ $0.connections.removeValue(forKey: key) }) else { return }
        for answer in waiting.answers.values {
            answer.fire(.failure(ConnectionClosed()))
        }
    }
}
