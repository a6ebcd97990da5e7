/// Writes compact JSON into a byte array token by token: for lines of a fixed shape (a reply's
/// envelope), where going through `Encodable` costs more than the bytes themselves.
///
/// The writer puts a `,` before every member and element after the first, and writes strings
/// and integers exactly as ``JSONStreamEncoder`` does (the same code: `"`, `\`, control
/// characters and U+2028/U+2029 escaped, `/` and all other characters as they are). It does not check the shape:
/// the caller writes keys only inside objects, one value after each key, and closes what it
/// opens.
///
///     var writer = JSONWriter()
///     writer.beginObject()
///     writer.writeKey("ok"); writer.write(true)
///     writer.writeKey("version"); writer.write(UInt64(42))
///     writer.endObject()
///     // writer.bytes: {"ok":true,"version":42}
public struct JSONWriter: Sendable {
    /// What was written, after the bytes the writer was given.
    public var bytes: [UInt8]
    /// Whether the next member or element follows a sibling and so needs a `,`.
    private var needsSeparator = false

    /// A writer appending to `bytes`; `minimumCapacity` reserves room up front.
    public init(appendingTo bytes: [UInt8] = [], minimumCapacity: Int = 0) {
        self.bytes = bytes
        self.bytes.reserveCapacity(minimumCapacity)
    }

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    /// Writes `"key":`; the member's value comes next.
    public mutating func writeKey(_ key: String) {
        Self.appendString(key, to: &bytes, after: needsSeparator ? UInt8(ascii: ",") : nil, before: UInt8(ascii: ":"))
        needsSeparator = false
    }

    public mutating func write(_ value: String) {
        Self.appendString(value, to: &bytes, after: needsSeparator ? UInt8(ascii: ",") : nil)
        needsSeparator = true
    }

    public mutating func write(_ value: Int) { writeInteger(value) }
    public mutating func write(_ value: Int64) { writeInteger(value) }
    public mutating func write(_ value: UInt64) { writeInteger(value) }

    public mutating func write(_ value: Bool) {
        separate()
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
        needsSeparator = true
    }

    public mutating func writeNull() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsSeparator = true
    }

    /// Writes `json`, which must be one JSON value, as it is: e.g. a member's text from
    /// ``JSONEnvelope/rawValue(forKey:)`` echoed verbatim.
    public mutating func writeRaw(_ json: UnsafeRawBufferPointer) {
        separate()
        bytes.append(contentsOf: json)
        needsSeparator = true
    }

    /// Writes `value` as it is: numbers as their literal text, object members in their order
    /// (a repeated key too).
    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null:
            writeNull()
        case .bool(let bool):
            write(bool)
        case .number(let number):
            separate()
            bytes.append(contentsOf: number.literal.utf8)
            needsSeparator = true
        case .string(let string):
            write(string)
        case .array(let elements):
            beginArray()
            for element in elements { write(element) }
            endArray()
        case .object(let members):
            beginObject()
            for member in members {
                writeKey(member.key)
                write(member.value)
            }
            endObject()
        }
    }

    /// Writes `value`: with its own ``JSONWritable`` code if it has it, else with
    /// ``JSONStreamEncoder``. If encoding throws, nothing is written.
    public mutating func write(encoding value: some Encodable) throws {
        if let writable = value as? any JSONWritable {
            return writable.write(to: &self)
        }
        let start = bytes.count
        separate()
        do {
            try JSONStreamEncoder().encode(value, appendingTo: &bytes)
        } catch {
            bytes.removeSubrange(start...)
            throw error
        }
        needsSeparator = true
    }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        needsSeparator = false
    }

    private mutating func close(_ bracket: UInt8) {
        bytes.append(bracket)
        needsSeparator = true
    }

    private mutating func writeInteger(_ value: some FixedWidthInteger) {
        separate()
        Self.appendInteger(value, to: &bytes)
        needsSeparator = true
    }

    private mutating func separate() {
        if needsSeparator { bytes.append(UInt8(ascii: ",")) }
    }

    /// Appends `string` as a JSON string: quoted, with `"`, `\` and the control characters
    /// escaped (as `\n`, `\r`, `\t`, `\b`, `\f`, or `\u00XX`), and the line and paragraph
    /// separators U+2028 and U+2029 as `\u2028` and `\u2029` (readers that split lines on them,
    /// such as Python's `splitlines`, would otherwise cut a reply in two); everything else as it
    /// is; with `prefix` before it and `suffix` after it, if given.
    static func appendString(_ string: String, to bytes: inout [UInt8], after prefix: UInt8? = nil, before suffix: UInt8? = nil) {
        /// Whether `byte` is escaped, or (0xE2) may begin U+2028 or U+2029.
        func needsEscape(_ byte: UInt8) -> Bool {
            byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0xE2
        }
        var string = string
        string.withUTF8 { utf8 in
            // Short and nothing to escape (keys, names, ids): one append, as each costs a
            // uniqueness check, a capacity check and a copy call.
            if utf8.count <= 60, !utf8.contains(where: needsEscape) {
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
                    var count = 0
                    func put(_ byte: UInt8) {
                        buffer[count] = byte
                        count += 1
                    }
                    if let prefix { put(prefix) }
                    put(UInt8(ascii: "\""))
                    for byte in utf8 { put(byte) }
                    put(UInt8(ascii: "\""))
                    if let suffix { put(suffix) }
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<count]))
                }
                return
            }
            if let prefix { bytes.append(prefix) }
            bytes.append(UInt8(ascii: "\""))
            var start = 0
            for index in utf8.indices where needsEscape(utf8[index]) {
                if utf8[index] == 0xE2 {
                    // U+2028 is E2 80 A8 in UTF-8, U+2029 E2 80 A9; other characters stay as they are.
                    guard index + 2 < utf8.count, utf8[index + 1] == 0x80, utf8[index + 2] & 0xFE == 0xA8 else { continue }
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                    bytes.append(contentsOf: utf8[index + 2] == 0xA8 ? Array(#"\u2028"#.utf8) : Array(#"\u2029"#.utf8))
                    start = index + 3
                    continue
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                appendEscape(utf8[index], to: &bytes)
                start = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
            bytes.append(UInt8(ascii: "\""))
            if let suffix { bytes.append(suffix) }
        }
    }

    private static func appendEscape(_ byte: UInt8, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
        case 0x0A: bytes.append(UInt8(ascii: "n"))
        case 0x0D: bytes.append(UInt8(ascii: "r"))
        case 0x09: bytes.append(UInt8(ascii: "t"))
        case 0x08: bytes.append(UInt8(ascii: "b"))
        case 0x0C: bytes.append(UInt8(ascii: "f"))
        default:
            func hexDigit(_ nibble: UInt8) -> UInt8 {
                nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            }
            bytes.append(contentsOf: "u00".utf8)
            bytes.append(hexDigit(byte >> 4))
            bytes.append(hexDigit(byte & 0x0F))
        }
    }

    /// Appends `value` in decimal.
    static func appendInteger<I: FixedWidthInteger>(_ value: I, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = UInt64(value.magnitude)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }
}
