import Logging
import NIOCore
import PostgresNIO

/// One connection to the server, opened on first use and opened again on the next use after it
/// was lost: what a store keeps per role (commits, reads), so that requests of one role run in
/// order on one backend.
///
/// Each opening tries every host of the settings again, in order, with the
/// `target_session_attrs` check (``PostgresConnectionSettings/connect(eventLoopGroup:logger:role:)``):
/// once the connection to a failed primary is lost, the next call finds the promoted standby.
/// Callers that arrive while a connection is being opened share that attempt; a failed attempt is
/// not remembered, so the call after it tries again.
actor ConnectionSlot {
    private let settings: PostgresConnectionSettings
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let role: String
    private var current: PostgresConnection?
    private var opening: Task<PostgresConnection, any Error>?
    private var closed = false

    init(_ role: String, settings: PostgresConnectionSettings, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.role = role
        self.settings = settings
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// The open connection, opening one if there is none.
    /// - Throws: ``PostgresStoreError/cannotConnect(target:reason:)``, or
    ///   ``PostgresStoreError/unavailable(_:)`` once ``close()`` was called.
    func connection() async throws -> PostgresConnection {
        guard !closed else { throw PostgresStoreError.unavailable("the store is closed") }
        if let current, !current.isClosed { return current }
        current = nil
        let task = opening ?? Task { [settings, eventLoopGroup, logger, role] in
            try await settings.connect(eventLoopGroup: eventLoopGroup, logger: logger, role: role)
        }
        opening = task
        defer { if opening == task { opening = nil } }
        let connection = try await task.value
        guard !closed else {
            try? await connection.close()
            throw PostgresStoreError.unavailable("the store is closed")
        }
        current = connection
        return connection
    }

    /// Drops `connection` after a request on it failed for the connection's sake (lost, or the
    /// backend ended): the next request opens a new one even if postgres-nio has not yet marked
    /// this one closed.
    func discard(_ connection: PostgresConnection) async {
        guard current === connection else { return }
        current = nil
        try? await connection.close()
    }

    /// Closes the connection; later calls of ``connection()`` fail.
    func close() async {
        closed = true
        let connection = current
        current = nil
        try? await connection?.close()
    }

    /// What a connection error says, without the query.
    static func reason(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
        }
        return error.underlying.map { "\(error.code): \(reason($0))" } ?? "\(error.code)"
    }
}
