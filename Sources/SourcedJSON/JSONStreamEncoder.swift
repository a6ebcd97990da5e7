/// Encodes `Encodable` values as compact JSON bytes in one pass, with no intermediate tree.
///
/// Built for the daemon's hot paths (replies, event payloads) instead of Foundation's
/// `JSONEncoder`, which builds a tree of boxed values first and sorts keys. Keys come out in the
/// order the value encodes them (declaration order for synthesized conformances, so
/// `{"type":"incremented","count":1}`); dictionaries in their iteration order. `/` is not
/// escaped; non-finite numbers throw `EncodingError.invalidValue`, as in Foundation. A
/// ``JSONValue`` is written as it is (``JSONWriter/write(_:)``): its numbers keep their text.
///
/// Nested containers must be used in nesting order, as synthesized conformances do: once a
/// container's parent writes again, the container is closed, and writing to it is a programming
/// error that stops the process.
public struct JSONStreamEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128)
        try encode(value, appendingTo: &bytes)
        return bytes
    }

    /// Appends the encoding of `value` to `bytes`.
    public func encode<T: Encodable>(_ value: T, appendingTo bytes: inout [UInt8]) throws {
        let original = bytes.count
        let sink = EncodingSink(bytes: bytes)
        bytes = []
        defer { bytes = sink.bytes }
        do {
            try sink.encode(value, key: nil)
        } catch {
            sink.bytes.removeSubrange(original...)
            throw error
        }
    }
}

/// The output and the stack of open JSON values, shared by every encoder and container of one
/// ``JSONStreamEncoder/encode(_:appendingTo:)`` call.
final class EncodingSink {
    enum Kind {
        /// Nothing written yet: the value may still become an object, an array or a single value.
        case pending, object, array, single
    }

    struct Level {
        var kind: Kind
        /// Members or elements written so far.
        var count = 0
        /// Tells a closed level from a later one at the same depth.
        var serial: Int
        /// The key this value is under; `nil` for the top and for array elements.
        var key: (any CodingKey)?
    }

    var bytes: [UInt8]
    private var levels: [Level] = []
    private var serials = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Encodes `value` as a new level, then closes it and anything left open inside it.
    func encode<T: Encodable>(_ value: T, key: (any CodingKey)?) throws {
        if T.self == JSONValue.self {
            // As it is, numbers as their literal text; `T` is exactly that type.
            var writer = JSONWriter()
            swap(&writer.bytes, &bytes)
            writer.write(unsafeBitCast(value, to: JSONValue.self))
            swap(&writer.bytes, &bytes)
            return
        }
        let (depth, serial) = push(.pending, key: key)
        try value.encode(to: StreamEncoder(sink: self, depth: depth, serial: serial))
        close(above: depth - 1)
    }

    private func push(_ kind: Kind, key: (any CodingKey)?) -> (depth: Int, serial: Int) {
        serials += 1
        levels.append(Level(kind: kind, serial: serials, key: key))
        switch kind {
        case .object: bytes.append(UInt8(ascii: "{"))
        case .array: bytes.append(UInt8(ascii: "["))
        case .pending, .single: break
        }
        return (levels.count - 1, serials)
    }

    /// Opens a nested object; it stays open until its parent writes on.
    func openObject<Key: CodingKey>(keyedBy type: Key.Type, key: (any CodingKey)?) -> KeyedEncodingContainer<Key> {
        let (depth, serial) = push(.object, key: key)
        return KeyedEncodingContainer(KeyedStreamContainer<Key>(sink: self, depth: depth, serial: serial))
    }

    /// Opens a nested array; it stays open until its parent writes on.
    func openArray(key: (any CodingKey)?) -> any UnkeyedEncodingContainer {
        let (depth, serial) = push(.array, key: key)
        return UnkeyedStreamContainer(sink: self, depth: depth, serial: serial)
    }

