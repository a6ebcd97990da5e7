import Foundation
import SourcedCore
import Testing

@Suite struct TaggedCodingTests {
    private func decode<Value: Codable>(_ type: Value.Type, _ json: String) throws -> Value {
        try JSONDecoder().decode(TaggedCoding<Value>.self, from: Data(json.utf8)).value
    }

    private func encode<Value: Codable>(_ value: Value) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(TaggedCoding(value)), as: UTF8.self)
    }

    @Test func decodesFlatObjectsWithAType() throws {
        #expect(try decode(Account.Command.self, #"{"type":"deposit","amount":100}"#) == .deposit(amount: 100))
        #expect(try decode(Account.Command.self, #"{"amount":7,"type":"withdraw"}"#) == .withdraw(amount: 7))
        #expect(try decode(Counter.Command.self, #"{"type":"increment"}"#) == .increment)
    }

    @Test func encodesFlatObjectsWithAType() throws {
        #expect(try encode(Account.Event.deposited(amount: 5, balance: 9)) == #"{"amount":5,"balance":9,"type":"deposited"}"#)
        #expect(try encode(Counter.Event.created) == #"{"type":"created"}"#)
    }

    @Test func roundTripsEveryEvent() throws {
        let events: [Account.Event] = [.opened(owner: "ada"), .deposited(amount: 1, balance: 1), .withdrawn(amount: 1, balance: 0), .closed]
        let data = try JSONEncoder().encode(events.map { TaggedCoding($0) })
        #expect(try JSONDecoder().decode([TaggedCoding<Account.Event>].self, from: data).map(\.value) == events)
    }

    @Test func unknownTypeNamesTheType() {
        #expect(throws: UnknownTypeError(type: "explode")) {
            try decode(Counter.Command.self, #"{"type":"explode"}"#)
        }
    }

    @Test(arguments: [#"{"amount":1}"#, #"{"type":"deposit"}"#, #"{"type":"deposit","amount":"ten"}"#, #"{"type":3}"#, "[]", "7"])
    func malformedObjectsFailToDecode(json: String) {
        #expect(throws: DecodingError.self) { try decode(Account.Command.self, json) }
    }
}
