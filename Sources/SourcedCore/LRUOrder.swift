/// Keys in least-recently-used order, with O(1) insert, remove and pop.
///
/// Caches in Sourced keep only their *idle* entries here: an entry in use is removed and put back
/// as most recent when released, so the least recent key is always one that may be evicted.
///
/// Every operation hashes its key once: the order is a doubly linked list of slots in one array,
/// and the dictionary maps a key to its slot. The type is `@inlinable` so that the registry and the
/// file-descriptor cache get code specialized for their key instead of generic value witnesses,
/// which showed in profiles of the request path.
public struct LRUOrder<Key: Hashable & Sendable>: Sendable {
    @usableFromInline
    struct Node: Sendable {
        @usableFromInline var key: Key?
        @usableFromInline var older: Int
        @usableFromInline var newer: Int

        @inlinable
        init(key: Key?, older: Int, newer: Int) {
            self.key = key
            self.older = older
            self.newer = newer
        }
    }

    /// Marks the end of the list.
    @usableFromInline static var none: Int { -1 }

    @usableFromInline var slots: [Key: Int] = [:]
    @usableFromInline var nodes: [Node] = []
    /// Slots of removed keys, reused before the array grows.
    @usableFromInline var free: [Int] = []
    @usableFromInline var oldest = LRUOrder.none
    @usableFromInline var newest = LRUOrder.none

    @inlinable
    public init() {}

    @inlinable
    public var count: Int { slots.count }

    @inlinable
    public var isEmpty: Bool { slots.isEmpty }

    /// The least recently used key.
    @inlinable
    public var leastRecent: Key? {
        oldest == Self.none ? nil : nodes[oldest].key
    }

    @inlinable
    public func contains(_ key: Key) -> Bool {
        slots[key] != nil
    }

    /// Makes `key` the most recent, inserting it if absent.
    @inlinable
    public mutating func touch(_ key: Key) {
        if let slot = slots[key] {
            guard slot != newest else { return }
            unlink(slot)
            link(slot)
            return
        }
        let slot: Int
        if let reused = free.popLast() {
            slot = reused
            nodes[slot].key = key
        } else {
            slot = nodes.count
            nodes.append(Node(key: key, older: Self.none, newer: Self.none))
        }
        slots[key] = slot
        link(slot)
    }

    /// Removes `key`; returns whether it was present.
    @discardableResult
    @inlinable
    public mutating func remove(_ key: Key) -> Bool {
        guard let slot = slots.removeValue(forKey: key) else { return false }
        release(slot)
        return true
    }

    /// Removes and returns the least recently used key.
    @inlinable
    public mutating func popLeastRecent() -> Key? {
        guard oldest != Self.none, let key = nodes[oldest].key else { return nil }
        slots.removeValue(forKey: key)
        release(oldest)
        return key
    }

    /// Makes `slot` the newest.
    @inlinable
    mutating func link(_ slot: Int) {
        nodes[slot].older = newest
        nodes[slot].newer = Self.none
        if newest == Self.none { oldest = slot } else { nodes[newest].newer = slot }
        newest = slot
    }

    @inlinable
    mutating func unlink(_ slot: Int) {
        let older = nodes[slot].older
        let newer = nodes[slot].newer
        if older == Self.none { oldest = newer } else { nodes[older].newer = newer }
        if newer == Self.none { newest = older } else { nodes[newer].older = older }
    }

    @inlinable
    mutating func release(_ slot: Int) {
        unlink(slot)
        nodes[slot].key = nil
        free.append(slot)
    }
}
