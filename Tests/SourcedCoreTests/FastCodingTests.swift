import SourcedCore
import SourcedJSON
import Testing

/// The models' hand-written coders write exactly what their `Codable` conformances write.
@Suite struct FastCodingTests {
    func fast(_ value: some JSONWritable) -> String {
        var writer = JSONWriter()
        value.write(to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    func codable(_ value: some Encodable) throws -> String {
        String(decoding: try JSONStreamEncoder().encode(value), as: UTF8.self)
    }

    @Test func counterCodersMatchCodable() throws {
        for event in [Counter.Event.created, .incremented(count: 0), .incremented(count: -7), .incremented(count: .max)] {
            #expect(fast(event) == (try codable(TaggedCoding(event))))
        }
        for count in [0, 1, -1, Int.min, Int.max] {
            #expect(fast(Counter.State(count: count)) == (try codable(Counter.State(count: count))))
        }
    }

    @Test func accountCodersMatchCodable() throws {
        let owners = ["ada", "", "quote \" back \\ slash", "new\nline \u{1}", "é 日本 🎉"]
        var events: [Account.Event] = [.closed, .deposited(amount: 5, balance: 10), .withdrawn(amount: 3, balance: 0)]
        events += owners.map { .opened(owner: $0) }
        for event in events {
            #expect(fast(event) == (try codable(TaggedCoding(event))))
        }
        for owner in owners {
            let state = Account.State(owner: owner, balance: Int.min, closed: true)
            #expect(fast(state) == (try codable(state)))
        }
    }

    @Test func theWriterUsesTheFastPathForOptionalStates() throws {
        var writer = JSONWriter()
        try writer.write(encoding: Optional(Counter.State(count: 3)))
        try writer.write(encoding: Optional<Counter.State>.none)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"count":3},null"#)
    }
}
