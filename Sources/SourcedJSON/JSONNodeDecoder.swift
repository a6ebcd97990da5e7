/// Decodes `Decodable` values from a parsed ``JSONValue`` (or straight from bytes).
///
/// Built for the daemon's hot paths (request lines, event payloads on replay) instead of
/// Foundation's `JSONDecoder`, whose per-call set-up and boxing cost more than the parse itself.
/// It follows the same rules: integers must be exact, `null` only decodes optionals, missing
/// keys throw `DecodingError.keyNotFound`, and errors carry the coding path. A `JSONValue` is
/// handed out as parsed, its numbers' text intact.
public struct JSONNodeDecoder: Sendable {
    /// Handed to every `init(from:)` as `decoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable]

    public init(userInfo: [CodingUserInfoKey: any Sendable] = [:]) {
        self.userInfo = userInfo
    }

    /// Decodes `value`; `codingPath` says where it sits in a larger document, for error messages.
    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, codingPath: [any CodingKey] = []) throws -> T {
        try decodeValue(type, value, codingPath, userInfo)
    }

    /// Parses `bytes` and decodes the value; a syntax error is thrown as `DecodingError.dataCorrupted`.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not valid JSON: \(error)", underlyingError: error))
        }
        return try decode(type, from: value)
    }
}

private struct NodeDecoder: Decoder {
    var node: JSONValue
    var codingPath: [any CodingKey]
    var sendableUserInfo: [CodingUserInfoKey: any Sendable]

    init(node: JSONValue, codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: any Sendable]) {
        self.node = node
        self.codingPath = codingPath
        self.sendableUserInfo = userInfo
    }

    var userInfo: [CodingUserInfoKey: Any] { sendableUserInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = node else {
            throw mismatch([String: Any].self, node, codingPath)
        }
        return KeyedDecodingContainer(KeyedNodeContainer<Key>(members: members, codingPath: codingPath, userInfo: sendableUserInfo))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = node else {
            throw mismatch([Any].self, node, codingPath)
        }
        return UnkeyedNodeContainer(elements: elements, codingPath: codingPath, userInfo: sendableUserInfo)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleNodeContainer(node: node, codingPath: codingPath, userInfo: sendableUserInfo)
    }
}

private func mismatch(_ type: Any.Type, _ node: JSONValue, _ path: [any CodingKey]) -> DecodingError {
    if case .null = node {
        return .valueNotFound(type, .init(codingPath: path, debugDescription: "Expected \(type) value but found null instead."))
    }
    return .typeMismatch(type, .init(codingPath: path, debugDescription: "Expected to decode \(type) but found \(node.kind) instead."))
}

/// The conversions shared by the three container kinds.
///
/// `path` is built only when it is needed, for an error or a nested value: building it for every
/// leaf value was a heap allocation per field.
private func decodeValue<T: Decodable>(
    _ type: T.Type,
    _ node: JSONValue,
    _ path: @autoclosure () -> [any CodingKey],
    _ userInfo: [CodingUserInfoKey: any Sendable]
) throws -> T {
    // The common types by identity first, converted with `unsafeBitCast` (T is exactly that type):
    // dynamic casts and conformance lookups showed in replay profiles.
    if type == String.self {
        guard case .string(let string) = node else { throw mismatch(type, node, path()) }
        return unsafeBitCast(string, to: T.self)
    }
    if type == Int.self { return unsafeBitCast(try integer(Int.self, node, path), to: T.self) }
    if type == Bool.self {
        guard case .bool(let bool) = node else { throw mismatch(type, node, path()) }
        return unsafeBitCast(bool, to: T.self)
    }
    if type == Int64.self { return unsafeBitCast(try integer(Int64.self, node, path), to: T.self) }
    if type == UInt64.self { return unsafeBitCast(try integer(UInt64.self, node, path), to: T.self) }
    if type == Double.self { return unsafeBitCast(try floatingPoint(Double.self, node, path), to: T.self) }
    if type == Float.self { return unsafeBitCast(try floatingPoint(Float.self, node, path), to: T.self) }
    if type == JSONValue.self { return unsafeBitCast(node, to: T.self) }
    if let integerType = type as? any FixedWidthInteger.Type {
        return try integer(integerType, node, path) as! T
    }
    return try T(from: NodeDecoder(node: node, codingPath: path(), userInfo: userInfo))
}

private func integer<T: FixedWidthInteger>(_ type: T.Type, _ node: JSONValue, _ path: () -> [any CodingKey]) throws -> T {
    guard case .number(let number) = node else { throw mismatch(type, node, path()) }
    guard let value = number.integer(as: type) else {
        let problem = number.isIntegral
            ? "\(number) is out of range: an integer from \(T.min) to \(T.max) is expected"
            : "\(number) is not an integer"
        throw DecodingError.dataCorrupted(.init(codingPath: path(), debugDescription: problem))
    }
    return value
}

