import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SourcedCore
import Synchronization

/// Wakes readers of the global stream when chains are committed, through PostgreSQL's
/// `LISTEN sourced_commits` on a connection of its own: every commit notifies the channel in its
/// transaction with its last position (``PostgresEventStore/commit(_:)``), so a reader that has
/// read up to a position waits for a newer one instead of polling.
///
/// No commit is missed between start and the first notification: the listener reads the newest
/// position only once `LISTEN` is in effect. Notifications arrive in commit order; a wake-up says
/// only that positions up to the one returned are committed, the reader then reads them.
public final class PostgresCommitListener: Sendable {
    private struct Waiter {
        var after: UInt64
        var continuation: CheckedContinuation<UInt64, any Error>
    }

    private struct State {
        var newest: UInt64 = 0
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        /// Set once listening ended: every wait fails with it.
        var failure: PostgresStoreError?
    }

    private let state = Mutex(State())
    private let connection: PostgresConnection
    private let task = Mutex<Task<Void, Never>?>(nil)

    private init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Connects and starts listening; returns once `LISTEN` is in effect and the newest position read.
    /// - Throws: ``PostgresStoreError/cannotConnect(target:reason:)`` or ``PostgresStoreError/unavailable(_:)``.
    public static func start(
        _ settings: PostgresConnectionSettings,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "sourced.postgres")
    ) async throws(PostgresStoreError) -> PostgresCommitListener {
        let connection = try await settings.connect(eventLoopGroup: eventLoopGroup, logger: logger, role: "commit listener")
        let listener = PostgresCommitListener(connection: connection)
        do {
            // LISTEN and the first read are a request like any other: bounded, and ended by a close.
            let started = Latch<Result<Void, any Error>>()
            listener.task.withLock { $0 = Task { await listener.listen(timeout: settings.requestTimeout, logger: logger, started: started) } }
            connection.closeFuture.whenComplete { _ in started.fire(.failure(ConnectionClosed())) }
            try await connection.closing(within: settings.requestTimeout) { try await started.wait().get() }
        } catch {
            await listener.close()
            throw PostgresStoreError(error, committing: false)
        }
        return listener
    }

    /// The newest committed position the listener knows of.
    public var newestPosition: UInt64 {
        state.withLock { $0.newest }
    }

    /// How many readers are waiting for a commit.
    public var waitingReaders: Int {
        state.withLock { $0.waiters.count }
    }

    /// Returns the newest committed position once it is beyond `position`: at once if it is already.
    /// - Throws: ``PostgresStoreError/listenerLost(_:)`` once listening ended, `CancellationError`
    ///   if the waiting task is cancelled.
    public func wait(after position: UInt64) async throws -> UInt64 {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let resume: Result<UInt64, any Error>? = state.withLock { state in
                    if let failure = state.failure { return .failure(failure) }
                    if state.newest > position { return .success(state.newest) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = Waiter(after: position, continuation: continuation)
                    return nil
                }
                if let resume { continuation.resume(with: resume) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Stops listening and closes the connection; waiting readers get ``PostgresStoreError/listenerLost(_:)``.
    public func close() async {
        try? await connection.close()
        await task.withLock { $0 }?.value
    }

    /// Listens until the connection ends. A server that goes silent without closing the
    /// connection would look like one without commits: the connection is checked every
    /// ``checkInterval(_:)`` and closed if a check is not answered within `timeout`.
    private func listen(timeout: Duration, logger: Logger, started: Latch<Result<Void, any Error>>) async {
        let reason: String
        do {
            try await connection.listen(on: PostgresSchema.commitChannel) { notifications in
                let rows = try await connection.queryWhileOpen("SELECT last FROM sourced.position_counter", logger: logger)
                for try await last in rows.decode(Int64.self) {
                    publish(UInt64(last))
                }
                started.fire(.success(()))
                let checks = Task { [connection] in
                    while true {
                        try await Task.sleep(for: Self.checkInterval(timeout))
                        do {
                            try await connection.closing(within: timeout) { try await connection.queryWhileOpen("SELECT 1", logger: logger) }
                        } catch is CancellationError {
                            throw CancellationError()
                        } catch {
                            // Whatever failed the check, the feed starts again on a new connection.
                            try? await connection.close()
                            throw error
                        }
                    }
                }
                do {
                    for try await notification in notifications {
                        guard let position = UInt64(notification.payload) else {
                            logger.warning("ignored a notification that names no position", metadata: ["payload": "\(notification.payload)"])
                            continue
                        }
                        publish(position)
                    }
                } catch {
                    // A check that went unanswered closed the connection: that is why it ended.
                    checks.cancel()
                    if case .failure(let timedOut as RequestTimedOut) = await checks.result { throw timedOut }
                    throw error
                }
                checks.cancel()
            }
            reason = "the connection ended"
        } catch {
            reason = ConnectionSlot.reason(error)
        }
        let failure = PostgresStoreError.listenerLost(reason)
        started.fire(.failure(failure))
        let waiters = state.withLock { state in
            state.failure = failure
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: failure)
        }
    }

    /// How often the listening connection is checked: every 10 s, or every `timeout` if shorter.
    static func checkInterval(_ timeout: Duration) -> Duration {
        min(timeout, .seconds(10))
    }

    /// Records that positions up to `position` are committed and wakes the readers waiting for them.
    private func publish(_ position: UInt64) {
        let woken = state.withLock { state -> [Waiter] in
            guard position > state.newest else { return [] }
            state.newest = position
            let woken = state.waiters.filter { $0.value.after < position }
            for id in woken.keys {
                state.waiters.removeValue(forKey: id)
            }
            return Array(woken.values)
        }
        for waiter in woken {
            waiter.continuation.resume(returning: position)
        }
    }
}
