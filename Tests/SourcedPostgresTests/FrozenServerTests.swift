import Foundation
import Glibc
import Logging
import PostgresNIO
import SourcedCore
import SourcedPostgres
import SourcedTestSupport
import Testing

/// A server that stops answering without closing its connections (a frozen machine, a network
/// cut without a reset), played by stopping the backends of one database with SIGSTOP: requests
/// fail after ``PostgresConnectionSettings/requestTimeout`` and the next one connects again.
@Suite(.postgresCluster)
struct FrozenServerTests {
    /// Short for a test, long enough for any request the suite's load slows down (2 s was not).
    static let timeout = Duration.seconds(20)
    /// Far beyond the timeout; only a request that would wait forever reaches it.
    static let bound = Duration.seconds(120)

    @Test func aCommitToAFrozenServerIsOutcomeUnknownAndTheNextConnectsAgain() async throws {
        let database = try await TestDatabase()
        try await database.openStore().close()
        let settings = Self.settings(database)
        let store = try await PostgresEventStore.open(settings, logger: Logger(label: "test"))
        _ = try await store.commit([chain("f1", version: 1)])

        let frozen = try await backends(of: database, named: settings.applicationName!)
        #expect(!frozen.isEmpty)
        for pid in frozen { kill(pid, SIGSTOP) }
        let clock = ContinuousClock()
        let started = clock.now
        let outcome = await outcome(within: Self.bound) {
            _ = try await store.commit([chain("f1", version: 2)])
            return "committed"
        }
        let waited = clock.now - started
        for pid in frozen { kill(pid, SIGCONT) }
        #expect(outcome.contains("may or may not have committed") && outcome.contains("no answer within 20.0 seconds"), "\(outcome)")
        #expect(waited >= Self.timeout && waited < Self.bound, "\(waited)")

        // The next commit connects again. The frozen backend ran the commit once it went on, so
        // version 2 may have landed: the retry asks, as a client with a command id would.
        let landed = try await store.chains(of: chain("f1", version: 1).key, after: 1).count
        let next = try await store.commit([chain("f1", version: UInt64(2 + landed))])
        #expect(next.first?.position == UInt64(2 + landed))
        await store.close()
    }

    @Test func aFrozenFeedConnectionIsDroppedAndReadersAreTold() async throws {
        let database = try await TestDatabase()
        let settings = Self.settings(database)
        try await database.openStore().close()
        let listener = try await PostgresCommitListener.start(settings)
        let frozen = try await backends(of: database, named: settings.applicationName!)
        #expect(frozen.count == 1)
        for pid in frozen { kill(pid, SIGSTOP) }
        let outcome = await outcome(within: Self.bound) {
            _ = try await listener.wait(after: 1_000_000)
            return "woken"
        }
        for pid in frozen { kill(pid, SIGCONT) }
        #expect(outcome.contains("no answer within 20.0 seconds"), "\(outcome)")
        await listener.close()
    }

    /// The database's settings with the test's request timeout and an application name of its
    /// own, by which its backends are found.
    private static func settings(_ database: TestDatabase) -> PostgresConnectionSettings {
        var settings = database.settings
        settings.requestTimeout = timeout
        settings.applicationName = "frozen-" + UUID().uuidString.prefix(8).lowercased()
        return settings
    }

    /// The PIDs of the client backends connected to `database` under `name`.
    private func backends(of database: TestDatabase, named name: String) async throws -> [pid_t] {
        try await database.withConnection { connection in
            try await connection.query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND application_name = \(name)",
                logger: Logger(label: "test")
            ).collect().map { pid_t(try $0.decode(Int32.self)) }
        }
    }
}
