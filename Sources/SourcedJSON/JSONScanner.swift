import Glibc

/// Reads JSON (RFC 8259) from bytes one token at a time, checking all that ``JSONParser``
/// promises (the grammar, well-formed UTF-8 in strings, no raw control characters and no lone
/// surrogates in strings, nesting at most ``JSONParser/maximumDepth`` levels deep) without
/// building anything.
///
/// The one validating reader of the module: ``JSONParser`` builds a ``JSONValue`` from what it
/// reads, ``JSONEnvelope`` records where the members of a top-level object lie, and
/// ``skipValue()`` only checks. So all three accept exactly the same inputs.
struct JSONScanner {
    /// What ``beginValue()`` read.
    enum Token {
        /// `{`: a nesting level was entered; ``members(_:)`` reads the rest.
        case object
        /// `[`: a nesting level was entered; ``elements(_:)`` reads the rest.
        case array
        case string(StringToken)
        /// A number: the range of its literal, already checked against the grammar.
        case number(Range<Int>)
        case bool(Bool)
        case null
    }

    /// Where a checked string lies, and what ``text(of:)`` must do to read it.
    struct StringToken {
        /// The bytes between the quotes.
        var content: Range<Int>
        /// Whether `content` holds a backslash escape; if not, it is the string's UTF-8 as it is.
        var isEscaped: Bool
        /// Whether every byte of `content` is ASCII.
        var isASCII: Bool
    }

    let bytes: UnsafeRawBufferPointer
    /// The next byte to read.
    private(set) var offset: Int
    private var depth = 0

