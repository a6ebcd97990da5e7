import SourcedJSON

/// Any JSON value, for the parts of the protocol whose shape the daemon does not fix: the `req`
/// a client attaches to a request (echoed verbatim) and the replies a client reads generically.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// An integer that fits in 64 bits.
    case integer(Int64)
    /// Any other number.
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The member `key` of an object, or `nil`.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { members[key] } else { nil }
    }

    public var stringValue: String? {
        if case .string(let value) = self { value } else { nil }
    }

    public var integerValue: Int64? {
        if case .integer(let value) = self { value } else { nil }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { value } else { nil }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { value } else { nil }
    }

    /// The `error.code` of a failed reply, `nil` for any other value.
    public var errorCode: String? {
        self["error"]?["code"]?.stringValue
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(SortedMembers(members: value))
        }
    }

    private struct SortedMembers: Encodable {
        var members: [String: JSONValue]

        func encode(to encoder: any Encoder) throws {
            try JSONValue.encodeMembers(members, to: encoder)
        }
    }

    /// Writes `members` into `encoder`'s keyed container sorted by key, so that objects built
    /// from loose values (the `stats` reply) read the same every time.
    public static func encodeMembers(_ members: [String: JSONValue], to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: JSONKey.self)
        for key in members.keys.sorted() {
            try container.encode(members[key]!, forKey: JSONKey(stringValue: key))
        }
    }
}

extension JSONValue {
    /// Converts a parsed value; `nil` if a number is beyond what a `Double` holds (`1e400`).
    public init?(_ node: JSONNode) {
        switch node {
        case .null: self = .null
        case .bool(let value): self = .bool(value)
        case .number(let literal):
            if let integer = Int64(literal) {
                self = .integer(integer)
            } else if let number = Double(literal), number.rounded() == number, number.magnitude < 0x1p53 {
                // `1.0` and `1e2` are integers, as Foundation's decoder reads them.
                self = .integer(Int64(number))
            } else if let number = Double(literal), number.isFinite {
                self = .number(number)
            } else {
                return nil
            }
        case .string(let value): self = .string(value)
        case .array(let elements):
            var values: [JSONValue] = []
            values.reserveCapacity(elements.count)
            for element in elements {
                guard let value = JSONValue(element) else { return nil }
                values.append(value)
            }
            self = .array(values)
        case .object(let members):
            var values: [String: JSONValue] = [:]
            values.reserveCapacity(members.count)
            for member in members {
                guard let value = JSONValue(member.value) else { return nil }
                values[member.key] = value
            }
            self = .object(values)
        }
    }

    /// Parses one JSON value from bytes, e.g. a reply line.
    public init(parsing bytes: some Collection<UInt8>) throws {
        guard let value = JSONValue(try JSONParser.parse(bytes)) else {
            throw JSONSyntaxError(offset: 0, reason: "a number is beyond the range of a Double")
        }
        self = value
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
