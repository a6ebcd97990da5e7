import Foundation
import SourcedJSON
import Testing

@Suite struct JSONValueTests {
    private func text(_ value: JSONValue) -> String {
        var writer = JSONWriter()
        writer.write(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Parsed and written again, a value is its input without the whitespace: numbers keep their
    /// text, members their order, repeated keys included.
    @Test func writesWhatItParsed() throws {
        let input = #"{"b": 1e400, "a":18446744073709551616,"c":[1.50,-0,2E-3,"x"],"a":{"n":null,"t":true}}"#
        let compact = #"{"b":1e400,"a":18446744073709551616,"c":[1.50,-0,2E-3,"x"],"a":{"n":null,"t":true}}"#
        let value = try JSONParser.parse(Array(input.utf8))
        #expect(text(value) == compact)
        #expect(String(decoding: try JSONStreamEncoder().encode(value), as: UTF8.self) == compact)
    }

    /// Numbers are equal by value, never through a `Double`; objects by what lookups see, in
    /// any order; arrays in order. Equal values hash alike.
    @Test func comparesByMeaning() throws {
        let pairs: [(String, String, Bool)] = [
            ("1", "1.0", true), ("100", "1e2", true), ("10e-1", "1", true), ("-0", "0", true), ("0.0e5", "0", true),
            ("1", "-1", false), ("1.5", "15e-1", true), ("0.1", "0.10000000000000001", false),
            ("18446744073709551616", "18446744073709551617", false), ("1e400", "10e399", true),
            (#"{"a":1,"b":2}"#, #"{"b":2,"a":1}"#, true), (#"{"a":1,"a":2}"#, #"{"a":2}"#, true),
            (#"{"a":1}"#, #"{"a":1,"b":null}"#, false), ("[1,2]", "[2,1]", false), ("[]", "{}", false),
            ("null", "false", false), (#""1""#, "1", false),
        ]
        for (left, right, equal) in pairs {
            let (one, other) = (try JSONParser.parse(Array(left.utf8)), try JSONParser.parse(Array(right.utf8)))
            #expect((one == other) == equal, "\(left) vs \(right)")
            if equal { #expect(one.hashValue == other.hashValue, "\(left) vs \(right)") }
        }
    }

    @Test func convertsNumbersOnlyWhenAskedAndOnlyIfTheyFit() throws {
        let value = try JSONParser.parse(Array(#"[1.0, 1.5, 18446744073709551616, 1e400, -9223372036854775808, "1"]"#.utf8))
        let numbers = try #require(value.arrayValue)
        #expect(numbers.map(\.integerValue) == [1, nil, nil, nil, .min, nil])
        #expect(numbers.map(\.doubleValue) == [1, 1.5, 18446744073709551616, nil, -9223372036854775808, nil])
        #expect(JSONValue.integer(UInt64.max) == .number(JSONNumber(UInt64.max)))
        #expect(text(.integer(UInt64.max)) == "18446744073709551615")
        #expect(text(.double(2.5)) == "2.5" && text(.double(3)) == "3" && JSONValue.double(.infinity) == .null)
    }

    /// Reading sees the last member of a key; writing replaces every member of it in place.
    @Test func readsAndWritesMembers() throws {
        var object = try JSONParser.parse(Array(#"{"a":1,"b":2,"a":3}"#.utf8))
        #expect(object["a"] == 3 && object["c"] == nil && JSONValue.array([])["a"] == nil)
        object["a"] = "x"
        object["c"] = nil
        object["d"] = [true]
        #expect(text(object) == #"{"a":"x","b":2,"d":[true]}"#)
        object["b"] = nil
        #expect(text(object) == #"{"a":"x","d":[true]}"#)
    }

    /// Inside other values, our coders hand a `JSONValue` through exactly; Foundation's read and
    /// write the same values.
    @Test func codesInsideOtherValues() throws {
        struct Envelope: Codable, Equatable {
            var id: Int
            var payload: JSONValue
        }
        let line = #"{"id":7,"payload":{"big":18446744073709551616,"list":[0.5,null,"s"],"flag":false}}"#
        let decoded = try JSONNodeDecoder().decode(Envelope.self, from: Array(line.utf8))
        #expect(String(decoding: try JSONStreamEncoder().encode(decoded), as: UTF8.self) == line)
        // Foundation goes through Int64, UInt64 and Double: exact for these numbers.
        let plain = try JSONNodeDecoder().decode(Envelope.self, from: Array(line.replacing("18446744073709551616", with: "18446744073709551615").utf8))
        #expect(try JSONDecoder().decode(Envelope.self, from: try JSONStreamEncoder().encode(plain).withUnsafeBytes { Data($0) }) == plain)
        #expect(try JSONNodeDecoder().decode(Envelope.self, from: Array(try JSONEncoder().encode(plain))) == plain)
    }

    @Test func buildsFromLiterals() {
        let value: JSONValue = ["b": [1, 2.5, "s", nil, true], "a": ["n": -3]]
        #expect(text(value) == #"{"b":[1,2.5,"s",null,true],"a":{"n":-3}}"#)
    }
}
