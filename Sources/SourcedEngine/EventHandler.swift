import SourcedStorage
import Synchronization

/// Reacts to committed events in process, after commit, in global order: the seed design's event
/// handler, for projections and read models.
///
/// A handler runs beside the command path, never in it: commands never wait for a handler or fail
/// because of one. It sees every committed chain at least once, in order. Its position and the
/// state it returns from ``save()`` are checkpointed together about once a second and at shutdown
/// (`handlers/<name>.state`); after a restart it is restored from that checkpoint and sees the
/// chains after it again, so chains since the last checkpoint may be handled twice.
public protocol EventHandler: Sendable {
    /// Names the handler in `stats` and its saved state: lowercase letters, digits, `-`, `_`.
    var name: String { get }

    /// Restores the state saved with the last checkpoint, or starts empty when `saved` is `nil`
    /// (no checkpoint: the handler is then fed every chain from position 1).
    func restore(_ saved: [UInt8]?) async throws

    /// Handles one committed chain. A throw is retried with backoff; after the last attempt the
    /// handler stops and `stats` reports it failed at that position.
    func handle(_ chain: CommittedChain) async throws

    /// The handler's state after every chain handled so far, to save with the checkpoint.
    func save() async throws -> [UInt8]
}

/// A handler's progress, as `stats` reports it.
public struct HandlerStatus: Hashable, Sendable {
    public var name: String
    /// The position of the last chain handled.
    public var position: UInt64
    /// Why the handler stopped, if it did.
    public var failure: String?
}

/// Feeds one handler from a subscription, retries, and checkpoints.
final class HandlerRunner: Sendable {
    static let attempts = 8

    let handler: any EventHandler
    private let store: any ChainStore
    private let progress: Mutex<HandlerStatus>
    /// The position of the handler's durable checkpoint: global segments up to it may be dropped.
    private let savedPosition = Mutex<UInt64>(0)
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// The subscription feeding the handler, and whether the runner is stopping.
    private let feed = Mutex<(subscription: Subscription?, stopping: Bool)>((nil, false))

    init(_ handler: any EventHandler, store: any ChainStore) {
        self.handler = handler
        self.store = store
        progress = Mutex(HandlerStatus(name: handler.name, position: 0, failure: nil))
    }

    var status: HandlerStatus {
        progress.withLock { $0 }
    }

    /// The position the handler's saved checkpoint records: it never needs chains up to there again.
    var saved: UInt64 {
        savedPosition.withLock { $0 }
    }

    /// Restores the handler and starts feeding it.
    func start() async throws {
        let saved = try await store.readHandlerState(handler.name)
        try await handler.restore(saved?.state)
        let position = min(saved?.position ?? 0, store.lastPosition)
        progress.withLock { $0.position = position }
        savedPosition.withLock { $0 = position }
        task.withLock { $0 = Task { await self.run(from: position) } }
    }

    /// Stops feeding the handler and saves its checkpoint. The task is not cancelled: the final
    /// checkpoint's I/O must still run.
    func stop() async {
        feed.withLock { feed in
            feed.stopping = true
            feed.subscription?.cancel()
        }
        await task.withLock { $0 }?.value
    }

    private func run(from start: UInt64) async {
        var position = start
        var saved = ContinuousClock.now
        while true {
            // A handler never falls behind for good: if it does, it catches up from the log.
            let subscription = Subscription(after: position, store: store, limit: 10_000, client: false) { _ in true }
            let stopping = feed.withLock { feed in
                feed.subscription = subscription
                return feed.stopping
            }
            if stopping { break }
            do {
                while let chain = try await subscription.next() {
                    try await handle(chain)
                    position = chain.position
                    progress.withLock { $0.position = position }
                    if ContinuousClock.now - saved >= .seconds(1) {
                        saved = .now
                        try await checkpoint(position)
                    }
                }
                break
            } catch SubscriptionError.fellBehind {
                continue
            } catch {
                progress.withLock { $0.failure = "\(error)" }
                subscription.cancel()
                return
            }
        }
        try? await checkpoint(position)
    }

    private func handle(_ chain: CommittedChain) async throws {
        var delay = Duration.milliseconds(10)
        for attempt in 1...Self.attempts {
            do {
                return try await handler.handle(chain)
            } catch where attempt < Self.attempts {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            } catch {
                throw HandlerFailed(position: chain.position, attempts: attempt, error: error)
            }
        }
    }

    private func checkpoint(_ position: UInt64) async throws {
        try await store.writeHandlerState(handler.name, position: position, state: try await handler.save())
        savedPosition.withLock { $0 = max($0, position) }
    }
}

/// A handler gave up on a chain.
struct HandlerFailed: Error, CustomStringConvertible {
    var position: UInt64
    var attempts: Int
    var error: any Error

    var description: String { "stopped at position \(position) after \(attempts) attempts: \(error)" }
}
