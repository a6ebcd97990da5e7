import Glibc

/// The members of one JSON object, such as a request line, found in one checking pass with
/// their values left as bytes: where ``JSONParser`` builds a tree of every value, this keeps a
/// small table of each member's key and the byte range of its value, and converts only the
/// members that are asked for.
///
/// Guarantees:
/// - It accepts exactly the inputs ``JSONParser/parse(_:)-(UnsafeRawBufferPointer)`` accepts
///   and parses into an object: the whole input is checked (grammar, UTF-8, no lone surrogates,
///   nesting at most ``JSONParser/maximumDepth`` levels, nothing but whitespace after the
///   object) by the scanner the parser uses, with the same error for the same fault.
/// - Lookups see what ``JSONValue``'s subscript and ``JSONNodeDecoder`` see: of a duplicated key
///   the last member counts, and keys are compared as Swift strings (escapes resolved, canonical
///   equivalence), byte by byte when both are plain ASCII.
/// - `decode` returns what ``JSONNodeDecoder`` returns from the parsed member, and throws the
///   same errors (coding path `[key]`).
/// - Scanning allocates only the member table (a key range and a value range per member: one
///   array with room for 8, grown beyond that), nothing per member or value. Values are
///   converted only when asked for; `String`, `Bool` and integer members without a ``JSONValue``.
///
/// An envelope borrows its bytes: use it only while they stay alive and unchanged, as inside
/// `withUnsafeBytes` or ``withScanned(_:_:)``.
///
///     enum Field: String, CodingKey { case op, command }
///     let line = #"{"op":"execute","id":"c42","command":{"type":"increment"},"req":7}"#
///     try JSONEnvelope.withScanned(line.utf8) { request in
///         let op = try request.decode(String.self, forKey: Field.op)             // "execute"
///         let command = try request.decode(Command.self, forKey: Field.command)   // any Decodable
///         let req = request.rawValue(forKey: "req")                               // the bytes `7`
///     }
public struct JSONEnvelope {
    /// Why bytes are not a JSON object.
    public enum ScanError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The bytes are not one JSON value; the error is the one ``JSONParser`` throws.
        case invalidJSON(JSONSyntaxError)
        /// The bytes are one JSON value, but not an object; `kind` says what it is ("an array").
        case notAnObject(kind: String)

