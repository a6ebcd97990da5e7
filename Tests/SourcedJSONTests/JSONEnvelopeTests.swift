import SourcedJSON
import Testing

@Suite struct JSONEnvelopeTests {
    private enum Field: String, CodingKey {
        case op, model, id, command, req, expect, missing
    }

    /// Scans `text` and runs `body` on the envelope.
    private func scanned<R>(_ text: String, _ body: (JSONEnvelope) throws -> R) throws -> R {
        try JSONEnvelope.withScanned(Array(text.utf8), body)
    }

    /// The outcome of scanning `bytes`, or of parsing them and requiring an object, as text.
    private func scanOutcome(_ bytes: [UInt8]) -> String {
        do {
            return try JSONEnvelope.withScanned(bytes) { "object of \($0.count)" }
        } catch let error as JSONEnvelope.ScanError {
            return "\(error)"
        } catch {
            return "unexpected \(error)"
        }
    }

    private func parseOutcome(_ bytes: [UInt8]) -> String {
        do {
            let node = try JSONParser.parse(bytes)
            guard case .object(let members) = node else { return "expected a JSON object, found \(node.kind)" }
            return "object of \(members.count)"
        } catch {
            return "not valid JSON: \(error)"
        }
    }

    // MARK: Acceptance

    /// Over hand-written, mutated and generated inputs, the envelope accepts exactly what the
    /// parser accepts as an object, with the same error otherwise, and sees the same members.
    @Test func acceptsExactlyWhatTheParserAcceptsAsAnObject() throws {
        let inputs = JSONTestInputs.stream(count: 30_000, seed: 0x5EED) { (try? JSONParser.parse($0)) != nil }
        var objects = 0
        for input in inputs {
            let expected = parseOutcome(input)
            #expect(scanOutcome(input) == expected, "\(String(decoding: input, as: UTF8.self).debugDescription)")
            guard case .object(let members)? = try? JSONParser.parse(input) else { continue }
            objects += 1
            let node = JSONValue.object(members)
            try JSONEnvelope.withScanned(input) { envelope throws in
                for key in members.map(\.key) + ["missing"] {
                    // Compared as written, so that even the numbers' text must agree.
                    #expect(written(envelope.value(forKey: key)) == written(node[key]), "\(key) in \(String(decoding: input, as: UTF8.self).debugDescription)")
                    #expect(envelope.contains(key) == (node[key] != nil))
                    if let raw = envelope.rawValue(forKey: key) {
                        #expect(written(try JSONParser.parse(raw)) == written(node[key]))
                    }
                }
            }
        }
        #expect(objects > 8_000)
    }

    @Test(arguments: JSONTestInputs.invalid)
    func rejectsWhatTheParserRejects(_ input: String) {
        #expect(throws: JSONEnvelope.ScanError.self) { try scanned(input) { _ in } }
        #expect(scanOutcome(Array(input.utf8)) == parseOutcome(Array(input.utf8)))
    }

    @Test func refusesValuesThatAreNotObjects() throws {
        for (input, kind) in [("[1]", "an array"), (#" "x" "#, "a string"), ("1", "a number"), ("null", "null"), ("true", "a boolean")] {
            #expect(throws: JSONEnvelope.ScanError.notAnObject(kind: kind)) { try scanned(input) { _ in } }
        }
        // Not JSON at all is a syntax error, even if it starts like another kind of value.
        #expect(throws: JSONEnvelope.ScanError.invalidJSON(JSONSyntaxError(offset: 2, reason: "unterminated array"))) {
            try scanned("[1") { _ in }
        }
        #expect(throws: JSONEnvelope.ScanError.invalidJSON(JSONSyntaxError(offset: 9, reason: "unexpected data after the value"))) {
            try scanned(#"{"a":1}  x"#) { _ in }
        }
    }

    @Test func rejectsInvalidUTF8AsTheParserDoes() {
        for bytes: [UInt8] in [[0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D], [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D]] {
            #expect(scanOutcome(bytes) == parseOutcome(bytes))
            #expect(scanOutcome(bytes).contains("invalid UTF-8"))
        }
    }

