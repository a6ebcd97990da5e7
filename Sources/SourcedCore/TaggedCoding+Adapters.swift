/// Presents a flat `{"type":"x", ...}` object to a synthesized enum decoder as `{"x":{...}}`.
struct TaggedDecoder: Decoder {
    var base: any Decoder

    var codingPath: [any CodingKey] { base.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { base.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let flat = try base.container(keyedBy: AnyCodingKey.self)
        let name = try flat.decode(String.self, forKey: .type)
        guard let key = Key(stringValue: name) else {
            throw UnknownTypeError(type: name)
        }
        return KeyedDecodingContainer(TagDecodingContainer(key: key, base: base))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try base.unkeyedContainer()
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        try base.singleValueContainer()
    }
}

/// The outer container of a tagged value: its only key is the case name, and the case's
/// associated values are read from the flat object itself.
private struct TagDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    var key: Key
    var base: any Decoder

    var codingPath: [any CodingKey] { base.codingPath }
    var allKeys: [Key] { [key] }

    func contains(_ key: Key) -> Bool {
        key.stringValue == self.key.stringValue
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type,
        forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try base.container(keyedBy: type)
    }

    private func unsupported<T>(_ type: T.Type, _ key: Key) -> DecodingError {
        .typeMismatch(type, .init(codingPath: codingPath + [key], debugDescription: "tagged values hold objects"))
    }

    func decodeNil(forKey key: Key) throws -> Bool { false }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { throw unsupported(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { throw unsupported(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { throw unsupported(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw unsupported(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { throw unsupported(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { throw unsupported(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { throw unsupported(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { throw unsupported(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { throw unsupported(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { throw unsupported(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { throw unsupported(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { throw unsupported(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { throw unsupported(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { throw unsupported(type, key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { throw unsupported(type, key) }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        throw unsupported([Any].self, key)
    }

    func superDecoder() throws -> any Decoder { base }
    func superDecoder(forKey key: Key) throws -> any Decoder { base }
}

/// Writes a synthesized enum encoding `{"x":{...}}` as the flat `{"type":"x", ...}`.
struct TaggedEncoder: Encoder {
    var base: any Encoder

    var codingPath: [any CodingKey] { base.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { base.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(TagEncodingContainer(base: base))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        base.unkeyedContainer()
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        base.singleValueContainer()
    }
}

/// The outer container of a tagged value: opening the case's container writes `"type"` and hands
/// out the flat object for the associated values.
private struct TagEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    var base: any Encoder

    var codingPath: [any CodingKey] { base.codingPath }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type,
        forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        var flat = base.container(keyedBy: AnyCodingKey.self)
        // Encoding a string into a keyed container does not fail in any Foundation encoder; the
        // signature here cannot throw, so a failure would surface as a missing "type" on decode.
        try? flat.encode(key.stringValue, forKey: .type)
        return base.container(keyedBy: keyType)
    }

    private func unsupported(_ value: Any, _ key: Key) -> EncodingError {
        .invalidValue(value, .init(codingPath: codingPath + [key], debugDescription: "tagged values hold objects"))
    }

    mutating func encodeNil(forKey key: Key) throws { throw unsupported(Optional<Int>.none as Any, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: String, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { throw unsupported(value, key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw unsupported(value, key) }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        base.unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { base }
    mutating func superEncoder(forKey key: Key) -> any Encoder { base }
}
