import NIOCore
import SourcedCore
import SourcedStorage

/// What a shard knows of every aggregate it holds, whatever its model.
///
/// Owned by its shard's event loop: read and written only there, without locks.
class LiveAggregate {
    enum Phase {
        case unloaded
        case loading
        case ready
        /// Loading found corruption; the aggregate answers this error until it is evicted.
        case broken(EngineError)
    }

    let key: AggregateKey
    var phase = Phase.unloaded
    /// Requests using the aggregate now: admitted and not yet answered. Only an aggregate with
    /// none is idle, and only an idle one is evicted.
    var users = 0
    /// Chains decided and handed to the commit thread, not yet answered by it.
    var inFlight = 0
    /// The shard's batch its newest decided chain went into (``Shard``'s count of batches sent).
    var batch: UInt64 = 0
    /// At a shared store, commands waiting for the aggregate's chains at the store to be answered
    /// before they are decided, in arrival order (``ChainStore/isShared``).
    var heldForCommit: [() -> Void] = []
    /// When the last user left.
    var lastUsed = NIODeadline.now()
    /// Requests waiting for the aggregate to load, in arrival order; called with the load's error.
    var waiting: [(EngineError?) -> Void] = []
    /// The length of the log as the commits answered so far left it.
    var durableLength = 0
    /// The length of the log after every decided chain: where the next chain's record goes.
    var logEnd = 0
    /// Where the last durable record starts, and its global position: what a snapshot of the
    /// durable state names.
    var durableRecordOffset = 0
    var durablePosition: UInt64 = 0
    /// The version of the newest snapshot written or being written, 0 if none is known.
    var snapshotVersion: UInt64 = 0
    /// The version from which the next periodic snapshot is due.
    var nextSnapshot = UInt64.max
    /// The command ids last accepted, decided chains included; set by the load.
    var commands = CommandWindow(capacity: 0)
    /// The estimate of its memory beyond ``overhead``: the encoded size of the state when last
    /// measured (by a load from a snapshot, or a snapshot written), and the bytes of the events
    /// folded in since (recorded or replayed).
    var stateBytes = 0
    var eventBytes = 0
    /// Set when a reload changed or removed its model while it was in use: it is dropped, without
    /// a snapshot, as soon as its last user leaves, and is never used again.
    var retired = false
    /// The requests that came for a retired aggregate, in arrival order: run again once it is
    /// dropped, so that they load the aggregate afresh under the program now served.
    var afterRetirement: [() -> Void] = []
    /// Whether the aggregate is in its shard's ``IdleAggregates``, and its neighbours there.
    var isIdle = false
    unowned(unsafe) var older: LiveAggregate?
    unowned(unsafe) var newer: LiveAggregate?

    /// The memory of a live aggregate besides its state, as the memory estimate counts it: the
    /// RSS growth measured per live idle counter (636 bytes, `docs/performance.md`) rounded up for
    /// the fields added since.
    static let overhead = 700

    /// The estimate of the memory it takes.
    var memoryEstimate: Int { Self.overhead + stateBytes + eventBytes }

    init(key: AggregateKey) {
        self.key = key
    }

    /// The version after every chain decided on it, durable or not: 0 until loaded.
    var headVersion: UInt64 { 0 }

    /// Set when a shared store reported another writer's chain while the aggregate was loading
    /// or had chains at the store: it catches up once those are answered (``Shard``).
    var behind = false

    /// The durable version, and how to build a snapshot of it on another thread; `nil` for an
    /// aggregate never created.
    func durableSnapshot() -> (version: UInt64, make: @Sendable () throws -> SnapshotFile)? {
        nil
    }

    /// Forgets every decided chain that is not durable and marks the aggregate for a reload from
    /// disk once nothing of it is in flight. Calls nothing back: see ``failWaitingReads(_:)``.
    func forgetUndurable() {
        logEnd = durableLength
        phase = .unloaded
    }

    /// Fails the reads waiting for chains that were forgotten.
    func failWaitingReads(_ error: EngineError) {}
}