    @Test func boundsNestingAsTheParserDoes() throws {
        func nested(_ depth: Int) -> String {
            #"{"a":"# + String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1) + "}"
        }
        let deepest = nested(JSONParser.maximumDepth)
        #expect(try scanned(deepest) { $0.rawValue(forKey: "a")?.count } == 2 * (JSONParser.maximumDepth - 1))
        let tooDeep = Array(nested(JSONParser.maximumDepth + 1).utf8)
        #expect(scanOutcome(tooDeep) == parseOutcome(tooDeep))
        #expect(scanOutcome(tooDeep).contains("nested deeper than 256 levels"))
        let hostile = Array(("{\"a\":" + String(repeating: "[", count: 1_000_000)).utf8)
        #expect(scanOutcome(hostile) == parseOutcome(hostile))
    }

    // MARK: Members

    @Test func recordsTheRawTextOfEachValue() throws {
        try scanned(" {\"a\" :  [1, 2]\t, \"b\":{\"c\":\"}\"} ,\"n\":null}\n") { envelope throws in
            #expect(envelope.count == 3)
            #expect(envelope.rawValue(forKey: "a").map { String(decoding: $0, as: UTF8.self) } == "[1, 2]")
            #expect(envelope.rawValue(forKey: "b").map { String(decoding: $0, as: UTF8.self) } == #"{"c":"}"}"#)
            #expect(envelope.valueRange(forKey: "n").map { envelope.bytes[$0].count } == 4)
            #expect(envelope.rawValue(forKey: "c") == nil)
            #expect(envelope.value(forKey: "b") == .object([.init(key: "c", value: .string("}"))]))
        }
    }

    /// Of a duplicated key the last member counts, as in ``JSONValue`` and ``JSONNodeDecoder``.
    @Test func lastOfDuplicateKeysWins() throws {
        let line = #"{"op":"get","id":"a","op":"execute","id":1}"#
        let node = try JSONParser.parse(Array(line.utf8))
        try scanned(line) { envelope throws in
            #expect(envelope.count == 4)
            #expect(try envelope.decode(String.self, forKey: Field.op) == "execute")
            #expect(envelope.value(forKey: "op") == node["op"])
            #expect(throws: DecodingError.self) { try envelope.decode(String.self, forKey: Field.id) }
        }
    }

    /// Keys match as Swift strings match: escapes resolved, canonically equivalent forms equal.
    @Test func matchesKeysAsStrings() throws {
        let line = #"{"\u006fp":"escaped","mod\u00e9l":1,"e\u0301":2,"\u212A":3,"\ud83d\ude00":4,"":5}"#
        let node = try JSONParser.parse(Array(line.utf8))
        try scanned(line) { envelope throws in
            #expect(try envelope.decode(String.self, forKey: Field.op) == "escaped")
            for key in ["op", "modél", "mod\u{65}\u{301}l", "é", "e\u{301}", "K", "\u{212A}", "😀", "", "o", "opp"] {
                #expect(envelope.value(forKey: key) == node[key], "\(key.debugDescription)")
                #expect(envelope.contains(key) == (node[key] != nil))
            }
        }
    }

    // MARK: Decoding

    @Test func decodesStringsWithEscapesAndSurrogatePairs() throws {
        let line = #"{"a":"x\u00e9\ud83d\ude00\/\"\\\n\t\b\f\r\u0000","b":"plain","c":"é😀","d":"\uD834\uDD1E"}"#
        try scanned(line) { envelope throws in
            #expect(try envelope.decode(String.self, forKey: JSONKey(stringValue: "a")) == "xé😀/\"\\\n\t\u{08}\u{0C}\r\u{0}")
            #expect(try envelope.decode(String.self, forKey: JSONKey(stringValue: "b")) == "plain")
            #expect(try envelope.decode(String.self, forKey: JSONKey(stringValue: "c")) == "é😀")
            #expect(try envelope.decode(String.self, forKey: JSONKey(stringValue: "d")) == "\u{1D11E}")
        }
    }