private func floatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(_ type: T.Type, _ node: JSONValue, _ path: () -> [any CodingKey]) throws -> T {
    guard case .number(let number) = node else { throw mismatch(type, node, path()) }
    guard let value = number.floatingPoint(as: type) else {
        throw DecodingError.dataCorrupted(.init(codingPath: path(), debugDescription: "Number \(number) does not fit in \(type)."))
    }
    return value
}

private struct KeyedNodeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// Objects with more members than this get a hash index: a linear search per key would make
    /// decoding a large object (a dictionary) quadratic.
    static var linearSearchLimit: Int { 16 }

    var members: [JSONValue.Member]
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: any Sendable]
    /// Key → position of its last occurrence, for large objects only.
    private let index: [String: Int]?

    init(members: [JSONValue.Member], codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: any Sendable]) {
        self.members = members
        self.codingPath = codingPath
        self.userInfo = userInfo
        index = members.count > Self.linearSearchLimit
            ? Dictionary(members.indices.map { (members[$0].key, $0) }, uniquingKeysWith: { $1 })
            : nil
    }

    /// Each key once, in input order, even if the input repeats it.
    var allKeys: [Key] {
        var seen = Set<String>()
        return members.compactMap { member in seen.insert(member.key).inserted ? Key(stringValue: member.key) : nil }
    }

    private func lookup(_ key: some CodingKey) -> JSONValue? {
        let name = key.stringValue
        if let index { return index[name].map { members[$0].value } }
        return members.last { $0.key == name }?.value
    }

    private func required(_ key: some CodingKey) throws -> JSONValue {
        guard let node = lookup(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value associated with key \"\(key.stringValue)\"."))
        }
        return node
    }

    func contains(_ key: Key) -> Bool { lookup(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try required(key) { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try value(type, key) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try value(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try value(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try value(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try value(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try value(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try value(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try value(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try value(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try value(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try value(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try value(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try value(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try value(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try value(type, key) }

    private func value<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        try decodeValue(type, try required(key), codingPath + [key], userInfo)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try NodeDecoder(node: try required(key), codingPath: codingPath + [key], userInfo: userInfo).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try NodeDecoder(node: try required(key), codingPath: codingPath + [key], userInfo: userInfo).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        NodeDecoder(node: lookup(JSONKey.super) ?? .null, codingPath: codingPath + [JSONKey.super], userInfo: userInfo)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        NodeDecoder(node: lookup(key) ?? .null, codingPath: codingPath + [key], userInfo: userInfo)
    }
}

private struct UnkeyedNodeContainer: UnkeyedDecodingContainer {
    var elements: [JSONValue]
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: any Sendable]
    var currentIndex = 0

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private var path: [any CodingKey] { codingPath + [JSONKey(intValue: currentIndex)] }

    /// The current element; the container moves past it only once it decoded (as in Foundation,
    /// so that a caller may retry an element as another type).
    private func current(_ type: Any.Type) throws -> JSONValue {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "Unkeyed container is at end."))
        }
        return elements[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw DecodingError.valueNotFound(Any?.self, .init(codingPath: path, debugDescription: "Unkeyed container is at end.")) }
        guard case .null = elements[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try value(type) }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try value(type) }
    mutating func decode(_ type: String.Type) throws -> String { try value(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try value(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try value(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try value(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try value(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try value(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try value(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try value(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try value(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try value(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try value(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try value(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try value(type) }

    private mutating func value<T: Decodable>(_ type: T.Type) throws -> T {
        let value = try decodeValue(type, try current(type), path, userInfo)
        currentIndex += 1
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let container = try NodeDecoder(node: try current(type), codingPath: path, userInfo: userInfo).container(keyedBy: type)
        currentIndex += 1
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let container = try NodeDecoder(node: try current([Any].self), codingPath: path, userInfo: userInfo).unkeyedContainer()
        currentIndex += 1
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        let decoder = NodeDecoder(node: try current(Any.self), codingPath: path, userInfo: userInfo)
        currentIndex += 1
        return decoder
    }
}

private struct SingleNodeContainer: SingleValueDecodingContainer {
    var node: JSONValue
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: any Sendable]

    func decodeNil() -> Bool {
        if case .null = node { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: Bool.Type) throws -> Bool { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: String.Type) throws -> String { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: Double.Type) throws -> Double { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: Float.Type) throws -> Float { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: Int.Type) throws -> Int { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeValue(type, node, codingPath, userInfo) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeValue(type, node, codingPath, userInfo) }
}
