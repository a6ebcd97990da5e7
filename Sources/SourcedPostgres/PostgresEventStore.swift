import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SourcedCore
import SourcedStorage

/// Sourced's event store in PostgreSQL: what the local logs do, in tables that a replicated
/// PostgreSQL keeps (`docs/storage-format.md`, "PostgreSQL store").
///
/// - **Group commit** (``commit(_:)``): many aggregates' chains in one statement, which is one
///   transaction. It takes gapless positions from a counter row and inserts every chain, so
///   positions follow commit order with no gap (the row's lock is held until commit), and it
///   notifies `sourced_commits` in the same transaction.
/// - **Optimistic concurrency**: the primary key `(model, aggregate_id, first_version)` refuses a
///   chain whose first version its aggregate already holds; the whole commit is refused and the
///   error names every stale chain (``PostgresStoreError/stale(_:)``).
/// - **Reads**: one aggregate by version (``replay(_:after:pageSize:_:)``), the global stream by
///   position (``chains(after:limit:)``), both paged, so memory is bounded by a page.
/// - **Handler checkpoints**: name → position and saved state (``writeHandlerState(_:position:state:)``).
///
/// Chains are stored as the local logs hold them: the events as the same JSON bytes and the
/// command stamp (id and fingerprint), so a loader can rebuild an aggregate's window of command ids.
/// Commits run in order on one connection, reads on another; a lost connection is opened again on
/// the next call.
public final class PostgresEventStore: Sendable {
    public let settings: PostgresConnectionSettings
    private let writer: ConnectionSlot
    private let reader: ConnectionSlot
    private let logger: Logger

    /// The most rows one read returns when the caller names no limit.
    public static let defaultPageSize = 1000

