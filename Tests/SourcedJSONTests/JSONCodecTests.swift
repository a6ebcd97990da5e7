import Foundation
import SourcedCore
import SourcedJSON
import Testing

@Suite struct JSONCodecTests {
    private struct Sample: Codable, Equatable {
        var name: String
        var count: Int
        var big: UInt64
        var small: Int64
        var ratio: Double
        var flag: Bool
        var missing: Int?
        var tags: [String]
        var nested: [[Int]]
        var table: [String: Int]
    }

    private let sample = Sample(
        name: "a \"quoted\"\n\t/ \u{01} é 😀", count: -42, big: .max, small: .min, ratio: 1.5, flag: true,
        missing: nil, tags: ["x", ""], nested: [[1, 2], []], table: ["k": 1]
    )

    private func text<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONStreamEncoder().encode(value), as: UTF8.self)
    }

    private func parse(_ text: String) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    @Test func roundTripsAndAgreesWithFoundation() throws {
        let ours = try JSONStreamEncoder().encode(sample)
        #expect(try JSONDecoder().decode(Sample.self, from: Data(ours)) == sample)
        #expect(try ours.withUnsafeBytes { try JSONNodeDecoder().decode(Sample.self, from: $0) } == sample)
        let foundation = try JSONEncoder().encode(sample)
        #expect(try foundation.withUnsafeBytes { try JSONNodeDecoder().decode(Sample.self, from: $0) } == sample)
    }

    @Test func writesCompactJSONInEncodingOrder() throws {
        #expect(try text(TaggedCoding(Counter.Event.incremented(count: 5))) == #"{"type":"incremented","count":5}"#)
        #expect(try text(TaggedCoding(Counter.Event.created)) == #"{"type":"created"}"#)
        #expect(try text("a\"b\\c/d\n\u{1F}") == #""a\"b\\c/d\n\u001f""#)
        #expect(try text([5.0, 0.25, -1e300]) == "[5,0.25,-1e+300]")
        #expect(try text([Int64.min]) == "[-9223372036854775808]")
        #expect(try text([Int?.none]) == "[null]")
    }

    @Test func refusesNonFiniteNumbers() {
        #expect(throws: EncodingError.self) { try JSONStreamEncoder().encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try JSONStreamEncoder().encode(["x": Double.infinity]) }
    }

    /// Nested containers opened by hand close when their parent writes on.
    @Test func closesNestedContainersInOrder() throws {
        struct Page: Encodable {
            enum Key: String, CodingKey { case items, after }
            enum ItemKey: String, CodingKey { case n }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Key.self)
                var items = container.nestedUnkeyedContainer(forKey: .items)
                for n in 1...2 {
                    var item = items.nestedContainer(keyedBy: ItemKey.self)
                    try item.encode(n, forKey: .n)
                }
                let empty = items.nestedUnkeyedContainer()
                _ = empty.count
                try container.encode(true, forKey: .after)
            }
        }
        #expect(try text(Page()) == #"{"items":[{"n":1},{"n":2},[]],"after":true}"#)
    }

    @Test func parsesEveryKindOfValue() throws {
        let node = try parse(#" {"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00\/"],"a":{} } "#)
        #expect(node["a"] == .object([]))
        guard case .object(let members) = node, case .array(let values) = members[0].value else {
            Issue.record("not an object holding an array: \(node)")
            return
        }
        #expect(values == [1, -2.5e3, true, false, nil, "xé😀/"])
        #expect(values.map { if case .number(let number) = $0 { number.literal } else { nil } } == ["1", "-2.5e3", nil, nil, nil, nil])
    }

    @Test(arguments: JSONTestInputs.invalid)
    func rejectsInvalidJSON(_ input: String) {
        #expect(throws: JSONSyntaxError.self) { try parse(input) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }
    }

    /// Strings must be well-formed UTF-8 exactly as the standard library's validation has it:
    /// every two-byte sequence, and many random longer ones, agree with `String(validating:)`.
    @Test func checksUTF8AsTheStandardLibraryDoes() {
        func agrees(_ content: [UInt8]) -> Bool {
            // Only the encoding matters: no quote, backslash or control character.
            let content = content.map { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") ? UInt8(ascii: "a") : $0 }
            let parsed = try? JSONParser.parse([UInt8(ascii: "\"")] + content + [UInt8(ascii: "\"")])
            return parsed == String(validating: content, as: UTF8.self).map { JSONValue.string($0) }
        }
        for first in UInt8.min...UInt8.max {
            for second in UInt8.min...UInt8.max where !agrees([first, second]) {
                Issue.record("disagrees on \([first, second])")
            }
        }
        let edges: [UInt8] = [0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        var random = SplitMix64(seed: 0x07F8)
        for _ in 0..<50_000 {
            let content = (0..<Int.random(in: 1...6, using: &random)).map { _ in
                Bool.random(using: &random) ? edges.randomElement(using: &random)! : UInt8.random(in: 0x80...0xFF, using: &random)
            }
            #expect(agrees(content), "\(content)")
        }
    }

    @Test func boundsNesting() throws {
        let deep = String(repeating: "[", count: JSONParser.maximumDepth) + String(repeating: "]", count: JSONParser.maximumDepth)
        _ = try parse(deep)
        let tooDeep = "[" + deep + "]"
        #expect(throws: JSONSyntaxError.self) { try parse(tooDeep) }
        let hostile = String(repeating: "[", count: 1_000_000)
        #expect(throws: JSONSyntaxError.self) { try parse(hostile) }
    }

    @Test func decodingErrorsNameTheField() throws {
        struct Holder: Decodable { var inner: Inner }
        struct Inner: Decodable { var value: Int }
        let decoder = JSONNodeDecoder()
        #expect {
            try decoder.decode(Holder.self, from: try parse(#"{"inner":{}}"#))
        } throws: { error in
            guard case DecodingError.keyNotFound(let key, let context) = error else { return false }
            return key.stringValue == "value" && context.codingPath.map(\.stringValue) == ["inner"]
        }
        #expect {
            try decoder.decode(Holder.self, from: try parse(#"{"inner":{"value":"1"}}"#))
        } throws: { error in
            guard case DecodingError.typeMismatch(_, let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["inner", "value"]
        }
        #expect {
            try decoder.decode(Holder.self, from: try parse(#"{"inner":{"value":null}}"#))
        } throws: { error in
            guard case DecodingError.valueNotFound = error else { return false }
            return true
        }
        #expect(throws: DecodingError.self) { try decoder.decode([Int8].self, from: try parse("[128]")) }
        #expect(throws: DecodingError.self) { try decoder.decode([UInt64].self, from: try parse("[-1]")) }
        #expect(throws: DecodingError.self) { try decoder.decode([Int].self, from: try parse("[1.5]")) }
        #expect(try decoder.decode([Int].self, from: try parse("[1.0, 2e2]")) == [1, 200])
        #expect(try decoder.decode([UInt64].self, from: try parse("[18446744073709551615]")) == [.max])
    }

    @Test func decodesTaggedModelValues() throws {
        let events: [Account.Event] = [.opened(owner: "ada"), .deposited(amount: 1, balance: 1), .withdrawn(amount: 1, balance: 0), .closed]
        let bytes = try JSONStreamEncoder().encode(events.map { TaggedCoding($0) })
        let decoded = try bytes.withUnsafeBytes { try JSONNodeDecoder().decode([TaggedCoding<Account.Event>].self, from: $0) }
        #expect(decoded.map(\.value) == events)
        #expect {
            try JSONNodeDecoder().decode(TaggedCoding<Counter.Command>.self, from: try parse(#"{"type":"explode"}"#))
        } throws: { error in
            (error as? UnknownTypeError)?.type == "explode"
        }
    }

    @Test func decodesLargeObjectsAndDuplicateKeys() throws {
        let expected = Dictionary(uniqueKeysWithValues: (0..<20_000).map { ("k\($0)", $0) })
        let bytes = try JSONStreamEncoder().encode(expected)
        #expect(try JSONNodeDecoder().decode([String: Int].self, from: bytes) == expected)
        #expect(try JSONNodeDecoder().decode([String: Int].self, from: try parse(#"{"a":1,"b":2,"a":3}"#)) == ["a": 3, "b": 2])
    }

    /// A failed element stays current, so a caller may skip it or retry it as another type.
    @Test func unkeyedContainerMovesOnOnlyAfterSuccess() throws {
        struct Lossy: Decodable {
            var numbers: [Int] = []
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                while !container.isAtEnd {
                    if let number = try? container.decode(Int.self) {
                        numbers.append(number)
                    } else {
                        _ = try container.decode(String.self)
                    }
                }
            }
        }
        #expect(try JSONNodeDecoder().decode(Lossy.self, from: try parse(#"[1,"x",2,"y",3]"#)).numbers == [1, 2, 3])
    }

    /// A value whose encoding throws leaves nothing behind: not a dangling key, not half a value.
    @Test func aFailedEncodingIsTakenBack() throws {
        struct Partial: Encodable {
            enum Key: String, CodingKey { case a, b, c }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Key.self)
                try? container.encode(Double.nan, forKey: .a)
                try? container.encode([[Double.infinity]], forKey: .b)
                try container.encode(1, forKey: .c)
            }
        }
        #expect(try text(Partial()) == #"{"c":1}"#)
        var bytes = Array("prefix:".utf8)
        #expect(throws: EncodingError.self) { try JSONStreamEncoder().encode(["x": [Double.nan]], appendingTo: &bytes) }
        #expect(bytes == Array("prefix:".utf8))
    }

    /// One rule: a number is an integer if its exact value, as written, is one: beyond what a
    /// `Double` holds too (`9007199254740993.0`), never by rounding (`10.00000000000000000001`).
    @Test func readsWholeNumbersAsIntegersOnlyWhereExact() throws {
        #expect(try parse("[1.0, 1e2, 2.5, 9007199254740993.0, 10.00000000000000000001, 1.000e2, -0.0]").arrayValue?.map(\.integerValue)
            == [1, 100, nil, 9_007_199_254_740_993, nil, 100, 0])
        #expect(throws: DecodingError.self) { try JSONNodeDecoder().decode([Int].self, from: try parse("[10.00000000000000000001]")) }
        do {
            _ = try JSONNodeDecoder().decode([Int].self, from: try parse("[18446744073709551616]"))
            Issue.record("2^64 decoded as an Int")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.debugDescription == "18446744073709551616 is out of range: an integer from -9223372036854775808 to 9223372036854775807 is expected")
        }
    }
}
