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

extension TaggedObject: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.write(value)
    }
}
