import SourcedCore

/// One committed command chain as the global log holds it: which aggregate, which versions, and
/// its events as JSON, numbered by its global position; and the records it is written as, in the
/// global log and in its aggregate's log.
public struct CommittedChain: Hashable, Sendable {
    /// The chain's place in the global commit order: gapless, from 1.
    public var position: UInt64
    public var key: AggregateKey
    /// The aggregate version of the chain's first event.
    public var firstVersion: UInt64
    public var eventCount: Int
    /// When the chain was decided, in microseconds since the Unix epoch.
    public var timestamp: Int64
    /// The events: a JSON array of `{"type": ..., ...}` objects, as in the aggregate's log.
    public var events: [UInt8]
    /// The client's command id and the command's fingerprint, if it gave an id.
    public var command: CommandStamp?

    /// The version of the chain's last event.
    public var lastVersion: UInt64 { firstVersion + UInt64(eventCount) - 1 }

    /// The bytes of the chain's record in its aggregate's log.
    public var aggregateRecordLength: Int { LogRecord.headerSize + (command?.encodedSize ?? 0) + events.count }

    /// The chain's record in its aggregate's log.
    public func appendAggregateRecord(to buffer: inout [UInt8]) {
        LogRecord.append(header(payloadLength: events.count), stamp: command, payload: events, to: &buffer)
    }

    /// The chain's record in the global log.
    public func appendGlobalRecord(to buffer: inout [UInt8]) {
        let payload = GlobalPayload.encode(key, events: events)
        LogRecord.append(header(payloadLength: payload.count), stamp: command, payload: payload, to: &buffer)
    }

    private func header(payloadLength: Int) -> LogRecordHeader {
        LogRecordHeader(
            payloadLength: payloadLength,
            eventCount: eventCount,
            firstVersion: firstVersion,
            position: position,
            timestamp: timestamp
        )
    }

    /// The chain held by a global-log record, with `command`, its stamp (``CommandStamp/init(_:in:)``).
    public init(_ header: LogRecordHeader, globalPayload payload: UnsafeRawBufferPointer, command: CommandStamp?) throws {
        let decoded = try GlobalPayload.decode(payload)
        position = header.position
        key = decoded.key
        firstVersion = header.firstVersion
        eventCount = header.eventCount
        timestamp = header.timestamp
        events = Array(payload[decoded.events])
        self.command = command
    }

    public init(position: UInt64, key: AggregateKey, firstVersion: UInt64, eventCount: Int, timestamp: Int64, events: [UInt8], command: CommandStamp? = nil) {
        self.position = position
        self.key = key
        self.firstVersion = firstVersion
        self.eventCount = eventCount
        self.timestamp = timestamp
        self.events = events
        self.command = command
    }
}

extension CommittedChain {
    /// The chains held by `bytes`, consecutive global-log records starting at a record boundary
    /// (`offset` in the file at `path`, for messages). Stops at the first incomplete record,
    /// returning how many bytes it used.
    public static func chains(in bytes: [UInt8], path: String, at offset: Int) throws -> (chains: [CommittedChain], used: Int) {
        try bytes.withUnsafeBytes { buffer in
            var chains: [CommittedChain] = []
            var used = 0
            while used < buffer.count {
                switch LogRecord.read(buffer, at: used) {
                case .record(let header, let payload):
                    do {
                        let command = header.command.map { CommandStamp($0, in: buffer) }
                        chains.append(try CommittedChain(header, globalPayload: UnsafeRawBufferPointer(rebasing: buffer[payload]), command: command))
                    } catch {
                        throw StorageError.corrupt(path: path, offset: offset + used, reason: "\(error)")
                    }
                    used = payload.upperBound
                case .truncated:
                    return (chains, used)
                case .invalid(let reason):
                    throw StorageError.corrupt(path: path, offset: offset + used, reason: reason)
                case .unsupportedFormat(let format):
                    throw StorageError.corrupt(path: path, offset: offset + used, reason: "record format \(format)")
                }
            }
            return (chains, used)
        }
    }
}