    @Test func decodesIntegersExactlyAsTheDecoder() throws {
        let line = #"{"max":18446744073709551615,"over":18446744073709551616,"min":-9223372036854775808,"under":-9223372036854775809,"zero":-0,"one":1.0,"exp":2e2,"frac":1.5,"inexact":9007199254740993.0,"neg":-1}"#
        try scanned(line) { envelope throws in
            func key(_ name: String) -> JSONKey { JSONKey(stringValue: name) }
            #expect(try envelope.decode(UInt64.self, forKey: key("max")) == .max)
            #expect(throws: DecodingError.self) { try envelope.decode(UInt64.self, forKey: key("over")) }
            #expect(try envelope.decode(Int64.self, forKey: key("min")) == .min)
            #expect(try envelope.decode(Int.self, forKey: key("min")) == .min)
            #expect(throws: DecodingError.self) { try envelope.decode(Int64.self, forKey: key("under")) }
            #expect(try envelope.decode(UInt64.self, forKey: key("zero")) == 0)
            #expect(try envelope.decode(Int.self, forKey: key("one")) == 1)
            #expect(try envelope.decode(UInt64.self, forKey: key("exp")) == 200)
            #expect(throws: DecodingError.self) { try envelope.decode(Int.self, forKey: key("frac")) }
            #expect(try envelope.decode(Int.self, forKey: key("inexact")) == 9_007_199_254_740_993, "exact as written")
            #expect(throws: DecodingError.self) { try envelope.decode(UInt64.self, forKey: key("neg")) }
            #expect(try envelope.decode(Int8.self, forKey: key("neg")) == -1)
            #expect(try envelope.decode(Double.self, forKey: key("frac")) == 1.5)
        }
    }

    /// Over many objects, every member, every hot type, `decode` and `decodeIfPresent`: the same
    /// values and the same errors as a keyed container of ``JSONNodeDecoder``.
    @Test func decodesAsAKeyedContainerDoes() throws {
        let inputs = JSONTestInputs.stream(count: 6_000, seed: 0xDEC0DE) { (try? JSONParser.parse($0)) != nil }
        for input in inputs {
            guard case .object(let members)? = try? JSONParser.parse(input) else { continue }
            try JSONEnvelope.withScanned(input) { envelope throws in
                for name in members.map(\.key) + ["missing"] {
                    let context = "\(name.debugDescription) in \(String(decoding: input, as: UTF8.self).debugDescription)"
                    #expect(compare(String.self, name, input, envelope), "\(context)")
                    #expect(compare(Int.self, name, input, envelope), "\(context)")
                    #expect(compare(Int64.self, name, input, envelope), "\(context)")
                    #expect(compare(UInt64.self, name, input, envelope), "\(context)")
                    #expect(compare(Bool.self, name, input, envelope), "\(context)")
                    #expect(compare(UInt8.self, name, input, envelope), "\(context)")
                    #expect(compare([String: Int].self, name, input, envelope), "\(context)")
                    let expectedNil = Result<Bool, any Error> { try JSONNodeDecoder().decode(MemberIsNil.self, from: JSONParser.parse(input), key: name).value }
                    #expect(same(Result { try envelope.decodeNil(forKey: JSONKey(stringValue: name)) }, expectedNil), "\(context)")
                }
            }
        }
    }

    /// Whether the envelope and a keyed container agree on member `name` as `T`, both ways.
    private func compare<T: Decodable & Equatable>(_ type: T.Type, _ name: String, _ input: [UInt8], _ envelope: JSONEnvelope) -> Bool {
        let key = JSONKey(stringValue: name)
        let node = Result<JSONValue, any Error> { try JSONParser.parse(input) }
        let expected = node.flatMap { node in Result { try JSONNodeDecoder().decode(MemberOf<T>.self, from: node, key: name).value! } }
        let expectedIfPresent = node.flatMap { node in Result { try JSONNodeDecoder().decode(MemberOf<T>.self, from: node, key: name, ifPresent: true).value } }
        return same(Result { try envelope.decode(T.self, forKey: key) }, expected)
            && same(Result { try envelope.decodeIfPresent(T.self, forKey: key) }, expectedIfPresent)
    }

