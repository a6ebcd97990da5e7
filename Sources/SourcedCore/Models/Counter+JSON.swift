import SourcedJSON

// Hand-written coders of the counter, for the hot path (`JSONWritable`, `JSONReadable`): each
// writes exactly what its `Codable` conformance writes, and reads what it reads or declines
// (tested in `FastCodingTests`).

extension Counter.State: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.writeKey("count")
        writer.write(count)
        writer.endObject()
    }
}

extension Counter.Event: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.writeKey("type")
        switch self {
        case .created:
            writer.write("created")
        case .incremented(let count):
            writer.write("incremented")
            writer.writeKey("count")
            writer.write(count)
        }
        writer.endObject()
    }
}

extension Counter.Command: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.writeKey("type")
        writer.write(self == .create ? "create" : "increment")
        writer.endObject()
    }
}

extension Counter.Command: JSONReadable {
    public init?(reading object: JSONEnvelope) {
        switch object.field(String.self, "type") {
        case "create": self = .create
        case "increment": self = .increment
        default: return nil
        }
    }
}

extension Counter.Event: JSONReadable {
    public init?(reading object: JSONEnvelope) {
        switch object.field(String.self, "type") {
        case "created": self = .created
        case "incremented": guard let count = object.field(Int.self, "count") else { return nil }; self = .incremented(count: count)
        default: return nil
        }
    }
}
