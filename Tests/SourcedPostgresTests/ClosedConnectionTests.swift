import Foundation
import Logging
import NIOCore
import PostgresNIO
import SourcedCore
@testable import SourcedPostgres
import SourcedTestSupport
import Testing

/// Requests on a connection that closes under them end, with an error, instead of waiting
/// forever: postgres-nio 1.33 drops a query handed to a closed or closing connection without
/// failing it (``PostgresNIO/PostgresConnection/queryWhileOpen(_:logger:)``).
@Suite(.postgresCluster)
struct ClosedConnectionTests {
    /// Far beyond a query on a local server, even a busy one; only a query that will never end
    /// reaches it.
    static let bound = Duration.seconds(120)

    @Test func aQueryOnAClosedConnectionFails() async throws {
        let database = try await TestDatabase()
        let connection = try await connect(database)
        try await connection.close()
        let outcome = await outcome(within: Self.bound) {
            try await connection.queryWhileOpen("SELECT 1", logger: Logger(label: "test"))
            return "ok"
        }
        #expect(outcome == "the connection closed before the server answered")
    }

    @Test func aListenOnAClosedConnectionFails() async throws {
        let database = try await TestDatabase()
        let connection = try await connect(database)
        try await connection.close()
        let outcome = await outcome(within: Self.bound) {
            try await connection.listen(on: "nothing") { _ in }
            return "ok"
        }
        #expect(outcome != "ok" && outcome != "did not end", "\(outcome)")
    }

    /// A connection closed at a random moment around a query, 300 times: every query ends, with
    /// its rows or an error.
    @Test func aQueryRacingTheCloseOfItsConnectionEnds() async throws {
        let database = try await TestDatabase()
        var outcomes: [String: Int] = [:]
        for _ in 0..<300 {
            let connection = try await connect(database)
            connection.eventLoop.scheduleTask(in: .microseconds(Int64.random(in: 0...1500))) { connection.close().whenComplete { _ in } }
            let outcome = await outcome(within: Self.bound) {
                let rows = try await connection.queryWhileOpen("SELECT pg_is_in_recovery()", logger: Logger(label: "test"))
                for try await _ in rows.decode(Bool.self) {}
                return "ok"
            }
            outcomes[outcome == "ok" || outcome == "did not end" ? outcome : "failed", default: 0] += 1
            try? await connection.close()
        }
        print("queries racing the close of their connection: \(outcomes)")
        #expect(outcomes["did not end"] == nil, "\(outcomes)")
    }

    /// The same for `LISTEN`, which the commit feed holds open: 100 connections closed at a
    /// random moment around it, each listen ends.
    @Test func aListenRacingTheCloseOfItsConnectionEnds() async throws {
        let database = try await TestDatabase()
        var ended = 0
        for _ in 0..<100 {
            let connection = try await connect(database)
            connection.eventLoop.scheduleTask(in: .microseconds(Int64.random(in: 0...1500))) { connection.close().whenComplete { _ in } }
            let outcome = await outcome(within: Self.bound) {
                try await connection.listen(on: "nothing") { notifications in
                    for try await _ in notifications {}
                }
                return "ok"
            }
            if outcome != "did not end" { ended += 1 }
            try? await connection.close()
        }
        #expect(ended == 100)
    }

    private func connect(_ database: TestDatabase) async throws -> PostgresConnection {
        let settings = database.settings
        return try await PostgresConnection.connect(
            configuration: .init(unixSocketPath: settings.socketPath, username: settings.user, password: settings.password, database: settings.database),
            id: 1, logger: Logger(label: "test")
        )
    }
}
