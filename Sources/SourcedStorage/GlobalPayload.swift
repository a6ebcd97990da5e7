import SourcedCore

/// The payload of a global-log record: which aggregate the chain belongs to, then its events
/// exactly as its aggregate log holds them.
///
/// Layout: `u16 model length | model (UTF-8) | u16 id length | id (UTF-8) | events (JSON array)`,
/// lengths little-endian. The events bytes are a suffix, so recovery copies them into an aggregate
/// log without decoding or re-encoding anything.
public enum GlobalPayload {
    /// Why a global payload cannot be read.
    public struct Malformed: Error, CustomStringConvertible {
        public var description: String

        public init(description: String) {
            self.description = description
        }
    }

    public static func encode(_ key: AggregateKey, events: [UInt8]) -> [UInt8] {
        let model = Array(key.model.utf8)
        let id = Array(key.id.rawValue.utf8)
        var payload: [UInt8] = []
        payload.reserveCapacity(4 + model.count + id.count + events.count)
        payload.append(UInt8(model.count & 0xFF))
        payload.append(UInt8(model.count >> 8))
        payload.append(contentsOf: model)
        payload.append(UInt8(id.count & 0xFF))
        payload.append(UInt8(id.count >> 8))
        payload.append(contentsOf: id)
        payload.append(contentsOf: events)
        return payload
    }

    /// The aggregate and where its events lie in `payload`.
    public static func decode(_ payload: UnsafeRawBufferPointer) throws(Malformed) -> (key: AggregateKey, events: Range<Int>) {
        guard let fields = fields(of: payload) else { throw Malformed(description: "global payload too short") }
        guard let model = String(validating: payload[fields.model], as: UTF8.self),
              let id = String(validating: payload[fields.id], as: UTF8.self)
        else { throw Malformed(description: "global payload holds an invalid name") }
        guard let id = try? AggregateID(id) else { throw Malformed(description: "global payload holds an invalid id") }
        return (AggregateKey(model: model, id: id), fields.id.upperBound..<payload.count)
    }

    /// Where the model name and the id lie in `payload`, undecoded; `nil` if it is too short for
    /// the lengths it states.
    public static func fields(of payload: UnsafeRawBufferPointer) -> (model: Range<Int>, id: Range<Int>)? {
        guard payload.count >= 2 else { return nil }
        let model = 2..<(2 + Int(payload.loadLE(UInt16.self, at: 0)))
        guard payload.count >= model.upperBound + 2 else { return nil }
        let id = (model.upperBound + 2)..<(model.upperBound + 2 + Int(payload.loadLE(UInt16.self, at: model.upperBound)))
        guard payload.count >= id.upperBound else { return nil }
        return (model, id)
    }
}
