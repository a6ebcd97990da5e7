import SourcedJSON
import Testing

@Suite struct JSONEnvelopeArrayTests {
    /// For each element `forEachElement` yields, the value of each of `keys` it sees (`nil` for
    /// a missing key); `nil` if it declined the input.
    private func elements(_ bytes: [UInt8], keys: [String]) -> [[JSONValue?]]? {
        var seen: [[JSONValue?]] = []
        let scanned = bytes.withUnsafeBytes { buffer in
            JSONEnvelope.forEachElement(ofArray: buffer) { object in
                seen.append(keys.map { object.value(forKey: $0) })
                return true
            }
        }
        return scanned ? seen : nil
    }

    /// Over generated inputs, alone and two at a time in an array: an input is taken exactly
    /// when the parser reads it as an array of objects, and each element holds that object's
    /// members.
    @Test func takesExactlyTheArraysOfObjectsTheParserReads() throws {
        let inputs = JSONTestInputs.stream(count: 6_000, seed: 0xA77A) { (try? JSONParser.parse($0)) != nil }
        var arrays = 0
        for (index, input) in inputs.enumerated() {
            let pair = Array("[".utf8) + input + Array(" ,\n".utf8) + inputs[(index * 7) % inputs.count] + Array("]".utf8)
            for candidate in [input, pair] {
                let text = String(decoding: candidate, as: UTF8.self).debugDescription
                guard case .array(let items)? = try? JSONParser.parse(candidate),
                      items.allSatisfy({ if case .object = $0 { true } else { false } })
                else {
                    #expect(elements(candidate, keys: []) == nil, "\(text)")
                    continue
                }
                arrays += 1
                let keys = Array(Set(items.flatMap { item -> [String] in
                    guard case .object(let members) = item else { return [] }
                    return members.map(\.key)
                })) + ["missing"]
                #expect(elements(candidate, keys: keys) == items.map { item in keys.map { item[$0] } }, "\(text)")
            }
        }
        #expect(arrays > 1_000)
    }

    @Test func declinesWhatIsNotAnArrayOfObjects() throws {
        for text in ["{}", "[1]", #"[{"a":1},2]"#, #"[{"a":1}] x"#, "[{]", "", #"[{"a":1},]"#] {
            #expect(elements(Array(text.utf8), keys: []) == nil, "\(text)")
        }
        #expect(elements(Array(" [ ] ".utf8), keys: []) == [])
        #expect(elements(Array(#"[{"type":"created"}, {"type":"incremented","count":1}]"#.utf8), keys: ["type"]) == [["created"], ["incremented"]])
    }

    @Test func stopsWhenTheBodySaysSo() {
        var seen = 0
        let scanned = Array(#"[{"a":1},{"a":2},{"a":3}]"#.utf8).withUnsafeBytes { buffer in
            JSONEnvelope.forEachElement(ofArray: buffer) { _ in
                seen += 1
                return seen < 2
            }
        }
        #expect(!scanned && seen == 2)
    }
}
