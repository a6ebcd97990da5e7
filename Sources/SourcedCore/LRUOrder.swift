/// Keys in least-recently-used order, with O(1) insert, remove and pop.
///
/// Caches in Sourced keep only their *idle* entries here: an entry in use is removed and put back
/// as most recent when released, so the least recent key is always one that may be evicted.
public struct LRUOrder<Key: Hashable & Sendable>: Sendable {
    private struct Links: Sendable {
        var older: Key?
        var newer: Key?
    }

    private var links: [Key: Links] = [:]
    private var oldest: Key?
    private var newest: Key?

    public init() {}

    public var count: Int { links.count }
    public var isEmpty: Bool { links.isEmpty }

    /// The least recently used key.
    public var leastRecent: Key? { oldest }

    public func contains(_ key: Key) -> Bool {
        links[key] != nil
    }

    /// Makes `key` the most recent, inserting it if absent.
    public mutating func touch(_ key: Key) {
        remove(key)
        links[key] = Links(older: newest, newer: nil)
        if let newest { links[newest]!.newer = key } else { oldest = key }
        newest = key
    }

    /// Removes `key`; returns whether it was present.
    @discardableResult
    public mutating func remove(_ key: Key) -> Bool {
        guard let entry = links.removeValue(forKey: key) else { return false }
        if let older = entry.older { links[older]!.newer = entry.newer } else { oldest = entry.newer }
        if let newer = entry.newer { links[newer]!.older = entry.older } else { newest = entry.older }
        return true
    }

    /// Removes and returns the least recently used key.
    public mutating func popLeastRecent() -> Key? {
        guard let key = oldest else { return nil }
        remove(key)
        return key
    }
}
