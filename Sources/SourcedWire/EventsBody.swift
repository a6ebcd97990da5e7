import SourcedCore

/// The reply body of an `events` request: `"model":M,"id":I,"version":V,"events":[{"version":v,
/// "timestamp":t,"event":{...}},...]`, one page of events with the aggregate's current version.
public struct EventsBody<Model: AggregateModel>: Encodable, Sendable {
    /// One event of the page.
    public struct Item: Sendable {
        public var version: UInt64
        /// When its chain was committed, in microseconds since the Unix epoch.
        public var timestamp: Int64
        public var event: Model.Event

        public init(version: UInt64, timestamp: Int64, event: Model.Event) {
            self.version = version
            self.timestamp = timestamp
            self.event = event
        }
    }

    /// The model's name: `Model`'s, or a ``DynamicModel``'s program's.
    public var model: String
    public var id: AggregateID
    /// The aggregate's current version.
    public var version: UInt64
    public var events: [Item]

    public init(model: String = Model.name, id: AggregateID, version: UInt64, events: [Item]) {
        self.model = model
        self.id = id
        self.version = version
        self.events = events
    }

    private enum Key: String, CodingKey {
        case model, id, version, events
    }

    private enum ItemKey: String, CodingKey {
        case version, timestamp, event
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(model, forKey: .model)
        try container.encode(id.rawValue, forKey: .id)
        try container.encode(version, forKey: .version)
        var list = container.nestedUnkeyedContainer(forKey: .events)
        for event in events {
            var item = list.nestedContainer(keyedBy: ItemKey.self)
            try item.encode(event.version, forKey: .version)
            try item.encode(event.timestamp, forKey: .timestamp)
            try item.encode(TaggedCoding(event.event), forKey: .event)
        }
    }
}
