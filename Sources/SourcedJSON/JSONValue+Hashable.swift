extension JSONValue: Hashable {
    /// Equal in meaning: numbers by value, objects by the members lookups see (the last of a
    /// duplicated key) in any order, arrays element by element in order.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let left), .bool(let right)): left == right
        case (.number(let left), .number(let right)): left == right
        case (.string(let left), .string(let right)): left == right
        case (.array(let left), .array(let right)): left == right
        case (.object(let left), .object(let right)): lookups(left) == lookups(right)
        default: false
        }
    }

    /// Kinds are not told apart: values of different kinds are never equal, so a rare shared
    /// hash costs one comparison.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .number(let value): hasher.combine(value)
        case .string(let value): hasher.combine(value)
        case .array(let value): hasher.combine(value)
        // Independent of member order, as equality is.
        case .object(let members): hasher.combine(Self.lookups(members))
        }
    }

    /// What lookups see of `members`: each key once, with its last value.
    private static func lookups(_ members: [Member]) -> [String: JSONValue] {
        Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}
