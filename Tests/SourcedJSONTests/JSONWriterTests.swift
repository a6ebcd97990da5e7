import SourcedCore
import SourcedJSON
import Testing

@Suite struct JSONWriterTests {
    private func text(_ writer: JSONWriter) -> String {
        String(decoding: writer.bytes, as: UTF8.self)
    }

    @Test func writesSeparatorsAndEveryKindOfValue() throws {
        var writer = JSONWriter(minimumCapacity: 64)
        writer.beginObject()
        writer.writeKey("ok"); writer.write(true)
        writer.writeKey("no"); writer.write(false)
        writer.writeKey("none"); writer.writeNull()
        writer.writeKey("s"); writer.write("x")
        writer.writeKey("i"); writer.write(Int.min)
        writer.writeKey("l"); writer.write(Int64.min)
        writer.writeKey("u"); writer.write(UInt64.max)
        writer.writeKey("empty"); writer.beginObject(); writer.endObject()
        writer.writeKey("list")
        writer.beginArray()
        writer.write(0)
        writer.beginArray(); writer.endArray()
        writer.beginObject(); writer.writeKey("k"); writer.beginArray(); writer.write("v"); writer.endArray(); writer.endObject()
        writer.writeNull()
        writer.endArray()
        writer.endObject()
        let expected = #"{"ok":true,"no":false,"none":null,"s":"x","i":-9223372036854775808,"l":-9223372036854775808,"#
            + #""u":18446744073709551615,"empty":{},"list":[0,[],{"k":["v"]},null]}"#
        #expect(text(writer) == expected)
        _ = try JSONParser.parse(writer.bytes)
    }

    /// Strings and keys come out as ``JSONStreamEncoder`` writes them, and read back the same.
    @Test(arguments: ["", "plain", "a \"quoted\"\n\t/ \u{01}\u{1F}\u{7F} é 😀 \\", "\u{08}\u{0C}\r\u{0}", "K\u{212A}e\u{301}"])
    func escapesStringsAsTheEncoderDoes(_ string: String) throws {
        var writer = JSONWriter()
        writer.write(string)
        #expect(writer.bytes == (try JSONStreamEncoder().encode(string)))
        #expect(try JSONParser.parse(writer.bytes) == .string(string))
        var object = JSONWriter()
        object.beginObject(); object.writeKey(string); object.write(1); object.endObject()
        #expect(try JSONParser.parse(object.bytes) == .object([.init(key: string, value: 1)]))
    }

    @Test func echoesRawValuesAndEncodables() throws {
        let line = #"{"req": [1, {"a":"b"}] ,"op":"execute"}"#
        let bytes = try JSONEnvelope.withScanned(Array(line.utf8)) { request in
            var writer = JSONWriter(appendingTo: Array("prefix ".utf8))
            writer.beginObject()
            writer.writeKey("events")
            writer.beginArray()
            try writer.write(encoding: TaggedCoding(Counter.Event.incremented(count: 2)))
            try writer.write(encoding: TaggedCoding(Counter.Event.created))
            writer.endArray()
            writer.writeKey("state"); try writer.write(encoding: Counter.State(count: 2))
            writer.writeKey("req"); writer.writeRaw(request.rawValue(forKey: "req")!)
            writer.endObject()
            return writer.bytes
        }
        #expect(String(decoding: bytes, as: UTF8.self)
            == #"prefix {"events":[{"type":"incremented","count":2},{"type":"created"}],"state":{"count":2},"req":[1, {"a":"b"}]}"#)
    }

    /// An `Encodable` that fails leaves nothing behind: not its separator, not half a value.
    @Test func aFailedEncodingWritesNothing() throws {
        var writer = JSONWriter()
        writer.beginArray()
        writer.write(1)
        #expect(throws: EncodingError.self) { try writer.write(encoding: [Double.nan]) }
        writer.write(2)
        writer.endArray()
        #expect(text(writer) == "[1,2]")
    }

    /// Readers that split lines on U+2028 and U+2029 (Python's `splitlines`) must never see them raw.
    @Test func escapesTheLineAndParagraphSeparators() throws {
        let cases: [(String, String)] = [
            ("a\u{2028}b", #""a\u2028b""#), ("\u{2029}", #""\u2029""#), ("x\u{2028}\u{2029}", #""x\u2028\u2029""#),
            ("€ \u{2027} \u{202A}", "\"€ \u{2027} \u{202A}\""), (String(repeating: "é", count: 40) + "\u{2028}", "\"" + String(repeating: "é", count: 40) + #"\u2028""#),
        ]
        for (string, expected) in cases {
            var writer = JSONWriter()
            writer.write(string)
            #expect(text(writer) == expected)
            #expect(String(decoding: try JSONStreamEncoder().encode(string), as: UTF8.self) == expected)
            #expect(try JSONParser.parse(writer.bytes) == .string(string))
        }
    }
}
