/// Parses one JSON value (RFC 8259) from bytes into a ``JSONValue``.
///
/// Strict where it matters to a daemon reading untrusted input: the input must be valid UTF-8
/// and hold exactly one value (whitespace around it allowed), strings may not hold raw control
/// characters or lone surrogates, and nesting deeper than ``maximumDepth`` is an error instead of
/// a stack overflow. ``JSONEnvelope`` accepts exactly the objects this accepts: both read with
/// the same checking scanner.
public enum JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 256

    /// Parses `bytes`, which must hold one JSON value and nothing else but whitespace.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
        var scanner = JSONScanner(bytes)
        let value = try Self.value(&scanner)
        try scanner.finish()
        return value
    }

    /// Parses the bytes of `collection` (a `[UInt8]`, a `Data`, a NIO buffer's view).
    public static func parse(_ collection: some Collection<UInt8>) throws(JSONSyntaxError) -> JSONValue {
        let parsed: Result<JSONValue, JSONSyntaxError>? = collection.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONSyntaxError) in try parse(UnsafeRawBufferPointer(buffer)) }
        }
        if let parsed { return try parsed.get() }
        let copy = Array(collection)
        return try copy.withUnsafeBytes { buffer in Result { () throws(JSONSyntaxError) in try parse(buffer) } }.get()
    }

    /// Reads one value from `scanner`.
    static func value(_ scanner: inout JSONScanner) throws(JSONSyntaxError) -> JSONValue {
        switch try scanner.beginValue() {
        case .object:
            var members: [JSONValue.Member] = []
            try scanner.members { scanner, key throws(JSONSyntaxError) in
                members.append(JSONValue.Member(key: scanner.text(of: key), value: try value(&scanner)))
            }
            return .object(members)
        case .array:
            var elements: [JSONValue] = []
            try scanner.elements { scanner throws(JSONSyntaxError) in elements.append(try value(&scanner)) }
            return .array(elements)
        case .string(let token):
            return .string(scanner.text(of: token))
        case .number(let literal):
            return .number(JSONNumber(checkedLiteral: String(decoding: UnsafeRawBufferPointer(rebasing: scanner.bytes[literal]), as: UTF8.self)))
        case .bool(let value):
            return .bool(value)
        case .null:
            return .null
        }
    }
}
