import Logging
import PostgresNIO
import SourcedPostgres
import SourcedTestSupport
import Testing

/// `target_session_attrs` against real servers: a primary and two streaming standbys.
@Suite(.serialized)
struct PostgresHostSelectionTests {
    @Test func eachAttributeSettlesOnTheFirstHostThatHasIt() async throws {
        try await withReplicatedCluster { cluster in
            let p = cluster.primary, s1 = cluster.standbys[0], s2 = cluster.standbys[1]
            let cases: [([PostgresNode], String, String)] = [
                ([s1, s2, p], "read-write", "p"), ([s1, p], "primary", "p"), ([p, s2, s1], "standby", "s2"), ([p, s1], "read-only", "s1"),
                ([p, s1], "prefer-standby", "s1"), ([p, p], "prefer-standby", "p"), ([s2, p], "any", "s2"),
            ]
            for (nodes, attributes, expected) in cases {
                let connected = try await connectedNode(cluster, nodes, attributes)
                #expect(connected == expected, "\(attributes) of \(nodes.map(\.name))")
            }
        }
    }

    @Test func whenNoHostIsReadWriteTheErrorNamesEachHostAndWhy() async throws {
        try await withReplicatedCluster { cluster in
            let s1 = cluster.standbys[0], s2 = cluster.standbys[1]
            let gone = cluster.directory + "/gone"
            let settings = try PostgresConnectionSettings(
                parsing: "postgres://\(cluster.user)@/postgres?host=\(s1.directory),\(gone),\(s2.directory)&port=\(s1.port),5999,\(s2.port)"
                    + "&target_session_attrs=read-write&connect_timeout=30&passfile=\(cluster.passwordFile)"
            )
            do {
                let connection = try await settings.connect(logger: Logger(label: "test"), role: "test")
                try? await connection.close()
                Issue.record("connected to a host that should not qualify")
            } catch {
                guard case .cannotConnect(let target, let reason)? = error as? PostgresStoreError else {
                    Issue.record("expected cannotConnect, got \(error)")
                    return
                }
                #expect(target.contains("(test)") && target.contains("target_session_attrs=read-write"))
                let parts = reason.split(separator: "; ").map(String.init)
                #expect(parts.count == 3, "\(reason)")
                #expect(parts.first?.hasPrefix("\(s1.socketPath): read-only") == true, "\(reason)")
                #expect(parts.dropFirst().first?.hasPrefix("\(gone)/.s.PGSQL.5999: ") == true, "\(reason)")
                #expect(parts.dropFirst().first?.contains("No such file") == true, "\(reason)")
                #expect(parts.last?.hasPrefix("\(s2.socketPath): read-only") == true, "\(reason)")
                #expect("\(error)".contains("cannot connect to PostgreSQL at"))
            }
            // A store opened with these settings fails the same way, naming every host.
            await #expect(throws: PostgresStoreError.self) { try await PostgresEventStore.open(settings, logger: Logger(label: "test")) }
        }
    }

    @Test func aHostThatDoesNotAnswerIsSkippedAfterConnectTimeout() async throws {
        try await withReplicatedCluster { cluster in
            let s1 = cluster.standbys[0]
            try cluster.suspend(s1)
            defer { try? cluster.resume(s1) }
            let clock = ContinuousClock()
            let start = clock.now
            let connected = try await connectedNode(cluster, [s1, cluster.primary], "read-write", connectTimeout: 1)
            let elapsed = clock.now - start
            #expect(connected == "p")
            #expect(elapsed >= .seconds(1), "the hanging host was given its connect_timeout")
            // Alone, it is named with the timeout.
            let settings = try PostgresConnectionSettings(
                parsing: cluster.connectionString(database: "postgres", nodes: [s1], targetSessionAttributes: "any", connectTimeout: 1)
            )
            do {
                let connection = try await settings.connect(logger: Logger(label: "test"), role: "test")
                try? await connection.close()
                Issue.record("connected to a suspended server")
            } catch {
                #expect("\(error)".contains("\(s1.socketPath): ") && "\(error)".contains("Connect timeout (1 s)"), "\(error)")
            }
        }
    }

    /// The `cluster_name` of the node a connection to `nodes` with `attributes` settles on.
    private func connectedNode(
        _ cluster: PostgresReplicatedCluster, _ nodes: [PostgresNode], _ attributes: String, connectTimeout: Int = 30
    ) async throws -> String {
        let settings = try PostgresConnectionSettings(
            parsing: cluster.connectionString(database: "postgres", nodes: nodes, targetSessionAttributes: attributes, connectTimeout: connectTimeout)
        )
        let connection = try await settings.connect(logger: Logger(label: "test"), role: "test")
        do {
            let rows = try await connection.query("SELECT current_setting('cluster_name')", logger: Logger(label: "test"))
            var name = ""
            for try await value in rows.decode(String.self) { name = value }
            try await connection.close()
            return name
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
