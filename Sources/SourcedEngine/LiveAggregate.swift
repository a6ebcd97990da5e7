import NIOCore
import SourcedCore

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
    /// When the last user left.
    var lastUsed = NIODeadline.now()
    /// Requests waiting for the aggregate to load, in arrival order; called with the load's error.
    var waiting: [(EngineError?) -> Void] = []
    /// The length of the log as the commits answered so far left it.
    var durableLength = 0
    /// The length of the log after every decided chain: where the next chain's record goes.
    var logEnd = 0
    /// Whether the aggregate is in its shard's ``IdleAggregates``, and its neighbours there.
    var isIdle = false
    unowned(unsafe) var older: LiveAggregate?
    unowned(unsafe) var newer: LiveAggregate?

    init(key: AggregateKey) {
        self.key = key
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