    private init(settings: PostgresConnectionSettings, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.settings = settings
        self.logger = logger
        writer = ConnectionSlot("commits", settings: settings, eventLoopGroup: eventLoopGroup, logger: logger)
        reader = ConnectionSlot("reads", settings: settings, eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// Connects, and creates or migrates the schema (``PostgresSchema``).
    /// - Throws: ``PostgresStoreError``: `cannotConnect`, `schemaTooNew`, or `refused` if the
    ///   user may not create the schema.
    public static func open(
        _ settings: PostgresConnectionSettings,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "sourced.postgres")
    ) async throws -> PostgresEventStore {
        let store = PostgresEventStore(settings: settings, eventLoopGroup: eventLoopGroup, logger: logger)
        do {
            // Not under the request timeout: a migration may rightly take long on a large table.
            try await PostgresSchema.migrate(try await store.writer.connection(), logger: logger)
        } catch {
            await store.close()
            throw PostgresStoreError(error, committing: false)
        }
        return store
    }

    /// Closes the connections. Calls made afterwards fail with ``PostgresStoreError/unavailable(_:)``.
    public func close() async {
        await writer.close()
        await reader.close()
    }

    /// Commits `chains` in one transaction and returns them with their positions: consecutive,
    /// after every position committed before, in the order given.
    ///
    /// The chains' `position`s are ignored. Chains of one aggregate must follow one another by
    /// version, each starting after its aggregate's newest chain, as a single writer of the
    /// aggregate decides them.
    /// - Throws: ``PostgresStoreError``: `stale` (nothing written; reload the aggregates named),
    ///   `refused` or `unavailable` (nothing written), `outcomeUnknown` (the connection was lost
    ///   after the commit was sent).
    public func commit(_ chains: [CommittedChain]) async throws(PostgresStoreError) -> [CommittedChain] {
        guard !chains.isEmpty else { return [] }
        let columns = ChainColumns(chains)
        let connection: PostgresConnection
        do {
            connection = try await writer.connection()
        } catch {
            throw PostgresStoreError(error, committing: false)
        }
        let base: Int64
        do {
            base = try await connection.closing(within: settings.requestTimeout) {
                let rows = try await connection.queryWhileOpen(
                    """
                    WITH counter AS (
                        UPDATE sourced.position_counter SET last = last + \(Int64(chains.count)) RETURNING last - \(Int64(chains.count)) AS base
                    ), inserted AS (
                        INSERT INTO sourced.chains
                            (position, model, aggregate_id, first_version, event_count, recorded_at, command_id, command_fingerprint, events)
                        SELECT counter.base + c.n, c.model, c.aggregate_id, c.first_version, c.event_count, c.recorded_at,
                            NULLIF(c.command_id, ''), CASE WHEN c.command_id = '' THEN NULL ELSE c.command_fingerprint END, c.events
                        FROM counter, unnest(
                            \(columns.models)::text[], \(columns.ids)::text[], \(columns.firstVersions)::int8[], \(columns.eventCounts)::int4[],
                            \(columns.timestamps)::int8[], \(columns.commandIDs)::text[], \(columns.fingerprints)::int8[], \(columns.events)::bytea[]
                        ) WITH ORDINALITY AS c(model, aggregate_id, first_version, event_count, recorded_at, command_id, command_fingerprint, events, n)
                    ), notified AS (
                        SELECT pg_notify(\(PostgresSchema.commitChannel), (counter.base + \(Int64(chains.count)))::text) FROM counter
                    )
                    SELECT counter.base FROM counter, notified
                    """,
                    logger: logger
                )
                guard let value = try await rows.decode(Int64.self).first(where: { _ in true }) else {
                    throw PostgresStoreError.corrupt("sourced.position_counter has no row")
                }
                return value
            }
        } catch let error as PSQLError where error.isUniqueViolation(of: "chains_pkey") {
            throw await staleChains(in: chains, error: error)
        } catch {
            let failure = PostgresStoreError(error, committing: true)
            if case .outcomeUnknown = failure { await writer.discard(connection) }
            throw failure
        }
        var committed = chains
        for index in committed.indices {
            committed[index].position = UInt64(base) + UInt64(index) + 1
        }
        return committed
    }

    /// The position of the newest committed chain; 0 if there is none.
    public func lastPosition() async throws(PostgresStoreError) -> UInt64 {
        try await read { connection, logger in
            let rows = try await connection.queryWhileOpen("SELECT last FROM sourced.position_counter", logger: logger)
            for try await last in rows.decode(Int64.self) {
                return UInt64(last)
            }
            throw PostgresStoreError.corrupt("sourced.position_counter has no row")
        }
    }

    /// The chains after `position` in position order, at most `limit`: a page of the global stream.
    /// - Throws: ``PostgresStoreError/corrupt(_:)`` if the positions read are not consecutive from
    ///   `position + 1`.
    public func chains(after position: UInt64, limit: Int = defaultPageSize) async throws(PostgresStoreError) -> [CommittedChain] {
        let chains = try await read { connection, logger in
            try await Self.chains(
                connection.queryWhileOpen(
                    """
                    SELECT \(unescaped: ChainColumns.selected) FROM sourced.chains
                    WHERE position > \(Int64(position)) ORDER BY position LIMIT \(Int64(limit))
                    """,
                    logger: logger
                )
            )
        }
        for (offset, chain) in chains.enumerated() where chain.position != position + UInt64(offset) + 1 {
            throw .corrupt("position \(position + UInt64(offset) + 1) is missing; the next chain read has position \(chain.position)")
        }
        return chains
    }

    /// The chain at `position`, or `nil` if there is none.
    public func chain(at position: UInt64) async throws(PostgresStoreError) -> CommittedChain? {
        try await read { connection, logger in
            try await Self.chains(
                connection.queryWhileOpen(
                    "SELECT \(unescaped: ChainColumns.selected) FROM sourced.chains WHERE position = \(Int64(position))",
                    logger: logger
                )
            ).first
        }
    }

    /// The ids of `model`'s aggregates after `after`, at most `limit`, in the byte order of their
    /// UTF-8, and whether more follow. Every aggregate has exactly one chain at version 1, so the
    /// primary key's index lists them.
    public func aggregateIDs(of model: String, after: AggregateID?, limit: Int) async throws(PostgresStoreError) -> DataDirectory.IDPage {
        let ids = try await read { connection, logger in
            var ids: [String] = []
            let rows = try await connection.queryWhileOpen(
                """
                SELECT aggregate_id FROM sourced.chains
                WHERE model = \(model) AND aggregate_id > \(after?.rawValue ?? "") AND first_version = 1
                ORDER BY aggregate_id LIMIT \(Int64(limit) + 1)
                """,
                logger: logger
            )
            for try await id in rows.decode(String.self) {
                ids.append(id)
            }
            return ids
        }
        var page = DataDirectory.IDPage(ids: [], more: ids.count > limit)
        for id in ids.prefix(limit) {
            do {
                page.ids.append(try AggregateID(id))
            } catch {
                throw .corrupt("an aggregate of \(model) has an invalid id: \(error)")
            }
        }
        return page
    }

    /// The chains of `key` after `version` in version order, at most `limit`.
    public func chains(of key: AggregateKey, after version: UInt64, limit: Int = defaultPageSize) async throws(PostgresStoreError) -> [CommittedChain] {
        try await read { connection, logger in
            try await Self.chains(
                connection.queryWhileOpen(
                    """
                    SELECT \(unescaped: ChainColumns.selected) FROM sourced.chains
                    WHERE model = \(key.model) AND aggregate_id = \(key.id.rawValue) AND first_version > \(Int64(version))
                    ORDER BY first_version LIMIT \(Int64(limit))
                    """,
                    logger: logger
                )
            )
        }
    }

    /// Calls `body` with every chain of `key` after `version`, in version order, reading a page
    /// of `pageSize` chains at a time; returns the aggregate's last version (`version` if it has
    /// no chains after it).
    /// - Throws: ``PostgresStoreError/corrupt(_:)`` if the versions read do not follow one another.
    @discardableResult
    public func replay(
        _ key: AggregateKey, after version: UInt64 = 0, pageSize: Int = defaultPageSize, _ body: (CommittedChain) throws -> Void
    ) async throws -> UInt64 {
        var last = version
        while true {
            let page = try await chains(of: key, after: last, limit: pageSize)
            for chain in page {
                guard chain.firstVersion == last + 1 else {
                    throw PostgresStoreError.corrupt("\(key) has no version \(last + 1); the next chain starts at \(chain.firstVersion)")
                }
                try body(chain)
                last = chain.lastVersion
            }
            if page.count < pageSize { return last }
        }
    }

    /// The position and state a handler saved last, or `nil` if it saved none.
    public func readHandlerState(_ name: String) async throws(PostgresStoreError) -> (position: UInt64, state: [UInt8])? {
        try await read { connection, logger in
            let rows = try await connection.queryWhileOpen(
                "SELECT position, state FROM sourced.handler_checkpoints WHERE name = \(name)", logger: logger
            )
            for try await (position, state) in rows.decode((Int64, ByteBuffer).self) {
                return (UInt64(position), Array(state.readableBytesView))
            }
            return nil
        }
    }

    /// Replaces a handler's saved position and state, atomically and durably.
    public func writeHandlerState(_ name: String, position: UInt64, state: [UInt8]) async throws(PostgresStoreError) {
        try await run(on: writer) { connection, logger in
            _ = try await connection.queryWhileOpen(
                """
                INSERT INTO sourced.handler_checkpoints (name, position, state) VALUES (\(name), \(Int64(position)), \(ByteBuffer(bytes: state)))
                ON CONFLICT (name) DO UPDATE SET position = excluded.position, state = excluded.state
                """,
                logger: logger
            )
        }
    }

    /// Runs a read on the read connection.
    private func read<Result: Sendable>(
        _ body: @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws(PostgresStoreError) -> Result {
        try await run(on: reader, body)
    }

    /// Runs a request that is not a commit on `slot`'s connection, mapping its errors; a
    /// connection lost meanwhile is dropped, so the next request opens a new one.
    private func run<Result: Sendable>(
        on slot: ConnectionSlot, _ body: @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws(PostgresStoreError) -> Result {
        let connection: PostgresConnection
        do {
            connection = try await slot.connection()
        } catch {
            throw PostgresStoreError(error, committing: false)
        }
        do {
            return try await connection.closing(within: settings.requestTimeout) { try await body(connection, logger) }
        } catch {
            let failure = PostgresStoreError(error, committing: false)
            if case .unavailable = failure { await slot.discard(connection) }
            throw failure
        }
    }

    private static func chains(_ rows: PostgresRowSequence) async throws -> [CommittedChain] {
        var chains: [CommittedChain] = []
        for try await row in rows {
            chains.append(try ChainColumns.chain(from: row))
        }
        return chains
    }

    /// The error for a commit the primary key refused: the chains of the batch whose aggregate
    /// already holds their first version.
    private func staleChains(in chains: [CommittedChain], error: PSQLError) async -> PostgresStoreError {
        let columns = ChainColumns(chains)
        do {
            let stale = try await read { connection, logger in
                var stale: [StaleChain] = []
                let rows = try await connection.queryWhileOpen(
                    """
                    SELECT c.model, c.aggregate_id, c.first_version FROM sourced.chains c
                    JOIN unnest(\(columns.models)::text[], \(columns.ids)::text[], \(columns.firstVersions)::int8[]) AS k(model, aggregate_id, first_version)
                    ON c.model = k.model AND c.aggregate_id = k.aggregate_id AND c.first_version = k.first_version
                    """,
                    logger: logger
                )
                for try await (model, id, version) in rows.decode((String, String, Int64).self) {
                    stale.append(StaleChain(key: AggregateKey(model: model, id: try AggregateID(id)), firstVersion: UInt64(version)))
                }
                return stale
            }
            if !stale.isEmpty { return .stale(stale) }
        } catch {
            logger.warning("cannot tell which chains of a refused commit are stale", metadata: ["error": "\(error)"])
        }
        return PostgresStoreError(error, committing: true)
    }
}
