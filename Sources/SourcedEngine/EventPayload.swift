import SourcedCore
import SourcedJSON
import SourcedStorage

/// The payload of a log record: the JSON array of a chain's events, each tagged with its `"type"`.
///
/// Coded with ``JSONStreamEncoder`` and ``JSONNodeDecoder``, not Foundation's coders: decoding
/// payloads is nearly all of a replay's time.
enum EventPayload {
    static func encode<Event: Codable>(_ events: [Event]) throws -> [UInt8] {
        guard Event.self is any JSONWritable.Type else {
            return try JSONStreamEncoder().encode(events.map { TaggedCoding($0) })
        }
        // The model's own coder: the same bytes without the generic containers.
        var writer = JSONWriter(minimumCapacity: 32 * events.count)
        writer.beginArray()
        for event in events {
            (event as! any JSONWritable).write(to: &writer)
        }
        writer.endArray()
        return writer.bytes
    }

    /// Decodes a record's payload, which must hold exactly the `header`'s number of events.
    static func decode<Event: Codable>(_ type: Event.Type, from payload: UnsafeRawBufferPointer, header: LogRecordHeader) throws -> [Event] {
        var events: [Event] = []
        events.reserveCapacity(header.eventCount)
        try forEach(Event.self, in: payload, header: header) { events.append($0) }
        return events
    }

    /// Calls `body` with each event of a record's payload, which must hold exactly the
    /// `header`'s number of events; if it throws, `body` may have seen some events of the record.
    ///
    /// With the model's own reader (``JSONReadable``) where it has one and it takes every event;
    /// else, and to say what is wrong, with `Decodable`. Either way `body` sees each event once.
    static func forEach<Event: Codable>(
        _ type: Event.Type,
        in payload: UnsafeRawBufferPointer,
        header: LogRecordHeader,
        _ body: (Event) -> Void
    ) throws {
        // The reader's events are held until the whole record is read (the reader may decline
        // a later one); the first without an allocation, as most records hold one.
        var first: Event?
        var more: [Event] = []
        if let readable = Event.self as? any JSONReadable.Type,
           JSONEnvelope.forEachElement(ofArray: payload, { object in
               guard let event = readable.init(reading: object) as? Event else { return false }
               if first == nil { first = event } else { more.append(event) }
               return true
           }) {
            let count = (first == nil ? 0 : 1) + more.count
            guard count == header.eventCount else {
                throw EventCountMismatch(header: header.eventCount, payload: count)
            }
            first.map(body)
            return more.forEach(body)
        }
        // A closure, not `\.value`: a key path in generic code is built at run time on every
        // call, which was most of a replay's time.
        let events = try JSONNodeDecoder().decode([TaggedCoding<Event>].self, from: payload).map { $0.value }
        guard events.count == header.eventCount else {
            throw EventCountMismatch(header: header.eventCount, payload: events.count)
        }
        events.forEach(body)
    }
}

/// Rebuilds a model's state from its log.
struct StateFold<Model: AggregateModel>: LogFold {
    var state: Model.State?
    /// The command ids of the chains folded, the newest the window holds.
    var commands: CommandWindow
    /// The program of a ``DynamicModel`` aggregate; `nil` for a Swift model.
    var program: (any ModelProgram)?

    mutating func apply(_ header: LogRecordHeader, payload: UnsafeRawBufferPointer) throws {
        // A fault stops the fold at the event that raised it; the load fails with the fault.
        var fault: ModelFault?
        try EventPayload.forEach(Model.Event.self, in: payload, header: header) { event in
            guard fault == nil else { return }
            do throws(ModelFault) {
                state = try Model.evolve(state, with: event, program: program)
            } catch {
                fault = error
            }
        }
        if let fault { throw fault }
        if let command = header.command {
            commands.record(
                idHash: command.idHash, fingerprint: command.fingerprint, firstVersion: header.firstVersion,
                eventCount: header.eventCount, position: header.position
            )
        }
    }
}

/// A record whose header and payload disagree on the number of events.
struct EventCountMismatch: Error, CustomStringConvertible {
    var header: Int
    var payload: Int

    var description: String { "header counts \(header) events, payload holds \(payload)" }
}

/// One event of an aggregate with its version and commit time.
public struct VersionedEvent<Model: AggregateModel>: Sendable {
    public var version: UInt64
    /// When its chain was committed, in microseconds since the Unix epoch.
    public var timestamp: Int64
    public var event: Model.Event
}

/// Collects the events whose versions fall in a range, decoding only the records that hold them.
struct EventRangeFold<Model: AggregateModel>: LogFold {
    var versions: Range<UInt64>
    var events: [VersionedEvent<Model>] = []

    mutating func apply(_ header: LogRecordHeader, payload: UnsafeRawBufferPointer) throws {
        let recordVersions = header.firstVersion..<(header.lastVersion + 1)
        guard recordVersions.overlaps(versions) else { return }
        let decoded = try EventPayload.decode(Model.Event.self, from: payload, header: header)
        for (offset, event) in decoded.enumerated() where versions.contains(header.firstVersion + UInt64(offset)) {
            events.append(VersionedEvent(version: header.firstVersion + UInt64(offset), timestamp: header.timestamp, event: event))
        }
    }
}
