import Logging
import PostgresNIO

/// The tables Sourced keeps in PostgreSQL, in the schema `sourced`, and the migrations that make
/// them (`docs/storage-format.md`, "PostgreSQL store").
///
/// ``migrate(_:logger:)`` brings any database up to ``version`` in one transaction, under an
/// advisory lock, so daemons starting together migrate once and a failure leaves the schema as
/// it was. Migrations are only ever appended: version `n` is `migrations[n - 1]`.
enum PostgresSchema {
    /// The schema version this build writes and reads.
    static var version: Int { migrations.count }

    /// The advisory lock key migrations hold: `'sourced'` in ASCII.
    static let migrationLock: Int64 = 0x736f_7572_6365_64

    /// The channel every commit notifies, with the commit's last position as the payload.
    static let commitChannel = "sourced_commits"

    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE sourced.position_counter (
                only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
                last bigint NOT NULL CHECK (last >= 0)
            )
            """,
            "INSERT INTO sourced.position_counter (last) VALUES (0)",
            """
            CREATE TABLE sourced.chains (
                model text COLLATE "C" NOT NULL,
                aggregate_id text COLLATE "C" NOT NULL,
                first_version bigint NOT NULL CHECK (first_version >= 1),
                event_count integer NOT NULL CHECK (event_count BETWEEN 1 AND 65535),
                position bigint NOT NULL CHECK (position >= 1),
                recorded_at bigint NOT NULL,
                command_id text COLLATE "C",
                command_fingerprint bigint,
                events bytea NOT NULL,
                CONSTRAINT chains_pkey PRIMARY KEY (model, aggregate_id, first_version),
                CONSTRAINT chains_position_key UNIQUE (position),
                CHECK ((command_id IS NULL) = (command_fingerprint IS NULL))
            )
            """,
            """
            CREATE TABLE sourced.handler_checkpoints (
                name text COLLATE "C" PRIMARY KEY,
                position bigint NOT NULL CHECK (position >= 0),
                state bytea NOT NULL
            )
            """,
        ],
    ]

    /// Creates or migrates the schema in one transaction; returns the version found before.
    /// - Throws: ``PostgresStoreError/schemaTooNew(found:supported:)``, or the server's error.
    @discardableResult
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> Int {
        // Not postgres-nio's `withTransaction`: its BEGIN, COMMIT and ROLLBACK are plain
        // `query` calls, which wait forever on a connection that closed.
        try await connection.queryWhileOpen("BEGIN", logger: logger)
        do {
            let found = try await migrateInTransaction(connection, logger: logger)
            try await connection.queryWhileOpen("COMMIT", logger: logger)
            if found < version {
                logger.notice("migrated the PostgreSQL event store", metadata: ["from": "\(found)", "to": "\(version)"])
            }
            return found
        } catch {
            _ = try? await connection.queryWhileOpen("ROLLBACK", logger: logger)
            throw error
        }
    }

    private static func migrateInTransaction(_ connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await connection.queryWhileOpen("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
        try await connection.queryWhileOpen("CREATE SCHEMA IF NOT EXISTS sourced", logger: logger)
        try await connection.queryWhileOpen(
            """
            CREATE TABLE IF NOT EXISTS sourced.schema_version (
                only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
                version integer NOT NULL
            )
            """,
            logger: logger
        )
        var found = 0
        for try await (version) in try await connection.queryWhileOpen("SELECT version FROM sourced.schema_version", logger: logger).decode(Int.self) {
            found = version
        }
        guard found <= version else { throw PostgresStoreError.schemaTooNew(found: found, supported: version) }
        guard found < version else { return found }
        for migration in migrations[found...] {
            for statement in migration {
                try await connection.queryWhileOpen(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
        try await connection.queryWhileOpen(
            """
            INSERT INTO sourced.schema_version (version) VALUES (\(version))
            ON CONFLICT (only_row) DO UPDATE SET version = excluded.version
            """,
            logger: logger
        )
        return found
    }
}
