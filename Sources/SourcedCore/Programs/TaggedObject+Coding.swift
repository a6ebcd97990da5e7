import SourcedJSON

extension TaggedObject: Codable {
    /// Decodes any JSON object with a non-empty string `"type"`; anything else is a
    /// `DecodingError.dataCorrupted`.
    public init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer().decode(JSONValue.self)
        guard let object = TaggedObject(value) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "expected an object with a non-empty string \"type\", found \(value.kind)"
            ))
        }
        self = object
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

extension TaggedObject: JSONReadable {
    /// The object as parsed, without `Decodable`'s containers: what request parsing and replay
    /// use. Declines what `init(from:)` refuses, so that it reports why.
    public init?(reading object: JSONEnvelope) {
        guard let value = try? JSONParser.parse(object.bytes) else { return nil }
        self.init(value)
    }
}

extension TaggedObject: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.write(value)
    }
}
