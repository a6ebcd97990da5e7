import Glibc
import SourcedCore
import Synchronization

/// Open log descriptors, bounded independently of how many aggregates are live.
///
/// A descriptor in use is *checked out* and never closed under its user; idle ones are kept in LRU
/// order and the oldest is closed when more than `capacity` are open. If every open descriptor is
/// in use the cache overshoots rather than block; that number is bounded by the I/O threads.
/// A log replaced by a new file (a repair renames one over it) is *retired*: its descriptor is
/// closed once its last user checks it in, and the next checkout opens the new file.
/// The cache is split into shards by key, each with its own lock and share of the capacity, so
/// the I/O threads rarely wait for one another. Called only from I/O and commit threads: opening a file blocks.
final class FileDescriptorCache: Sendable {
    private let shards: [Shard]

    init(capacity: Int) {
        precondition(capacity > 0)
        let count = min(16, capacity)
        shards = (0..<count).map { index in
            Shard(capacity: capacity / count + (index < capacity % count ? 1 : 0))
        }
    }

    /// Number of open descriptors.
    var openCount: Int {
        shards.reduce(0) { $0 + $1.openCount }
    }

    /// Runs `body` with `key`'s descriptor, opening it with `open` if it is not cached.
    ///
    /// `open` returns `nil` when the file does not exist; `body` then receives `nil` and nothing
    /// is cached.
    func withDescriptor<Result>(
        for key: AggregateKey,
        open: () throws -> Int32?,
        _ body: (Int32?) throws -> Result
    ) throws -> Result {
        guard let descriptor = try checkOut(key, open: open) else {
            return try body(nil)
        }
        defer { checkIn(key, descriptor) }
        return try body(descriptor)
    }

    /// Checks out `key`'s descriptor, opening it with `open` if it is not cached; `nil` if the
    /// file does not exist. Balance a non-nil result with ``checkIn(_:_:)``. For holding several
    /// at once; one at a time, use ``withDescriptor(for:open:_:)``.
    func checkOut(_ key: AggregateKey, open: () throws -> Int32?) throws -> Int32? {
        try shard(of: key).checkOut(key, open: open)
    }

    /// Ends one use of `descriptor`, checked out for `key`.
    func checkIn(_ key: AggregateKey, _ descriptor: Int32) {
        shard(of: key).checkIn(key, descriptor)
    }

    /// Forgets `key`'s cached descriptor because its file was replaced: it is closed at once if
    /// no one uses it, else when its last user checks it in. The next checkout opens the file anew.
    func retire(_ key: AggregateKey) {
        shard(of: key).retire(key)
    }

    private func shard(of key: AggregateKey) -> Shard {
        shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
    }
}

/// One lock's worth of the cache.
private final class Shard: Sendable {
    private struct Entry {
        var descriptor: Int32
        var users: Int
    }

    private struct State {
        var entries: [AggregateKey: Entry] = [:]
        var idle = LRUOrder<AggregateKey>()
        /// Retired descriptors still in use, and by how many.
        var retired: [Int32: Int] = [:]
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = capacity
    }

    deinit {
        state.withLock { state in
            state.entries.values.forEach { _ = close($0.descriptor) }
            state.retired.keys.forEach { _ = close($0) }
        }
    }

    var openCount: Int {
        state.withLock { $0.entries.count + $0.retired.count }
    }

    func checkOut(_ key: AggregateKey, open: () throws -> Int32?) throws -> Int32? {
        let cached: Int32? = state.withLock { state in
            guard var entry = state.entries[key] else { return nil }
            entry.users += 1
            state.entries[key] = entry
            state.idle.remove(key)
            return entry.descriptor
        }
        if let cached { return cached }
        guard let opened = try open() else { return nil }
        let (descriptor, surplus) = state.withLock { state -> (Int32, Int32?) in
            if var raced = state.entries[key] {
                raced.users += 1
                state.entries[key] = raced
                state.idle.remove(key)
                return (raced.descriptor, opened)
            }
            state.entries[key] = Entry(descriptor: opened, users: 1)
            return (opened, nil)
        }
        if let surplus { close(surplus) }
        return descriptor
    }

    func checkIn(_ key: AggregateKey, _ descriptor: Int32) {
        let evicted: [Int32] = state.withLock { state in
            guard state.entries[key]?.descriptor == descriptor else {
                let users = state.retired[descriptor]! - 1
                state.retired[descriptor] = users == 0 ? nil : users
                return users == 0 ? [descriptor] : []
            }
            state.entries[key]!.users -= 1
            if state.entries[key]!.users == 0 {
                state.idle.touch(key)
            }
            var evicted: [Int32] = []
            while state.entries.count > capacity, let oldest = state.idle.popLeastRecent() {
                evicted.append(state.entries.removeValue(forKey: oldest)!.descriptor)
            }
            return evicted
        }
        evicted.forEach { _ = close($0) }
    }

    func retire(_ key: AggregateKey) {
        let unused: Int32? = state.withLock { state in
            guard let entry = state.entries.removeValue(forKey: key) else { return nil }
            state.idle.remove(key)
            guard entry.users == 0 else {
                state.retired[entry.descriptor] = entry.users
                return nil
            }
            return entry.descriptor
        }
        if let unused { close(unused) }
    }
}