        public var description: String {
            switch self {
            case .invalidJSON(let error): "not valid JSON: \(error)"
            case .notAnObject(let kind): "expected a JSON object, found \(kind)"
            }
        }
    }

    struct Member {
        var key: JSONScanner.StringToken
        /// The value's JSON text, without the whitespace around it.
        var value: Range<Int>
        /// For a string value: whether it holds escapes.
        var valueIsEscaped: Bool
    }

    /// The scanned input, borrowed.
    public let bytes: UnsafeRawBufferPointer
    /// How many members the object has, counting each occurrence of a duplicated key.
    public var count: Int { members.count }
    /// In input order. An array, not an inline table: copying an inline table out of `self`
    /// at each lookup cost more than the allocation.
    private let members: [Member]

    /// Scans `bytes`, which must hold one JSON object and nothing else but whitespace.
    public init(_ bytes: UnsafeRawBufferPointer) throws(ScanError) {
        var scanner = JSONScanner(bytes)
        var members: [Member] = []
        let isObject: Bool
        do throws(JSONSyntaxError) {
            let top = try scanner.beginValue()
            if case .object = top {
                isObject = true
                try Self.members(&scanner, into: &members)
            } else {
                isObject = false
                try scanner.skip(top)
            }
            try scanner.finish()
        } catch {
            throw .invalidJSON(error)
        }
        guard isObject else {
            // Checked above: parsing cannot fail.
            throw .notAnObject(kind: (try? JSONParser.parse(bytes))?.kind ?? "a value")
        }
        self.bytes = bytes
        self.members = members
    }

    /// An envelope of an object whose members lie in `bytes`, found by ``members(_:)``.
    init(bytes: UnsafeRawBufferPointer, members: [Member]) {
        self.bytes = bytes
        self.members = members
    }

    /// Reads the members of an object into `members`, emptied first, after the scanner's
    /// ``JSONScanner/beginValue()`` returned `.object`, up to and with its `}`.
    static func members(_ scanner: inout JSONScanner, into members: inout [Member]) throws(JSONSyntaxError) {
        members.removeAll(keepingCapacity: true)
        members.reserveCapacity(8)
        try scanner.members { scanner, key throws(JSONSyntaxError) in
            scanner.skipWhitespace()
            let start = scanner.offset
            let value = try scanner.beginValue()
            try scanner.skip(value)
            var member = Member(key: key, value: start..<scanner.offset, valueIsEscaped: false)
            if case .string(let string) = value { member.valueIsEscaped = string.isEscaped }
            members.append(member)
        }
    }

    /// Scans the bytes of `collection` (a `[UInt8]`, a `String.UTF8View`, a NIO buffer's view;
    /// copied first if not contiguous) and runs `body` with the envelope, which must not outlive
    /// the call. Throws ``ScanError`` if the bytes are not a JSON object, or what `body` throws.
    public static func withScanned<Result>(
        _ collection: some Collection<UInt8>,
        _ body: (JSONEnvelope) throws -> Result
    ) throws -> Result {
        let result = try collection.withContiguousStorageIfAvailable { buffer in
            try body(try JSONEnvelope(UnsafeRawBufferPointer(buffer)))
        }
        if let result { return result }
        return try Array(collection).withUnsafeBytes { buffer in try body(try JSONEnvelope(buffer)) }
    }

    // MARK: Raw members

    /// Whether the object has a member `key`, of any value (`null` too).
    public func contains(_ key: String) -> Bool {
        member(key) != nil
    }

    /// Where the value of member `key` lies in ``bytes``: its JSON text, checked, without the
    /// whitespace around it. `nil` if there is no such member.
    public func valueRange(forKey key: String) -> Range<Int>? {
        member(key)?.value
    }

    /// The JSON text of member `key`'s value (a slice of ``bytes``, so as long-lived as they
    /// are), e.g. to echo it verbatim or to hand it to ``JSONParser``. `nil` if there is no such
    /// member.
    public func rawValue(forKey key: String) -> UnsafeRawBufferPointer? {
        member(key).map { UnsafeRawBufferPointer(rebasing: bytes[$0.value]) }
    }

    /// Member `key`'s value parsed: what `JSONParser.parse(bytes)[key]` is. `nil` if there is no
    /// such member.
    public func value(forKey key: String) -> JSONValue? {
        member(key).flatMap(parsed)
    }

    // MARK: Decoding

    /// Decodes member `key` as `type`, with `decoder`'s rules and `userInfo`: the value and the
    /// errors are those of `decoder.decode(type, from: value, codingPath: [key])` on the parsed
    /// member (`typeMismatch`, `valueNotFound` for `null`, `dataCorrupted` for an integer that
    /// is not exact or does not fit), and a missing member throws `DecodingError.keyNotFound`,
    /// as a keyed container does.
    ///
    /// `String`, `Bool`, `Int`, `Int64` and `UInt64` values are read straight from the bytes;
    /// any other type, and any error, goes through a ``JSONValue`` of just this member.
    public func decode<T: Decodable>(
        _ type: T.Type,
        forKey key: some CodingKey,
        using decoder: JSONNodeDecoder = JSONNodeDecoder()
    ) throws -> T {
        guard let member = member(key.stringValue) else { throw missing(key) }
        return try value(type, member, key, decoder)
    }

    /// Like ``decode(_:forKey:using:)``, but `nil` when the member is missing or `null`, as
    /// `decodeIfPresent` of a keyed container.
    public func decodeIfPresent<T: Decodable>(
        _ type: T.Type,
        forKey key: some CodingKey,
        using decoder: JSONNodeDecoder = JSONNodeDecoder()
    ) throws -> T? {
        guard let member = member(key.stringValue), !isNull(member) else { return nil }
        return try value(type, member, key, decoder)
    }

    /// Whether member `key` is `null`; throws `DecodingError.keyNotFound` if it is missing, as
    /// `decodeNil(forKey:)` of a keyed container.
    public func decodeNil(forKey key: some CodingKey) throws -> Bool {
        guard let member = member(key.stringValue) else { throw missing(key) }
        return isNull(member)
    }

    // MARK: Internals

    /// The error of a keyed container for a missing key.
    private func missing(_ key: some CodingKey) -> DecodingError {
        .keyNotFound(key, .init(codingPath: [], debugDescription: "No value associated with key \"\(key.stringValue)\"."))
    }

    /// The last member named `name`.
    private func member(_ name: String) -> Member? {
        var contiguous = name
        return contiguous.withUTF8 { utf8 in
            var nameIsASCII: Bool?
            for candidate in members.reversed() {
                let key = candidate.key
                if key.isASCII, !key.isEscaped {
                    if key.content.count == utf8.count,
                       utf8.isEmpty || memcmp(bytes.baseAddress! + key.content.lowerBound, utf8.baseAddress!, utf8.count) == 0 {
                        return candidate
                    }
                    if nameIsASCII == nil { nameIsASCII = utf8.allSatisfy { $0 < 0x80 } }
                    // Different ASCII strings are different Swift strings.
                    if nameIsASCII == true { continue }
                }
                // Escapes, or characters beyond ASCII: compared as `JSONValue` compares keys.
                if JSONScanner.text(of: key, in: bytes) == name { return candidate }
            }
            return nil
        }
    }

    private func firstByte(_ member: Member) -> UInt8 {
        bytes[member.value.lowerBound]
    }

    private func isNull(_ member: Member) -> Bool {
        firstByte(member) == UInt8(ascii: "n")
    }

    /// The member's value parsed; never `nil`, as the scan checked these bytes.
    private func parsed(_ member: Member) -> JSONValue? {
        var scanner = JSONScanner(bytes, offset: member.value.lowerBound)
        return try? JSONParser.value(&scanner)
    }

    /// The member's value as `type`. `String`, `Bool`, `Int`, `Int64` and `UInt64` are read
    /// straight from the bytes where that gives the decoder's result; everything else (other
    /// types, other kinds of value, numbers with a fraction or an exponent, numbers that do not
    /// fit) goes to `decoder`.
    private func value<T: Decodable>(_ type: T.Type, _ member: Member, _ key: some CodingKey, _ decoder: JSONNodeDecoder) throws -> T {
        // Concrete paths, chosen by identity: no generic metadata or copies on the hot path.
        if type == String.self, let value = string(member) { return unsafeBitCast(value, to: T.self) }
        if type == Bool.self, let value = bool(member) { return unsafeBitCast(value, to: T.self) }
        if type == Int.self, let value = integer(Int.self, member) { return unsafeBitCast(value, to: T.self) }
        if type == Int64.self, let value = integer(Int64.self, member) { return unsafeBitCast(value, to: T.self) }
        if type == UInt64.self, let value = integer(UInt64.self, member) { return unsafeBitCast(value, to: T.self) }
        return try decoder.decode(type, from: parsed(member) ?? .null, codingPath: [key])
    }

    private func string(_ member: Member) -> String? {
        guard firstByte(member) == UInt8(ascii: "\"") else { return nil }
        let content = member.value.lowerBound + 1 ..< member.value.upperBound - 1
        return JSONScanner.text(of: .init(content: content, isEscaped: member.valueIsEscaped, isASCII: false), in: bytes)
    }

    private func bool(_ member: Member) -> Bool? {
        switch firstByte(member) {
        case UInt8(ascii: "t"): true
        case UInt8(ascii: "f"): false
        default: nil
        }
    }

    /// An integer written as `-?[0-9]+` that fits in `type`: where `T(literal, radix: 10)`,
    /// which ``JSONNodeDecoder`` tries first, succeeds, with the same value.
    private func integer<T: FixedWidthInteger>(_ type: T.Type, _ member: Member) -> T? {
        var index = member.value.lowerBound
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var value: T = 0
        while index < member.value.upperBound {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, overflowed) = value.multipliedReportingOverflow(by: 10)
            let (next, carried) = negative ? shifted.subtractingReportingOverflow(T(digit)) : shifted.addingReportingOverflow(T(digit))
            guard !overflowed, !carried else { return nil }
            value = next
            index += 1
        }
        return value
    }
}