    /// A scanner of `bytes` that reads from `offset` on.
    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset, reason: reason)
    }

    mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): offset += 1
            default: return
            }
        }
    }

    /// Checks that only whitespace is left.
    mutating func finish() throws(JSONSyntaxError) {
        skipWhitespace()
        guard offset == bytes.count else { throw error("unexpected data after the value") }
    }

    /// Reads a scalar value whole, or the opening bracket of an object or array (after
    /// whitespace). After `.object` or `.array` the caller must read the members or elements
    /// with ``members(_:)`` or ``elements(_:)``, or skip them with ``skip(_:)``.
    mutating func beginValue() throws(JSONSyntaxError) -> Token {
        skipWhitespace()
        guard offset < bytes.count else { throw error("expected a value, found the end of the input") }
        switch bytes[offset] {
        case UInt8(ascii: "{"): try nest(); return .object
        case UInt8(ascii: "["): try nest(); return .array
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character")
        }
    }

    /// Reads and checks one value without keeping anything of it.
    mutating func skipValue() throws(JSONSyntaxError) {
        try skip(try beginValue())
    }

    /// Reads the rest of a value that `token` began: the members or elements of an object or
    /// array; nothing for a scalar.
    mutating func skip(_ token: Token) throws(JSONSyntaxError) {
        switch token {
        case .object: try members { scanner, _ throws(JSONSyntaxError) in try scanner.skipValue() }
        case .array: try elements { scanner throws(JSONSyntaxError) in try scanner.skipValue() }
        case .string, .number, .bool, .null: break
        }
    }

    /// Reads the members of an object up to and with its `}`, after ``beginValue()`` returned
    /// `.object`. For each member, `member` gets the scanner after the key and its `:`, and
    /// must read exactly one value from it.
    mutating func members(
        _ member: (inout JSONScanner, StringToken) throws(JSONSyntaxError) -> Void
    ) throws(JSONSyntaxError) {
        try items(closedBy: UInt8(ascii: "}")) { scanner throws(JSONSyntaxError) in
            scanner.skipWhitespace()
            guard scanner.offset < scanner.bytes.count, scanner.bytes[scanner.offset] == UInt8(ascii: "\"") else {
                throw scanner.error("expected a string key")
            }
            let key = try scanner.string()
            scanner.skipWhitespace()
            guard scanner.offset < scanner.bytes.count, scanner.bytes[scanner.offset] == UInt8(ascii: ":") else {
                throw scanner.error("expected ':' after a key")
            }
            scanner.offset += 1
            try member(&scanner, key)
        }
    }

    /// Reads the elements of an array up to and with its `]`, after ``beginValue()`` returned
    /// `.array`. `element` must read exactly one value from the scanner it gets.
    mutating func elements(_ element: (inout JSONScanner) throws(JSONSyntaxError) -> Void) throws(JSONSyntaxError) {
        try items(closedBy: UInt8(ascii: "]"), element)
    }

    /// Reads the comma-separated items of an object or array up to and with `closing`, and
    /// leaves the nesting level that its opening bracket entered.
    private mutating func items(
        closedBy closing: UInt8,
        _ item: (inout JSONScanner) throws(JSONSyntaxError) -> Void
    ) throws(JSONSyntaxError) {
        defer { depth -= 1 }
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == closing {
            offset += 1
            return
        }
        while true {
            try item(&self)
            skipWhitespace()
            guard offset < bytes.count else {
                throw error(closing == UInt8(ascii: "}") ? "unterminated object" : "unterminated array")
            }
            switch bytes[offset] {
            case UInt8(ascii: ","): offset += 1
            case closing: offset += 1; return
            default: throw error(closing == UInt8(ascii: "}") ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array")
            }
        }
    }

    private mutating func nest() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= JSONParser.maximumDepth else { throw error("nested deeper than \(JSONParser.maximumDepth) levels") }
        offset += 1
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - offset >= count,
              memcmp(bytes.baseAddress! + offset, word.utf8Start, count) == 0
        else { throw error("invalid literal") }
        offset += count
    }

    private mutating func number() throws(JSONSyntaxError) -> Range<Int> {
        let start = offset
        func digits(_ scanner: inout JSONScanner) -> Int {
            let first = scanner.offset
            while scanner.offset < scanner.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(scanner.bytes[scanner.offset]) {
                scanner.offset += 1
            }
            return scanner.offset - first
        }
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        let integerStart = offset
        let integerDigits = digits(&self)
        guard integerDigits > 0 else { throw error("expected digits in a number") }
        guard integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else { throw error("leading zero in a number") }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard digits(&self) > 0 else { throw error("expected digits after '.'") }
        }
        if offset < bytes.count, bytes[offset] | 0x20 == UInt8(ascii: "e") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard digits(&self) > 0 else { throw error("expected digits in an exponent") }
        }
        return start..<offset
    }

    /// Reads a string starting at its opening quote.
    private mutating func string() throws(JSONSyntaxError) -> StringToken {
        offset += 1
        let start = offset
        var isEscaped = false
        var isASCII = true
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                let token = StringToken(content: start..<offset, isEscaped: isEscaped, isASCII: isASCII)
                offset += 1
                return token
            } else if byte == UInt8(ascii: "\\") {
                isEscaped = true
                try escape()
            } else if byte >= 0x80 {
                isASCII = false
                try utf8Sequence()
            } else if byte < 0x20 {
                throw error("control character in a string")
            } else {
                offset += 1
            }
        }
        throw error("unterminated string")
    }

    /// At a backslash in a string: checks one escape and moves past it. A `\u` escape of a high
    /// surrogate must be followed by one of a low surrogate, and a low one may not stand alone.
    private mutating func escape() throws(JSONSyntaxError) {
        offset += 1
        guard offset < bytes.count else { throw error("unterminated string") }
        switch bytes[offset] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
             UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            offset += 1
        case UInt8(ascii: "u"):
            offset += 1
            let unit = try hex4()
            if (0xD800..<0xDC00).contains(unit) {
                guard bytes.count - offset >= 2, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                    throw error("lone surrogate in a \\u escape")
                }
                offset += 2
                guard (0xDC00..<0xE000).contains(try hex4()) else { throw error("lone surrogate in a \\u escape") }
            } else if (0xDC00..<0xE000).contains(unit) {
                throw error("lone surrogate in a \\u escape")
            }
        default:
            throw error("invalid escape in a string")
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard bytes.count - offset >= 4 else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Self.hexDigit(bytes[offset]) else { throw error("invalid hex digit in a \\u escape") }
            value = value << 4 | digit
            offset += 1
        }
        return value
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// At a byte of 0x80 or more in a string: checks that one well-formed UTF-8 sequence starts
    /// here (Unicode's table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF) and
    /// moves past it.
    private mutating func utf8Sequence() throws(JSONSyntaxError) {
        var second: ClosedRange<UInt8> = 0x80...0xBF
        let length: Int
        switch bytes[offset] {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; second = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; second = 0x80...0x9F
        case 0xF0: length = 4; second = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; second = 0x80...0x8F
        default: throw error("invalid UTF-8 in a string")
        }
        guard bytes.count - offset >= length, second.contains(bytes[offset + 1]) else { throw error("invalid UTF-8 in a string") }
        for index in offset + 2 ..< offset + length where !(0x80...0xBF).contains(bytes[index]) {
            throw error("invalid UTF-8 in a string")
        }
        offset += length
    }

    /// The text of a string this scanner read (escapes resolved).
    func text(of token: StringToken) -> String {
        Self.text(of: token, in: bytes)
    }

    /// The text of a string that a scanner read from `bytes` (escapes resolved). Only for
    /// tokens of a scanner: the bytes are not checked again.
    static func text(of token: StringToken, in bytes: UnsafeRawBufferPointer) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[token.content])
        guard token.isEscaped else { return String(decoding: raw, as: UTF8.self) }
        // No escape is shorter than the UTF-8 it stands for: the text fits in `raw.count` bytes.
        return String(unsafeUninitializedCapacity: raw.count) { text in
            var count = 0
            var index = 0
            func append(_ byte: UInt8) {
                text[count] = byte
                count += 1
            }
            while index < raw.count {
                let byte = raw[index]
                index += 1
                guard byte == UInt8(ascii: "\\") else {
                    append(byte)
                    continue
                }
                let escape = raw[index]
                index += 1
                switch escape {
                case UInt8(ascii: "b"): append(0x08)
                case UInt8(ascii: "f"): append(0x0C)
                case UInt8(ascii: "n"): append(0x0A)
                case UInt8(ascii: "r"): append(0x0D)
                case UInt8(ascii: "t"): append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = codeUnit(raw, index)
                    index += 4
                    if (0xD800..<0xDC00).contains(scalar) {
                        // Checked: `\u` and a low surrogate follow.
                        scalar = 0x10000 &+ ((scalar &- 0xD800) << 10) &+ (codeUnit(raw, index + 2) &- 0xDC00)
                        index += 6
                    }
                    // Checked: below 0x110000 and not a surrogate.
                    for byte in (Unicode.Scalar(scalar) ?? "\u{FFFD}").utf8 { append(byte) }
                default: append(escape) // `"`, `\` or `/`
                }
            }
            return count
        }
    }

    /// The four checked hex digits of a `\u` escape at `index`.
    private static func codeUnit(_ raw: UnsafeRawBufferPointer, _ index: Int) -> UInt32 {
        (index..<index + 4).reduce(0) { value, index in value << 4 | (hexDigit(raw[index]) ?? 0) }
    }
}
