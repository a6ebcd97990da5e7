/// A shard's idle aggregates, least recently used first: an intrusive doubly linked list through
/// the aggregates themselves, so marking one busy or idle is O(1) and hashes nothing.
///
/// The links are `unowned(unsafe)`: the shard's dictionary owns every aggregate, and an
/// aggregate leaves this list before it leaves the dictionary.
struct IdleAggregates {
    private(set) unowned(unsafe) var oldest: LiveAggregate?
    private unowned(unsafe) var newest: LiveAggregate?

    var isEmpty: Bool { oldest == nil }

    /// Adds `aggregate` as the most recently used.
    mutating func append(_ aggregate: LiveAggregate) {
        precondition(!aggregate.isIdle)
        aggregate.isIdle = true
        aggregate.older = newest
        aggregate.newer = nil
        if let newest { newest.newer = aggregate } else { oldest = aggregate }
        newest = aggregate
    }

    /// Takes `aggregate` out of the list, if it is in it.
    mutating func remove(_ aggregate: LiveAggregate) {
        guard aggregate.isIdle else { return }
        aggregate.isIdle = false
        if let older = aggregate.older { older.newer = aggregate.newer } else { oldest = aggregate.newer }
        if let newer = aggregate.newer { newer.older = aggregate.older } else { newest = aggregate.older }
        aggregate.older = nil
        aggregate.newer = nil
    }

    /// Takes the least recently used aggregate out of the list.
    mutating func popOldest() -> LiveAggregate? {
        guard let oldest else { return nil }
        remove(oldest)
        return oldest
    }
}
