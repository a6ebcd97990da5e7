import SourcedCore
import SourcedStorage

/// The command ids last accepted for one aggregate, so that a repeat of one is answered with its
/// original outcome instead of being decided again (`docs/protocol.md`, "Command ids").
///
/// Holds the newest ``capacity`` chains that carried a `command_id`, oldest first, 36 bytes each:
/// a hash of the id, the command's fingerprint, the chain's versions and its global position.
/// Rebuilt at load from the records (each carries its id, see ``CommandStamp``) and from the
/// snapshot, which saves it (``encoded(through:)``).
struct CommandWindow: Hashable, Sendable {
    struct Entry: Hashable, Sendable {
        /// ``CommandStamp/idHash`` of the client's id.
        var id: UInt64
        var fingerprint: UInt64
        var firstVersion: UInt64
        var eventCount: Int
        /// The chain's global position; 0 while its commit is in flight.
        var position: UInt64

        var lastVersion: UInt64 { firstVersion + UInt64(eventCount) - 1 }
    }

    /// How many ids are remembered; 0 remembers none.
    let capacity: Int
    private(set) var entries: [Entry] = []

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The newest chain accepted under the id whose ``CommandStamp/idHash`` is `idHash`, if the
    /// window still holds it.
    func entry(for idHash: UInt64) -> Entry? {
        entries.last { $0.id == idHash }
    }

    /// Remembers a chain, forgetting the oldest beyond the capacity.
    mutating func record(idHash: UInt64, fingerprint: UInt64, firstVersion: UInt64, eventCount: Int, position: UInt64) {
        guard capacity > 0 else { return }
        if entries.count >= capacity {
            entries.removeFirst(entries.count - capacity + 1)
        }
        entries.append(Entry(id: idHash, fingerprint: fingerprint, firstVersion: firstVersion, eventCount: eventCount, position: position))
    }

    /// Records the position of the chain that starts at `version`, once it is committed.
    mutating func committed(firstVersion version: UInt64, at position: UInt64) {
        if let index = entries.lastIndex(where: { $0.firstVersion == version }) {
            entries[index].position = position
        }
    }

    /// Forgets the chains after `version`: they were never made durable.
    mutating func forget(after version: UInt64) {
        entries.removeAll { $0.firstVersion > version }
    }

    /// The bytes a snapshot of the state at `version` saves: the entries up to it, as `u32 count |
    /// count × (u64 id hash | u64 fingerprint | u64 first version | u32 event count | u64
    /// position)`; empty when there are none.
    func encoded(through version: UInt64) -> [UInt8] {
        let entries = entries.filter { $0.lastVersion <= version }
        guard !entries.isEmpty else { return [] }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 + 36 * entries.count)
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        append(UInt32(entries.count))
        for entry in entries {
            append(entry.id)
            append(entry.fingerprint)
            append(entry.firstVersion)
            append(UInt32(entry.eventCount))
            append(entry.position)
        }
        return bytes
    }

    /// The window a snapshot saved, keeping the newest `capacity` entries.
    /// - Throws: ``Malformed`` if the bytes are not what ``encoded()`` writes.
    init(capacity: Int, decoding bytes: [UInt8]) throws {
        self.init(capacity: capacity)
        guard !bytes.isEmpty else { return }
        func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
            bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        guard bytes.count >= 4 else { throw Malformed() }
        let count = Int(load(UInt32.self, at: 0))
        guard bytes.count == 4 + 36 * count else { throw Malformed() }
        for index in max(0, count - capacity)..<count {
            let base = 4 + 36 * index
            entries.append(Entry(
                id: load(UInt64.self, at: base), fingerprint: load(UInt64.self, at: base + 8), firstVersion: load(UInt64.self, at: base + 16),
                eventCount: Int(load(UInt32.self, at: base + 24)), position: load(UInt64.self, at: base + 28)
            ))
        }
    }

    /// A snapshot's window does not decode.
    struct Malformed: Error, CustomStringConvertible {
        var description: String { "the snapshot's command ids do not decode" }
    }
}
