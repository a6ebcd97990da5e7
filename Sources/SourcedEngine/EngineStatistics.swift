import Synchronization

/// Figures an operator watches: cache behaviour, work done, storage activity.
public struct EngineStatistics: Hashable, Sendable {
    /// Aggregates in memory now.
    public var liveAggregates: Int
    /// The most aggregates kept in memory.
    public var capacity: Int
    /// Requests that found their aggregate in memory.
    public var hits: Int
    /// Requests that had to create an instance (and so load the log).
    public var misses: Int
    /// Logs read to rebuild an aggregate.
    public var loads: Int
    /// Instances dropped from memory, for capacity, memory or idleness.
    public var evictions: Int
    /// The estimated memory of the live aggregates, in bytes (``Engine/Configuration/maximumMemory``
    /// says what it counts).
    public var aggregateMemory: Int
    /// The bound on ``aggregateMemory``, `nil` if none.
    public var memoryBudget: Int?
    /// Snapshots written since the engine started.
    public var snapshots: Int
    /// Command chains committed.
    public var commands: Int
    /// Command chains the model rejected.
    public var rejections: Int
    /// Command chains decided again because a shared store (PostgreSQL) found that another
    /// daemon had appended to their aggregate first; 0 on the local logs.
    public var staleRetries: Int = 0
    /// Events committed.
    public var events: Int
    /// Group commits made: each one write and one sync of the global log for every chain
    /// decided meanwhile, so `commands / groupCommits` is the chains a sync carried on average.
    public var groupCommits: Int
    /// `fdatasync`/`fsync` calls made.
    public var syncs: Int
    /// Log files open now.
    public var openFiles: Int
    /// Live subscriptions.
    public var subscribers: Int
    /// The global position of the newest committed chain.
    public var position: UInt64
    /// The in-process event handlers' progress.
    public var handlers: [HandlerStatus]
}

/// The engine's running counters, shared by its shards without locks, and whether it admits
/// requests.
final class EngineCounters: Sendable {
    /// Aggregates in memory, in all shards.
    let live = Atomic<Int>(0)
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)
    let loads = Atomic<Int>(0)
    let evictions = Atomic<Int>(0)
    /// The estimated memory of the live aggregates, in all shards.
    let memory = Atomic<Int>(0)
    let commands = Atomic<Int>(0)
    let rejections = Atomic<Int>(0)
    let staleRetries = Atomic<Int>(0)
    let events = Atomic<Int>(0)
    private let open = Atomic<Bool>(true)

    /// Whether new requests are admitted.
    var accepting: Bool {
        open.load(ordering: .relaxed)
    }

    /// Admits no more requests; returns whether it was the first call.
    func stopAccepting() -> Bool {
        open.exchange(false, ordering: .relaxed)
    }
}

extension Atomic where Value == Int {
    func increment(by amount: Int = 1) {
        add(amount, ordering: .relaxed)
    }

    var current: Int {
        load(ordering: .relaxed)
    }
}