    @Test func decodesNestedValuesAndReportsTheirPath() throws {
        struct Command: Decodable, Equatable { var type: String; var by: Int? }
        let line = #"{"op":"execute","command":{"type":"increment","by":2},"bad":{"type":7},"req":null}"#
        try scanned(line) { envelope throws in
            #expect(try envelope.decode(Command.self, forKey: Field.command) == Command(type: "increment", by: 2))
            #expect(try envelope.decodeIfPresent(Int.self, forKey: Field.req) == nil)
            #expect(try envelope.decodeIfPresent(Int.self, forKey: Field.missing) == nil)
            #expect(try envelope.decodeNil(forKey: Field.req))
            #expect {
                try envelope.decode(Command.self, forKey: JSONKey(stringValue: "bad"))
            } throws: { error in
                guard case DecodingError.typeMismatch(_, let context) = error else { return false }
                return context.codingPath.map(\.stringValue) == ["bad", "type"]
            }
            #expect {
                try envelope.decode(String.self, forKey: Field.model)
            } throws: { error in
                guard case DecodingError.keyNotFound(let key, let context) = error else { return false }
                return key.stringValue == "model" && context.codingPath.isEmpty
            }
            #expect {
                try envelope.decode(Int.self, forKey: Field.req)
            } throws: { error in
                guard case DecodingError.valueNotFound(_, let context) = error else { return false }
                return context.codingPath.map(\.stringValue) == ["req"]
            }
        }
    }

    @Test func passesUserInfoToNestedValues() throws {
        struct Probe: Decodable {
            var seen: String?
            init(from decoder: any Decoder) throws { seen = decoder.userInfo[probeKey] as? String }
        }
        let decoder = JSONNodeDecoder(userInfo: [probeKey: "here"])
        try scanned(#"{"p":{}}"#) { envelope throws in
            #expect(try envelope.decode(Probe.self, forKey: JSONKey(stringValue: "p"), using: decoder).seen == "here")
        }
    }

    @Test func scansAnyCollection() throws {
        let line = #"{"op":"ping","req":"r"}"#
        let discontiguous = line.utf8.lazy.map { $0 }
        #expect(try JSONEnvelope.withScanned(discontiguous) { try $0.decode(String.self, forKey: Field.op) } == "ping")
        #expect(try JSONEnvelope.withScanned(line.utf8) { try $0.decode(String.self, forKey: Field.req) } == "r")
    }
}

private let probeKey = CodingUserInfoKey(rawValue: "probe")!
private let memberKey = CodingUserInfoKey(rawValue: "member")!
private let ifPresentKey = CodingUserInfoKey(rawValue: "ifPresent")!

/// Member `userInfo[memberKey]` of an object, decoded by a keyed container: the reference the
/// envelope's `decode` and `decodeIfPresent` must match.
private struct MemberOf<T: Decodable>: Decodable {
    var value: T?

    init(from decoder: any Decoder) throws {
        let key = JSONKey(stringValue: decoder.userInfo[memberKey] as! String)
        let container = try decoder.container(keyedBy: JSONKey.self)
        value = decoder.userInfo[ifPresentKey] as? Bool == true
            ? try container.decodeIfPresent(T.self, forKey: key)
            : try container.decode(T.self, forKey: key)
    }
}

/// `decodeNil(forKey:)` of a keyed container, for the same comparison.
private struct MemberIsNil: Decodable {
    var value: Bool

    init(from decoder: any Decoder) throws {
        let key = JSONKey(stringValue: decoder.userInfo[memberKey] as! String)
        value = try decoder.container(keyedBy: JSONKey.self).decodeNil(forKey: key)
    }
}

private extension JSONNodeDecoder {
    func decode<T: Decodable>(_ type: T.Type, from node: JSONValue, key: String, ifPresent: Bool = false) throws -> T {
        try JSONNodeDecoder(userInfo: [memberKey: key, ifPresentKey: ifPresent]).decode(type, from: node)
    }
}

/// `value` as JSON text, `nil` for `nil`.
private func written(_ value: JSONValue?) -> String? {
    value.map { value in
        var writer = JSONWriter()
        writer.write(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

/// Whether two decoding outcomes are the same value, or errors of the same kind, coding path and message.
private func same<T: Equatable>(_ one: Result<T, any Error>, _ other: Result<T, any Error>) -> Bool {
    switch (one, other) {
    case (.success(let one), .success(let other)): one == other
    case (.failure(let one), .failure(let other)): describe(one) == describe(other)
    default: false
    }
}

private func describe(_ error: any Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, let context):
        "keyNotFound \(key.stringValue) \(context.codingPath.map(\.stringValue)) \(context.debugDescription)"
    case DecodingError.typeMismatch(let type, let context):
        "typeMismatch \(type) \(context.codingPath.map(\.stringValue)) \(context.debugDescription)"
    case DecodingError.valueNotFound(let type, let context):
        "valueNotFound \(type) \(context.codingPath.map(\.stringValue)) \(context.debugDescription)"
    case DecodingError.dataCorrupted(let context):
        "dataCorrupted \(context.codingPath.map(\.stringValue)) \(context.debugDescription)"
    default:
        "error \(error)"
    }
}
