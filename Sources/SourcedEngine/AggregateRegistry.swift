import DequeModule
import SourcedCore
import Synchronization

/// The live aggregates: at most one instance per key, at most `capacity` in all.
///
/// A caller *acquires* an instance for the duration of a request and *releases* it after. An
/// acquired instance is never evicted, and an evicted one is never handed out again, because both
/// happen under one lock: so there are never two instances of one aggregate, not even while one is
/// being evicted. Released instances are kept in LRU order; when a new one is needed at capacity,
/// the least recently used idle one is evicted. If every instance is busy, the request waits, in
/// arrival order, for one to become idle. ``evictIdle(olderThan:)`` drops instances idle too long.
final class AggregateRegistry: Sendable {
    private struct Entry {
        var instance: any LiveAggregate
        var users: Int
        var lastUsed: ContinuousClock.Instant
    }

    private struct Waiter {
        var key: AggregateKey
        var make: @Sendable () -> any LiveAggregate
        var continuation: CheckedContinuation<any LiveAggregate, Never>
    }

    private struct State {
        var entries: [AggregateKey: Entry] = [:]
        var idle = LRUOrder<AggregateKey>()
        var waiters = Deque<Waiter>()

        /// Hands out `key`'s instance, creating it (and evicting an idle one) if needed and possible.
        mutating func acquire(
            _ key: AggregateKey,
            capacity: Int,
            counters: EngineCounters,
            make: () -> any LiveAggregate
        ) -> (any LiveAggregate)? {
            if let index = entries.index(forKey: key) {
                entries.values[index].users += 1
                if entries.values[index].users == 1 {
                    idle.remove(key)
                }
                counters.hits.increment()
                return entries.values[index].instance
            }
            if entries.count >= capacity {
                guard let victim = idle.popLeastRecent() else { return nil }
                entries.removeValue(forKey: victim)
                counters.evictions.increment()
            }
            counters.misses.increment()
            let instance = make()
            entries[key] = Entry(instance: instance, users: 1, lastUsed: .now)
            return instance
        }
    }

    let capacity: Int
    private let counters: EngineCounters
    private let state = Mutex(State())

    init(capacity: Int, counters: EngineCounters) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.counters = counters
    }

    /// Instances in memory now, busy or idle.
    var count: Int {
        state.withLock { $0.entries.count }
    }

    /// Returns `key`'s instance, made by `make` if it is not live. Waits while the registry is at
    /// capacity with every instance busy. Balance with ``release(_:)``.
    func acquire(_ key: AggregateKey, make: @escaping @Sendable () -> any LiveAggregate) async -> any LiveAggregate {
        if let instance = state.withLock({ $0.acquire(key, capacity: capacity, counters: counters, make: make) }) {
            return instance
        }
        return await withCheckedContinuation { continuation in
            let instance = state.withLock { state -> (any LiveAggregate)? in
                if let instance = state.acquire(key, capacity: capacity, counters: counters, make: make) {
                    return instance
                }
                state.waiters.append(Waiter(key: key, make: make, continuation: continuation))
                return nil
            }
            if let instance {
                continuation.resume(returning: instance)
            }
        }
    }

    /// Ends one use of `key`'s instance; it becomes evictable when no one uses it.
    func release(_ key: AggregateKey) {
        let handOffs = state.withLock { state -> [(Waiter, any LiveAggregate)] in
            let index = state.entries.index(forKey: key)!
            state.entries.values[index].users -= 1
            guard state.entries.values[index].users == 0 else { return [] }
            state.entries.values[index].lastUsed = .now
            state.idle.touch(key)
            var handOffs: [(Waiter, any LiveAggregate)] = []
            while let waiter = state.waiters.first,
                  let instance = state.acquire(waiter.key, capacity: capacity, counters: counters, make: waiter.make)
            {
                state.waiters.removeFirst()
                handOffs.append((waiter, instance))
            }
            return handOffs
        }
        for (waiter, instance) in handOffs {
            waiter.continuation.resume(returning: instance)
        }
    }

    /// Evicts every instance idle for at least `timeout`.
    func evictIdle(olderThan timeout: Duration) {
        let deadline = ContinuousClock.now - timeout
        state.withLock { state in
            while let oldest = state.idle.leastRecent, state.entries[oldest]!.lastUsed <= deadline {
                state.idle.remove(oldest)
                state.entries.removeValue(forKey: oldest)
                counters.evictions.increment()
            }
        }
    }
}
