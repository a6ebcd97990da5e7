import SourcedJSON

/// A command or an event of a ``DynamicModel``: a JSON object whose `"type"` member is a
/// non-empty string, kept as the JSON it is.
///
/// It codes as that object itself (through ``TaggedCoding`` too), so the wire and the log hold
/// the same shape as for a Swift model's tagged enums.
public struct TaggedObject: Hashable, Sendable {
    /// The whole object, `"type"` included.
    public let value: JSONValue

    /// `value` if it is an object with a non-empty string `"type"`; else `nil`.
    public init?(_ value: JSONValue) {
        guard case .object = value, let type = value["type"]?.stringValue, !type.isEmpty else { return nil }
        self.value = value
    }

    /// The `"type"` member.
    public var type: String { value["type"]!.stringValue! }
}
