import Foundation
import Logging
import PostgresNIO
import SourcedCore
import SourcedPostgres
import SourcedStorage
import SourcedTestSupport
import Testing

/// A fresh, empty database in the suite's cluster, for one test.
struct TestDatabase {
    let settings: PostgresConnectionSettings

    init() async throws {
        let cluster = try #require(PostgresClusterTrait.current, "the suite must be marked .postgresCluster")
        let name = "test_" + UUID().uuidString.prefix(8).lowercased()
        try await cluster.createDatabase(name)
        settings = try PostgresConnectionSettings(parsing: cluster.connectionString(database: name))
    }

    func openStore() async throws -> PostgresEventStore {
        try await PostgresEventStore.open(settings, logger: Logger(label: "test"))
    }

    /// A plain connection, for what the store does not offer (inspecting, holding locks).
    @discardableResult
    func withConnection<Result>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        let connection = try await PostgresConnection.connect(
            configuration: .init(unixSocketPath: settings.socketPath, username: settings.user, password: settings.password, database: settings.database),
            id: 99, logger: Logger(label: "test")
        )
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// A chain as a decider would hand it to the store: position 0, one or two events.
func chain(_ id: String, model: String = "counter", version: UInt64, events: Int = 1, commandID: String? = nil) -> CommittedChain {
    let json = "[" + (0..<events).map { #"{"type":"incremented","by":\#(version + UInt64($0))}"# }.joined(separator: ",") + "]"
    return CommittedChain(
        position: 0, key: AggregateKey(model: model, id: try! AggregateID(id)), firstVersion: version, eventCount: events,
        timestamp: 1_795_943_030_362_776 + Int64(version), events: Array(json.utf8),
        command: commandID.map { CommandStamp(id: Array($0.utf8), fingerprint: UInt64.max - version) }
    )
}

/// Every chain of the global stream, read in pages of `pageSize`.
func wholeStream(_ store: PostgresEventStore, pageSize: Int = 1000) async throws -> [CommittedChain] {
    var chains: [CommittedChain] = []
    while true {
        let page = try await store.chains(after: UInt64(chains.count), limit: pageSize)
        chains += page
        if page.count < pageSize { return chains }
    }
}