    /// Opens a nested value of any kind, for `superEncoder`.
    func openValue(key: (any CodingKey)?) -> any Encoder {
        let (depth, serial) = push(.pending, key: key)
        return StreamEncoder(sink: self, depth: depth, serial: serial)
    }

    /// Closes every level deeper than `depth`: nested containers end when their parent goes on.
    private func close(above depth: Int) {
        while levels.count - 1 > depth {
            switch levels.removeLast().kind {
            case .pending: bytes.append(contentsOf: "{}".utf8)
            case .object: bytes.append(UInt8(ascii: "}"))
            case .array: bytes.append(UInt8(ascii: "]"))
            case .single: break
            }
        }
    }

    /// Makes level `depth` the innermost open one, checking it is still the caller's.
    func resume(_ depth: Int, _ serial: Int) {
        precondition(depth < levels.count && levels[depth].serial == serial, "a JSON container was used after a sibling or its parent wrote on")
        close(above: depth)
    }

    /// Runs `body`, which writes one member, element or single value at `depth`; if it throws,
    /// takes back everything it wrote, so that a caller who catches the error (`try?`) still
    /// produces valid JSON, as with Foundation's encoder.
    func undoing(_ depth: Int, _ serial: Int, _ body: () throws -> Void) throws {
        resume(depth, serial)
        let (length, levelCount, level) = (bytes.count, levels.count, levels[depth])
        do {
            try body()
        } catch {
            bytes.removeSubrange(length...)
            levels.removeSubrange(levelCount...)
            levels[depth] = level
            throw error
        }
    }

    /// Turns a pending level into `kind`, or checks it already is one.
    func become(_ kind: Kind, _ depth: Int, _ serial: Int) {
        resume(depth, serial)
        let current = levels[depth].kind
        guard current == .pending else {
            precondition(current == kind && kind != .single, "a value may encode one single value, or one keyed or unkeyed container")
            return
        }
        levels[depth].kind = kind
        switch kind {
        case .object: bytes.append(UInt8(ascii: "{"))
        case .array: bytes.append(UInt8(ascii: "["))
        case .pending, .single: break
        }
    }

    /// Writes the separator and `"key":` of the next member of the object at `depth`.
    func member(_ key: some CodingKey, _ depth: Int, _ serial: Int) {
        resume(depth, serial)
        let separator: UInt8? = levels[depth].count > 0 ? UInt8(ascii: ",") : nil
        levels[depth].count += 1
        JSONWriter.appendString(key.stringValue, to: &bytes, after: separator, before: UInt8(ascii: ":"))
    }

    /// Writes the separator of the next element of the array at `depth`.
    func element(_ depth: Int, _ serial: Int) {
        resume(depth, serial)
        if levels[depth].count > 0 { bytes.append(UInt8(ascii: ",")) }
        levels[depth].count += 1
    }

    func count(_ depth: Int) -> Int {
        depth < levels.count ? levels[depth].count : 0
    }

    /// The coding path of level `depth`, for errors.
    func codingPath(_ depth: Int) -> [any CodingKey] {
        guard depth > 0, depth < levels.count else { return [] }
        return (1...depth).map { level in
            levels[level].key ?? JSONKey(intValue: max(levels[level - 1].count - 1, 0))
        }
    }

    func write(_ string: String) {
        JSONWriter.appendString(string, to: &bytes)
    }

    func write(_ value: Bool) {
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
    }

    func writeNull() {
        bytes.append(contentsOf: "null".utf8)
    }

    func write<I: FixedWidthInteger>(_ value: I) {
        JSONWriter.appendInteger(value, to: &bytes)
    }

    func write<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F, _ depth: Int) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath(depth), debugDescription: "\(value) is not representable in JSON"))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }
}

private struct StreamEncoder: Encoder {
    let sink: EncodingSink
    let depth: Int
    let serial: Int

