/// Any JSON value: what ``JSONParser`` reads and ``JSONNodeDecoder`` decodes, and what clients
/// build requests from and read replies into.
///
/// Guarantees:
/// - Nothing is lost between parsing and writing: numbers keep their literal text
///   (``JSONNumber``), objects their members in input order, duplicated keys included. A value
///   written with ``JSONWriter/write(_:)`` or ``JSONStreamEncoder`` is the parsed text without
///   its whitespace.
/// - Lookups see the last member of a duplicated key, as ``JSONNodeDecoder`` and Foundation's
///   decoder do.
/// - Equality is by meaning: numbers by value (`1 == 1.0`), objects by the members lookups see,
///   in any order (`{"a":1,"b":2} == {"b":2,"a":1}`); arrays stay ordered.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    /// The members in order; a key may occur more than once.
    case object([Member])

    /// One member of an object.
    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: JSONValue

        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// The number `value`.
    public static func integer(_ value: some BinaryInteger) -> JSONValue {
        .number(JSONNumber(value))
    }

    /// The number `value`, or `null` for an infinity or NaN, which JSON cannot express.
    public static func double(_ value: Double) -> JSONValue {
        JSONNumber(value).map(JSONValue.number) ?? .null
    }

    /// The member `key` of an object (the last, if the key repeats); `nil` for a missing key or a
    /// value that is not an object.
    ///
    /// Setting replaces every member named `key` by one holding the new value, where the first
    /// of them stood, or appends it; setting `nil` removes them all. Setting a member of a value
    /// that is not an object is a programming error.
    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let members) = self else { return nil }
            return members.last { $0.key == key }?.value
        }
        set {
            guard case .object(var members) = self else { preconditionFailure("\(kind) has no members") }
            self = .null  // `members` is now the array's only reference: changed in place
            let first = members.firstIndex { $0.key == key }
            members.removeAll { $0.key == key }
            if let newValue { members.insert(Member(key: key, value: newValue), at: first ?? members.count) }
            self = .object(members)
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { value } else { nil }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { value } else { nil }
    }

    /// The number as an `Int64`, if it is an integer that fits (``JSONNumber/integer(as:)``).
    public var integerValue: Int64? {
        if case .number(let number) = self { number.integer(as: Int64.self) } else { nil }
    }

    /// The nearest `Double` to the number; `nil` beyond a `Double`'s range or for a non-number.
    public var doubleValue: Double? {
        if case .number(let number) = self { number.floatingPoint(as: Double.self) } else { nil }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { value } else { nil }
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
