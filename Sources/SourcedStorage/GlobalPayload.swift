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
        var offset = 0
        func field() throws(Malformed) -> String {
            guard payload.count - offset >= 2 else { throw Malformed(description: "global payload too short") }
            let length = Int(payload.loadLE(UInt16.self, at: offset))
            offset += 2
            guard payload.count - offset >= length,
                  let text = String(validating: payload[offset..<(offset + length)], as: UTF8.self)
            else { throw Malformed(description: "global payload holds an invalid name") }
            offset += length
            return text
        }
        let model = try field()
        guard let id = try? AggregateID(try field()) else { throw Malformed(description: "global payload holds an invalid id") }
        return (AggregateKey(model: model, id: id), offset..<payload.count)
    }
}
