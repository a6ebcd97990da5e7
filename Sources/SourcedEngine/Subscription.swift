import SourcedCore
import SourcedStorage
import Synchronization

/// A stream of committed chains in global order: first those already in the global log after the
/// starting position (catch-up), then those committed from now on (live), with no gap and no
/// duplicate at the switch.
///
/// Catch-up reads the log in bounded chunks; the switch to live happens only when the reader has
/// read up to the newest durable position, atomically with registering for what follows. A live
/// subscriber that falls more than its buffer behind is ended with
/// ``SubscriptionError/fellBehind(resumeFrom:)``.
public final class Subscription: Sendable {
    private enum Phase {
        case catchingUp
        case live(FeedSubscriber)
        case ended
    }

    private struct State {
        var phase = Phase.catchingUp
        /// The last position handed out (or passed over by the filter).
        var position: UInt64
        var pending: [CommittedChain] = []

        /// Queues chains for ``next()``, unless the subscription was cancelled meanwhile.
        mutating func deliver(_ chains: [CommittedChain]) {
            if case .ended = phase { return }
            pending = chains
        }
    }

    private let store: any ChainStore
    private let limit: Int
    /// Whether a client's `subscribe` made it (counted in `stats`), not an in-process handler.
    private let isClient: Bool
    private let filter: @Sendable (CommittedChain) -> Bool
    private let state: Mutex<State>

    init(
        after position: UInt64, store: any ChainStore, limit: Int, client: Bool,
        filter: @escaping @Sendable (CommittedChain) -> Bool
    ) {
        self.store = store
        self.limit = limit
        isClient = client
        self.filter = filter
        state = Mutex(State(position: position))
    }

    /// The last position delivered or skipped: where a new subscription resumes.
    public var position: UInt64 {
        state.withLock { $0.position }
    }

    /// The next chain that passes the filter; `nil` once ``cancel()`` was called.
    /// - Throws: ``SubscriptionError``.
    public func next() async throws -> CommittedChain? {
        try await nextChains(maximum: 1)?.first
    }

    /// The next chains that pass the filter, at least one and at most `maximum`, as many as are
    /// read or committed already: a reader that handles chains in batches pays one wait per
    /// batch. `nil` once ``cancel()`` was called.
    /// - Throws: ``SubscriptionError``.
    public func nextChains(maximum: Int) async throws -> [CommittedChain]? {
        while true {
            let (chains, phase) = state.withLock { state -> ([CommittedChain], Phase) in
                guard let last = state.pending.prefix(maximum).last else { return ([], state.phase) }
                let taken = Array(state.pending.prefix(maximum))
                state.pending.removeFirst(taken.count)
                state.position = last.position
                return (taken, state.phase)
            }
            if !chains.isEmpty {
                let passed = chains.filter(filter)
                if !passed.isEmpty { return passed }
                continue
            }
            switch phase {
            case .ended:
                return nil
            case .catchingUp:
                try await catchUp()
            case .live(let subscriber):
                switch await subscriber.take() {
                case .chains(let chains):
                    state.withLock { $0.deliver(chains) }
                case .fellBehind:
                    end()
                    throw SubscriptionError.fellBehind(resumeFrom: position, limit: limit)
                case .finished:
                    end()
                }
            }
        }
    }

    /// Ends the subscription; a waiting ``next()`` returns `nil`.
    public func cancel() {
        end()
    }

    /// Reads the next chunk of the log, or switches to live when there is nothing left to read.
    private func catchUp() async throws {
        let position = self.position
        if store.lastPosition == position {
            if let subscriber = store.feed.register(after: position, limit: limit, client: isClient) {
                let cancelled = state.withLock { state in
                    if case .ended = state.phase { return true }
                    state.phase = .live(subscriber)
                    return false
                }
                if cancelled { store.feed.remove(subscriber) }
            }
            return
        }
        do {
            let chains = try await store.readGlobalChains(after: position)
            state.withLock { $0.deliver(chains) }
        } catch StorageError.positionDropped(let earliest) {
            end()
            throw SubscriptionError.positionDropped(earliest: earliest)
        }
    }

    private func end() {
        let subscriber = state.withLock { state -> FeedSubscriber? in
            defer { state.phase = .ended; state.pending = [] }
            if case .live(let subscriber) = state.phase { return subscriber }
            return nil
        }
        if let subscriber { store.feed.remove(subscriber) }
    }
}

/// Why a subscription ended.
public enum SubscriptionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The subscriber read more slowly than chains were committed and more than `limit` chains
    /// waited for it. Subscribe again from `resumeFrom` to continue without a gap.
    case fellBehind(resumeFrom: UInt64, limit: Int)
    /// The chains after the subscription's position were dropped by retention; the global log
    /// begins at `earliest`.
    case positionDropped(earliest: UInt64)

    public var description: String {
        switch self {
        case .fellBehind(let position, let limit):
            "fell behind by more than \(limit) chains; subscribe again with \"from\": \(position) to resume"
        case .positionDropped(let earliest):
            "the global log no longer holds the positions asked for: retention dropped them; the earliest position left is \(earliest) (subscribe with \"from\": \(earliest - 1) or later)"
        }
    }
}