    var codingPath: [any CodingKey] { sink.codingPath(depth) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        sink.become(.object, depth, serial)
        return KeyedEncodingContainer(KeyedStreamContainer<Key>(sink: sink, depth: depth, serial: serial))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        sink.become(.array, depth, serial)
        return UnkeyedStreamContainer(sink: sink, depth: depth, serial: serial)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleStreamContainer(sink: sink, depth: depth, serial: serial)
    }
}

private struct KeyedStreamContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let sink: EncodingSink
    let depth: Int
    let serial: Int

    var codingPath: [any CodingKey] { sink.codingPath(depth) }

    mutating func encodeNil(forKey key: Key) throws { sink.member(key, depth, serial); sink.writeNull() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { sink.member(key, depth, serial); sink.write(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try sink.undoing(depth, serial) { sink.member(key, depth, serial); try sink.write(value, depth) } }
    mutating func encode(_ value: Float, forKey key: Key) throws { try sink.undoing(depth, serial) { sink.member(key, depth, serial); try sink.write(value, depth) } }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try sink.undoing(depth, serial) {
            sink.member(key, depth, serial)
            try sink.encode(value, key: key)
        }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        sink.member(key, depth, serial)
        return sink.openObject(keyedBy: keyType, key: key)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        sink.member(key, depth, serial)
        return sink.openArray(key: key)
    }

    mutating func superEncoder() -> any Encoder {
        superEncoder(under: JSONKey.super)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        superEncoder(under: key)
    }

    private func superEncoder(under key: some CodingKey) -> any Encoder {
        sink.member(key, depth, serial)
        return sink.openValue(key: key)
    }
}

private struct UnkeyedStreamContainer: UnkeyedEncodingContainer {
    let sink: EncodingSink
    let depth: Int
    let serial: Int

    var codingPath: [any CodingKey] { sink.codingPath(depth) }
    var count: Int { sink.count(depth) }

    mutating func encodeNil() throws { sink.element(depth, serial); sink.writeNull() }
    mutating func encode(_ value: Bool) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: String) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: Int) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: Int8) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: Int16) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: Int32) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: Int64) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt8) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt16) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt32) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt64) throws { sink.element(depth, serial); sink.write(value) }
    mutating func encode(_ value: Double) throws { try sink.undoing(depth, serial) { sink.element(depth, serial); try sink.write(value, depth) } }
    mutating func encode(_ value: Float) throws { try sink.undoing(depth, serial) { sink.element(depth, serial); try sink.write(value, depth) } }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try sink.undoing(depth, serial) {
            sink.element(depth, serial)
            try sink.encode(value, key: nil)
        }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        sink.element(depth, serial)
        return sink.openObject(keyedBy: keyType, key: nil)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        sink.element(depth, serial)
        return sink.openArray(key: nil)
    }

    mutating func superEncoder() -> any Encoder {
        sink.element(depth, serial)
        return sink.openValue(key: nil)
    }
}

private struct SingleStreamContainer: SingleValueEncodingContainer {
    let sink: EncodingSink
    let depth: Int
    let serial: Int

    var codingPath: [any CodingKey] { sink.codingPath(depth) }

    mutating func encodeNil() throws { sink.become(.single, depth, serial); sink.writeNull() }
    mutating func encode(_ value: Bool) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: String) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: Int) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: Int8) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: Int16) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: Int32) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: Int64) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt8) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt16) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt32) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: UInt64) throws { sink.become(.single, depth, serial); sink.write(value) }
    mutating func encode(_ value: Double) throws { try sink.undoing(depth, serial) { sink.become(.single, depth, serial); try sink.write(value, depth) } }
    mutating func encode(_ value: Float) throws { try sink.undoing(depth, serial) { sink.become(.single, depth, serial); try sink.write(value, depth) } }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try sink.undoing(depth, serial) {
            sink.become(.single, depth, serial)
            try sink.encode(value, key: nil)
        }
    }
}
