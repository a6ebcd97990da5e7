import NIOCore
import SourcedCore
import SourcedJSON

/// Encodes reply lines (`docs/protocol.md`): `{"ok":true,...members,"req":R}` or
/// `{"ok":false,"error":{"code":C,"message":M,...},"req":R}`, each ending in a newline.
///
/// `req` is the request's ``Request/req``: its bytes are written as they came, so the client
/// gets back exactly what it sent, always as the last member.
public enum Reply {
    /// A success whose members are those `body` encodes: a keyed container, without the keys
    /// `ok`, `error` and `req` (the reply bodies of this module are such).
    public static func success(_ body: some Encodable, req: [UInt8]?) -> ByteBuffer {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        do {
            try JSONStreamEncoder().encode(Envelope(body: body), appendingTo: &bytes)
        } catch {
            return failure(ProtocolError(.internal, "cannot encode the reply: \(error)"), req: req)
        }
        return finish(&bytes, req: req)
    }

    /// A success whose members are those of the object `members`, except any named `ok`,
    /// `error` or `req`, so that the reply has each key once.
    public static func success(members: JSONValue, req: [UInt8]?) -> ByteBuffer {
        var writer = JSONWriter(minimumCapacity: 256)
        writer.beginObject()
        writer.writeKey("ok")
        writer.write(true)
        if case .object(let members) = members {
            for member in members where !["ok", "error", "req"].contains(member.key) {
                writer.writeKey(member.key)
                writer.write(member.value)
            }
        }
        writer.endObject()
        return finish(&writer.bytes, req: req)
    }

    /// The reply to a failed request.
    public static func failure(_ error: ProtocolError, req: [UInt8]?) -> ByteBuffer {
        var writer = JSONWriter(minimumCapacity: 128)
        writer.beginObject()
        writer.writeKey("ok")
        writer.write(false)
        writer.writeKey("error")
        writer.beginObject()
        writer.writeKey("code")
        writer.write(error.code.rawValue)
        writer.writeKey("message")
        writer.write(error.message)
        if case .object(let details) = error.details {
            for detail in details where detail.key != "code" && detail.key != "message" {
                writer.writeKey(detail.key)
                writer.write(detail.value)
            }
        }
        writer.endObject()
        writer.endObject()
        return finish(&writer.bytes, req: req)
    }

    /// The reply to an accepted `execute`: `{"ok":true,"model":M,"id":I,"version":V,
    /// "position":P,"events":[...],"state":{...},"req":R}`, with no `position` for a chain that
    /// recorded nothing (`position` 0). `events` is the JSON array of the chain's events, written
    /// as it is (the very bytes the logs hold), or empty for none; `state` the state after the
    /// chain. Written token by token, not through `Encodable`: the hot path.
    public static func commit(
        key: AggregateKey,
        version: UInt64,
        position: UInt64,
        events: [UInt8],
        state: some Encodable,
        duplicate: Bool = false,
        req: [UInt8]?
    ) -> ByteBuffer {
        var writer = JSONWriter(minimumCapacity: 128 + events.count + (req?.count ?? 0))
        writer.beginObject()
        writer.writeKey("ok")
        writer.write(true)
        writer.writeKey("model")
        writer.write(key.model)
        writer.writeKey("id")
        writer.write(key.id.rawValue)
        writer.writeKey("version")
        writer.write(version)
        if position > 0 {
            writer.writeKey("position")
            writer.write(position)
        }
        writer.writeKey("events")
        if events.isEmpty {
            writer.beginArray()
            writer.endArray()
        } else {
            events.withUnsafeBytes { writer.writeRaw($0) }
        }
        writer.writeKey("state")
        do {
            try writer.write(encoding: state)
        } catch {
            return failure(ProtocolError(.internal, "cannot encode the reply: \(error)"), req: req)
        }
        if duplicate {
            writer.writeKey("duplicate")
            writer.write(true)
        }
        writer.endObject()
        return finish(&writer.bytes, req: req)
    }

    /// A line holding `value` as it is, for lines that are not replies (subscription events).
    public static func line(_ value: JSONValue) -> ByteBuffer {
        var writer = JSONWriter(minimumCapacity: 256)
        writer.write(value)
        writer.bytes.append(0x0A)
        return ByteBuffer(bytes: writer.bytes)
    }

    /// The line of the reply object `bytes`, with `req` added as its last member.
    private static func finish(_ bytes: inout [UInt8], req: [UInt8]?) -> ByteBuffer {
        if let req {
            // Every reply has `ok`, so `req` follows a member.
            bytes.removeLast()
            bytes.append(contentsOf: #","req":"#.utf8)
            bytes.append(contentsOf: req)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(0x0A)
        return ByteBuffer(bytes: bytes)
    }

    /// `{"ok":true, ...body}`.
    private struct Envelope<Body: Encodable>: Encodable {
        var body: Body

        private enum Key: String, CodingKey {
            case ok
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(true, forKey: .ok)
            try body.encode(to: encoder)
        }
    }
}
