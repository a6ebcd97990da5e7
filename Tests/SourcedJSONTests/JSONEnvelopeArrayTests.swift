import SourcedJSON
import Testing

@Suite struct JSONEnvelopeArrayTests {
    /// The elements `forEachElement` yields, each parsed; `nil` if it declined the input.
    private func elements(_ bytes: [UInt8]) throws -> [JSONNode]? {
        var nodes: [JSONNode] = []
        let scanned = try bytes.withUnsafeBytes { buffer in
            try JSONEnvelope.forEachElement(ofArray: buffer) { object in
                nodes.append(try JSONParser.parse(object.bytes))
            }
        }
        return scanned ? nodes : nil
    }

    /// Over generated inputs, alone and two at a time in an array: an input is taken exactly
    /// when the parser reads it as an array of objects, and each element is that object.
    @Test func takesExactlyTheArraysOfObjectsTheParserReads() throws {
        let inputs = JSONTestInputs.stream(count: 6_000, seed: 0xA77A) { (try? JSONParser.parse($0)) != nil }
        var arrays = 0
        for (index, input) in inputs.enumerated() {
            let pair = Array("[".utf8) + input + Array(" ,\n".utf8) + inputs[(index * 7) % inputs.count] + Array("]".utf8)
            for candidate in [input, pair] {
                let expected: [JSONNode]? = switch try? JSONParser.parse(candidate) {
                case .array(let items)? where items.allSatisfy({ if case .object = $0 { true } else { false } }): items
                default: nil
                }
                let text = String(decoding: candidate, as: UTF8.self).debugDescription
                #expect(try elements(candidate) == expected, "\(text)")
                if expected != nil { arrays += 1 }
            }
        }
        #expect(arrays > 1_000)
    }

    @Test func declinesWhatIsNotAnArrayOfObjects() throws {
        for text in ["{}", "[1]", #"[{"a":1},2]"#, #"[{"a":1}] x"#, "[{]", "", #"[{"a":1},]"#] {
            #expect(try elements(Array(text.utf8)) == nil, "\(text)")
        }
        #expect(try elements(Array(" [ ] ".utf8)) == [])
        #expect(try elements(Array(#"[{"type":"created"}, {"type":"incremented","count":1}]"#.utf8))?.count == 2)
    }
}
