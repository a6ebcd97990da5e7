import Foundation
import SourcedCore
import SourcedStorage

/// The payload of a log record: the JSON array of a chain's events, each tagged with its `"type"`.
enum EventPayload {
    static func encode<Event: Codable>(_ events: [Event]) throws -> [UInt8] {
        Array(try JSONEncoder().encode(events.map { TaggedCoding($0) }))
    }

    static func decode<Event: Codable>(_ type: Event.Type, from payload: UnsafeRawBufferPointer) throws -> [Event] {
        try JSONDecoder().decode([TaggedCoding<Event>].self, from: Data(payload)).map(\.value)
    }
}

/// Rebuilds a model's state from its log.
struct StateFold<Model: AggregateModel>: LogFold {
    var state: Model.State?

    mutating func apply(_ header: LogRecordHeader, payload: UnsafeRawBufferPointer) throws {
        let events = try EventPayload.decode(Model.Event.self, from: payload)
        guard events.count == header.eventCount else {
            throw EventCountMismatch(header: header.eventCount, payload: events.count)
        }
        for event in events {
            state = Model.evolve(state, with: event)
        }
    }
}

/// A record whose header and payload disagree on the number of events.
struct EventCountMismatch: Error, CustomStringConvertible {
    var header: Int
    var payload: Int

    var description: String { "header counts \(header) events, payload holds \(payload)" }
}
