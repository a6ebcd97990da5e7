/// Codes an enum as a flat JSON object whose `"type"` key names the case.
///
/// Swift synthesizes `Codable` for enums with associated values as `{"deposit":{"amount":5}}`.
/// Sourced's wire and log format is `{"type":"deposit","amount":5}`, which is what people write by
/// hand. `TaggedCoding` adapts the synthesized conformance to that shape, so a model declares its
/// commands and events as plain enums and writes no coding code at all:
///
///     enum Command: Codable, Sendable { case deposit(amount: Int), close }
///     let command = try JSONDecoder().decode(TaggedCoding<Command>.self, from: json).value
///
/// Cases must label their associated values; the labels are the JSON keys.
public struct TaggedCoding<Value: Codable>: Codable {
    public var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    public init(from decoder: any Decoder) throws {
        value = try Value(from: TaggedDecoder(base: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try value.encode(to: TaggedEncoder(base: encoder))
    }
}

extension TaggedCoding: Sendable where Value: Sendable {}

/// Thrown while decoding a ``TaggedCoding`` value whose `"type"` names no case of the enum.
public struct UnknownTypeError: Error, Hashable, Sendable {
    /// The `"type"` the input named.
    public var type: String

    public init(type: String) {
        self.type = type
    }
}

/// A coding key with any name; the flat object's keys are not known statically.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ stringValue: String) {
        self.stringValue = stringValue
    }

    init(stringValue: String) {
        self.stringValue = stringValue
    }

    init?(intValue: Int) {
        nil
    }

    /// The key that holds the case name.
    static let type = AnyCodingKey("type")
}
