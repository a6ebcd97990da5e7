/// A parsed JSON value, as ``JSONParser`` reads it and ``JSONNodeDecoder`` decodes it.
///
/// Numbers keep their literal text, so that each is converted exactly once, to the type the reader
/// asks for (a `UInt64` above `Int64.max`, a `Double`), and never rounded on the way. Objects keep
/// their members in input order; with a handful of members, a linear search beats hashing.
public enum JSONNode: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number, as its JSON literal (already checked against the JSON grammar).
    case number(String)
    case string(String)
    case array([JSONNode])
    case object([Member])

    /// One member of an object.
    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONNode

        public init(key: String, value: JSONNode) {
            self.key = key
            self.value = value
        }
    }

    /// The value of member `key` of an object; of duplicated keys the last counts, as in
    /// Foundation's decoder. `nil` for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONNode? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// What kind of value this is, in the words of an error message ("a string").
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
