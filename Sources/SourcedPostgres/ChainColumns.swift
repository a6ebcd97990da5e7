import NIOCore
import PostgresNIO
import SourcedCore
import SourcedStorage

/// Chains as the columns of `sourced.chains`: one array per column for a commit's `unnest`, and
/// a row read back as a ``CommittedChain``.
///
/// A chain without a command id is sent with an empty id (ids are never empty) and stored with
/// both `command_id` and `command_fingerprint` NULL. Unsigned values are stored in `bigint` by
/// their bit pattern for the fingerprint, by value for versions, positions and counts.
struct ChainColumns {
    var models: [String] = []
    var ids: [String] = []
    var firstVersions: [Int64] = []
    var eventCounts: [Int32] = []
    var timestamps: [Int64] = []
    var commandIDs: [String] = []
    var fingerprints: [Int64] = []
    var events: [ByteBuffer] = []

    /// The columns a read selects, in the order ``chain(from:)`` decodes them.
    static let selected = "model, aggregate_id, first_version, event_count, position, recorded_at, command_id, command_fingerprint, events"

    init(_ chains: [CommittedChain]) {
        for chain in chains {
            precondition(chain.lastVersion <= UInt64(Int64.max), "version beyond what PostgreSQL's bigint holds")
            models.append(chain.key.model)
            ids.append(chain.key.id.rawValue)
            firstVersions.append(Int64(chain.firstVersion))
            eventCounts.append(Int32(chain.eventCount))
            timestamps.append(chain.timestamp)
            commandIDs.append(chain.command.map { String(decoding: $0.id, as: UTF8.self) } ?? "")
            fingerprints.append(Int64(bitPattern: chain.command?.fingerprint ?? 0))
            events.append(ByteBuffer(bytes: chain.events))
        }
    }

    /// The chain a row of ``selected`` holds.
    /// - Throws: ``PostgresStoreError/corrupt(_:)`` for a row Sourced cannot have written.
    static func chain(from row: PostgresRow) throws -> CommittedChain {
        let (model, id, firstVersion, eventCount, position, timestamp, commandID, fingerprint, events) = try row.decode(
            (String, String, Int64, Int32, Int64, Int64, String?, Int64?, ByteBuffer).self
        )
        let key: AggregateKey
        do {
            key = AggregateKey(model: model, id: try AggregateID(id))
        } catch {
            throw PostgresStoreError.corrupt("the chain at position \(position) has an invalid id: \(error)")
        }
        var command: CommandStamp?
        if let commandID, let fingerprint {
            let bytes = Array(commandID.utf8)
            guard (1...CommandStamp.maximumIDBytes).contains(bytes.count) else {
                throw PostgresStoreError.corrupt("the chain at position \(position) has a command id of \(bytes.count) bytes")
            }
            command = CommandStamp(id: bytes, fingerprint: UInt64(bitPattern: fingerprint))
        }
        return CommittedChain(
            position: UInt64(position), key: key, firstVersion: UInt64(firstVersion), eventCount: Int(eventCount),
            timestamp: timestamp, events: Array(events.readableBytesView), command: command
        )
    }
}
