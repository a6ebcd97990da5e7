import DequeModule
import SourcedCore
import SourcedStorage
import Synchronization

/// Hands durable chains to live subscribers, in position order, without ever waiting for them.
///
/// Publishing appends to each subscriber's bounded buffer under a lock and returns; a subscriber
/// whose buffer would exceed its limit is marked as fallen behind and its buffer dropped, so a
/// slow subscriber costs writers nothing and holds bounded memory.
final class CommitFeed: Sendable {
    private struct State {
        var last: UInt64
        var subscribers: [ObjectIdentifier: FeedSubscriber] = [:]
        var closed = false
        /// Readers waiting for the feed to reach a position (``waitUntilPublished(_:)``).
        var waiting: [(position: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    init(last: UInt64) {
        state = Mutex(State(last: last))
    }

    /// How many clients' subscriptions are live (in-process handlers are not counted).
    var subscriberCount: Int {
        state.withLock { $0.subscribers.values.count(where: \.isClient) }
    }

    /// The position of the last published chain.
    var lastPosition: UInt64 {
        state.withLock { $0.last }
    }

    /// Delivers `chains`, whose positions follow the last published one.
    func publish(_ chains: [CommittedChain]) {
        guard let newest = chains.last?.position else { return }
        let (subscribers, reached) = state.withLock { state in
            state.last = newest
            let reached = state.waiting.filter { $0.position <= newest }
            state.waiting.removeAll { $0.position <= newest }
            return (Array(state.subscribers.values), reached)
        }
        // Delivery order per subscriber matches publication order: publish is only called by one
        // publisher at a time, one batch after the other.
        subscribers.forEach { $0.deliver(chains) }
        reached.forEach { $0.continuation.resume() }
    }

    /// Returns once chains up to `position` are published, or the feed is closed.
    func waitUntilPublished(_ position: UInt64) async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                guard state.last < position, !state.closed else { return true }
                state.waiting.append((position, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Registers a subscriber for chains after `position`, if `position` is the last published
    /// one; otherwise returns `nil` and the caller reads on from the log first.
    func register(after position: UInt64, limit: Int, client: Bool) -> FeedSubscriber? {
        state.withLock { state in
            guard state.last == position else { return nil }
            let subscriber = FeedSubscriber(limit: limit, client: client)
            if state.closed {
                subscriber.finish()
                return subscriber
            }
            state.subscribers[ObjectIdentifier(subscriber)] = subscriber
            return subscriber
        }
    }

    /// Ends every subscriber and refuses new ones: the engine is shutting down.
    func close() {
        let (subscribers, waiting) = state.withLock { state in
            state.closed = true
            defer {
                state.subscribers = [:]
                state.waiting = []
            }
            return (Array(state.subscribers.values), state.waiting)
        }
        subscribers.forEach { $0.finish() }
        waiting.forEach { $0.continuation.resume() }
    }

    func remove(_ subscriber: FeedSubscriber) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: ObjectIdentifier(subscriber)) }
        subscriber.finish()
    }
}

/// One live subscriber's bounded buffer.
final class FeedSubscriber: Sendable {
    enum Take {
        case chains([CommittedChain])
        case fellBehind
        case finished
    }

    private struct State {
        var buffer = Deque<CommittedChain>()
        var fellBehind = false
        var finished = false
        var waiter: CheckedContinuation<Take, Never>?
    }

    private let limit: Int
    private let state = Mutex(State())

    /// Whether a client subscribed (`subscribe`), not an in-process handler.
    let isClient: Bool

    init(limit: Int, client: Bool) {
        self.limit = limit
        isClient = client
    }

    func deliver(_ chains: [CommittedChain]) {
        let (waiter, take) = state.withLock { state -> (CheckedContinuation<Take, Never>?, Take?) in
            guard !state.fellBehind, !state.finished else { return (nil, nil) }
            if let waiter = state.waiter {
                // A waiting subscriber has caught up: it takes the whole batch, however large.
                state.waiter = nil
                return (waiter, .chains(chains))
            }
            // An empty buffer takes a whole batch, however large: its subscriber is one batch behind.
            guard state.buffer.isEmpty || state.buffer.count + chains.count <= limit else {
                state.fellBehind = true
                state.buffer = []
                return (nil, nil)
            }
            state.buffer.append(contentsOf: chains)
            return (nil, nil)
        }
        if let waiter, let take { waiter.resume(returning: take) }
    }

    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Take, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: .finished)
    }

    /// The chains delivered since the last take, waiting for some.
    func take() async -> Take {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Take? in
                if state.fellBehind { return .fellBehind }
                if !state.buffer.isEmpty {
                    defer { state.buffer = [] }
                    return .chains(Array(state.buffer))
                }
                if state.finished { return .finished }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
