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
        for command in [Counter.Command.create, .increment] {
            #expect(fast(command) == (try codable(TaggedCoding(command))))
        }
    }

    @Test func accountCodersMatchCodable() throws {
        let owners = ["ada", "", "quote \" back \\ slash", "new\nline \u{1}", "é 日本 🎉"]
        var events: [Account.Event] = [.closed, .deposited(amount: 5, balance: 10), .withdrawn(amount: 3, balance: 0)]
        events += owners.map { .opened(owner: $0) }
        for event in events {
            #expect(fast(event) == (try codable(TaggedCoding(event))))
        }
        var commands: [Account.Command] = [.close, .deposit(amount: 5), .withdraw(amount: -3), .deposit(amount: .max)]
        commands += owners.map { .open(owner: $0) }
        for command in commands {
            #expect(fast(command) == (try codable(TaggedCoding(command))))
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

    /// What the reader makes of `json`, and what `Codable` makes of it (`nil` where it throws).
    func read<Command: JSONReadable & Codable & Equatable>(_ type: Command.Type, _ json: String) throws -> (fast: Command?, codable: Command?) {
        let fast = try JSONEnvelope.withScanned(json.utf8) { Command(reading: $0) }
        let codable = try? JSONNodeDecoder().decode(TaggedCoding<Command>.self, from: JSONParser.parse(json.utf8)).value
        return (fast, codable)
    }

    @Test func commandReadersAgreeWithCodableOrDecline() throws {
        let counter = [
            #"{"type":"create"}"#, #"{"type":"increment"}"#, #"{"type":"increment","extra":[1,{"a":null}]}"#,
            #"{"type":"incr\u0065ment"}"#, #"{"type":"increment","type":"create"}"#, #"{"type":"nope"}"#, #"{"type":7}"#, #"{}"#,
        ]
        for json in counter {
            let (fast, codable) = try read(Counter.Command.self, json)
            if let fast { #expect(fast == codable, "\(json)") }
        }
        #expect(try read(Counter.Command.self, #"{"type":"increment"}"#).fast == .increment)
        let account = [
            #"{"type":"open","owner":"ada"}"#, #"{"type":"open","owner":"\u00e9 \"q\""}"#, #"{"type":"open"}"#, #"{"type":"open","owner":5}"#,
            #"{"type":"deposit","amount":100}"#, #"{"type":"deposit","amount":1.0}"#, #"{"type":"deposit","amount":1.5}"#,
            #"{"type":"deposit","amount":99999999999999999999}"#, #"{"type":"withdraw","amount":-3}"#, #"{"type":"withdraw"}"#,
            #"{"type":"close"}"#, #"{"type":"close","amount":3}"#, #"{"type":"deposit","amount":null}"#,
        ]
        for json in account {
            let (fast, codable) = try read(Account.Command.self, json)
            if let fast { #expect(fast == codable, "\(json)") }
        }
        #expect(try read(Account.Command.self, #"{"type":"deposit","amount":100}"#).fast == .deposit(amount: 100))
    }

    @Test func eventReadersAgreeWithCodableOrDecline() throws {
        let counter = [
            #"{"type":"created"}"#, #"{"type":"incremented","count":5}"#, #"{"type":"incremented","count":-9223372036854775808}"#,
            #"{"type":"incremented","count":9223372036854775808}"#, #"{"type":"incremented","count":2.0}"#, #"{"type":"incremented"}"#,
            #"{"type":"incremented","count":"5"}"#, #"{"type":"created","count":1}"#, #"{"type":"increment"}"#, #"{}"#,
        ]
        for json in counter {
            let (fast, codable) = try read(Counter.Event.self, json)
            if let fast { #expect(fast == codable, "\(json)") }
        }
        #expect(try read(Counter.Event.self, #"{"type":"incremented","count":5}"#).fast == .incremented(count: 5))
        let account = [
            #"{"type":"opened","owner":"ada"}"#, #"{"type":"opened","owner":"\u00e9"}"#, #"{"type":"opened"}"#,
            #"{"type":"deposited","amount":5,"balance":10}"#, #"{"type":"withdrawn","amount":3,"balance":0}"#,
            #"{"type":"deposited","amount":5}"#, #"{"type":"withdrawn","balance":1}"#, #"{"type":"closed"}"#,
            #"{"type":"deposited","amount":1e2,"balance":null}"#,
        ]
        for json in account {
            let (fast, codable) = try read(Account.Event.self, json)
            if let fast { #expect(fast == codable, "\(json)") }
        }
        #expect(try read(Account.Event.self, #"{"type":"withdrawn","amount":3,"balance":0}"#).fast == .withdrawn(amount: 3, balance: 0))
        #expect(try read(Account.Event.self, #"{"type":"opened","owner":"ada"}"#).fast == .opened(owner: "ada"))
        #expect(try read(Account.Event.self, #"{"type":"closed"}"#).fast == .closed)
    }
}
