import Logging
import NIOCore
import NIOPosix
import PostgresNIO

extension PostgresConnectionSettings {
    /// Opens a connection to the first of ``hosts``, in order, that accepts one within
    /// ``connectTimeout`` and has the ``targetSessionAttributes``; with `prefer-standby`, the first
    /// standby, else the first server that answered.
    ///
    /// Every call tries the hosts afresh, from the first: a caller that opens a new connection
    /// after losing one finds a standby promoted meanwhile. A host that answers but does not
    /// qualify is disconnected before the next is tried. The timeout covers each host's connect,
    /// authentication and check.
    /// - Parameter role: what the connection is for (`commits`, `reads`, `commit listener`), for
    ///   the error and the logs.
    /// - Throws: ``PostgresStoreError/cannotConnect(target:reason:)`` naming every host tried and
    ///   why it was not used (not reachable, authentication failed, read-only, a standby, ...).
    public func connect(
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        role: String
    ) async throws(PostgresStoreError) -> PostgresConnection {
        var failures: [String] = []
        /// The first server that answered, kept for `prefer-standby` in case no standby does.
        var fallback: PostgresConnection?
        for server in hosts {
            do {
                let (connection, refusal) = try await open(server, eventLoopGroup: eventLoopGroup, logger: logger)
                guard let refusal else {
                    try? await fallback?.close()
                    return connection
                }
                if targetSessionAttributes == .preferStandby, fallback == nil {
                    fallback = connection
                } else {
                    try? await connection.close()
                }
                failures.append("\(server): \(refusal)")
            } catch {
                failures.append("\(server): \(ConnectionSlot.reason(error))")
            }
        }
        if let fallback { return fallback }
        let because = targetSessionAttributes == .any ? "" : " (target_session_attrs=\(targetSessionAttributes.rawValue))"
        logger.warning("no PostgreSQL host qualifies", metadata: ["role": "\(role)", "hosts": "\(failures.joined(separator: "; "))"])
        throw .cannotConnect(target: "\(self) (\(role))\(because)", reason: failures.joined(separator: "; "))
    }

    /// A connection to `server`, and why it does not have the target attributes (`nil` if it
    /// has them). The check query is bounded by what is left of ``connectTimeout``: past it the
    /// connection is closed, which fails the query.
    private func open(
        _ server: PostgresHost, eventLoopGroup: any EventLoopGroup, logger: Logger
    ) async throws -> (PostgresConnection, refusal: String?) {
        let started = ContinuousClock.now
        let connection = try await PostgresConnection.connect(
            on: eventLoopGroup.any(), configuration: configuration(for: server), id: ConnectionIDs.shared.next(), logger: logger
        )
        guard targetSessionAttributes.needsCheck else { return (connection, nil) }
        do {
            return try await connection.closing(within: connectTimeout - (ContinuousClock.now - started)) {
                let rows = try await connection.queryWhileOpen(
                    "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'", logger: logger
                )
                for try await (inRecovery, readOnly) in rows.decode((Bool, Bool).self) {
                    return (connection, targetSessionAttributes.refusal(inRecovery: inRecovery, readOnly: readOnly))
                }
                throw ConnectionAttemptFailure(reason: "answered the session check with no row")
            }
        } catch is RequestTimedOut {
            try? await connection.close()
            throw ConnectionAttemptFailure(reason: "no answer to the session check within connect_timeout \(connectTimeout)")
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
