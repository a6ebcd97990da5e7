import NIOCore
import SourcedCore
import SourcedEngine
import SourcedJSON
import SourcedWire

/// Encodes reply lines: `{"ok":true, ...body, "req":...}` or `{"ok":false,"error":{...},"req":...}`.
enum Reply {
    static func success(_ body: some Encodable & Sendable, req: JSONValue?) -> ByteBuffer {
        encodedLine(Envelope(ok: true, body: body, error: nil, req: req))
    }

    static func failure(_ error: ProtocolError, req: JSONValue?) -> ByteBuffer {
        var object = error.details
        object["code"] = .string(error.code.rawValue)
        object["message"] = .string(error.message)
        return encodedLine(Envelope<Empty>(ok: false, body: nil, error: object, req: req))
    }

    /// Members of the reply object beside `ok`: those of the object `members`.
    static func success(_ members: JSONValue, req: JSONValue?) -> ByteBuffer {
        success(Members(members: members), req: req)
    }

    private struct Empty: Encodable, Sendable {}

    private struct Members: Encodable, Sendable {
        var members: JSONValue

        /// Never one of the envelope's own keys, so a reply has each key once.
        func encode(to encoder: any Encoder) throws {
            guard case .object(let members) = members else { return }
            var container = encoder.container(keyedBy: JSONKey.self)
            for member in members where !["ok", "error", "req"].contains(member.key) {
                try container.encode(member.value, forKey: JSONKey(stringValue: member.key))
            }
        }
    }

    private struct Envelope<Body: Encodable>: Encodable {
        var ok: Bool
        var body: Body?
        var error: JSONValue?
        var req: JSONValue?

        private enum Key: String, CodingKey {
            case ok, error, req
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(ok, forKey: .ok)
            try body?.encode(to: encoder)
            try container.encodeIfPresent(error, forKey: .error)
            try container.encodeIfPresent(req, forKey: .req)
        }
    }

    /// The reply to an accepted `execute`: `{"ok":true,"model":M,"id":I,"version":V,
    /// "position":P,"events":[...],"state":{...},"req":R}` (no `position` for a chain that
    /// recorded nothing). Written directly, with the events as the very bytes the logs hold.
    static func commit<Model: AggregateModel>(_ commit: Commit<Model>, id: AggregateID, req: JSONValue?) -> ByteBuffer {
        var writer = JSONWriter(minimumCapacity: 128 + commit.encodedEvents.count)
        writer.beginObject()
        writer.writeKey("ok")
        writer.write(true)
        writer.writeKey("model")
        writer.write(Model.name)
        writer.writeKey("id")
        writer.write(id.rawValue)
        writer.writeKey("version")
        writer.write(commit.version)
        if commit.position > 0 {
            writer.writeKey("position")
            writer.write(commit.position)
        }
        writer.writeKey("events")
        if commit.encodedEvents.isEmpty {
            writer.beginArray()
            writer.endArray()
        } else {
            commit.encodedEvents.withUnsafeBytes { writer.writeRaw($0) }
        }
        do {
            writer.writeKey("state")
            try writer.write(encoding: commit.state)
            if let req {
                writer.writeKey("req")
                writer.write(req)
            }
        } catch {
            return failure(ProtocolError(.internal, "cannot encode the reply: \(error)"), req: nil)
        }
        writer.endObject()
        writer.bytes.append(0x0A)
        return ByteBuffer(bytes: writer.bytes)
    }

    /// A line holding `value` as it is, for lines that are not replies (subscription events).
    static func line(_ value: JSONValue) -> ByteBuffer {
        encodedLine(value)
    }

    private static func encodedLine(_ value: some Encodable) -> ByteBuffer {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        do {
            try JSONStreamEncoder().encode(value, appendingTo: &bytes)
        } catch {
            bytes = Array(#"{"ok":false,"error":{"code":"internal","message":"cannot encode the reply"}}"#.utf8)
        }
        bytes.append(0x0A)
        return ByteBuffer(bytes: bytes)
    }
}

/// The reply body of a `get`.
struct SnapshotBody<Model: AggregateModel>: Encodable, Sendable {
    var id: AggregateID
    var snapshot: Snapshot<Model>

    private enum Key: String, CodingKey {
        case model, id, version, state
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(Model.name, forKey: .model)
        try container.encode(id.rawValue, forKey: .id)
        try container.encode(snapshot.version, forKey: .version)
        try container.encode(snapshot.state, forKey: .state)
    }
}

/// The reply body of an `events` request: one page of events, each with its version.
struct EventsBody<Model: AggregateModel>: Encodable, Sendable {
    var id: AggregateID
    var version: UInt64
    var events: [VersionedEvent<Model>]

    private enum Key: String, CodingKey {
        case model, id, version, events
    }

    private enum EventKey: String, CodingKey {
        case version, timestamp, event
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(Model.name, forKey: .model)
        try container.encode(id.rawValue, forKey: .id)
        try container.encode(version, forKey: .version)
        var list = container.nestedUnkeyedContainer(forKey: .events)
        for event in events {
            var item = list.nestedContainer(keyedBy: EventKey.self)
            try item.encode(event.version, forKey: .version)
            try item.encode(event.timestamp, forKey: .timestamp)
            try item.encode(TaggedCoding(event.event), forKey: .event)
        }
    }
}
